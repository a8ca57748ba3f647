import assert from "node:assert/strict";
import { arange, bincount, cat, stack, tensor, zeros } from "../../src/torch/index.js";
import { assertClose, tidyTest } from "../helpers.js";

const idx = (v: number[]) => tensor(v, [v.length], "int64");

tidyTest("topk: largest/smallest along a dim, values sorted, int64 indices", () => {
  const x = tensor([1, 9, 3, 7, 4, 8, 2, 6], [2, 4]);
  const [v, i] = x.topk(2);
  assertClose(v, [9, 7, 8, 6], { shape: [2, 2] });
  assert.deepEqual(i.toNumbers(), [1, 3, 1, 3]);
  assert.equal(i.dtype, "int64");
  const [s, j] = x.topk(1, 1, false);
  assertClose(s, [1, 2]);
  assert.deepEqual(j.toNumbers(), [0, 2]);
  const [c] = x.topk(1, 0);
  assertClose(c, [4, 9, 3, 7], { shape: [1, 4] });
});

tidyTest("sort is stable, ascending or descending", () => {
  const x = tensor([3, 1, 2, 1, 3]);
  const [v, i] = x.sort();
  assertClose(v, [1, 1, 2, 3, 3]);
  assert.deepEqual(i.toNumbers(), [1, 3, 2, 0, 4]); // ties keep their order
  const [d, k] = x.sort(0, true);
  assertClose(d, [3, 3, 2, 1, 1]);
  assert.deepEqual(k.toNumbers(), [0, 4, 2, 1, 3]);
  const [r] = tensor([4, 2, 9, 1], [2, 2]).sort(1);
  assertClose(r, [2, 4, 1, 9]);
});

tidyTest("gather picks out[i][j] = x[i][index[i][j]] (dim 1) and x[index[i][j]][j] (dim 0)", () => {
  const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  assertClose(x.gather(1, tensor([2, 0, 1, 1], [2, 2], "int64")), [3, 1, 5, 5], { shape: [2, 2] });
  assertClose(x.gather(0, tensor([1, 0, 1], [1, 3], "int64")), [4, 2, 6], { shape: [1, 3] });
});

tidyTest("scatter and scatterAdd are out of place", () => {
  const base = zeros([2, 3]);
  const out = base.scatter(1, tensor([2, 0], [2, 1], "int64"), tensor([7, 8], [2, 1]));
  assertClose(out, [0, 0, 7, 8, 0, 0]);
  assertClose(base, [0, 0, 0, 0, 0, 0]);
  assertClose(base.scatter(1, tensor([1, 1], [2, 1], "int64"), 5), [0, 5, 0, 0, 5, 0]);
  // scatterAdd accumulates duplicates
  assertClose(zeros([4]).scatterAdd(0, idx([0, 2, 0, 3]), tensor([1, 2, 3, 4])), [4, 0, 2, 4]);
});

tidyTest("indexSelect along dims 0 and 1, with repeats", () => {
  const x = tensor([1, 2, 3, 4, 5, 6], [3, 2]);
  assertClose(x.indexSelect(0, idx([2, 0, 2])), [5, 6, 1, 2, 5, 6], { shape: [3, 2] });
  assertClose(x.indexSelect(1, idx([1])), [2, 4, 6], { shape: [3, 1] });
  assertClose(x.indexSelect(0, tensor([1], [1], "int32")), [3, 4]);
});

tidyTest("indexCopy_, indexAdd_ and indexFill_ write rows in place", () => {
  const bank = zeros([4, 2]);
  const same = bank.indexCopy_(0, idx([3, 1]), tensor([1, 2, 3, 4], [2, 2]));
  assert.equal(same, bank);
  assertClose(bank, [0, 0, 3, 4, 0, 0, 1, 2]);
  bank.indexAdd_(0, idx([1, 1, 0]), tensor([1, 1, 10, 10, 5, 5], [3, 2]));
  assertClose(bank, [5, 5, 14, 15, 0, 0, 1, 2]);
  bank.indexFill_(1, idx([0]), -1);
  assertClose(bank, [-1, 5, -1, 15, -1, 0, -1, 2]);
});

tidyTest("maskedSelect, maskedFill, nonzero, bincount", () => {
  const x = tensor([1, -2, 3, -4]);
  const m = x.lt(0);
  assertClose(x.maskedSelect(m), [-2, -4]);
  assertClose(x.maskedFill(m, 0), [1, 0, 3, 0]);
  assert.deepEqual(m.nonzero().toNumbers(), [1, 3]);
  assert.deepEqual(bincount(idx([0, 2, 2, 5]), 7).toNumbers(), [1, 0, 2, 0, 0, 1, 0]);
});

tidyTest("cat and stack", () => {
  const a = tensor([1, 2, 3, 4], [2, 2]);
  const b = tensor([5, 6], [1, 2]);
  assertClose(cat([a, b]), [1, 2, 3, 4, 5, 6], { shape: [3, 2] });
  assertClose(cat([a, a], 1), [1, 2, 1, 2, 3, 4, 3, 4], { shape: [2, 4] });
  assertClose(stack([a, a]), [1, 2, 3, 4, 1, 2, 3, 4], { shape: [2, 2, 2] });
  assertClose(stack([tensor([1, 2]), tensor([3, 4])], 1), [1, 3, 2, 4], { shape: [2, 2] });
});

tidyTest("reshape, view, flatten, unsqueeze, squeeze, expand, flip", () => {
  const x = arange(6, undefined, 1, "float32");
  assertClose(x.reshape([2, 3]), [0, 1, 2, 3, 4, 5], { shape: [2, 3] });
  assert.deepEqual(x.reshape([3, -1]).shape, [3, 2]);
  assert.deepEqual(x.view([1, 6]).shape, [1, 6]);
  assert.deepEqual(x.reshape([1, 2, 3]).flatten().shape, [6]);
  assert.deepEqual(x.reshape([2, 1, 3]).flatten(1).shape, [2, 3]);
  assert.deepEqual(x.unsqueeze(0).shape, [1, 6]);
  assert.deepEqual(x.unsqueeze(-1).shape, [6, 1]);
  assert.deepEqual(x.reshape([1, 6]).squeeze(0).shape, [6]);
  assertClose(tensor([1, 2], [2, 1]).expand([2, 3]), [1, 1, 1, 2, 2, 2], { shape: [2, 3] });
  assertClose(x.reshape([2, 3]).flip([1]), [2, 1, 0, 5, 4, 3]);
});

tidyTest("permute and transpose are views; contiguous copies into C order", () => {
  const x = arange(24, undefined, 1, "float32").reshape([2, 3, 4]);
  const p = x.permute([2, 0, 1]); // [4,2,3]
  assert.deepEqual(p.shape, [4, 2, 3]);
  assert.equal(p.isContiguous, false);
  // p[k][i][j] = x[i][j][k] = 12 i + 4 j + k
  assertClose(p.slice(0, 1, 2), [1, 5, 9, 13, 17, 21]);
  const c = p.contiguous();
  assert.equal(c.isContiguous, true);
  assertClose(c, p.toNumbers());
  const t = x.transpose(0, 2); // [4,3,2]
  assert.deepEqual(t.shape, [4, 3, 2]);
  assertClose(t.select(0, 0), [0, 12, 4, 16, 8, 20]);
  assertClose(tensor([1, 2, 3, 4, 5, 6], [2, 3]).T, [1, 4, 2, 5, 3, 6], { shape: [3, 2] });
  // a view shares storage: writing through it changes the base
  const base = zeros([2, 3]);
  base.T.slice(0, 1, 2).fill_(7);
  assertClose(base, [0, 7, 0, 0, 7, 0]);
});

tidyTest("slice with start, end and step; select drops the dim", () => {
  const x = arange(10, undefined, 1, "float32");
  assertClose(x.slice(0, 2, 5), [2, 3, 4]);
  assertClose(x.slice(0, 1, 10, 3), [1, 4, 7]);
  assertClose(x.slice(0, -3, 10), [7, 8, 9]);
  const m = x.reshape([2, 5]);
  assertClose(m.slice(1, 0, 2), [0, 1, 5, 6], { shape: [2, 2] });
  assertClose(m.select(1, 4), [4, 9], { shape: [2] });
});

tidyTest("channelsLast keeps shape and values, changes the memory layout", () => {
  const x = arange(24, undefined, 1, "float32").reshape([1, 2, 3, 4]);
  assert.equal(x.isChannelsLast, false);
  const y = x.channelsLast();
  assert.deepEqual(y.shape, [1, 2, 3, 4]);
  assert.equal(y.isChannelsLast, true);
  assert.equal(y.isContiguous, false);
  assert.deepEqual(y.toNumbers(), x.toNumbers());
  // NHWC storage: channel 0 and 1 of pixel (0,0) are adjacent
  const back = y.permute([0, 2, 3, 1]);
  assert.equal(back.isContiguous, true);
  assertClose(back.slice(3, 0, 2).flatten().slice(0, 0, 4), [0, 12, 1, 13]);
  assert.equal(y.contiguous().isChannelsLast, false);
});
