// Confusion matrix and per-class scores against hand counts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { confusionMatrix, perClass } from "../../src/eval/metrics.js";

test("confusionMatrix counts (true, predicted) pairs; unlabelled rows are left out; C grows to fit", () => {
  const truth = [0, 0, 1, 1, 1, 2, -1];
  const pred = [0, 1, 1, 1, 0, 2, 2];
  assert.deepEqual(confusionMatrix(truth, pred, 3), [
    [1, 1, 0],
    [1, 2, 0],
    [0, 0, 1],
  ]);
  assert.deepEqual(confusionMatrix([0, 1], [3, 1], 2), [
    [0, 0, 0, 1],
    [0, 1, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ]);
  assert.throws(() => confusionMatrix([0], [0, 1], 2), /1 labels, 2 predictions/);
});

test("perClass: recall over the row, precision over the column, NaN where nothing is counted", () => {
  const m = [
    [1, 1, 0],
    [1, 2, 0],
    [0, 0, 0],
  ];
  const s = perClass(m, ["a", "b"]);
  assert.deepEqual(
    s.map((c) => c.class),
    ["a", "b", "2"],
  );
  assert.deepEqual(
    s.map((c) => c.n),
    [2, 3, 0],
  );
  assert.deepEqual(
    s.map((c) => c.top1),
    [1 / 2, 2 / 3, Number.NaN],
  );
  assert.deepEqual(
    s.map((c) => c.precision),
    [1 / 2, 2 / 3, Number.NaN],
  );
});

test("evaluate: weighted kNN votes by exp(s / tau) over K labelled rows; 1-NN takes the most similar row's label", async () => {
  const { evaluate } = await import("../../src/eval/metrics.js");
  const { tensor, liveTensors } = await import("../../src/torch/index.js");
  const before = liveTensors();
  // labelled rows: a = (1, 0) of class 0; b = (0.6, 0.8) and c = (0.6, -0.8) of class 1
  const V = tensor([1, 0, 0.6, 0.8, 0.6, -0.8], [3, 2]);
  const Y = tensor([0, 1, 1], [3], "int64");
  // q1 = (0.95, 0.312...) of class 0: nearest a (0.95), but K = 3 at tau = 1 votes class 1 (e^0.82 + e^0.32 > e^0.95)
  const q1 = [0.95, Math.sqrt(1 - 0.95 ** 2)];
  const rows = [...q1, 0, 1]; // q2 = (0, 1) of class 1: both say 1
  // a stand-in network: its embedding is the input, its logits say class 0 for both
  const net = {
    training: false,
    eval() {},
    train() {},
    heads: (x: import("../../src/torch/index.js").Tensor) => ({ v: x.clone(), logits: tensor([1, 0, 1, 0], [2, 2]) }),
  } as unknown as import("../../src/model/net.js").LLPNet;
  const src = { n: 2, labels: Int32Array.from([0, 1]), inputs: async () => tensor(rows, [2, 2]) };
  const acc = await evaluate(net, src, V, Y, { K: 3, tau: 1, numClasses: 2 });
  assert.deepEqual([acc.top1, acc.knnTop1, acc.nnTop1], [0.5, 0.5, 1]);
  V.dispose();
  Y.dispose();
  assert.equal(liveTensors(), before);
});
