import assert from "node:assert/strict";
import { isGradEnabled, noGrad, SGD, tensor } from "../../src/torch/index.js";
import { assertClose, gradCheck, tidyTest } from "../helpers.js";

tidyTest("requiresGrad_, backward and grad: d/dx sum(x^2 + 3x) = 2x + 3", () => {
  const x = tensor([1, -2, 0.5]).requiresGrad_();
  assert.equal(x.requiresGrad, true);
  assert.equal(x.grad, null);
  const y = x.square().add(x.mul(3)).sum();
  assert.equal(y.requiresGrad, true);
  y.backward();
  assertClose(x.grad as NonNullable<typeof x.grad>, [5, -1, 4]);
});

tidyTest("gradients accumulate across backward calls until zeroed", () => {
  const w = tensor([2, 3]).requiresGrad_();
  w.mul(tensor([1, 10]))
    .sum()
    .backward();
  w.mul(tensor([1, 10]))
    .sum()
    .backward();
  assertClose(w.grad as NonNullable<typeof w.grad>, [2, 20]);
  const opt = new SGD([{ params: [w], names: ["w"], weightDecay: 0 }], { lr: 0 });
  opt.zeroGrad();
  assert.equal(w.grad, null);
  opt.dispose();
});

tidyTest("backward with an explicit output gradient (vector-Jacobian product)", () => {
  const x = tensor([1, 2, 3]).requiresGrad_();
  x.mul(x).backward(tensor([1, 0, -1])); // d(x*x) = 2x, weighted by [1,0,-1]
  assertClose(x.grad as NonNullable<typeof x.grad>, [2, 0, -6]);
});

tidyTest("noGrad: results do not require grad, mode is restored, also on throw", () => {
  const x = tensor([1, 2]).requiresGrad_();
  assert.equal(isGradEnabled(), true);
  const y = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    return x.mul(2);
  });
  assert.equal(y.requiresGrad, false);
  assert.equal(isGradEnabled(), true);
  assert.throws(() =>
    noGrad(() => {
      throw new Error("boom");
    }),
  );
  assert.equal(isGradEnabled(), true);
  // nested: the inner call restores the outer (off) mode
  noGrad(() => {
    noGrad(() => undefined);
    assert.equal(isGradEnabled(), false);
  });
});

tidyTest("detach cuts the graph; leaves without requiresGrad get no gradient", () => {
  const x = tensor([3]).requiresGrad_();
  const c = tensor([4]);
  const y = x.mul(x.detach()).add(c).sum(); // d/dx = x.detach() = 3
  y.backward();
  assertClose(x.grad as NonNullable<typeof x.grad>, [3]);
  assert.equal(c.grad, null);
  assert.equal(x.detach().requiresGrad, false);
});

tidyTest("backward errors: non-scalar without grad, and no graph", () => {
  const x = tensor([1, 2]).requiresGrad_();
  assert.throws(() => x.mul(2).backward(), /implicitly created only for scalar outputs/);
  assert.throws(() => tensor([1]).sum().backward(), /does not require grad/);
});

tidyTest("in-place state ops are not recorded by autograd", () => {
  const x = tensor([1, 2]).requiresGrad_();
  const y = x.mul(1);
  const bank = tensor([0, 0]);
  bank.copy_(y); // a memory-bank write: no graph edge into bank
  assert.equal(bank.requiresGrad, false);
  bank.add_(1).mul_(2);
  assertClose(bank, [4, 6]);
});

tidyTest("the gradient checker itself rejects a wrong gradient", () => {
  // x.detach() * x has autograd gradient x, but true derivative 2x
  assert.throws(() => gradCheck((x) => x.detach().mul(x).sum(), [tensor([1, 2], [2], "float64")]), /gradCheck input 0/);
  assert.throws(() => assertClose([1, 2], [1, 2.1]), /element 1/);
  assertClose([1, 2], [1, 2 + 1e-9]);
});
