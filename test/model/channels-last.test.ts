// Convolutional backbones run NHWC (channels-last) by default: the same network in the plain NCHW
// layout is the oracle for outputs, gradients, an SGD step and a checkpoint's tensors.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { SmallCNN } from "../../src/model/backbones.js";
import { buildNet, type LLPNet, type ModelName } from "../../src/model/net.js";
import { F, Generator, liveTensors, SGD, tidy } from "../../src/torch/index.js";
import { assertClose } from "../helpers.js";

const cases: [ModelName, number[], number][] = [
  ["small-cnn", [1, 28, 28], 8],
  ["resnet18", [3, 20, 20], 8],
  ["resnet50", [3, 16, 16], 4],
  ["wrn-28", [1, 16, 16], 8],
];

const build = (model: ModelName, shape: number[], width: number, channelsLast?: boolean) =>
  buildNet({ model, inputShape: shape, numClasses: 5, embeddingDim: 16, width, channelsLast }, new Generator(3));

/** The heads' outputs and every parameter's gradient after one backward of a loss on both heads. */
function forwardBackward(net: LLPNet, shape: number[]) {
  const gen = new Generator(7);
  return tidy(() => {
    const x = gen.randn([6, ...shape]);
    const { v, logits } = net.heads(x);
    v.mul(gen.randn([6, 16]))
      .sum()
      .add(
        F.logSoftmax(logits, 1)
          .mul(gen.randn([6, 5]))
          .sum(),
      )
      .backward();
    return {
      v: v.toArray() as Float32Array,
      logits: logits.toArray() as Float32Array,
      grads: [...net.namedParameters()].map(([n, p]) => [n, p.grad?.toArray() as Float32Array] as const),
    };
  });
}

for (const [model, shape, width] of cases) {
  test(`${model}: channels-last (the default) gives the NCHW network's outputs, gradients and SGD step`, () => {
    const before = liveTensors();
    const nchw = build(model, shape, width, false);
    const nhwc = build(model, shape, width);
    // the default converts every conv weight, the NCHW network none with more than one input channel
    const convW = [...nhwc.namedParameters()].filter(([, p]) => p.ndim === 4);
    assert.ok(convW.length > 0);
    for (const [n, p] of convW) assert.ok(p.isChannelsLast, `${n} is NHWC`);
    const plain = [...nchw.namedParameters()].filter(([, p]) => p.ndim === 4 && (p.shape[1] as number) > 1 && (p.shape[2] as number) > 1);
    assert.ok(plain.length > 0 && plain.every(([, p]) => !p.isChannelsLast && p.isContiguous));
    assert.ok(nhwc.backbone.channelsLast && !nchw.backbone.channelsLast);

    const a = forwardBackward(nchw, shape);
    const b = forwardBackward(nhwc, shape);
    assertClose(b.v, a.v, { rtol: 1e-4, atol: 1e-5, msg: "embedding" });
    assertClose(b.logits, a.logits, { rtol: 1e-4, atol: 1e-5, msg: "logits" });
    assert.equal(b.grads.length, a.grads.length);
    for (const [i, [n, g]] of b.grads.entries()) {
      const want = a.grads[i]?.[1] as Float32Array;
      assert.ok(g && want, `${n} has a gradient`);
      const scale = Math.max(...Array.from(want, Math.abs));
      assertClose(g, want, { rtol: 1e-3, atol: 1e-4 * scale, msg: `gradient of ${n}` });
    }
    // one SGD step from those gradients moves both to the same weights (read back in NCHW order)
    for (const net of [nchw, nhwc]) {
      const opt = SGD.forModule(net, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
      opt.step();
      opt.dispose();
    }
    const after = new Map([...nchw.namedParameters()].map(([n, p]) => [n, p.toArray() as Float32Array]));
    for (const [n, p] of nhwc.namedParameters()) {
      const want = after.get(n) as Float32Array;
      const scale = Math.max(1, ...Array.from(want, Math.abs)); // the step moves by lr x the gradient's error
      assertClose(p.toArray() as Float32Array, want, { rtol: 1e-4, atol: 2e-5 * scale, msg: `${n} after a step` });
      if (p.ndim === 4) assert.ok(p.isChannelsLast, `${n} stays NHWC through the step`);
    }
    // a checkpoint's tensors are layout-free: the NHWC network's state loads into an NCHW one
    const fresh = build(model, shape, width, false);
    fresh.loadStateDict(nhwc.stateDict());
    tidy(() => {
      const x = new Generator(9).randn([2, ...shape]);
      nhwc.eval();
      fresh.eval();
      assertClose(fresh.heads(x).logits, nhwc.heads(x).logits, { rtol: 1e-4, atol: 1e-5 });
    });
    for (const net of [nchw, nhwc, fresh]) net.dispose();
    assert.equal(liveTensors(), before, "no tensors left");
  });
}

test("one channel: the first weight and the input get NHWC strides, which ATen's kernels read as NHWC", () => {
  // at C = 1 both layouts "hold" (isChannelsLast is true of any such tensor), so only the strides
  // tell whether oneDNN will run the first layer NHWC
  const net = build("small-cnn", [1, 28, 28], 8);
  const plain = build("small-cnn", [1, 28, 28], 8, false);
  const first = (n: LLPNet) => (n.backbone as SmallCNN).layers[0]?.conv.weight;
  assert.ok(first(net)?.suggestsChannelsLast, "the [8, 1, 3, 3] weight reads as NHWC");
  assert.ok(!first(plain)?.suggestsChannelsLast && first(plain)?.isChannelsLast, "isChannelsLast alone cannot tell");
  tidy(() => {
    const x = new Generator(1).randn([4, 1, 28, 28]);
    assert.ok(!x.suggestsChannelsLast && x.channelsLast().suggestsChannelsLast);
    const h = (net.backbone as SmallCNN).layers[0]?.forward(x.channelsLast());
    assert.ok(h?.suggestsChannelsLast, "the first block's output is NHWC");
  });
  // a parent module's toChannelsLast reaches the backbone's own (which converts the inputs)
  plain.toChannelsLast();
  assert.ok(plain.backbone.channelsLast && first(plain)?.suggestsChannelsLast);
  net.dispose();
  plain.dispose();
});

test("small-cnn: with NHWC weights, a convolution fed the converted input keeps its output NHWC", () => {
  const net = build("small-cnn", [1, 28, 28], 8);
  const layer = (net.backbone as SmallCNN).layers[1];
  assert.ok(layer);
  tidy(() => {
    const h = new Generator(1).randn([2, 8, 14, 14]).channelsLast();
    const out = layer.forward(h);
    assert.deepEqual(out.shape, [2, 16, 14, 14]);
    assert.ok(out.isChannelsLast, "the activation stays NHWC");
  });
  net.dispose();
});

test("an MLP has no convolutions: channelsLast leaves it as it is", () => {
  const net = buildNet({ model: "mlp", inputShape: [12], numClasses: 3, embeddingDim: 8, width: 16 }, new Generator(0));
  assert.equal(net.backbone.channelsLast, false);
  net.dispose();
});
