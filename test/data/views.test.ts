import assert from "node:assert/strict";
import { test } from "node:test";
import {
  affineThetas,
  betaDraw,
  cutoutMask,
  enhanceFactor,
  gammaDraw,
  makeView,
  mixupShares,
  photometric,
  posterizeBits,
  RA_N,
  RA_OPS,
  randAugmentPlan,
  raThetas,
  STRONG_AFFINE,
  uniformStream,
} from "../../src/data/views.js";
import { F, Generator, tensor } from "../../src/torch/index.js";
import { assertClose, mulberry, tidyTest } from "../helpers.js";

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

test("cutoutMask equals a per-pixel oracle for clipped squares and checks its inputs", () => {
  const u = Float64Array.from([0.1, 0.9, 0.7, 0.3, 0.99, 0.01]);
  // oracle, pixel by pixel: (y, x) is cut when it lies in the size x size square whose top-left
  // corner is (floor(u_row h) - floor(size / 2), floor(u_col w) - floor(size / 2))
  const m = cutoutMask(3, 28, 28, 14, u);
  for (let k = 0; k < 3; k++) {
    const [top, left] = [Math.floor((u[2 * k] as number) * 28) - 7, Math.floor((u[2 * k + 1] as number) * 28) - 7];
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++) {
        const cut = y >= top && y < top + 14 && x >= left && x < left + 14;
        assert.equal(m[k * 784 + y * 28 + x], cut ? 0 : 1, `image ${k} (${y},${x})`);
      }
  }
  // by hand: (0.1, 0.9) -> rows -5..8 clipped to 0..8 (9), cols 18..31 clipped to 18..27 (10): 90 cut;
  // (0.7, 0.3) -> rows 12..25, cols 1..14: 196; (0.99, 0.01) -> rows 20..27 (8), cols 0..6 (7): 56
  assert.deepEqual(
    [0, 1, 2].map((k) => zeros(m, k * 784, 784)),
    [90, 196, 56],
  );
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

const moments = (xs: number[]) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return [m, xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)] as const;
};

test("gammaDraw and betaDraw have the distributions' mean and variance", () => {
  const n = 20000;
  for (const shape of [0.3, 1, 2.5, 7]) {
    const next = mulberry(11);
    const [m, v] = moments(Array.from({ length: n }, () => gammaDraw(shape, next)));
    // Gamma(k, 1): mean k, variance k; 5 standard errors
    assert.ok(Math.abs(m - shape) < 5 * Math.sqrt(shape / n), `gamma(${shape}) mean ${m}`);
    assert.ok(Math.abs(v - shape) / shape < 0.1, `gamma(${shape}) variance ${v}`);
  }
  for (const [a, b] of [
    [0.2, 0.2],
    [1, 1],
    [2, 5],
    [8, 8],
  ] as const) {
    const next = mulberry(5);
    const xs = Array.from({ length: n }, () => betaDraw(a, b, next));
    assert.ok(xs.every((x) => x >= 0 && x <= 1));
    const [m, v] = moments(xs);
    const mean = a / (a + b);
    const variance = (a * b) / ((a + b) ** 2 * (a + b + 1));
    assert.ok(Math.abs(m - mean) < 5 * Math.sqrt(variance / n), `beta(${a},${b}) mean ${m} vs ${mean}`);
    assert.ok(Math.abs(v - variance) / variance < 0.1, `beta(${a},${b}) variance ${v} vs ${variance}`);
  }
  assert.throws(() => gammaDraw(0, Math.random), /positive/);
});

test("mixupShares folds Beta(alpha, alpha) to [0.5, 1] and repeats with the same stream", () => {
  const a = mixupShares(5000, 1, mulberry(3));
  assert.deepEqual(mixupShares(5000, 1, mulberry(3)), a);
  assert.ok(a.every((l) => l >= 0.5 && l <= 1));
  // alpha = 1: lambda is uniform, so max(lambda, 1 - lambda) is uniform on [0.5, 1] (mean 0.75)
  const [m] = moments(Array.from(a));
  assert.ok(Math.abs(m - 0.75) < 0.01, `mean ${m}`);
  // small alpha puts lambda near 0 or 1: the folded share near 1
  const [mSmall] = moments(Array.from(mixupShares(5000, 0.1, mulberry(3))));
  assert.ok(mSmall > 0.9, `alpha 0.1 mean ${mSmall}`);
});

test("uniformStream reads its source in blocks, in order", () => {
  let calls = 0;
  let counter = 0;
  const next = uniformStream((n) => {
    calls++;
    return Float64Array.from({ length: n }, () => counter++ / 100);
  }, 4);
  assert.deepEqual(
    Array.from({ length: 10 }, () => next()),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i / 100),
  );
  assert.equal(calls, 3);
});

test("randAugmentPlan: two ops per image from the pool of 12 and their magnitudes, from the uniforms in order", () => {
  // image 0: ops 0 (identity) and 7 (rotate); image 1: ops 11 (translateY) and 2 (brightness)
  const u = Float64Array.from([0.01, 0.3, 7.5 / 12, 0.9, 0.999, 0.25, 2.2 / 12, 0.6]);
  const plan = randAugmentPlan(2, u);
  assert.deepEqual(plan.op, [
    ["identity", "translateY"],
    ["rotate", "brightness"],
  ]);
  assert.deepEqual(plan.m, [
    [0.3, 0.25],
    [0.9, 0.6],
  ]);
  assert.equal(RA_OPS.length, 12);
  assert.throws(() => randAugmentPlan(2, new Float64Array(7)), RangeError);
});

test("raThetas: each geometric op alone at its FixMatch range, identity for photometric ops", () => {
  const th = raThetas(["rotate", "shearX", "shearY", "translateX", "translateY", "solarize"], [1, 0, 0.75, 0.25, 1, 0.3]);
  const a = (30 * Math.PI) / 180; // magnitude 1 -> +30 degrees
  const want = [
    [Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a), 0],
    [1, -0.3, 0, 0, 1, 0], // magnitude 0 -> shear -0.3
    [1, 0, 0, 0.15, 1, 0], // 0.75 -> +0.15
    [1, 0, -0.3, 0, 1, 0], // 0.25 -> -15% of the side = -0.3 in [-1, 1] coordinates
    [1, 0, 0, 0, 1, 0.6], // +30% of the side
    [1, 0, 0, 0, 1, 0],
  ].flat();
  assertClose(th, Float32Array.from(want), { atol: 1e-6 });
});

tidyTest("photometric ops on pixels in [0, 1] equal their PIL-style formulas, each image at its own magnitude", () => {
  // two 1-channel 2x3 images and one 3-channel 1x2 image
  const px = [0.1, 0.5, 0.9, 0.3, 0.62, 0.2, 0.0, 0.25, 0.5, 0.75, 1.0, 0.4];
  const r = tensor(px, [2, 1, 2, 3]);
  const m = [0.2, 0.7];
  const f = m.map((x) => 0.05 + 0.9 * x);
  const img = (k: number) => px.slice(6 * k, 6 * k + 6);
  const per = (fn: (x: number, k: number) => number) => [0, 1].flatMap((k) => img(k).map((x) => fn(x, k)));
  const got = (o: Parameters<typeof photometric>[0]) => Array.from(photometric(o, r, m).toArray() as Float32Array);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assertClose(
    got("brightness"),
    per((x, k) => x * (f[k] as number)),
    { atol: 1e-6 },
  );
  assertClose(
    got("contrast"),
    per((x, k) => mean(img(k)) + (f[k] as number) * (x - mean(img(k)))),
    { atol: 1e-6 },
  );
  assertClose(got("color"), px, { atol: 1e-6 }); // one channel: its own gray
  assertClose(
    got("autoContrast"),
    per((x, k) => (x - Math.min(...img(k))) / (Math.max(...img(k)) - Math.min(...img(k)))),
    { atol: 1e-6 },
  );
  assertClose(
    got("solarize"),
    per((x, k) => (x >= (m[k] as number) ? 1 - x : x)),
    { atol: 1e-6 },
  );
  // posterize: magnitude 0.2 -> 5 bits (steps of 8 levels), 0.7 -> 7 bits (steps of 2)
  assert.deepEqual([posterizeBits(0.2), posterizeBits(0.7), posterizeBits(0), posterizeBits(0.999)], [5, 7, 4, 8]);
  const post = (x: number, step: number) => (Math.floor(Math.round(x * 255) / step) * step) / 255;
  assertClose(
    got("posterize"),
    per((x, k) => post(x, k === 0 ? 8 : 2)),
    { atol: 1e-6 },
  );
  assertClose(got("identity"), px);
  // colour on RGB blends with the luma image
  const rgb = tensor([0.2, 0.8, 0.4, 0.6, 0.9, 0.1], [1, 3, 1, 2]);
  const luma = [0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.9, 0.299 * 0.8 + 0.587 * 0.6 + 0.114 * 0.1];
  const want = [0.2, 0.8, 0.4, 0.6, 0.9, 0.1].map((x, i) => (luma[i % 2] as number) + 0.5 * (x - (luma[i % 2] as number)));
  assertClose(photometric("color", rgb, [0.5]).toArray() as Float32Array, Float32Array.from(want), { atol: 1e-6 });
  assert.equal(enhanceFactor(0.5), 0.5);
});

tidyTest("the randaugment view: same shape, reproducible from the generator, every pixel a normalised value in [0, 1]", () => {
  const norm = { mean: [0.3], std: [0.2] };
  const x = F.normalize(
    tensor(
      Array.from({ length: 4 * 64 }, (_, i) => ((i * 37) % 101) / 100),
      [4, 1, 8, 8],
    ),
    1,
  )
    .mul(0)
    .add(
      tensor(
        Array.from({ length: 4 * 64 }, (_, i) => (((i * 37) % 101) / 100 - 0.3) / 0.2),
        [4, 1, 8, 8],
      ),
    );
  const a = makeView("randaugment", x, new Generator(5), norm);
  const b = makeView("randaugment", x, new Generator(5), norm);
  assert.deepEqual(a.shape, [4, 1, 8, 8]);
  assert.deepEqual(Array.from(a.toArray() as Float32Array), Array.from(b.toArray() as Float32Array));
  const pixels = Array.from(a.toArray() as Float32Array, (v) => v * 0.2 + 0.3);
  assert.ok(
    pixels.every((p) => p >= -1e-5 && p <= 1 + 1e-5),
    "pixels stay in [0, 1]",
  );
  assert.notDeepEqual(Array.from(a.toArray() as Float32Array), Array.from(x.toArray() as Float32Array));
});

tidyTest("the randaugment view equals its plan applied in pixel space, image by image, then Cutout", () => {
  const [b, h, w] = [3, 6, 6];
  const norm = { mean: [0.3], std: [0.2] };
  // a seed whose plan is photometric throughout, with different ops across the images
  let seed = 0;
  for (; seed < 5000; seed++) {
    const p = randAugmentPlan(b, new Generator(seed).uniforms(2 * RA_N * b));
    const ops = p.op.flat();
    if (ops.every((o) => !["rotate", "shearX", "shearY", "translateX", "translateY"].includes(o)) && new Set(ops).size >= 4) break;
  }
  const gen = new Generator(seed);
  const plan = randAugmentPlan(b, gen.uniforms(2 * RA_N * b));
  const cut = cutoutMask(b, h, w, 3, gen.uniforms(2 * b));
  const pixels = Array.from({ length: b * h * w }, (_, i) => ((i * 53) % 97) / 96);
  const x = tensor(
    pixels.map((p) => (p - 0.3) / 0.2),
    [b, 1, h, w],
  );
  const got = Array.from(makeView("randaugment", x, new Generator(seed), norm).toArray() as Float32Array);
  const want: number[] = [];
  for (let k = 0; k < b; k++) {
    let r = tensor(pixels.slice(k * h * w, (k + 1) * h * w), [1, 1, h, w]);
    for (let s = 0; s < RA_N; s++) {
      const o = (plan.op[s] as string[])[k] as Parameters<typeof photometric>[0];
      if (o !== "identity") r = photometric(o, r, [(plan.m[s] as number[])[k] as number]).clamp(0, 1);
    }
    const px = r.toArray() as Float32Array;
    for (let i = 0; i < h * w; i++) want.push((((px[i] as number) - 0.3) / 0.2) * (cut[k * h * w + i] as number));
  }
  assertClose(Float32Array.from(got), Float32Array.from(want), { atol: 1e-5 });
});

tidyTest("contrast on RGB blends toward the mean of the luma image, as PIL does", () => {
  const px = [0.2, 0.8, 0.4, 0.6, 0.9, 0.1];
  const rgb = tensor(px, [1, 3, 1, 2]);
  const luma = [0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.9, 0.299 * 0.8 + 0.587 * 0.6 + 0.114 * 0.1];
  const m = (luma[0] as number) / 2 + (luma[1] as number) / 2;
  const f = enhanceFactor(0.3);
  assertClose(photometric("contrast", rgb, [0.3]).toArray() as Float32Array, Float32Array.from(px.map((x) => m + f * (x - m))), {
    atol: 1e-6,
  });
});
