// Table 5's global propagation methods: the harmonic solution against a direct solve, every method
// on separated clusters, and the table's sampling (seeded, class-balanced, refusals).
import assert from "node:assert/strict";
import { test } from "node:test";
import { dlpPropagation, dmtPropagation, type GlobalInput, labelPropagation, labelSpreading } from "../../src/propagation/global.js";
import { table5, table5Markdown } from "../../src/propagation/table5.js";
import { Generator } from "../../src/torch/random.js";

/** C separated clusters on the sphere in d dims, n per class, the first k of each labelled. */
function clusters(C: number, n: number, k: number, d = 8, noise = 0.15, seed = 1): GlobalInput & { truth: Int32Array } {
  const gen = new Generator(seed);
  const centres = gen.uniforms(C * d);
  const u = gen.uniforms(C * n * d);
  const X = new Float64Array(C * n * d);
  const y = new Int32Array(C * n);
  const truth = new Int32Array(C * n);
  for (let i = 0; i < C * n; i++) {
    const c = Math.floor(i / n);
    truth[i] = c;
    y[i] = i % n < k ? c : -1;
    let s = 0;
    for (let e = 0; e < d; e++) {
      const v = ((centres[c * d + e] as number) - 0.5) * 4 + noise * ((u[i * d + e] as number) - 0.5);
      X[i * d + e] = v;
      s += v * v;
    }
    for (let e = 0; e < d; e++) X[i * d + e] = (X[i * d + e] as number) / Math.sqrt(s);
  }
  return { X, y, n: C * n, d, C, truth };
}

test("every global method labels separated clusters correctly", () => {
  const x = clusters(4, 30, 3);
  for (const [name, f] of [
    ["LS", labelSpreading],
    ["LP", labelPropagation],
    ["DMT", dmtPropagation],
    ["DLP", dlpPropagation],
  ] as const) {
    const got = f(x);
    assert.deepEqual(Array.from(got), Array.from(x.truth), name);
  }
});

test("label propagation is the harmonic solution f_u = (D_uu - W_uu)^-1 W_ul f_l (direct solve)", () => {
  // four points on a circle: 0 labelled class 0, 3 labelled class 1, 1 and 2 unlabelled
  const ang = [0, 0.5, 1.1, 1.6];
  const X = Float64Array.from(ang.flatMap((a) => [Math.cos(a), Math.sin(a)]));
  const x: GlobalInput = { X, y: Int32Array.from([0, -1, -1, 1]), n: 4, d: 2, C: 2 };
  const gamma = 2;
  const w = (i: number, j: number) => Math.exp(-gamma * (2 - 2 * Math.cos((ang[i] as number) - (ang[j] as number))));
  // 2x2 system for f_1, f_2 (probability of class 0): [d1 - 0, -w12; -w12, d2] f = [w10; w20]
  const d1 = w(1, 0) + w(1, 2) + w(1, 3);
  const d2 = w(2, 0) + w(2, 1) + w(2, 3);
  const det = d1 * d2 - w(1, 2) ** 2;
  const f1 = (d2 * w(1, 0) + w(1, 2) * w(2, 0)) / det;
  const f2 = (w(1, 2) * w(1, 0) + d1 * w(2, 0)) / det;
  const want = [0, f1 > 0.5 ? 0 : 1, f2 > 0.5 ? 0 : 1, 1];
  assert.deepEqual(Array.from(labelPropagation(x, { gamma })), want);
  assert.ok(f1 > 0.5 && f2 < 0.5, "the case separates the two unlabelled points");
});

test("Table 5 samples C classes x n points, is seeded, and refuses what the embeddings cannot give", () => {
  const x = clusters(6, 20, 0, 8, 0.6, 2);
  const v = Float32Array.from(x.X);
  const o = { classes: 4, perClass: 12, labelled: 3, resamples: 3, K: 5 };
  const a = table5(v, x.truth, 8, o);
  const b = table5(v, x.truth, 8, o);
  assert.deepEqual(a.accuracy, b.accuracy, "seeded");
  for (const m of ["LS", "LP", "LP_DMT", "LP_DLP", "LLP"] as const) {
    assert.equal(a.accuracy[m].length, 3);
    for (const acc of a.accuracy[m]) assert.ok(acc >= 0 && acc <= 1);
  }
  assert.match(table5Markdown(a, "test"), /\| accuracy \(%\) \| [\d.]+ ± [\d.]+ \|/);
  assert.throws(() => table5(v, x.truth, 8, { ...o, classes: 7 }), /7 classes of at least 12 points wanted, the embeddings have 6/);
  assert.throws(() => table5(v, x.truth, 8, { ...o, labelled: 12 }), /--labelled 12 must be between 1 and --per-class - 1/);
  assert.throws(() => table5(v, x.truth, 8, { ...o, K: 13 }), /K=13 exceeds the 12 labelled points/);
  assert.throws(() => table5(v, x.truth, 8, { ...o, resamples: 0 }), /--resamples must be a positive integer, got 0/);
  assert.throws(() => table5(v, x.truth, 8, { ...o, perClass: 2.5 }), /--per-class must be a positive integer/);
  assert.throws(() => table5(v, x.truth, 8, { ...o, T: 49 }), /T=49 exceeds the 48 points of a sample/);
});
