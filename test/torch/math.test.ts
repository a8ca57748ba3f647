import assert from "node:assert/strict";
import { allClose, arange, F, tensor, where } from "../../src/torch/index.js";
import { assertClose, tidyTest } from "../helpers.js";

const a = () => tensor([1, -2, 3, -4, 5, 0.5], [2, 3]);
const b = () => tensor([2, 2, -1, 4, 0.5, 0.25], [2, 3]);

tidyTest("binary arithmetic, tensor and scalar operands, broadcasting", () => {
  assertClose(a().add(b()), [3, 0, 2, 0, 5.5, 0.75], { shape: [2, 3] });
  assertClose(a().sub(b()), [-1, -4, 4, -8, 4.5, 0.25]);
  assertClose(a().mul(b()), [2, -4, -3, -16, 2.5, 0.125]);
  assertClose(a().div(b()), [0.5, -1, -3, -1, 10, 2]);
  assertClose(a().add(1), [2, -1, 4, -3, 6, 1.5]);
  assertClose(a().mul(-2), [-2, 4, -6, 8, -10, -1]);
  assertClose(a().pow(2), [1, 4, 9, 16, 25, 0.25]);
  assertClose(tensor([2, 3]).pow(tensor([3, 2])), [8, 9]);
  assertClose(tensor([7, -7, 7.5]).remainder(3), [1, 2, 1.5]); // Python's sign convention
  assertClose(a().maximum(b()), [2, 2, 3, 4, 5, 0.5]);
  assertClose(a().minimum(0), [0, -2, 0, -4, 0, 0]);
  assertClose(a().maximum(0), [1, 0, 3, 0, 5, 0.5]);
  // [2,3] + [3] broadcasts over rows; [2,1] over columns
  assertClose(a().add(tensor([10, 20, 30])), [11, 18, 33, 6, 25, 30.5]);
  assertClose(a().mul(tensor([1, 10], [2, 1])), [1, -2, 3, -40, 50, 5]);
  assertClose(a().addScaled(b(), -0.5), [0, -3, 3.5, -6, 4.75, 0.375]);
});

tidyTest("unary math against closed forms", () => {
  const x = tensor([0.5, 1, 2, 4], [4], "float64");
  assertClose(x.neg(), [-0.5, -1, -2, -4]);
  assertClose(x.exp(), [0.5, 1, 2, 4].map(Math.exp), { rtol: 1e-12 });
  assertClose(x.log(), [0.5, 1, 2, 4].map(Math.log), { rtol: 1e-12 });
  assertClose(x.log1p(), [0.5, 1, 2, 4].map(Math.log1p), { rtol: 1e-12 });
  assertClose(x.sqrt(), [0.5, 1, 2, 4].map(Math.sqrt), { rtol: 1e-12 });
  assertClose(
    x.rsqrt(),
    [0.5, 1, 2, 4].map((v) => 1 / Math.sqrt(v)),
    { rtol: 1e-12 },
  );
  assertClose(x.square(), [0.25, 1, 4, 16]);
  assertClose(x.reciprocal(), [2, 1, 0.5, 0.25]);
  assertClose(
    x.sigmoid(),
    [0.5, 1, 2, 4].map((v) => 1 / (1 + Math.exp(-v))),
    { rtol: 1e-12 },
  );
  assertClose(x.tanh(), [0.5, 1, 2, 4].map(Math.tanh), { rtol: 1e-12 });
  const y = tensor([-1.5, -0.5, 0, 0.4, 2.5]);
  assertClose(y.abs(), [1.5, 0.5, 0, 0.4, 2.5]);
  assertClose(y.relu(), [0, 0, 0, 0.4, 2.5]);
  assertClose(F.relu(y), [0, 0, 0, 0.4, 2.5]);
  assertClose(F.leakyRelu(y, 0.1), [-0.15, -0.05, 0, 0.4, 2.5]);
  assertClose(y.floor(), [-2, -1, 0, 0, 2]);
  assertClose(y.ceil(), [-1, -0, 0, 1, 3]);
  assertClose(y.round(), [-2, -0, 0, 0, 2]); // half to even
  assertClose(y.sign(), [-1, -1, 0, 1, 1]);
  const z = tensor([1, Number.NaN, Number.POSITIVE_INFINITY]);
  assert.deepEqual(z.isfinite().toNumbers(), [1, 0, 0]);
  assert.deepEqual(z.isnan().toNumbers(), [0, 1, 0]);
});

tidyTest("comparisons and logical ops give bool tensors", () => {
  const x = tensor([1, 2, 3]);
  const y = tensor([3, 2, 1]);
  const cases: [string, ReturnType<typeof x.eq>, number[]][] = [
    ["eq", x.eq(y), [0, 1, 0]],
    ["ne", x.ne(y), [1, 0, 1]],
    ["lt", x.lt(y), [1, 0, 0]],
    ["le", x.le(y), [1, 1, 0]],
    ["gt", x.gt(y), [0, 0, 1]],
    ["ge", x.ge(2), [0, 1, 1]],
    ["and", x.gt(1).logicalAnd(y.gt(1)), [0, 1, 0]],
    ["or", x.gt(2).logicalOr(y.gt(2)), [1, 0, 1]],
    ["not", x.eq(2).logicalNot(), [1, 0, 1]],
  ];
  for (const [name, t, want] of cases) {
    assert.equal(t.dtype, "bool", name);
    assert.deepEqual(t.toNumbers(), want, name);
  }
  assert.equal(x.eq(x).all().item(), 1);
  assert.equal(x.eq(5).any().item(), 0);
  assert.ok(allClose(x, tensor([1, 2, 3 + 1e-7])));
  assert.ok(!allClose(x, y));
});

tidyTest("where with tensors and scalars; clamp with one or two bounds", () => {
  const c = tensor([1, 0, 1, 0], [4], "bool");
  assertClose(where(c, tensor([1, 2, 3, 4]), tensor([-1, -2, -3, -4])), [1, -2, 3, -4]);
  assertClose(where(c, tensor([1, 2, 3, 4]), 0), [1, 0, 3, 0]);
  assertClose(where(c, 5, tensor([-1, -2, -3, -4])), [5, -2, 5, -4]);
  // broadcast a [2,1] condition over [2,2]
  assertClose(where(tensor([1, 0], [2, 1], "bool"), tensor([1, 2, 3, 4], [2, 2]), 9), [1, 2, 9, 9]);
  const x = tensor([-3, -1, 0, 2, 5]);
  assertClose(x.clamp(-1, 2), [-1, -1, 0, 2, 2]);
  assertClose(x.clamp(0), [0, 0, 0, 2, 5]);
  assertClose(x.clamp(null, 1), [-3, -1, 0, 1, 1]);
});

tidyTest("reductions over all elements and along dims, with keepdim", () => {
  const x = tensor([1, 5, 3, 4, 2, 6], [2, 3]);
  assertClose(x.sum(), [21], { shape: [] });
  assertClose(x.sum(0), [5, 7, 9], { shape: [3] });
  assertClose(x.sum(1, true), [9, 12], { shape: [2, 1] });
  assertClose(x.sum([0, 1]), [21]);
  assertClose(x.mean(), [3.5]);
  assertClose(x.mean(1), [3, 4]);
  assertClose(x.mean(-1, true), [3, 4], { shape: [2, 1] });
  assertClose(x.max(), [6]);
  assertClose(x.max(1), [5, 6]);
  assertClose(x.max(0, true), [4, 5, 6], { shape: [1, 3] });
  assertClose(x.min(1), [1, 2]);
  assertClose(x.prod(1), [15, 48]);
  assert.deepEqual(x.argmax().toNumbers(), [5]);
  assert.deepEqual(x.argmax(1).toNumbers(), [1, 2]);
  assert.deepEqual(x.argmax(0, true).shape, [1, 3]);
  assert.deepEqual(x.argmin(1).toNumbers(), [0, 1]);
  const [v, i] = x.maxDim(0);
  assertClose(v, [4, 5, 6]);
  assert.deepEqual(i.toNumbers(), [1, 0, 1]);
  assert.equal(i.dtype, "int64");
  // population variance / std
  assertClose(x.var(1), [8 / 3, 8 / 3]);
  assertClose(x.std(), [Math.sqrt(17.5 / 6)]);
  assertClose(x.cumsum(1), [1, 6, 9, 4, 6, 12]);
});

tidyTest("logsumexp equals log(sum(exp)) and is stable for large inputs", () => {
  const x = tensor([1, 2, 3, 0, -1, 4], [2, 3], "float64");
  const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
  assertClose(x.logsumexp(1), [lse([1, 2, 3]), lse([0, -1, 4])], { rtol: 1e-12 });
  assertClose(x.logsumexp(0, true), [lse([1, 0]), lse([2, -1]), lse([3, 4])], { shape: [1, 3], rtol: 1e-12 });
  assertClose(x.logsumexp(), [lse([1, 2, 3, 0, -1, 4])], { rtol: 1e-12 });
  const big = tensor([1000, 1000]);
  assertClose(big.logsumexp(0), [1000 + Math.log(2)], { rtol: 1e-6 });
});

tidyTest("matmul, mm, bmm and linear against hand products", () => {
  const m = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const n = tensor([1, 0, 0, 1, 1, 1], [3, 2]);
  assertClose(m.mm(n), [4, 5, 10, 11], { shape: [2, 2] });
  assertClose(m.matmul(n), [4, 5, 10, 11]);
  assertClose(m.matmul(tensor([1, 1, 1])), [6, 15], { shape: [2] }); // matrix-vector
  assertClose(m.mm(m.T), [14, 32, 32, 77]);
  const bm = arange(8, undefined, 1, "float32").reshape([2, 2, 2]); // [[0,1],[2,3]], [[4,5],[6,7]]
  assertClose(bm.bmm(bm), [2, 3, 6, 11, 46, 55, 66, 79], { shape: [2, 2, 2] });
  // linear: x[B,IN] @ W[OUT,IN]^T + b
  const x = tensor([1, 2, 3, 4], [2, 2]);
  const w = tensor([1, 1, 1, -1, 0, 2], [3, 2]);
  const bias = tensor([0.5, 0, -1]);
  assertClose(F.linear(x, w, bias), [3.5, -1, 3, 7.5, -1, 7], { shape: [2, 3] });
  assertClose(F.linear(x, w), [3, -1, 4, 7, -1, 8]);
});
