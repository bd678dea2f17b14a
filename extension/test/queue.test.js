import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStore, State, SubmissionQueue, isTransient } from "../src/lib/queue.js";

const offline = () => Object.assign(new Error("network down"), { status: 0 });

test("uploads, then files once with the item's idempotency key", async () => {
  const filed = [];
  const queue = new SubmissionQueue(new MemoryStore(), {
    upload: async (item, { onUrl, onProgress }) => {
      await onUrl("http://api/v1/uploads/u1");
      onProgress(5, 10);
      return "u1";
    },
    file: async (item) => {
      filed.push(item.idempotencyKey);
      return { ticket_key: "T-1" };
    },
  });
  const item = await queue.add({ id: "d1", media: "bytes", body: {} });
  await queue.run();
  const done = await queue.store.get("d1");
  assert.equal(done.state, State.FILED);
  assert.equal(done.attachmentId, "u1");
  assert.equal(done.uploadUrl, "http://api/v1/uploads/u1");
  assert.equal(done.media, null);
  assert.deepEqual(filed, [item.idempotencyKey]);
});

test("offline: waits, keeps the upload URL, and resumes without uploading twice", async () => {
  let online = false;
  const uploads = [];
  const keys = [];
  const queue = new SubmissionQueue(new MemoryStore(), {
    upload: async (item, { onUrl }) => {
      uploads.push(item.uploadUrl);
      await onUrl("http://api/v1/uploads/u9");
      if (!online) throw offline();
      return "u9";
    },
    file: async (item) => {
      keys.push(item.idempotencyKey);
      if (keys.length === 1) throw Object.assign(new Error("502"), { status: 502 }); // answer lost
      return { ticket_key: "T-9" };
    },
  });
  await queue.add({ id: "d9", media: "bytes", body: {} });
  await queue.run();
  assert.equal((await queue.store.get("d9")).state, State.WAITING);
  online = true;
  await queue.run(); // uploads (resuming from the stored URL); filing fails
  await queue.run(); // files again with the same key
  const done = await queue.store.get("d9");
  assert.equal(done.state, State.FILED);
  assert.deepEqual(uploads, [null, "http://api/v1/uploads/u9"]);
  assert.equal(new Set(keys).size, 1);
  assert.equal(keys.length, 2);
  assert.equal(done.attempts, 3);
});

test("a refusal (4xx) is final", async () => {
  const queue = new SubmissionQueue(new MemoryStore(), {
    upload: async () => "u1",
    file: async () => {
      throw Object.assign(new Error("forbidden"), { status: 403 });
    },
  });
  await queue.add({ id: "d2", media: "x", body: {} });
  await queue.run();
  const item = await queue.store.get("d2");
  assert.equal(item.state, State.FAILED);
  assert.equal(item.error, "forbidden");
  assert.deepEqual(await queue.pending(), []);
});

test("concurrent runs share one pass", async () => {
  let uploads = 0;
  const queue = new SubmissionQueue(new MemoryStore(), {
    upload: async () => {
      uploads += 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return "u";
    },
    file: async () => ({}),
  });
  await queue.add({ id: "d3", media: "x", body: {} });
  await Promise.all([queue.run(), queue.run()]);
  assert.equal(uploads, 1);
});

test("which errors are worth retrying", () => {
  for (const status of [0, 408, 409, 423, 429, 500, 503]) assert.ok(isTransient({ status }), String(status));
  for (const status of [400, 401, 403, 404, 413, 415, 422]) assert.ok(!isTransient({ status }), String(status));
});
