import assert from "node:assert/strict";
import { arange, type DType, empty, eye, full, ones, scalar, tensor, zeros } from "../../src/torch/index.js";
import { tidyTest } from "../helpers.js";

tidyTest("tensor() from each typed array keeps dtype, shape and values", () => {
  const cases: [DType, ArrayLike<number> | ArrayLike<bigint>, unknown[]][] = [
    ["float32", new Float32Array([1.5, -2, 3.25, 0]), [1.5, -2, 3.25, 0]],
    ["float64", new Float64Array([1e-300, -2, Math.PI, 0]), [1e-300, -2, Math.PI, 0]],
    ["int64", new BigInt64Array([2n ** 53n + 1n, -3n, 0n, 7n]), [2n ** 53n + 1n, -3n, 0n, 7n]],
    ["int32", new Int32Array([2 ** 31 - 1, -(2 ** 31), 0, 5]), [2 ** 31 - 1, -(2 ** 31), 0, 5]],
    ["uint8", new Uint8Array([0, 255, 1, 128]), [0, 255, 1, 128]],
  ];
  for (const [dtype, data, values] of cases) {
    const t = tensor(data as Float32Array, [2, 2]);
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [2, 2]);
    assert.equal(t.numel, 4);
    assert.equal(t.ndim, 2);
    assert.deepEqual(Array.from(t.toArray() as ArrayLike<unknown>), values, dtype);
  }
});

tidyTest("bool tensors come from bytes or numbers and export as 0/1 bytes", () => {
  const b = tensor(new Uint8Array([1, 0, 1]), [3], "bool");
  assert.equal(b.dtype, "bool");
  assert.deepEqual(b.toNumbers(), [1, 0, 1]);
  const c = tensor([2, 0, -1], [3], "bool");
  assert.deepEqual(c.toNumbers(), [1, 0, 1]);
  assert.ok(b.toArray() instanceof Uint8Array);
  assert.equal(tensor([1], [1], "bool").item(), 1);
});

tidyTest("tensor() from plain numbers defaults to float32 and converts to a given dtype", () => {
  const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  assert.equal(t.dtype, "float32");
  assert.deepEqual(t.toNumbers(), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(t.size(-1), 3);
  const l = tensor([1, -2], [2], "int64");
  assert.equal(l.dtype, "int64");
  assert.deepEqual(Array.from(l.toArray() as BigInt64Array), [1n, -2n]);
  assert.throws(() => tensor([1.5], [1], "int64"), /non-integer 1.5/);
});

tidyTest("toArray round-trips through every dtype conversion", () => {
  const src = tensor([0, 1, 2, 250], [4], "float64");
  for (const dt of ["float32", "float64", "int64", "int32", "uint8"] as DType[]) {
    const t = src.to(dt);
    assert.equal(t.dtype, dt);
    assert.deepEqual(t.toNumbers(), [0, 1, 2, 250], dt);
    const back = tensor(t.toArray(), t.shape, dt);
    assert.deepEqual(back.toNumbers(), [0, 1, 2, 250], `${dt} round trip`);
  }
  assert.deepEqual(src.to("bool").toNumbers(), [0, 1, 1, 1]);
});

tidyTest("toArray of a non-contiguous view is in logical (C) order", () => {
  const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]).T; // [3,2]
  assert.equal(t.isContiguous, false);
  assert.deepEqual(t.toNumbers(), [1, 4, 2, 5, 3, 6]);
});

tidyTest("zeros, ones, full, empty, eye, scalar", () => {
  assert.deepEqual(zeros([2, 3]).toNumbers(), [0, 0, 0, 0, 0, 0]);
  assert.equal(zeros([2], "int32").dtype, "int32");
  assert.deepEqual(ones([3], "uint8").toNumbers(), [1, 1, 1]);
  const f = full([2, 2], 7.5, "float64");
  assert.equal(f.dtype, "float64");
  assert.deepEqual(f.toNumbers(), [7.5, 7.5, 7.5, 7.5]);
  assert.deepEqual(empty([4, 0]).shape, [4, 0]);
  assert.deepEqual(eye(3).toNumbers(), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const s = scalar(2.5);
  assert.deepEqual(s.shape, []);
  assert.equal(s.item(), 2.5);
  assert.deepEqual(zeros([0]).toNumbers(), []);
});

tidyTest("arange: end only, start/end/step, negative step, float dtype", () => {
  const a = arange(5);
  assert.equal(a.dtype, "int64");
  assert.deepEqual(a.toNumbers(), [0, 1, 2, 3, 4]);
  assert.deepEqual(arange(2, 11, 3).toNumbers(), [2, 5, 8]);
  assert.deepEqual(arange(3, 0, -1).toNumbers(), [3, 2, 1]);
  const f = arange(0, 1, 0.25, "float32");
  assert.equal(f.dtype, "float32");
  assert.deepEqual(f.toNumbers(), [0, 0.25, 0.5, 0.75]);
});

tidyTest("item() reads one element; toString prints libtorch's rendering", () => {
  assert.equal(tensor([42], [1, 1], "int32").item(), 42);
  assert.throws(() => tensor([1, 2]).item(), /2 elements, expected 1/);
  assert.match(tensor([1, 2]).toString(), /CPUFloatType\{2\}/);
});
