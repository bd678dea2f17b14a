import assert from "node:assert/strict";
import { test } from "node:test";
import { HELD_BYTES, HeldFile } from "../src/lib/held.js";

const bytes = (n) => new Blob([new Uint8Array(n).map((_, i) => i % 251)]);
const settled = (promise) => Promise.race([promise.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 20))]);

test("sends all but the held-back end, then waits for release()", async () => {
  const file = new HeldFile(bytes(HELD_BYTES + 1000));
  const source = await file.openFile();
  assert.equal(source.size, HELD_BYTES + 1000);
  const first = await source.slice(0, 600);
  assert.equal(first.value.size, 600);
  assert.equal(first.done, false);
  const upToLimit = await source.slice(600, 1024 * 1024); // a chunk larger than what may go
  assert.equal(upToLimit.value.size, 400);
  assert.equal(upToLimit.done, false);
  const end = source.slice(1000, 1024 * 1024);
  assert.equal(await settled(end), false, "the end waits");
  file.release();
  const rest = await end;
  assert.equal(rest.value.size, HELD_BYTES);
  assert.equal(rest.done, true);
  const sent = new Uint8Array(await new Blob([first.value, upToLimit.value, rest.value]).arrayBuffer());
  assert.deepEqual(sent, new Uint8Array(await file.blob.arrayBuffer()));
});

test("a file smaller than the held-back part sends nothing before release()", async () => {
  const file = new HeldFile(bytes(10));
  const source = await file.openFile();
  const all = source.slice(0, 1024);
  assert.equal(await settled(all), false);
  file.release();
  const { value, done } = await all;
  assert.equal(value.size, 10);
  assert.equal(done, true);
});

test("after release() nothing is held back", async () => {
  const file = new HeldFile(bytes(HELD_BYTES * 2));
  file.release();
  const { value, done } = await (await file.openFile()).slice(0, HELD_BYTES * 2);
  assert.equal(value.size, HELD_BYTES * 2);
  assert.equal(done, true);
});
