// libtorch errors surface as JS Errors carrying libtorch's own message (no C++ backtrace),
// and the process carries on.
import assert from "node:assert/strict";
import { F, Generator, liveTensors, type Tensor, tensor, tidy, zeros } from "../../src/torch/index.js";
import { tidyTest } from "../helpers.js";

/** Asserts fn throws an Error whose message matches, without libtorch's C++ trace. */
function throwsClean(fn: () => unknown, msg: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, "not an Error");
    assert.match(e.message, msg);
    assert.doesNotMatch(e.message, /Exception raised from|frame #/);
    return true;
  });
}

tidyTest("shape mismatches", () => {
  throwsClean(() => tensor([1, 2, 3, 4, 5, 6], [2, 3]).mm(zeros([2, 2])), /mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x2\)/);
  throwsClean(() => zeros([2, 3]).add(zeros([4])), /size of tensor a \(3\) must match the size of tensor b \(4\)/);
  throwsClean(() => zeros([2, 3]).reshape([4]), /shape '\[4\]' is invalid for input of size 6/);
  throwsClean(() => F.conv2d(zeros([1, 3, 4, 4]), zeros([2, 2, 3, 3])), /expected input\[1, 3, 4, 4\] to have 2 channels, but got 3/);
  throwsClean(() => F.crossEntropy(zeros([2, 3]), tensor([0, 1, 2], [3], "int64")), /target must be \[B\] with B=2, got \[3\]/);
  throwsClean(() => tensor(new Float32Array(3), [2, 2]), /12 bytes given for shape \[2, 2\] of float32 \(16 bytes\)/);
});

tidyTest("wrong dtypes", () => {
  throwsClean(() => zeros([1, 2]).mm(zeros([2, 1], "float64")), /expected scalar type Float but found Double/);
  throwsClean(
    () => zeros([3, 2]).indexCopy_(0, tensor([0], [1], "int64"), zeros([1, 2], "float64")),
    /same dtype, but got \(self\) Float and \(source\) Double/,
  );
  throwsClean(() => tensor([1, 0], [2], "bool").sub(tensor([1, 0], [2], "bool")), /with two bool tensors is not supported/);
  throwsClean(() => zeros([1], "float16" as "float32"), /unknown dtype 'float16'/);
  // float indices are errors, not silently truncated
  throwsClean(() => zeros([3, 2]).indexSelect(0, tensor([1.7], [1])), /indexSelect: expected an integer index tensor.*float32/);
  throwsClean(() => zeros([2, 3]).gather(1, tensor([0.5, 1], [2, 1])), /gather: expected an integer index tensor/);
  throwsClean(() => F.crossEntropy(zeros([2, 3]), tensor([0.5, 1], [2])), /crossEntropy target: expected an integer index tensor/);
  throwsClean(() => F.oneHot(tensor([1.0], [1]), 3), /oneHot: expected an integer index tensor/);
});

tidyTest("out-of-range indices", () => {
  throwsClean(() => tensor([1, 2, 3]).indexSelect(0, tensor([5], [1], "int64")), /index out of range in self/);
  throwsClean(
    () => tensor([1, 2, 3, 4], [2, 2]).gather(1, tensor([0, 2, 1, 1], [2, 2], "int64")),
    /index 2 is out of bounds for dimension 1 with size 2/,
  );
  throwsClean(() => F.crossEntropy(zeros([2, 3]), tensor([0, 3], [2], "int64")), /Target 3 is out of bounds/);
  throwsClean(() => zeros([3]).topk(5), /selected index k out of range/);
  throwsClean(() => zeros([2, 3]).slice(3, 0, 1), /Dimension out of range/);
});

tidyTest("use after dispose, and JS values where tensors belong", () => {
  const t = tensor([1, 2]);
  t.dispose();
  throwsClean(() => t.sum(), /Tensor was used after dispose\(\)/);
  throwsClean(() => tensor([1]).add(t), /Tensor was used after dispose\(\)/);
  throwsClean(() => tensor([1]).indexSelect(0, 5 as unknown as Tensor), /expected a Tensor handle/);
  throwsClean(() => tensor([1]).add("x" as unknown as number), /A number was expected/);
  throwsClean(() => new Generator(1).setState(new Uint8Array(3)), /RNG state size to be 3/);
});

tidyTest("after errors the engine keeps working and tidy leaks nothing", () => {
  const before = liveTensors();
  for (let i = 0; i < 20; i++) {
    assert.throws(() =>
      tidy(() => {
        const a = zeros([4, 4]).add(1);
        return a.mm(zeros([3, 3]));
      }),
    );
  }
  assert.equal(liveTensors(), before);
  assert.equal(
    tensor([1, 2])
      .add(tensor([3, 4]))
      .sum()
      .item(),
    10,
  );
});
