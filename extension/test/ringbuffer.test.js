import assert from "node:assert/strict";
import { test } from "node:test";
import { RingBuffer } from "../src/lib/ringbuffer.js";

test("keeps the newest entries in order and counts what fell out", () => {
  const buffer = new RingBuffer(3);
  for (const n of [1, 2, 3, 4, 5]) buffer.push(n);
  assert.deepEqual(buffer.toArray(), [3, 4, 5]);
  assert.equal(buffer.dropped, 2);
});

test("fewer entries than capacity", () => {
  const buffer = new RingBuffer(5);
  buffer.push("a");
  buffer.push("b");
  assert.deepEqual(buffer.toArray(), ["a", "b"]);
  buffer.clear();
  assert.deepEqual(buffer.toArray(), []);
});

test("a capacity below one is refused", () => {
  assert.throws(() => new RingBuffer(0), RangeError);
});
