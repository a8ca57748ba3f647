// VAT's parts against hand arithmetic: one power iteration from any start finds the dominant
// direction of a rank-one quadratic (two classes, linear logits: the KL's Hessian is
// p(1-p) w w^T), and H d / |H d| for a rank-two one; the perturbation has norm eps; the KL and
// entropy terms match their formulas; the Gaussian draws are standard and repeat.
import assert from "node:assert/strict";
import { test } from "node:test";
import { klFromLogits, predictionEntropy } from "../../src/losses/losses.js";
import { adversarialPerturbation, gaussianRows } from "../../src/methods/vat.js";
import type { LLPNet } from "../../src/model/net.js";
import { linear } from "../../src/torch/functional.js";
import { Generator, liveTensors, type Tensor, tensor, tidy } from "../../src/torch/index.js";

/** A stand-in network with logits W x (float64) and no buffers. */
const linearNet = (W: Tensor) => ({ heads: (x: Tensor) => ({ logits: linear(x, W) }), *modules() {} }) as unknown as LLPNet;

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * (b[i] as number), 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));

test("one power iteration finds the dominant direction of a rank-one quadratic, at norm eps", () => {
  const before = liveTensors();
  const f = 5;
  const W = [0.3, -0.2, 0.5, 0.1, -0.4, -0.6, 0.4, 0.2, 0.3, 0.1]; // [2, 5]
  const w = Array.from({ length: f }, (_, e) => (W[f + e] as number) - (W[e] as number)); // the Hessian's direction
  const gen = new Generator(4);
  tidy(() => {
    const net = linearNet(tensor(W, [2, f], "float64"));
    const x = gen.randn([3, f], "float64");
    const target = net.heads(x).logits;
    for (let t = 0; t < 4; t++) {
      const d = gen.randn([3, f], "float64"); // any start not orthogonal to w
      const r = adversarialPerturbation(net, x, target, d, 1e-6, 2.5).toNumbers();
      for (let i = 0; i < 3; i++) {
        const ri = r.slice(i * f, (i + 1) * f);
        assert.ok(Math.abs(norm(ri) - 2.5) < 1e-9, `norm ${norm(ri)}`);
        assert.ok(Math.abs(Math.abs(dot(ri, w)) / (norm(ri) * norm(w)) - 1) < 1e-6, "parallel to w");
      }
    }
  });
  assert.equal(liveTensors(), before);
});

test("with three classes one iteration gives H d / |H d|, H the KL's Hessian at the clean point", () => {
  const f = 4;
  const C = 3;
  const Wv = [0.5, -0.3, 0.2, 0.1, -0.2, 0.4, 0.3, -0.5, 0.1, 0.2, -0.4, 0.6];
  const xv = [0.3, -0.1, 0.7, 0.2];
  const dv = [0.9, 0.2, -0.4, 0.5];
  // H = W^T (diag p - p p^T) W, p = softmax(W x)
  const z = Array.from({ length: C }, (_, c) => dot(Wv.slice(c * f, (c + 1) * f), xv));
  const ez = z.map(Math.exp);
  const p = ez.map((e) => e / ez.reduce((a, b) => a + b, 0));
  const S = (a: number, b: number) => (a === b ? (p[a] as number) : 0) - (p[a] as number) * (p[b] as number);
  const Hd = Array.from({ length: f }, (_, i) => {
    let s = 0;
    for (let a = 0; a < C; a++)
      for (let b = 0; b < C; b++) s += (Wv[a * f + i] as number) * S(a, b) * dot(Wv.slice(b * f, (b + 1) * f), dv);
    return s;
  });
  const r = tidy(() => {
    const net = linearNet(tensor(Wv, [C, f], "float64"));
    const x = tensor(xv, [1, f], "float64");
    return adversarialPerturbation(net, x, net.heads(x).logits, tensor(dv, [1, f], "float64"), 1e-6, 1).toNumbers();
  });
  assert.ok(dot(r, Hd) / (norm(r) * norm(Hd)) > 1 - 1e-6, `${r} vs ${Hd}`);
});

test("klFromLogits and predictionEntropy match their formulas", () => {
  const t = [1, 2, 0.5, 0, 0, 0];
  const l = [0.2, 1.5, 1, 3, -1, 0];
  const sm = (v: number[]) => {
    const e = v.map(Math.exp);
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };
  const want = [0, 1].map((i) => {
    const q = sm(t.slice(3 * i, 3 * i + 3));
    const p = sm(l.slice(3 * i, 3 * i + 3));
    return q.reduce((s, qc, c) => s + qc * Math.log(qc / (p[c] as number)), 0);
  });
  const ent = [0, 1].map((i) => -sm(l.slice(3 * i, 3 * i + 3)).reduce((s, pc) => s + pc * Math.log(pc), 0));
  const [kl, h] = tidy(() => [
    klFromLogits(tensor(t, [2, 3], "float64"), tensor(l, [2, 3], "float64")).toNumbers(),
    predictionEntropy(tensor(l, [2, 3], "float64")).toNumbers(),
  ]);
  kl?.forEach((v, i) => {
    assert.ok(Math.abs(v - (want[i] as number)) < 1e-12);
  });
  h?.forEach((v, i) => {
    assert.ok(Math.abs(v - (ent[i] as number)) < 1e-12);
  });
  assert.ok(Math.abs((klFromLogits(tensor(t, [2, 3]), tensor(t, [2, 3])).toNumbers()[0] as number) - 0) < 1e-6, "KL(q || q) = 0");
});

test("gaussianRows: standard normal draws that repeat from the same generator", () => {
  const a = gaussianRows(new Generator(9), 40, 501); // odd k: the last of each row from a cos alone
  const b = gaussianRows(new Generator(9), 40, 501);
  assert.deepEqual(a, b);
  const n = a.length;
  const mean = a.reduce((s, v) => s + v, 0) / n;
  const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
  assert.ok(Math.abs(mean) < 0.02 && Math.abs(variance - 1) < 0.03, `mean ${mean}, variance ${variance}`);
  assert.ok(a.every(Number.isFinite));
});

test("keepingRunningStats: a training-mode forward inside it leaves the running statistics as they were", async () => {
  const { buildNet, keepingRunningStats } = await import("../../src/model/net.js");
  const net = buildNet({ model: "small-cnn", inputShape: [1, 28, 28], numClasses: 3, embeddingDim: 8, width: 2 }, new Generator(1));
  const stats = () => tidy(() => [...net.namedBuffers()].map(([, b]) => b.toNumbers()));
  const x = new Generator(2).randn([4, 1, 28, 28]);
  const before = stats();
  tidy(() => keepingRunningStats(net, () => net.heads(x).logits.sum().backward()));
  assert.deepEqual(stats(), before, "held");
  tidy(() => net.heads(x));
  assert.notDeepEqual(stats(), before, "an ordinary training forward moves them (the rates were restored)");
  x.dispose();
  net.dispose();
});
