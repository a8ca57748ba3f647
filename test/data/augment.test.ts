import assert from "node:assert/strict";
import { test } from "node:test";
import { Augmenter, channelStats, defaultAugment, MemoryDataset, normalizeBatch } from "../../src/data/index.js";
import { Generator } from "../../src/torch/random.js";
import { liveTensors } from "../../src/torch/scope.js";

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tol, `at ${i}: ${a[i]} vs ${b[i]}`);
};
// One 2x3 gray image [[1,2,3],[4,5,6]], stored as float32 (used as is, no 1/255).
const img = Float32Array.from([1, 2, 3, 4, 5, 6]);
const padCrop = (pad: number, padMode: "zero" | "reflect", u: number[], normalize = null as null | { mean: number[]; std: number[] }) =>
  Array.from(new Augmenter([1, 2, 3], { kind: "padCrop", pad, padMode }, normalize).apply(img, 1, Float64Array.from(u)));

test("padCrop by hand: flip, zero padding at both offsets, reflect padding, normalisation", () => {
  assert.deepEqual(padCrop(0, "zero", [0, 0, 0.1]), [3, 2, 1, 6, 5, 4]); // u[2] < 0.5: flip
  assert.deepEqual(padCrop(1, "zero", [0, 0, 0.9]), [0, 0, 0, 0, 1, 2]); // offset (0,0) of the padded image
  assert.deepEqual(padCrop(1, "zero", [0.99, 0.99, 0.9]), [5, 6, 0, 0, 0, 0]); // offset (2,2)
  assert.deepEqual(padCrop(1, "reflect", [0, 0, 0.9]), [5, 4, 5, 2, 1, 2]); // row -1 -> 1, col -1 -> 1
  assert.deepEqual(padCrop(1, "zero", [0, 0, 0.9], { mean: [1], std: [2] }), [-0.5, -0.5, -0.5, -0.5, 0, 0.5]);
});

// resizedCropJitter uniforms: [0, 40) crop attempts (area, log ratio, top, left) x 10, then
// 40 flip, 41 grayscale, 42 brightness, 43 contrast, 44 saturation, 45 hue, 46..49 order.
const NO_JITTER = { grayscale: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0, flip: false };
const uniforms = (set: Record<number, number> = {}) => Float64Array.from({ length: 50 }, (_, i) => set[i] ?? 0.5);
const rgb = (w: number, h: number, f: (c: number, y: number, x: number) => number) =>
  Float32Array.from({ length: 3 * h * w }, (_, k) => f(Math.floor(k / (h * w)), Math.floor(k / w) % h, k % w));

test("resizedCropJitter by hand: full crop is the identity, flip mirrors, fallback centre crop", () => {
  const x = rgb(4, 4, (c, y, xx) => (c * 16 + y * 4 + xx) / 48);
  const full = new Augmenter([3, 4, 4], { kind: "resizedCropJitter", scale: [1, 1], ratio: [1, 1], ...NO_JITTER });
  close(full.apply(x, 1, uniforms()), x);
  const flip = new Augmenter([3, 4, 4], { kind: "resizedCropJitter", scale: [1, 1], ratio: [1, 1], ...NO_JITTER, flip: true });
  close(flip.apply(x, 1, uniforms({ 40: 0.2 })).subarray(0, 4), [3 / 48, 2 / 48, 1 / 48, 0]);
  // ratio 2 on a square image never fits: torchvision's fallback crops the centre 2 rows x 4 columns
  const rows = rgb(4, 4, (_c, y) => y / 10);
  const fallback = new Augmenter([3, 4, 4], { kind: "resizedCropJitter", scale: [1, 1], ratio: [2, 2], ...NO_JITTER });
  const out = fallback.apply(rows, 1, uniforms());
  close([out[0] as number, out[12] as number], [0.1, 0.2]); // output rows 0 and 3 = source rows 1 and 2
});

test("resizedCropJitter by hand: grayscale, brightness, contrast, saturation, hue", () => {
  const base = { kind: "resizedCropJitter" as const, scale: [1, 1] as [number, number], ratio: [1, 1] as [number, number], ...NO_JITTER };
  const px = Float32Array.from([0.8, 0.2, 0.4, 0.6, 0.1, 0.9]); // 1x2 RGB: (0.8,0.4,0.1), (0.2,0.6,0.9)
  const wide = { ...base, ratio: [2, 2] as [number, number] };
  const luma = [0.2989 * 0.8 + 0.587 * 0.4 + 0.114 * 0.1, 0.2989 * 0.2 + 0.587 * 0.6 + 0.114 * 0.9];
  close(new Augmenter([3, 1, 2], { ...wide, grayscale: 1 }).apply(px, 1, uniforms()), [...luma, ...luma, ...luma]);
  // saturation factor = 1 - s + u * 2s = 0 for s = 1, u = 0: fully desaturated
  close(new Augmenter([3, 1, 2], { ...wide, saturation: 1 }).apply(px, 1, uniforms({ 44: 0 })), [...luma, ...luma, ...luma]);
  // brightness factor 0.5 + 0.75 * 1 = 1.25, clamped at 1
  close(new Augmenter([3, 1, 2], { ...wide, brightness: 0.5 }).apply(px, 1, uniforms({ 42: 0.75 })), [1, 0.25, 0.5, 0.75, 0.125, 1]);
  // contrast 0.5 on gray [0.2, 0.6]: 0.5 x + 0.5 * mean(0.4)
  const gray = new Augmenter([1, 1, 2], { ...wide, contrast: 0.5 });
  close(gray.apply(Float32Array.from([0.2, 0.6]), 1, uniforms({ 43: 0 })), [0.3, 0.5]);
  // hue shift (2u - 1) * 0.5 = 1/3 turn: red -> green, blue -> red
  const hue = new Augmenter([3, 1, 2], { ...wide, hue: 0.5 });
  close(hue.apply(Float32Array.from([1, 0, 0, 0, 0, 1]), 1, uniforms({ 45: 5 / 6 })), [0, 1, 1, 0, 0, 0], 1e-6);
});

test("shapes and ranges kept; reproducible from the seed", () => {
  const B = 16;
  const raw = Uint8Array.from({ length: B * 3 * 8 * 8 }, (_, k) => (k * 37) % 256);
  const aug = new Augmenter([3, 8, 8], defaultAugment([3, 8, 8]));
  const a = aug.augment(raw, B, new Generator(9));
  assert.equal(a.length, raw.length);
  assert.ok(a.every((v) => v >= 0 && v <= 1));
  assert.deepEqual(a, aug.augment(raw, B, new Generator(9)));
  assert.notDeepEqual(a, aug.augment(raw, B, new Generator(10)));
  const g = new Augmenter([1, 8, 8], defaultAugment([1, 8, 8]));
  assert.equal(g.options.kind, "padCrop");
  const b = g.augment(raw.subarray(0, B * 64), B, new Generator(1));
  assert.ok(b.every((v) => v >= 0 && v <= 1));
  assert.throws(() => new Augmenter([3, 8, 8], { kind: "padCrop", padding: 2 } as never), /unknown option 'padding'/);
  assert.throws(() => new Augmenter([5], { kind: "padCrop" }), /needs image examples/);
  assert.throws(() => new Augmenter([1, 4, 4], { kind: "padCrop", pad: 4, padMode: "reflect" }), /reflect pad 4 must be smaller/);
});

test("normalizeBatch by hand, and channelStats of images and features", async () => {
  close(normalizeBatch(Float32Array.from([1, 2, 3, 4]), 2, [2], { mean: [1, 2], std: [1, 2] }), [0, 0, 2, 1]);
  close(normalizeBatch(Uint8Array.from([0, 255]), 1, [1, 1, 2], null), [0, 1]);
  const images = new MemoryDataset({
    name: "s",
    data: Uint8Array.from([0, 255, 255, 255]),
    shape: [1, 1, 2],
    labels: Int32Array.from([0, 0]),
    classNames: ["a"],
  });
  const before = liveTensors();
  const s = await channelStats(images, Int32Array.from([0, 1]));
  close(s.mean, [0.75]);
  close(s.std, [Math.sqrt(0.75 - 0.75 ** 2)]);
  const feats = new MemoryDataset({
    name: "f",
    data: Float32Array.from([1, 5, 3, 5]),
    shape: [2],
    labels: Int32Array.from([0, 0]),
    classNames: ["a"],
  });
  const f = await channelStats(feats, Int32Array.from([0, 1]));
  close(f.mean, [2, 5]);
  close(f.std, [1, 1]); // feature 2 is constant: std 0 becomes 1
  assert.equal(liveTensors(), before);
});
