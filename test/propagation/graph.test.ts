// DLP's graph propagation against dense arithmetic done here: the kNN lists are the brute-force
// nearest other points, and conjugate gradient on the list-based operator reaches the direct
// solve of (I - alpha S) Z = Y on 8 points; labels, certainty and class weights follow Iscen et al.
import assert from "node:assert/strict";
import { test } from "node:test";
import { dlpLabels, knnGraph, symmetricOperator } from "../../src/propagation/graph.js";
import { liveTensors, tensor } from "../../src/torch/index.js";

// 8 unit points in 3-D: two groups around (1, 0, 0) and (0, 1, 0), one labelled point each
const raw = [
  [1, 0.1, 0],
  [1, -0.1, 0.1],
  [0.9, 0.2, -0.1],
  [1, 0, 0.3],
  [0.1, 1, 0],
  [-0.1, 1, 0.1],
  [0.2, 0.9, -0.2],
  [0, 1, 0.3],
];
const X = raw.map((r) => {
  const n = Math.hypot(...r);
  return r.map((v) => v / n);
});
const n = X.length;
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * (b[i] as number), 0);
const labels = Int32Array.from([0, 0, -1, -1, 1, -1, -1, -1]); // two labelled points of class 0: seeds 1/2 each
const k = 3;
const weight = (c: number) => Math.max(0, c) ** 3;

/** Solves M z = b (dense, Gaussian elimination with partial pivoting). */
function solve(M: number[][], b: number[]): number[] {
  const A = M.map((row, i) => [...row, b[i] as number]);
  const m = A.length;
  for (let p = 0; p < m; p++) {
    let best = p;
    for (let r = p + 1; r < m; r++) if (Math.abs(A[r]?.[p] as number) > Math.abs(A[best]?.[p] as number)) best = r;
    [A[p], A[best]] = [A[best] as number[], A[p] as number[]];
    for (let r = 0; r < m; r++) {
      if (r === p) continue;
      const f = (A[r]?.[p] as number) / (A[p]?.[p] as number);
      for (let c = p; c <= m; c++) (A[r] as number[])[c] = (A[r]?.[c] as number) - f * (A[p]?.[c] as number);
    }
  }
  return A.map((row, i) => (row[m] as number) / (row[i] as number));
}

test("knnGraph: each point's k nearest other points by cosine, weighted", () => {
  const before = liveTensors();
  const t = tensor(X.flat(), [n, 3]);
  const g = knnGraph(t, k, weight);
  t.dispose();
  for (let i = 0; i < n; i++) {
    const want = Array.from({ length: n }, (_, j) => j)
      .filter((j) => j !== i)
      .sort((a, b) => dot(X[i] as number[], X[b] as number[]) - dot(X[i] as number[], X[a] as number[]))
      .slice(0, k);
    assert.deepEqual([...g.idx.slice(i * k, (i + 1) * k)], want, `row ${i}`);
    want.forEach((j, e) => {
      assert.ok(Math.abs((g.w[i * k + e] as number) - weight(dot(X[i] as number[], X[j] as number[]))) < 1e-6);
    });
  }
  assert.throws(() => knnGraph(tensor([1, 0], [1, 2]), 1, weight), /needs 1 <= k < n/);
  assert.ok(liveTensors() <= before + 1); // the refused call's input
});

test("dlpLabels: conjugate gradient on the list operator reaches the dense solve; labels, certainty and class weights", () => {
  const t = tensor(X.flat(), [n, 3]);
  const g = knnGraph(t, k, weight);
  t.dispose();
  // dense W (+ W^T), S = D^-1/2 W D^-1/2
  const W = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++)
    for (let e = 0; e < k; e++) {
      const j = g.idx[i * k + e] as number;
      (W[i] as number[])[j] = (W[i]?.[j] as number) + (g.w[i * k + e] as number);
      (W[j] as number[])[i] = (W[j]?.[i] as number) + (g.w[i * k + e] as number);
    }
  const deg = W.map((r) => r.reduce((a, b) => a + b, 0));
  const S = W.map((r, i) => r.map((v, j) => v / Math.sqrt((deg[i] as number) * (deg[j] as number))));
  const v = Float64Array.from({ length: n }, (_, i) => Math.sin(i + 1));
  const Sv = symmetricOperator(g)(v);
  S.forEach((r, i) => {
    assert.ok(Math.abs(dot(r, [...v]) - (Sv[i] as number)) < 1e-12, "the operator is S");
  });
  const alpha = 0.99;
  const A = S.map((r, i) => r.map((s, j) => (i === j ? 1 : 0) - alpha * s));
  const out = dlpLabels(g, labels, 2, { alpha, iters: 500 });
  for (let c = 0; c < 2; c++) {
    const z = solve(
      A,
      [...labels].map((l) => (l === c ? 1 / labels.filter((x) => x === c).length : 0)), // 1 / |L_c|
    );
    z.forEach((zi, i) => {
      assert.ok(Math.abs(zi - (out.scores[c]?.[i] as number)) < 1e-7, `class ${c}, point ${i}: ${zi}`);
    });
  }
  assert.deepEqual([...out.y], [0, 0, 0, 0, 1, 1, 1, 1]);
  for (const i of [0, 1, 4]) assert.equal(out.weight[i], 1, "labelled points weigh 1");
  assert.ok([...out.weight].every((w) => w >= 0 && w <= 1));
  // certainty: 1 - H(p) / log 2 of the L1-normalised, non-negative scores, over its largest value
  const cert = Array.from({ length: n }, (_, i) => {
    const z = [0, 1].map((c) => out.scores[c]?.[i] as number);
    const l1 = Math.abs(z[0] as number) + Math.abs(z[1] as number);
    const p = z.map((x) => Math.max(0, x / l1));
    const s = (p[0] as number) + (p[1] as number);
    return 1 + p.reduce((h, q) => (q > 0 ? h + (q / s) * Math.log(q / s) : h), 0) / Math.log(2);
  });
  const top = Math.max(...cert);
  for (const i of [2, 3, 5, 6, 7]) assert.ok(Math.abs((out.weight[i] as number) - (cert[i] as number) / top) < 1e-6);
  const per = [0, 1].map((c) => [...out.y].filter((y) => y === c).length);
  assert.deepEqual(
    [...out.classWeight],
    per.map((m) => n / 2 / m),
    "(n / C) / |{y = c}|",
  );
  assert.throws(() => dlpLabels(g, new Int32Array(3), 2), /3 labels for a graph of 8 points/);
});

test("dmtLabels: the constrained normalised cut is label spreading's closed form (I - alpha S)^-1 b on its prior, alpha = 1 / (1 + ridge)", async () => {
  const { DMT_GRAPH, dmtLabels } = await import("../../src/propagation/graph.js");
  const { mostConfident } = await import("../../src/methods/dmt.js");
  // 6 of the 8 points, 2 labelled
  const P = X.slice(0, 3).concat(X.slice(4, 7));
  const m = P.length;
  const lab = Int32Array.from([0, -1, -1, 1, -1, -1]);
  const t = tensor(P.flat(), [m, 3]);
  const kk = 2; // others (the point itself, the third of its neighbours, carries no edge)
  const g = knnGraph(t, kk, (c) => Math.exp((c - 1) / DMT_GRAPH.T));
  t.dispose();
  // dense A = (W + W^T) / 2 (no self-loop: csgraph.laplacian ignores the diagonal), d = row sums, S = D^-1/2 A D^-1/2
  const A: number[][] = Array.from({ length: m }, () => new Array<number>(m).fill(0));
  for (let i = 0; i < m; i++)
    for (let e = 0; e < kk; e++) {
      const j = g.idx[i * kk + e] as number;
      (A[i] as number[])[j] = (A[i]?.[j] as number) + 0.5 * (g.w[i * kk + e] as number);
      (A[j] as number[])[i] = (A[j]?.[i] as number) + 0.5 * (g.w[i * kk + e] as number);
    }
  const d = A.map((r) => r.reduce((a, b) => a + b, 0));
  const S = A.map((r, i) => r.map((v, j) => v / Math.sqrt((d[i] as number) * (d[j] as number))));
  const alpha = 1 / (1 + DMT_GRAPH.ridge);
  const M = S.map((r, i) => r.map((s, j) => (i === j ? 1 : 0) - alpha * s));
  const out = dmtLabels(g, lab, 2, { iters: 5000, tol: 1e-13 });
  const nullv = d.map(Math.sqrt);
  const nn = Math.hypot(...nullv);
  for (let c = 0; c < 2; c++) {
    // the prior: +sqrt(d / r) on class c, -sqrt(d r) on the other labelled point, normalised, off the null vector
    const pos = lab.reduce((s, l, i) => s + (l === c ? (d[i] as number) : 0), 0);
    const neg = lab.reduce((s, l, i) => s + (l >= 0 && l !== c ? (d[i] as number) : 0), 0);
    const r = pos / neg;
    let b = [...lab].map((l, i) => (l === c ? Math.sqrt((d[i] as number) / r) : l >= 0 ? -Math.sqrt((d[i] as number) * r) : 0));
    const bn = Math.hypot(...b);
    b = b.map((v) => v / bn);
    const along = b.reduce((s, v, i) => s + v * ((nullv[i] as number) / nn), 0);
    b = b.map((v, i) => v - along * ((nullv[i] as number) / nn));
    const f = solve(M, b);
    const fn = Math.hypot(...f);
    f.forEach((v, i) => {
      assert.ok(Math.abs((v / fn) * Math.sqrt(m) - (out.scores[c]?.[i] as number)) < 1e-6, `class ${c}, point ${i}`);
    });
  }
  assert.deepEqual([...out.y], [0, 0, 0, 1, 1, 1]);
  // the kept share: the most confident unlabelled points, in row order
  const conf = Float32Array.from([9, 0.5, 0.9, 9, 0.7, 0.1]);
  assert.deepEqual([...mostConfident(conf, lab, 0.5)], [2, 4]);
  assert.deepEqual([...mostConfident(conf, lab, 0)], []);
  assert.deepEqual([...mostConfident(conf, lab, 1)], [1, 2, 4, 5]);
});

test("the dense DMT of Table 5 and the sparse one of the dmt method give the same labels on the same points", async () => {
  const { DMT_GRAPH, dmtLabels } = await import("../../src/propagation/graph.js");
  const { dmtPropagation } = await import("../../src/propagation/global.js");
  const t = tensor(X.flat(), [n, 3]);
  const k = 4; // neighbours counting the point itself, as DMT_GRAPH.k does at 20
  const sparse = dmtLabels(
    knnGraph(t, k - 1, (c) => Math.exp((c - 1) / DMT_GRAPH.T)),
    labels,
    2,
    { iters: 5000, tol: 1e-13 },
  );
  t.dispose();
  const dense = dmtPropagation({ X: Float64Array.from(X.flat()), y: labels, n, d: 3, C: 2 }, { k });
  assert.deepEqual([...sparse.y], [...dense]);
});
