import assert from "node:assert/strict";
import { test } from "node:test";
import { arrowHead, pixelate, rectFrom, render, toImagePoint } from "../src/lib/annotate.js";

test("display points map to image pixels and stay inside the image", () => {
  const image = { width: 2560, height: 1600 };
  const displayed = { width: 1280, height: 800 };
  assert.deepEqual(toImagePoint({ x: 100, y: 50 }, displayed, image), { x: 200, y: 100 });
  assert.deepEqual(toImagePoint({ x: -5, y: 900 }, displayed, image), { x: 0, y: 1600 });
});

test("a rectangle dragged in any direction", () => {
  assert.deepEqual(rectFrom({ x: 50, y: 40 }, { x: 10, y: 90 }), { x: 10, y: 40, w: 40, h: 50 });
});

test("an arrow's barbs sit behind its tip, symmetric about the shaft", () => {
  const [a, b] = arrowHead(0, 0, 100, 0, 10);
  assert.ok(a.x < 100 && b.x < 100);
  assert.ok(Math.abs(a.y + b.y) < 1e-9);
  assert.ok(Math.abs(Math.hypot(100 - a.x, a.y) - 10) < 1e-9);
});

test("blur leaves no pixel of the original detail inside the area, and none outside changed", () => {
  const width = 24;
  const height = 12;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i += 1) data.set(i % 2 ? [255, 255, 255, 255] : [0, 0, 0, 255], i * 4);
  const before = data.slice();
  pixelate({ data, width, height }, { x: 0, y: 0, w: 12, h: 12 }, 12);
  const inside = new Set();
  for (let y = 0; y < 12; y += 1) for (let x = 0; x < 12; x += 1) inside.add(data[(y * width + x) * 4]);
  assert.equal(inside.size, 1); // one flat block: the checkerboard is gone
  assert.ok([...inside][0] > 100 && [...inside][0] < 160);
  for (let y = 0; y < height; y += 1) {
    for (let x = 12; x < width; x += 1) assert.equal(data[(y * width + x) * 4], before[(y * width + x) * 4]);
  }
});

test("render blurs first, then draws the shapes over it", () => {
  const calls = [];
  const ctx = new Proxy({}, {
    get: (_t, name) => (name in ctx_props ? ctx_props[name] : (...args) => {
      calls.push([name, ...args]);
      if (name === "getImageData") return { data: new Uint8ClampedArray(args[2] * args[3] * 4), width: args[2], height: args[3] };
      return undefined;
    }),
    set: () => true,
  });
  const ctx_props = {};
  render(ctx, "IMG", [
    { type: "rect", rect: { x: 1, y: 2, w: 3, h: 4 } },
    { type: "blur", rect: { x: 5, y: 5, w: 10, h: 10 } },
    { type: "text", x: 7, y: 8, text: "here" },
  ]);
  const names = calls.map((c) => c[0]);
  assert.equal(names[0], "drawImage");
  assert.ok(names.indexOf("putImageData") < names.indexOf("strokeRect"));
  assert.ok(names.includes("fillText"));
});
