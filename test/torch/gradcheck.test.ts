// Autograd's gradients against central finite differences, in float64. Each function is
// reduced to a scalar with fixed random weights so that every output element counts.
import { F, Generator, ones, type Tensor, tensor, zeros } from "../../src/torch/index.js";
import { gradCheck, tidyTest } from "../helpers.js";

const g = new Generator(42);
const randn = (shape: number[]) => g.randn(shape, "float64");
/** sum(y * r) for a fixed random r of y's shape: a scalar that depends on every element of y. */
const project = (y: Tensor, r: Tensor) => y.mul(r).sum();

tidyTest("gradcheck logSoftmax (dims 1 and 0)", () => {
  const r = randn([3, 4]);
  gradCheck((x) => project(F.logSoftmax(x, 1), r), [randn([3, 4])]);
  gradCheck((x) => project(F.logSoftmax(x, 0), r), [randn([3, 4])]);
});

tidyTest("gradcheck logsumexp (keepdim and all)", () => {
  const r = randn([3, 1]);
  gradCheck((x) => project(x.logsumexp(1, true), r), [randn([3, 5])]);
  gradCheck((x) => x.logsumexp().mul(2.5), [randn([2, 3])]);
});

tidyTest("gradcheck normalize", () => {
  const r = randn([4, 3]);
  gradCheck((x) => project(F.normalize(x, 1), r), [randn([4, 3])]);
  gradCheck((x) => project(F.normalize(x, 0), r), [randn([4, 3])]);
});

tidyTest("gradcheck conv2d: input, weight and bias, with stride, padding and groups", () => {
  const r = randn([2, 4, 3, 3]);
  gradCheck(
    (x, w, b) => project(F.conv2d(x, w, b, { stride: 2, padding: 1, groups: 2 }), r),
    [randn([2, 2, 5, 5]), randn([4, 1, 3, 3]), randn([4])],
  );
});

tidyTest("gradcheck batchNorm in training mode: input, weight and bias", () => {
  const r = randn([4, 3, 2, 2]);
  const f = (x: Tensor, w: Tensor, b: Tensor) =>
    project(
      F.batchNorm(x, { weight: w, bias: b, runningMean: zeros([3], "float64"), runningVar: ones([3], "float64"), training: true }),
      r,
    );
  gradCheck(f, [randn([4, 3, 2, 2]), randn([3]), randn([3])], { rtol: 1e-4, atol: 1e-6 });
});

tidyTest("gradcheck gather (repeated indices accumulate)", () => {
  const index = tensor([0, 2, 2, 1, 1, 1], [2, 3], "int64");
  const r = randn([2, 3]);
  gradCheck((x) => project(x.gather(1, index), r), [randn([2, 4])]);
});

tidyTest("gradcheck indexSelect (repeated indices accumulate)", () => {
  const index = tensor([3, 0, 3], [3], "int64");
  const r = randn([3, 2]);
  gradCheck((x) => project(x.indexSelect(0, index), r), [randn([4, 2])]);
});

tidyTest("gradcheck crossEntropy with per-example weights", () => {
  const target = tensor([1, 0, 3], [3], "int64");
  const w = tensor([0.5, 2, 1], [3], "float64");
  gradCheck((x) => F.crossEntropy(x, target, w), [randn([3, 4])]);
});
