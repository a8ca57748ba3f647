import assert from "node:assert/strict";
import { test } from "node:test";
import { F, tensor } from "../../src/torch/index.js";
import { affineThetas, cutoutMask, STRONG_AFFINE } from "../../src/train/views.js";
import { assertClose, tidyTest } from "../helpers.js";

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

test("affineThetas: mid-range uniforms give the identity, the extremes the documented maps", () => {
  const r = { rotate: 90, shear: 0.5, scale: [0.5, 2] as [number, number], translate: 0.25 };
  // angle, shear, scale, tx, ty
  const id = affineThetas(1, Float64Array.from([0.5, 0.5, 1 / 3, 0.5, 0.5]), r); // scale 0.5 + 1/3 * 1.5 = 1
  assertClose(tensor(id, [6]), [1, 0, 0, 0, 1, 0], { atol: 1e-6 });
  // +90 degrees, no shear, scale 2, shift (+0.25, -0.25): 2 [[0, -1], [1, 0]]
  const rot = affineThetas(1, Float64Array.from([1, 0.5, 1, 1, 0]), r);
  assertClose(tensor(rot, [6]), [0, -2, 0.25, 2, 0, -0.25], { atol: 1e-6 });
  // shear alone: [[1, s], [0, 1]]
  assertClose(tensor(affineThetas(1, Float64Array.from([0.5, 1, 1 / 3, 0.5, 0.5]), r), [6]), [1, 0.5, 0, 0, 1, 0], { atol: 1e-6 });
  // every map of the default ranges keeps the area factor scale^2 (rotation and shear preserve it)
  const u = Float64Array.from({ length: 50 }, (_, i) => ((i * 37) % 101) / 100);
  const t = affineThetas(10, u, STRONG_AFFINE);
  for (let k = 0; k < 10; k++) {
    const [a, b, , c, d] = t.subarray(6 * k, 6 * k + 6) as unknown as number[];
    const z = STRONG_AFFINE.scale[0] + (u[5 * k + 2] as number) * (STRONG_AFFINE.scale[1] - STRONG_AFFINE.scale[0]);
    assertClose(tensor([(a as number) * (d as number) - (b as number) * (c as number)], [1]), [z * z], { rtol: 1e-5 });
  }
  assert.throws(() => affineThetas(2, u.subarray(0, 9), STRONG_AFFINE), /need 10/);
});

tidyTest("affineGrid + gridSample: the identity map returns the image, a shift moves it by whole pixels", () => {
  const x = tensor(
    Float32Array.from({ length: 2 * 16 }, (_, i) => i + 1),
    [2, 1, 4, 4],
  );
  const warp = (theta: number[]) => F.gridSample(x, F.affineGrid(tensor(theta, [2, 2, 3]), [2, 1, 4, 4]));
  assertClose(warp([1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0]), x.toNumbers(), { atol: 1e-5 });
  // tx = 2/W * 1 pixel: output column j samples input column j + 1; the last column falls outside (0)
  const shifted = warp([1, 0, 0.5, 0, 1, 0, 1, 0, 0.5, 0, 1, 0]).toNumbers();
  const want = x.toNumbers().map((v, i) => (i % 4 === 3 ? 0 : v + 1));
  assertClose(tensor(shifted, [32]), want, { atol: 1e-5 });
});
