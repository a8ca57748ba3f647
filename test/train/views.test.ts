import assert from "node:assert/strict";
import { test } from "node:test";
import { cutoutMask } from "../../src/train/views.js";

const zeros = (m: Float32Array, from: number, len: number) => m.subarray(from, from + len).reduce((a, x) => a + (x === 0 ? 1 : 0), 0);

test("cutoutMask zeroes one size x size square per image, centred on the drawn pixel", () => {
  // image 0: centre (0.5, 0.5) of 8x8 -> pixel (4, 4), square rows/cols 2..5
  // image 1: centre at the top-left corner -> clipped to rows/cols 0..1 (2x2 of the 4x4 square)
  const m = cutoutMask(2, 8, 8, 4, Float64Array.from([0.5, 0.5, 0, 0]));
  assert.equal(m.length, 2 * 64);
  assert.equal(zeros(m, 0, 64), 16);
  for (let y = 0; y < 8; y++)
    for (let x = 0; x < 8; x++) assert.equal(m[y * 8 + x], y >= 2 && y < 6 && x >= 2 && x < 6 ? 0 : 1, `(${y},${x})`);
  assert.equal(zeros(m, 64, 64), 4);
  assert.deepEqual([m[64], m[65], m[72], m[73], m[66], m[74 + 8]], [0, 0, 0, 0, 1, 1]);
});

test("cutoutMask is a pure function of its uniforms and checks its inputs", () => {
  const u = Float64Array.from([0.1, 0.9, 0.7, 0.3, 0.99, 0.01]);
  assert.deepEqual(cutoutMask(3, 28, 28, 14, u), cutoutMask(3, 28, 28, 14, u));
  assert.throws(() => cutoutMask(3, 28, 28, 14, u.subarray(0, 5)), /need 6/);
  assert.throws(() => cutoutMask(1, 28, 28, 0, u), /positive integer/);
});
