import assert from "node:assert/strict";
import { deserialize, F, Generator, nn, SGD, serialize, type Tensor, tensor, zeros } from "../../src/torch/index.js";
import { assertClose, tidyTest } from "../helpers.js";

const tiny = (gen: Generator) =>
  new nn.Sequential(
    new nn.Conv2d(1, 2, 3, gen, { padding: 1 }),
    new nn.BatchNorm2d(2),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(8, 3, gen),
  );

tidyTest("Module: dotted parameter and buffer names, decay flags, counts", () => {
  const m = tiny(new Generator(0));
  const params = [...m.namedParameters()].map(([n, p, { decay }]) => [n, p.shape, decay]);
  assert.deepEqual(params, [
    ["0.weight", [2, 1, 3, 3], true],
    ["0.bias", [2], false],
    ["1.weight", [2], false],
    ["1.bias", [2], false],
    ["4.weight", [3, 8], true],
    ["4.bias", [3], false],
  ]);
  assert.deepEqual(
    [...m.namedBuffers()].map(([n]) => n),
    ["1.running_mean", "1.running_var"],
  );
  assert.equal(m.numParameters(), 18 + 2 + 2 + 2 + 24 + 3);
  assert.ok(m.parameters().every((p) => p.requiresGrad));
  assert.deepEqual([...m.stateDict().keys()].length, 8);
  m.dispose();
});

tidyTest("train()/eval() propagate to children and switch batch norm's behaviour", () => {
  const bn = new nn.BatchNorm2d(1);
  const m = new nn.Sequential(bn);
  assert.equal(bn.training, true);
  const x = tensor([1, 3], [2, 1, 1, 1]);
  assertClose(m.forward(x), [-1, 1], { rtol: 1e-4 });
  assertClose(bn.runningMean, [0.2]);
  m.eval();
  assert.equal(bn.training, false);
  // eval uses running stats (mean 0.2, var 0.9 + 0.1 * 2 = 1.1)
  assertClose(m.forward(x), [0.8 / Math.sqrt(1.1 + 1e-5), 2.8 / Math.sqrt(1.1 + 1e-5)], { rtol: 1e-5 });
  assertClose(bn.runningMean, [0.2]);
  m.train();
  assert.equal(bn.training, true);
  m.dispose();
});

tidyTest("Sequential applies layers in order and frees intermediates", () => {
  const gen = new Generator(2);
  const lin = new nn.Linear(2, 2, gen);
  lin.weight.copy_(tensor([1, 2, 3, 4], [2, 2]));
  (lin.bias as Tensor).copy_(tensor([-10, 0]));
  const m = new nn.Sequential(lin, new nn.ReLU());
  const x = tensor([1, 1], [1, 2]);
  assertClose(m.forward(x), [0, 7]); // relu([3 - 10, 7])
  assert.equal(x.isDisposed, false);
  m.dispose();
});

tidyTest("loadStateDict copies values and rejects missing, unexpected or mis-shaped entries", () => {
  const a = tiny(new Generator(3));
  const b = tiny(new Generator(4));
  assert.notDeepEqual(a.stateDict().get("0.weight")?.toNumbers(), b.stateDict().get("0.weight")?.toNumbers());
  b.loadStateDict(a.stateDict());
  for (const [n, t] of a.stateDict()) assert.deepEqual(b.stateDict().get(n)?.toNumbers(), t.toNumbers(), n);
  const partial = new Map(a.stateDict());
  partial.delete("4.bias");
  assert.throws(() => b.loadStateDict(partial), /missing "4.bias"/);
  b.loadStateDict(partial, false);
  assert.throws(() => b.loadStateDict(new Map([...a.stateDict(), ["extra", zeros([1])]])), /unexpected keys extra/);
  assert.throws(() => b.loadStateDict(new Map([...a.stateDict(), ["4.bias", zeros([4])]])), /"4.bias" has shape \[4\], expected \[3\]/);
  a.dispose();
  b.dispose();
});

tidyTest("initialisation: seeded, and with kaiming/default statistics", () => {
  const conv = (seed: number, init: "kaiming" | "default") => new nn.Conv2d(64, 128, 3, new Generator(seed), { init });
  const k1 = conv(5, "kaiming");
  const k2 = conv(5, "kaiming");
  assert.deepEqual(k1.weight.toNumbers(), k2.weight.toNumbers());
  // He normal, fan_out = 128 * 9: std sqrt(2 / 1152)
  const std = Math.sqrt(2 / 1152);
  assert.ok(Math.abs(k1.weight.mean().item()) < 0.02 * std);
  assert.ok(Math.abs(k1.weight.std().item() / std - 1) < 0.02);
  // PyTorch default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 64 * 9; std = bound / sqrt(3)
  const d = conv(5, "default");
  const bound = 1 / Math.sqrt(576);
  assert.ok(d.weight.abs().max().item() <= bound);
  assert.ok(Math.abs(d.weight.std().item() / (bound / Math.sqrt(3)) - 1) < 0.02);
  assert.ok((d.bias as Tensor).abs().max().item() <= bound);
  const lin = new nn.Linear(400, 50, new Generator(6));
  assert.ok(lin.weight.abs().max().item() <= 1 / 20);
  assert.ok(Math.abs(lin.weight.std().item() / (1 / 20 / Math.sqrt(3)) - 1) < 0.03);
  assert.deepEqual(nn.fans([128, 64, 3, 3]), { fanIn: 576, fanOut: 1152 });
  for (const m of [k1, k2, d, lin]) m.dispose();
});

/** SGD by hand, float64: d = g + wd p; buf = m buf + d (buf = d at step 1); p -= lr buf. */
function sgdByHand(p: number[], g: (p: number[]) => number[], steps: number, lr: number, m: number, wd: number): number[] {
  let buf: number[] | null = null;
  for (let s = 0; s < steps; s++) {
    const grad = g(p);
    const d = p.map((v, i) => (grad[i] as number) + wd * v);
    buf = buf === null ? d : buf.map((b, i) => m * b + (d[i] as number));
    const bb = buf;
    p = p.map((v, i) => v - lr * (bb[i] as number));
  }
  return p;
}

tidyTest("SGD: three steps of momentum + weight decay match hand arithmetic", () => {
  // loss = sum(c * p) + sum(p^2) / 2, so grad = c + p
  const c = tensor([0.5, 1], [2], "float64");
  const p = tensor([1, -2], [2], "float64").requiresGrad_();
  const opt = new SGD([{ params: [p], names: ["p"], weightDecay: 0.01 }], { lr: 0.1, momentum: 0.9 });
  const step = () => {
    p.mul(c).sum().add(p.square().sum().mul(0.5)).backward();
    opt.step();
    opt.zeroGrad();
  };
  step();
  // step 1 by hand: g = [1.5, -1], d = g + 0.01 p = [1.51, -1.02], p = p - 0.1 d
  assertClose(p, [1 - 0.151, -2 + 0.102], { rtol: 1e-12 });
  step();
  step();
  const want = sgdByHand([1, -2], (q) => [0.5 + (q[0] as number), 1 + (q[1] as number)], 3, 0.1, 0.9, 0.01);
  assertClose(p, want, { rtol: 1e-12 });
  opt.dispose();
});

tidyTest("SGD: nesterov momentum follows PyTorch's formula", () => {
  const p = tensor([1], [1], "float64").requiresGrad_();
  const opt = new SGD([{ params: [p], names: ["p"], weightDecay: 0 }], { lr: 0.5, momentum: 0.5, nesterov: true });
  for (let s = 0; s < 2; s++) {
    p.mul(2).sum().backward(); // g = 2
    opt.step();
    opt.zeroGrad();
  }
  // buf1 = 2, d1 = 2 + 0.5*2 = 3, p = 1 - 1.5 = -0.5; buf2 = 0.5*2 + 2 = 3, d2 = 2 + 1.5 = 3.5, p = -0.5 - 1.75
  assertClose(p, [-2.25], { rtol: 1e-12 });
  opt.dispose();
});

tidyTest("SGD param groups: the no-decay group ignores weight decay; params without grad are skipped", () => {
  const a = tensor([2, -4], [2], "float64").requiresGrad_();
  const b = tensor([2, -4], [2], "float64").requiresGrad_();
  const idle = tensor([7], [1], "float64").requiresGrad_();
  const opt = new SGD(
    [
      { params: [a], names: ["a"], weightDecay: 0.5 },
      { params: [b, idle], names: ["b", "idle"], weightDecay: 0 },
    ],
    { lr: 0.1 },
  );
  a.sum().add(b.sum()).backward(); // g = 1 for a and b
  opt.step();
  assertClose(a, [2 - 0.1 * (1 + 1), -4 - 0.1 * (1 - 2)], { rtol: 1e-12 });
  assertClose(b, [2 - 0.1, -4 - 0.1], { rtol: 1e-12 });
  assertClose(idle, [7]);
  opt.dispose();
});

tidyTest("SGD.forModule puts batch-norm parameters and biases in the no-decay group; lr is settable", () => {
  const m = tiny(new Generator(7));
  const opt = SGD.forModule(m, { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  assert.deepEqual(
    opt.groups.map((g) => [g.names, g.weightDecay]),
    [
      [["0.weight", "4.weight"], 5e-4],
      [["0.bias", "1.weight", "1.bias", "4.bias"], 0],
    ],
  );
  opt.lr = 0.01;
  assert.equal(opt.lr, 0.01);
  assert.throws(() => new SGD([], { lr: -1 }), /lr must be >= 0/);
  opt.dispose();
  m.dispose();
});

tidyTest("SGD state: momentum buffers saved (through safetensors) and restored replay the same steps", () => {
  const run = (opt: SGD, model: nn.Module, x: Tensor, y: Tensor) => {
    F.crossEntropy(model.forward(x), y).backward();
    opt.step();
    opt.zeroGrad();
  };
  const gen = new Generator(8);
  const x = gen.randn([4, 1, 2, 2]);
  const y = tensor([0, 1, 2, 1], [4], "int64");
  const a = tiny(new Generator(9));
  const optA = SGD.forModule(a, { lr: 0.1, momentum: 0.9, weightDecay: 1e-2 });
  run(optA, a, x, y);
  run(optA, a, x, y);
  const saved = deserialize(serialize(new Map([...a.stateDict(), ...optA.stateDict()])));
  assert.ok(saved.tensors.has("momentum.0.weight"));
  const b = tiny(new Generator(10));
  b.loadStateDict(new Map([...saved.tensors].filter(([k]) => !k.startsWith("momentum."))));
  const optB = SGD.forModule(b, { lr: 0.1, momentum: 0.9, weightDecay: 1e-2 });
  optB.loadStateDict(saved.tensors);
  run(optA, a, x, y);
  run(optB, b, x, y);
  for (const [n, t] of a.stateDict()) assertClose(b.stateDict().get(n) as Tensor, t, { rtol: 1e-6, atol: 1e-7, msg: n });
  assert.throws(() => optB.loadStateDict(new Map()), /missing "momentum.0.weight"/);
  for (const t of saved.tensors.values()) t.dispose();
  for (const o of [optA, optB]) o.dispose();
  a.dispose();
  b.dispose();
});
