import assert from "node:assert/strict";
import { arange, F, Generator, ones, type Tensor, tensor, zeros } from "../../src/torch/index.js";
import { assertClose, tidyTest } from "../helpers.js";

/** Direct-loop reference convolution over float64 arrays (NCHW, OIHW). */
function convRef(
  x: number[],
  [B, C, H, W]: number[],
  w: number[],
  [O, Cg, kh, kw]: number[],
  bias: number[] | null,
  stride: number,
  pad: number,
  groups: number,
): number[] {
  const Ho = Math.floor((H + 2 * pad - kh) / stride) + 1;
  const Wo = Math.floor((W + 2 * pad - kw) / stride) + 1;
  const out: number[] = [];
  const og = O / groups;
  for (let b = 0; b < B; b++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let s = bias ? (bias[o] as number) : 0;
          const g = Math.floor(o / og);
          for (let c = 0; c < Cg; c++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const r = i * stride + u - pad;
                const q = j * stride + v - pad;
                if (r < 0 || r >= H || q < 0 || q >= W) continue;
                s += (x[((b * C + g * Cg + c) * H + r) * W + q] as number) * (w[((o * Cg + c) * kh + u) * kw + v] as number);
              }
          out.push(s);
        }
  return out;
}

tidyTest("conv2d: a 3x3 image and a 2x2 kernel by hand (plain, bias, stride 2 + padding 1)", () => {
  const x = arange(1, 10, 1, "float32").reshape([1, 1, 3, 3]); // [[1,2,3],[4,5,6],[7,8,9]]
  const w = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
  // out[i,j] = x[i,j] + 2 x[i,j+1] + 3 x[i+1,j] + 4 x[i+1,j+1]
  assertClose(F.conv2d(x, w), [37, 47, 67, 77], { shape: [1, 1, 2, 2] });
  assertClose(F.conv2d(x, w, tensor([1])), [38, 48, 68, 78]);
  // zero-padded 5x5, windows at rows/cols 0 and 2
  assertClose(F.conv2d(x, w, null, { stride: 2, padding: 1 }), [4, 18, 36, 77], { shape: [1, 1, 2, 2] });
  // stride (1,2), zero columns left and right: windows at columns 0 and 2 of the padded 3x5
  assertClose(F.conv2d(x, w, null, { stride: [1, 2], padding: [0, 1] }), [18, 47, 36, 77], { shape: [1, 1, 2, 2] });
});

tidyTest("conv2d: groups apply each kernel to its own channels", () => {
  const x = tensor([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2]);
  const w = tensor([2, 3], [2, 1, 1, 1]); // depthwise 1x1: channel 0 * 2, channel 1 * 3
  assertClose(F.conv2d(x, w, null, { groups: 2 }), [2, 4, 6, 8, 30, 60, 90, 120], { shape: [1, 2, 2, 2] });
});

tidyTest("conv2d matches a direct loop with stride, padding, groups and bias together", () => {
  const g = new Generator(0);
  const xs = [2, 4, 5, 6];
  const ws = [6, 2, 3, 3];
  const x = g.randn(xs, "float64");
  const w = g.randn(ws, "float64");
  const bias = g.randn([6], "float64");
  const got = F.conv2d(x, w, bias, { stride: 2, padding: 1, groups: 2 });
  const want = convRef(x.toNumbers(), xs, w.toNumbers(), ws, bias.toNumbers(), 2, 1, 2);
  assertClose(got, want, { shape: [2, 6, 3, 3], rtol: 1e-10, atol: 1e-12 });
  // channels-last input gives the same numbers
  assertClose(F.conv2d(x.channelsLast(), w, bias, { stride: 2, padding: 1, groups: 2 }), want, { rtol: 1e-10, atol: 1e-12 });
});

tidyTest("batchNorm (train) uses biased batch stats and updates running stats with momentum", () => {
  // features [B=3, C=2]: column 0 = 1,2,3 (mean 2, var 2/3, unbiased 1); column 1 = 2,4,9 (mean 5, var 26/3, unbiased 13)
  const x = tensor([1, 2, 2, 4, 3, 9], [3, 2], "float64");
  const runningMean = zeros([2], "float64");
  const runningVar = ones([2], "float64");
  const weight = tensor([2, 1], [2], "float64");
  const bias = tensor([0, 1], [2], "float64");
  const eps = 1e-5;
  const y = F.batchNorm(x, { weight, bias, runningMean, runningVar, training: true, momentum: 0.1, eps });
  const n0 = (v: number) => ((v - 2) / Math.sqrt(2 / 3 + eps)) * 2;
  const n1 = (v: number) => (v - 5) / Math.sqrt(26 / 3 + eps) + 1;
  assertClose(y, [n0(1), n1(2), n0(2), n1(4), n0(3), n1(9)], { rtol: 1e-10 });
  // running = (1 - momentum) * running + momentum * batch (unbiased variance)
  assertClose(runningMean, [0.2, 0.5], { rtol: 1e-12 });
  assertClose(runningVar, [0.9 + 0.1 * 1, 0.9 + 0.1 * 13], { rtol: 1e-12 });
  // eval: normalises with the running statistics and leaves them alone
  const z = F.batchNorm(x, { weight, bias, runningMean, runningVar, training: false, eps });
  const e0 = (v: number) => ((v - 0.2) / Math.sqrt(1.0 + eps)) * 2;
  const e1 = (v: number) => (v - 0.5) / Math.sqrt(2.2 + eps) + 1;
  assertClose(z, [e0(1), e1(2), e0(2), e1(4), e0(3), e1(9)], { rtol: 1e-10 });
  assertClose(runningMean, [0.2, 0.5], { rtol: 1e-12 });
});

tidyTest("batchNorm over [B,C,H,W] reduces over batch and space per channel", () => {
  const x = tensor([1, 3, 10, 10, 5, 7, 20, 40], [2, 2, 1, 2]); // channel 0: 1,3,5,7; channel 1: 10,10,20,40
  const rm = zeros([2]);
  const rv = ones([2]);
  const y = F.batchNorm(x, { runningMean: rm, runningVar: rv, training: true, momentum: 1, eps: 0 });
  const s0 = Math.sqrt(5);
  const s1 = Math.sqrt(150);
  assertClose(y, [-3 / s0, -1 / s0, -10 / s1, -10 / s1, 1 / s0, 3 / s0, 0, 20 / s1], { rtol: 1e-5 });
  // momentum 1: running = batch stats exactly (unbiased variance: 20/3 and 200)
  assertClose(rm, [4, 20]);
  assertClose(rv, [20 / 3, 200], { rtol: 1e-5 });
});

tidyTest("max, average and adaptive-average pooling", () => {
  const x = arange(16, undefined, 1, "float32").reshape([1, 1, 4, 4]);
  assertClose(F.maxPool2d(x, 2), [5, 7, 13, 15], { shape: [1, 1, 2, 2] });
  assertClose(F.avgPool2d(x, 2), [2.5, 4.5, 10.5, 12.5], { shape: [1, 1, 2, 2] });
  assertClose(F.maxPool2d(x, 3, 1), [10, 11, 14, 15], { shape: [1, 1, 2, 2] });
  // padding 1 pads max-pool with -inf; avg-pool counts the zero padding (count_include_pad)
  assertClose(F.maxPool2d(x, 2, 2, 1), [0, 2, 3, 8, 10, 11, 12, 14, 15], { shape: [1, 1, 3, 3] });
  assertClose(F.avgPool2d(x, 2, 2, 1), [0, 0.75, 0.75, 3, 7.5, 4.5, 3, 6.75, 3.75], { shape: [1, 1, 3, 3] });
  assertClose(F.adaptiveAvgPool2d(x, 1), [7.5], { shape: [1, 1, 1, 1] });
  assertClose(F.adaptiveAvgPool2d(x, 2), [2.5, 4.5, 10.5, 12.5]);
  // 3x3 -> 2x2: overlapping windows rows/cols [0,2) and [1,3)
  const y = arange(9, undefined, 1, "float32").reshape([1, 1, 3, 3]);
  assertClose(F.adaptiveAvgPool2d(y, 2), [2, 3, 5, 6], { shape: [1, 1, 2, 2] });
});

tidyTest("softmax and logSoftmax against closed forms", () => {
  const x = tensor([1, 2, 3, 1, 1, 1], [2, 3], "float64");
  const e = [1, 2, 3].map(Math.exp);
  const z = e.reduce((s, v) => s + v, 0);
  assertClose(F.softmax(x, 1), [...e.map((v) => v / z), 1 / 3, 1 / 3, 1 / 3], { rtol: 1e-12 });
  assertClose(F.logSoftmax(x, -1), [...[1, 2, 3].map((v) => v - Math.log(z)), ...[1, 1, 1].map(() => -Math.log(3))], { rtol: 1e-12 });
  assertClose(F.softmax(x, 0), [0.5, 1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(-2)), 0.5, 1 / (1 + Math.exp(1)), 1 / (1 + Math.exp(2))], {
    rtol: 1e-12,
  });
  assertClose(F.softmax(tensor([1000, 0]), 0), [1, 0]); // no overflow
});

tidyTest("crossEntropy: mean, sum, none, and per-example weights (mean = sum w_i l_i / B)", () => {
  const logits = tensor([2, 0, 0, 0, 1, 3], [2, 3], "float64");
  const target = tensor([0, 1], [2], "int64");
  const l0 = -(2 - Math.log(Math.exp(2) + 2));
  const l1 = -(1 - Math.log(1 + Math.exp(1) + Math.exp(3)));
  assertClose(F.crossEntropy(logits, target, null, "none"), [l0, l1], { rtol: 1e-12 });
  assertClose(F.crossEntropy(logits, target), [(l0 + l1) / 2], { rtol: 1e-12, shape: [] });
  assertClose(F.crossEntropy(logits, target, null, "sum"), [l0 + l1], { rtol: 1e-12 });
  const w = tensor([0.25, 3], [2], "float64");
  assertClose(F.crossEntropy(logits, target, w), [(0.25 * l0 + 3 * l1) / 2], { rtol: 1e-12 });
  assertClose(F.crossEntropy(logits, target, w, "sum"), [0.25 * l0 + 3 * l1], { rtol: 1e-12 });
  assertClose(F.crossEntropy(logits, target, w, "none"), [0.25 * l0, 3 * l1], { rtol: 1e-12 });
  // zero weight removes an example, but B stays the divisor
  assertClose(F.crossEntropy(logits, target, tensor([1, 0], [2], "float64")), [l0 / 2], { rtol: 1e-12 });
  // int32 targets are accepted
  assertClose(F.crossEntropy(logits, target.to("int32")), [(l0 + l1) / 2], { rtol: 1e-12 });
});

tidyTest("normalize: unit L2 rows; zero rows stay zero; p = 1", () => {
  const x = tensor([3, 4, 0, 0, 1, -1], [3, 2]);
  assertClose(F.normalize(x), [0.6, 0.8, 0, 0, Math.SQRT1_2, -Math.SQRT1_2]);
  assertClose(F.normalize(x, 0), [3 / Math.sqrt(10), 4 / Math.sqrt(17), 0, 0, 1 / Math.sqrt(10), -1 / Math.sqrt(17)]);
  assertClose(F.normalize(x, 1, 1), [3 / 7, 4 / 7, 0, 0, 0.5, -0.5]);
});

tidyTest("oneHot", () => {
  const o = F.oneHot(tensor([2, 0, 1], [3], "int64"), 4);
  assert.equal(o.dtype, "int64");
  assert.deepEqual(o.shape, [3, 4]);
  assert.deepEqual(o.toNumbers(), [0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
});

tidyTest("dropout: seeded mask, survivors scaled by 1/(1-p), identity in eval and for p = 0", () => {
  const x = ones([4000]);
  const p = 0.25;
  const a = F.dropout(x, p, true, new Generator(4)).toNumbers();
  const b = F.dropout(x, p, true, new Generator(4)).toNumbers();
  assert.deepEqual(a, b);
  assert.notDeepEqual(F.dropout(x, p, true, new Generator(5)).toNumbers(), a);
  assert.ok(a.every((v) => v === 0 || Math.abs(v - 1 / (1 - p)) < 1e-6));
  const dropped = a.filter((v) => v === 0).length / a.length;
  assert.ok(Math.abs(dropped - p) < 0.03, `dropped fraction ${dropped}`);
  const g = new Generator(1);
  const y: Tensor = tensor([1, 2, 3]);
  assert.deepEqual(F.dropout(y, 0.5, false, g).toNumbers(), [1, 2, 3]);
  assert.deepEqual(F.dropout(y, 0, true, g).toNumbers(), [1, 2, 3]);
  assert.throws(() => F.dropout(y, 1, true, g), /p must be in \[0, 1\)/);
});

tidyTest("pad and bilinear interpolate", () => {
  const x = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
  assertClose(F.pad(x, [1, 0, 0, 1], 9), [9, 1, 2, 9, 3, 4, 9, 9, 9], { shape: [1, 1, 3, 3] });
  assertClose(F.interpolate(x, [2, 2]), [1, 2, 3, 4]);
  // 2 -> 4 with align_corners = false: source coordinate (i + 0.5) / 2 - 0.5, clamped at 0
  assertClose(F.interpolate(tensor([0, 4], [1, 1, 1, 2]), [1, 4]), [0, 1, 3, 4]);
});
