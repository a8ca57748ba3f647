import assert from "node:assert/strict";
import { test } from "node:test";
import { logDensity } from "../../src/propagation/density.js";
import { blockedTopk } from "../../src/propagation/neighbours.js";
import { meanLabels, type Propagated, propagate } from "../../src/propagation/propagate.js";
import { F, Generator, tensor, tidy } from "../../src/torch/index.js";
import { assertClose, tidyTest } from "../helpers.js";

const unit = (a: number[]) => {
  const n = Math.hypot(...a);
  return a.map((x) => x / n);
};
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);
const mat = (rows: number[][]) => tensor(Float32Array.from(rows.flat()), [rows.length, (rows[0] as number[]).length]);

/** Plain-JS oracle of Eq. 8 (or Eqs. 5-6 when rho is null). */
function oracle(v: number[], L: number[][], y: number[], rho: number[] | null, K: number, tau: number, C: number) {
  const s = L.map((l, i) => Math.exp(dot(l, v) / tau) / (rho ? (rho[i] as number) : 1));
  const order = s
    .map((_, i) => i)
    .sort((a, b) => (s[b] as number) - (s[a] as number))
    .slice(0, K);
  const w = new Array(C).fill(0);
  for (const i of order) w[y[i] as number] += s[i] as number;
  const tot = w.reduce((a, b) => a + b, 0);
  const p = w.map((x) => x / tot);
  const yy = p.indexOf(Math.max(...p));
  return { y: yy, c: p[yy] as number, p };
}

tidyTest("three labelled points: the nearest class wins, confidence as in Eq. 6", () => {
  const L = [unit([1, 0, 0]), unit([0, 1, 0]), unit([0, 0, 1])];
  const v = unit([1, 0.2, 0.1]);
  const out = propagate(mat([v]), mat(L), tensor([0, 1, 2], [3], "int64"), { K: 3, tau: 0.5, numClasses: 3, logRho: null });
  const o = oracle(v, L, [0, 1, 2], null, 3, 0.5, 3);
  assert.deepEqual(out.y.toNumbers(), [0]);
  assertClose(out.c, [o.c], { rtol: 1e-5 });
  assertClose(out.p, o.p, { rtol: 1e-5 });
  // hand arithmetic: p_0 = e^{v.l0/tau} / sum_k e^{v.lk/tau}
  const e = L.map((l) => Math.exp(dot(l, v) / 0.5));
  assertClose(out.c, [(e[0] as number) / e.reduce((a, b) => a + b, 0)], { rtol: 1e-5 });
});

tidyTest("density changes the vote exactly as in Fig. 1c", () => {
  // The query is equally similar to a red (0), a green (1) and a blue (2) labelled point.
  // Green and blue sit in dense regions of the bank, red is isolated: weighted kNN is a tie
  // broken by nothing, density weighting must pick red.
  const tau = 0.1;
  const star = [0, 0, 1];
  const angle = 0.6;
  const around = (phi: number) => unit([Math.cos(phi) * Math.sin(angle), Math.sin(phi) * Math.sin(angle), Math.cos(angle)]);
  const red = around(0);
  const green = around((2 * Math.PI) / 3);
  const blue = around((4 * Math.PI) / 3);
  const jitter = (p: number[], k: number) => unit(p.map((x, i) => x + 0.03 * Math.sin(7 * k + 3 * i)));
  const bank = [
    red,
    green,
    blue,
    ...Array.from({ length: 6 }, (_, k) => jitter(green, k + 1)),
    ...Array.from({ length: 4 }, (_, k) => jitter(blue, k + 10)),
  ];
  const L = [red, green, blue];
  const y = tensor([0, 1, 2], [3], "int64");
  const T = 5;
  const logRho = logDensity(mat(L), mat(bank), T, tau);
  // oracle rho: sum of exp(s/tau) over the T nearest bank rows (self included)
  const rho = L.map((l) => {
    const s = bank
      .map((b) => dot(b, l))
      .sort((a, b) => b - a)
      .slice(0, T);
    return s.reduce((acc, x) => acc + Math.exp(x / tau), 0);
  });
  assertClose(logRho, rho.map(Math.log), { rtol: 1e-4 });
  assert.ok((rho[0] as number) < (rho[1] as number) && (rho[0] as number) < (rho[2] as number), "red is the sparse one");

  const knn = propagate(mat([star]), mat(L), y, { K: 3, tau, numClasses: 3, logRho: null });
  assertClose(knn.p, [1 / 3, 1 / 3, 1 / 3], { atol: 1e-5 }); // equidistant: a tie
  const llp = propagate(mat([star]), mat(L), y, { K: 3, tau, numClasses: 3, logRho });
  const o = oracle(star, L, [0, 1, 2], rho, 3, tau, 3);
  assert.deepEqual(llp.y.toNumbers(), [0], "the low-density red neighbour wins");
  assertClose(llp.p, o.p, { rtol: 1e-4 });
});

tidyTest("only the K labelled points with the highest P^L vote", () => {
  const gen = new Generator(3);
  const L = F.normalize(gen.randn([10, 4]), 1);
  const V = F.normalize(gen.randn([6, 4]), 1);
  const Y = gen.randint(0, 3, [10]);
  const rho = gen.rand([10]).add(0.5);
  const Ls = Array.from({ length: 10 }, (_, i) => Array.from(L.select(0, i).toArray() as Float32Array));
  const ys = Y.toNumbers();
  const rs = rho.toNumbers();
  for (const K of [1, 3, 10]) {
    const out = propagate(V, L, Y, { K, tau: 0.2, numClasses: 3, logRho: rho.log() });
    for (let b = 0; b < 6; b++) {
      const v = Array.from(V.select(0, b).toArray() as Float32Array);
      const o = oracle(v, Ls, ys, rs, K, 0.2, 3);
      assertClose(out.p.select(0, b), o.p, { rtol: 1e-4, atol: 1e-6, msg: `K=${K} row ${b}` });
      assert.equal(out.y.toNumbers()[b], o.y);
    }
  }
});

tidyTest("blocked top-k equals a plain-JS top-k at every block size, and refuses k above the keys", () => {
  const gen = new Generator(1);
  const Q = F.normalize(gen.randn([37, 8]), 1);
  const K = F.normalize(gen.randn([50, 8]), 1);
  const [q, k] = [Q.toArray() as Float32Array, K.toArray() as Float32Array];
  // oracle: every dot product in float64, sorted descending
  const want = Array.from({ length: 37 }, (_, i) =>
    Array.from({ length: 50 }, (_, j) => {
      let s = 0;
      for (let d = 0; d < 8; d++) s += (q[i * 8 + d] as number) * (k[j * 8 + d] as number);
      return { j, s };
    })
      .sort((a, b) => b.s - a.s)
      .slice(0, 5),
  );
  for (const block of [1000, 37, 36, 4, 1]) {
    const { values, indices } = blockedTopk(Q, K, 5, block);
    assert.deepEqual(indices.shape, [37, 5]);
    assert.deepEqual(
      indices.toNumbers(),
      want.flatMap((r) => r.map((e) => e.j)),
      `block ${block}: indices`,
    );
    assertClose(
      values,
      want.flatMap((r) => r.map((e) => e.s)),
      { atol: 1e-6, msg: `block ${block}: values` },
    );
  }
  assert.throws(() => blockedTopk(Q, K, 51), /k=51 exceeds the 50 keys/);
});

test("shape errors name both shapes", () => {
  assert.throws(
    () =>
      propagate(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(8), [2, 4]), tensor([0, 1], [2], "int64"), {
        K: 1,
        tau: 0.1,
        numClasses: 2,
        logRho: null,
      }),
    /\[2,3\].*\[2,4\]/,
  );
});

test("meanLabels: p is the mean of both sources, y its argmax, c its max", () => {
  tidy(() => {
    const a = { p: tensor([0.7, 0.2, 0.1, 0.1, 0.1, 0.8], [2, 3]) } as Propagated;
    const b = { p: tensor([0.1, 0.8, 0.1, 0.2, 0.2, 0.6], [2, 3]) } as Propagated;
    const m = meanLabels(a, b);
    assertClose(m.p, [0.4, 0.5, 0.1, 0.15, 0.15, 0.7]);
    assert.deepEqual(m.y.toNumbers(), [1, 2]); // row 0: the sources disagree; the mean sides with the surer one
    assertClose(m.c, [0.5, 0.7]);
  });
});
