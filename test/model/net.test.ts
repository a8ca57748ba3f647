import assert from "node:assert/strict";
import { test } from "node:test";
import { buildNet, type ModelName } from "../../src/model/net.js";
import { Generator, liveTensors, noGrad, SGD, tidy } from "../../src/torch/index.js";
import { assertClose } from "../helpers.js";

const convs = (n: number) => Array.from({ length: n }, (_, i) => `backbone.conv${i + 1}.conv.weight`);
const heads = ["embed.weight", "classifier.weight"];
/** Decayed parameters by name, written out for the two small networks. */
const EXACT: Partial<Record<ModelName, string[]>> = {
  "small-cnn": [...convs(5), ...heads],
  mlp: ["backbone.net.0.weight", "backbone.net.3.weight", ...heads],
};

const cases: [ModelName, number[], number][] = [
  // model, input shape, width
  ["small-cnn", [1, 28, 28], 8],
  ["resnet18", [3, 32, 32], 8],
  ["resnet50", [3, 32, 32], 4],
  ["wrn-28", [3, 32, 32], 8],
  ["mlp", [20], 16],
];

for (const [model, shape, width] of cases) {
  test(`${model}: unit-norm embedding [B, D] and logits [B, C]; eval is deterministic`, () => {
    const before = liveTensors();
    const gen = new Generator(0);
    const net = buildNet({ model, inputShape: shape, numClasses: 7, embeddingDim: 16, width }, gen);
    tidy(() => {
      const x = gen.randn([3, ...shape]);
      const { v, logits } = net.heads(x);
      assert.deepEqual(v.shape, [3, 16]);
      assert.deepEqual(logits.shape, [3, 7]);
      assertClose(v.square().sum(1), [1, 1, 1], { rtol: 1e-5 });
      net.eval();
      const a = noGrad(() => net.heads(x).logits);
      const b = noGrad(() => net.heads(x).logits);
      assertClose(a, b, { rtol: 0, atol: 0 });
      net.train();
    });
    // weight decay takes exactly the conv and linear weights (the parameters of two or more
    // dimensions); batch-norm weights and biases and every bias (one dimension) are skipped
    const params = [...net.namedParameters()];
    const decayed = params.filter(([, , o]) => o.decay).map(([n]) => n);
    assert.deepEqual(
      decayed,
      params.filter(([, p]) => p.shape.length >= 2).map(([n]) => n),
    );
    assert.ok(decayed.length > 0 && decayed.length < params.length, "both sets are non-empty");
    const exact = EXACT[model];
    if (exact) assert.deepEqual(decayed, exact, `${model}: the decayed parameters by name`);
    // and the optimiser applies it so: with zero gradients, one SGD step shrinks exactly those by lr * lambda
    const opt = SGD.forModule(net, { lr: 0.5, momentum: 0.9, weightDecay: 0.1 });
    const old = new Map(params.map(([n, p]) => [n, p.toArray() as Float32Array]));
    tidy(() => {
      const { v, logits } = net.heads(gen.randn([2, ...shape]));
      v.sum().add(logits.sum()).mul(0).backward(); // every gradient exists and is zero
    });
    opt.step();
    for (const [n, p] of params) {
      const f = decayed.includes(n) ? 1 - 0.5 * 0.1 : 1;
      const want = (old.get(n) as Float32Array).map((w) => w * f);
      assertClose(p, Array.from(want), { rtol: 1e-6, atol: 1e-7, msg: `${n}: factor ${f}` });
    }
    opt.dispose();
    net.dispose();
    assert.equal(liveTensors(), before);
  });
}

test("pre-activation ResNet-18 at width 64 has the CIFAR ResNet-18 parameter count", () => {
  const net = buildNet({ model: "resnet18", inputShape: [3, 32, 32], numClasses: 10, embeddingDim: 128, width: 64 }, new Generator(0));
  // Oracle: the widely used CIFAR PreActResNet18 (kuangliu/pytorch-cifar) has 11,171,146
  // parameters including its 512->10 classifier (5,130) and no final BN; ours adds the final
  // BN-ReLU of He et al.'s v2 (2 x 512) and our two heads.
  const heads = 512 * 128 + 128 + 512 * 10 + 10;
  assert.equal(net.numParameters() - heads, 11171146 - 5130 + 1024);
  net.dispose();
});

test("wrn-28 at width 32 is WRN-28-2: its published parameter count, 1,467,610 with a 128 -> 10 classifier", () => {
  // Oracle: WRN-28-2 on CIFAR-10 (Zagoruyko & Komodakis 2016; the count FixMatch and USB report)
  // has 1,467,610 parameters, of which its 128 -> 10 classifier is 1,290; ours has two heads.
  const net = buildNet({ model: "wrn-28", inputShape: [3, 32, 32], numClasses: 10, embeddingDim: 128 }, new Generator(0));
  assert.equal(net.backbone.featureDim, 128);
  const heads = 128 * 128 + 128 + 128 * 10 + 10;
  assert.equal(net.numParameters() - heads, 1467610 - 1290);
  tidy(() => assert.deepEqual(net.heads(new Generator(1).randn([2, 3, 32, 32])).logits.shape, [2, 10]));
  net.dispose();
});

test("small-cnn pools its last map to a grid: 7 keeps 28x28's 7x7 layout, 1 is global average pooling", () => {
  const gen = new Generator(0);
  const spec = { model: "small-cnn" as const, inputShape: [1, 28, 28], numClasses: 10, embeddingDim: 128, width: 4 };
  const grid = buildNet({ ...spec, poolGrid: 7 }, gen);
  const global = buildNet({ ...spec, poolGrid: 1 }, gen);
  const byDefault = buildNet(spec, gen);
  // features 4w g^2: the two heads take 16*49 = 784 and 16 inputs
  const headParams = (f: number) => f * 128 + 128 + f * 10 + 10;
  assert.equal(grid.numParameters() - global.numParameters(), headParams(16 * 49) - headParams(16));
  assert.equal(byDefault.numParameters(), grid.numParameters());
  tidy(() => {
    const x = gen.randn([2, 1, 28, 28]);
    const feat = grid.backbone.forward(x);
    assert.deepEqual(feat.shape, [2, 16 * 49]);
    assert.deepEqual(global.backbone.forward(x).shape, [2, 16]);
    // a larger input still gives the same feature size (adaptive pooling)
    assert.deepEqual(grid.backbone.forward(gen.randn([2, 1, 40, 40])).shape, [2, 16 * 49]);
  });
  assert.throws(
    () => buildNet({ ...spec, model: "resnet18", inputShape: [3, 32, 32], poolGrid: 7 }, gen),
    /resnet18: poolGrid \(--pool-grid\) is a small-cnn option/,
  );
  // train() builds the network itself: an image network on feature vectors names the option to set
  assert.throws(
    () => buildNet({ ...spec, model: "small-cnn", inputShape: [20] }, gen),
    /model \(--model\) = small-cnn needs image inputs \[C,H,W\], but the data are \[20\] feature vectors: set model \(--model\) = mlp/,
  );
  for (const n of [grid, global, byDefault]) n.dispose();
});
