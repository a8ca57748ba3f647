// The linear readout: on linearly separable features it reaches the accuracy of the closed-form
// least-squares classifier (computed here), it is reproducible from its generator, and
// installing it makes the network's classifier head give its predictions.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildNet } from "../../src/model/net.js";
import { Generator, liveTensors, noGrad, tensor, tidy } from "../../src/torch/index.js";
import { backboneFeatures, fitReadout, installReadout } from "../../src/train/readout.js";

/** m points of C classes in f dims: class centres 3 e_c (+ a shared offset), noise of sd 0.5. */
function separable(m: number, C: number, f: number, seed: number) {
  const g = new Generator(seed);
  const noise = g.uniforms(m * f);
  const X = new Float64Array(m * f);
  const y = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    y[i] = i % C;
    for (let e = 0; e < f; e++) X[i * f + e] = (e === y[i] ? 3 : 0) + 1 + ((noise[i * f + e] as number) - 0.5) * 1.7;
  }
  return { X, y };
}

/** Training accuracy of the least-squares classifier: [X 1] W = one-hot(y) by the normal equations (Gauss-Jordan). */
function leastSquaresTop1(X: Float64Array, y: Int32Array, m: number, f: number, C: number): number {
  const d = f + 1;
  const A = Array.from({ length: d }, () => new Float64Array(d + C)); // [X1^T X1 | X1^T Y]
  for (let i = 0; i < m; i++) {
    const row = [...X.subarray(i * f, (i + 1) * f), 1];
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) (A[a] as Float64Array)[b] += (row[a] as number) * (row[b] as number);
      (A[a] as Float64Array)[d + (y[i] as number)] += row[a] as number;
    }
  }
  for (let p = 0; p < d; p++) {
    const piv = A[p] as Float64Array;
    const pv = piv[p] as number;
    for (let j = 0; j < d + C; j++) piv[j] = (piv[j] as number) / pv;
    for (let r = 0; r < d; r++) {
      if (r === p) continue;
      const R = A[r] as Float64Array;
      const k = R[p] as number;
      for (let j = 0; j < d + C; j++) R[j] = (R[j] as number) - k * (piv[j] as number);
    }
  }
  let hits = 0;
  for (let i = 0; i < m; i++) {
    const row = [...X.subarray(i * f, (i + 1) * f), 1];
    const scores = Array.from({ length: C }, (_, c) => row.reduce((s, v, a) => s + v * ((A[a] as Float64Array)[d + c] as number), 0));
    if (scores.indexOf(Math.max(...scores)) === y[i]) hits++;
  }
  return hits / m;
}

test("fitReadout reaches the least-squares classifier's accuracy on separable features, and repeats from its generator", () => {
  const before = liveTensors();
  const [m, C, f] = [300, 4, 6];
  const { X, y } = separable(m, C, f, 1);
  const ls = leastSquaresTop1(X, y, m, f, C);
  assert.ok(ls > 0.9, `the features are separable enough for least squares (${ls})`);
  const Xt = tensor(Float32Array.from(X), [m, f]);
  const yt = tensor(y, [m], "int64");
  const a = fitReadout(Xt, yt, null, C, new Generator(7));
  const b = fitReadout(Xt, yt, null, C, new Generator(7));
  assert.ok(a.trainTop1 >= ls, `readout ${a.trainTop1} >= least squares ${ls}`);
  assert.ok(Number.isNaN(a.heldOutTop1) && a.epochs > 0);
  assert.deepEqual([b.weight.toNumbers(), b.epochs], [a.weight.toNumbers(), a.epochs], "the same fit from the same generator");
  // held-out points decide the drops and are scored
  const h = separable(100, C, f, 2);
  const held = { X: tensor(Float32Array.from(h.X), [100, f]), y: tensor(h.y, [100], "int64") };
  const c = fitReadout(Xt, yt, held, C, new Generator(7), { maxEpochs: 40 });
  assert.ok(c.heldOutTop1 > 0.9 && c.epochs <= 40, `held-out ${c.heldOutTop1}`);
  for (const t of [Xt, yt, held.X, held.y, a.weight, a.bias, b.weight, b.bias, c.weight, c.bias]) t.dispose();
  assert.throws(
    () => tidy(() => fitReadout(tensor(new Float32Array(0), [0, 3]), tensor(new Int32Array(0), [0], "int64"), null, 2, new Generator(0))),
    /no labelled points/,
  );
  assert.equal(liveTensors(), before, "no tensor outlives the fits");
});

test("installReadout makes the classifier head predict what the readout fitted on the frozen backbone features", async () => {
  const before = liveTensors();
  const [m, C, f] = [120, 3, 5];
  const { X, y } = separable(m, C, f, 3);
  const net = buildNet({ model: "mlp", inputShape: [f], numClasses: C, embeddingDim: 8, width: 16 }, new Generator(1));
  const src = {
    inputs: async (idx: Int32Array) =>
      tensor(Float32Array.from([...idx].flatMap((i) => [...X.subarray(i * f, (i + 1) * f)])), [idx.length, f]),
  };
  const rows = Int32Array.from({ length: m }, (_, i) => i);
  const backboneBefore = tidy(() => net.backbone.parameters().map((p) => p.sum().item()));
  const fit = await installReadout(net, { rows, labels: y, ...src }, null, C, new Generator(2));
  assert.deepEqual(
    tidy(() => net.backbone.parameters().map((p) => p.sum().item())),
    backboneBefore,
    "the backbone stays frozen",
  );
  const feats = await backboneFeatures(net, src, rows);
  assert.deepEqual(feats.shape, [m, net.backbone.featureDim]);
  // the head's predictions on the training rows score what the fit reported
  const x = await src.inputs(rows);
  net.eval();
  const acc = noGrad(() =>
    tidy(() =>
      net
        .heads(x)
        .logits.argmax(1)
        .eq(tensor(y, [m], "int64"))
        .float()
        .mean()
        .item(),
    ),
  );
  assert.ok(Math.abs(acc - fit.trainTop1) < 1e-6, `head ${acc} vs readout ${fit.trainTop1}`);
  assert.ok(fit.trainTop1 > 0.9);
  x.dispose();
  feats.dispose();
  net.dispose();
  assert.equal(liveTensors(), before);
});
