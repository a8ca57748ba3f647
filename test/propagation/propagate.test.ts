import assert from "node:assert/strict";
import { test } from "node:test";
import { logDensity } from "../../src/propagation/density.js";
import { kernelThreads, RowTopk, setKernelThreads } from "../../src/propagation/kernel.js";
import { blockedTopk, TILES, TopkAccumulator } from "../../src/propagation/neighbours.js";
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

/** float64 oracle: for each query, the k best keys by q.k / tau - bias (ties: lower key first). */
function topkOracle(q: Float32Array, k: Float32Array, nq: number, nk: number, d: number, kk: number, tau = 1, bias?: Float32Array) {
  return Array.from({ length: nq }, (_, i) =>
    Array.from({ length: nk }, (_, j) => {
      let s = 0;
      for (let e = 0; e < d; e++) s += (q[i * d + e] as number) * (k[j * d + e] as number);
      return { j, s: s / tau - (bias ? (bias[j] as number) : 0) };
    })
      .sort((a, b) => b.s - a.s || a.j - b.j)
      .slice(0, kk),
  );
}

tidyTest("blocked top-k equals a float64 top-k across query and key tiles, with tau and a bias, and refuses k above the keys", () => {
  const gen = new Generator(1);
  // 150 queries span three 64-row query tiles (set below); 9000 keys span three 4096-column key tiles
  const [nq, nk, d] = [150, 9000, 16];
  const Q = F.normalize(gen.randn([nq, d]), 1);
  const K = F.normalize(gen.randn([nk, d]), 1);
  const bias = gen.rand([nk]).mul(0.5);
  const [q, k, b] = [Q.toArray() as Float32Array, K.toArray() as Float32Array, bias.toArray() as Float32Array];
  for (const [tau, withBias] of [
    [1, false],
    [0.07, true],
  ] as const) {
    const want = topkOracle(q, k, nq, nk, d, 25, tau, withBias ? b : undefined);
    const saved = { ...TILES };
    TILES.qTile = 64;
    let got: ReturnType<typeof blockedTopk>;
    try {
      got = blockedTopk(Q, K, 25, { tau, bias: withBias ? bias : null });
    } finally {
      Object.assign(TILES, saved);
    }
    const { values, indices } = got;
    // the default tiles pick the same keys
    assert.deepEqual(blockedTopk(Q, K, 25, { tau, bias: withBias ? bias : null }).indices.toNumbers(), indices.toNumbers());
    assert.deepEqual(indices.shape, [nq, 25]);
    assert.deepEqual(
      indices.toNumbers(),
      want.flatMap((r) => r.map((e) => e.j)),
      `tau ${tau}: indices`,
    );
    assertClose(
      values,
      want.flatMap((r) => r.map((e) => e.s)),
      { atol: 2e-5 / tau, msg: `tau ${tau}: values` },
    );
  }
  assert.throws(() => blockedTopk(Q, K.slice(0, 0, 50), 51), /k=51 exceeds the 50 keys/);
});

tidyTest("a top-k accumulated over key blocks of any size, in any order, picks the keys of the one-shot top-k", () => {
  const gen = new Generator(2);
  const Q = F.normalize(gen.randn([70, 8]), 1);
  const K = F.normalize(gen.randn([300, 8]), 1);
  const once = blockedTopk(Q, K, 7);
  // with 16-key tiles the kernel also splits the keys into parts merged per query (few query tiles)
  const saved = { ...TILES };
  TILES.kTile = 16;
  const split = blockedTopk(Q, K, 7);
  Object.assign(TILES, saved);
  assert.deepEqual(split.indices.toNumbers(), once.indices.toNumbers(), "split into parts");
  for (const block of [300, 128, 37, 1]) {
    const starts = Array.from({ length: Math.ceil(300 / block) }, (_, i) => i * block).reverse(); // last block first
    const acc = new TopkAccumulator(Q, 7);
    for (const s of starts) acc.add(K.slice(0, s, Math.min(300, s + block)), s);
    assert.deepEqual(acc.indices.toNumbers(), once.indices.toNumbers(), `block ${block}`);
    // BLAS may round a tile of another width differently in the last bit
    assertClose(acc.values, once.values.toNumbers(), { atol: 1e-6, msg: `block ${block}` });
    assert.equal(acc.seen, 300);
  }
  // fewer keys than k so far: unfilled slots are (-inf, -1)
  const part = new TopkAccumulator(Q, 7);
  part.add(K.slice(0, 0, 3));
  assert.deepEqual(part.indices.toNumbers().slice(0, 7).slice(3), [-1, -1, -1, -1]);
  assert.equal(part.values.toNumbers()[6], Number.NEGATIVE_INFINITY);
});

tidyTest("equal scores go to the lower key index, whatever the blocking", () => {
  const Q = tensor(Float32Array.from([1, 0]), [1, 2]);
  const K = tensor(Float32Array.from([0, 1, 1, 0, 0.5, 0.5, 1, 0, 1, 0]), [5, 2]); // rows 1, 3, 4 tie at 1
  assert.deepEqual(blockedTopk(Q, K, 2).indices.toNumbers(), [1, 3]);
  const acc = new TopkAccumulator(Q, 2);
  acc.add(K.slice(0, 3, 5), 3);
  acc.add(K.slice(0, 0, 3), 0);
  assert.deepEqual(acc.indices.toNumbers(), [1, 3]);
  // one key per tile: the ties fall in different parts, merged with the running state
  const saved = { ...TILES };
  TILES.kTile = 1;
  try {
    assert.deepEqual(blockedTopk(Q, K, 2).indices.toNumbers(), [1, 3]);
    const acc2 = new TopkAccumulator(Q, 2);
    acc2.add(K.slice(0, 3, 5), 3);
    acc2.add(K.slice(0, 0, 3), 0);
    assert.deepEqual(acc2.indices.toNumbers(), [1, 3]);
  } finally {
    Object.assign(TILES, saved);
  }
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

tidyTest("the kernel addon without libtorch (llp propagate's) gives the same top-k bits as topkDotMerge_ and as ATen's mm", () => {
  const gen = new Generator(3);
  const d = 32;
  const before = kernelThreads();
  try {
    // 300 queries x 5000 keys in three blocks: two query tiles; 200 queries x 9000 keys at once: one
    // query tile, so the keys are split into parts merged per query; 200 x 3000 on one thread: one
    // tile. Every key appears several times, so scores tie across chunks, tiles and parts.
    for (const [nq, nk, k, blocks, tau, withBias, threads, oneTile] of [
      [300, 5000, 25, [2048, 0, 4096], 1, false, 1, false],
      [300, 5000, 25, [2048, 0, 4096], 0.07, true, 2, false],
      [200, 9000, 10, [0], 0.07, true, 2, false],
      [200, 3000, 10, [0], 0.07, true, 1, true],
    ] as const) {
      const Q = F.normalize(gen.randn([nq, d]), 1);
      const base = F.normalize(gen.randn([1000, d]), 1).toArray() as Float32Array;
      const keys = new Float32Array(nk * d);
      for (let r = 0; r < nk / 1000; r++) keys.set(base, r * 1000 * d);
      const K = tensor(keys, [nk, d]);
      const bias = gen.rand([nk]).mul(0.5);
      const [q, b] = [Q.toArray() as Float32Array, bias.toArray() as Float32Array];
      setKernelThreads(threads);
      const light = new RowTopk(q, d, k, tau);
      const torch = new TopkAccumulator(Q, k, tau);
      for (const s of blocks) {
        const e = Math.min(nk, s + (blocks.length === 1 ? nk : 2048));
        light.add(keys.subarray(s * d, e * d), s, withBias ? b.subarray(s, e) : null);
        torch.add(K.slice(0, s, e), s, withBias ? bias.slice(0, s, e) : null);
      }
      const what = `${nq} x ${nk}, tau ${tau}, ${threads} thread(s)`;
      assert.deepEqual(Array.from(light.indices, Number), torch.indices.toNumbers(), `${what}: indices`);
      assert.deepEqual(Array.from(light.values), torch.values.toNumbers(), `${what}: values`);
      // each value is ATen's mm(Q, K^T) / tau - bias at that key: bit for bit where the whole product
      // is one tile (BLAS rounds a column at a tile's edge differently in the last bit otherwise)
      const S = Q.matmul(K.transpose(0, 1))
        .div(tau)
        .sub(withBias ? bias.reshape([1, nk]) : 0)
        .toArray() as Float32Array;
      const aten = Array.from(light.indices, (j, x) => S[Math.floor(x / k) * nk + Number(j)] as number);
      if (oneTile) assert.deepEqual(Array.from(light.values), aten, `${what}: values against ATen's mm`);
      else assertClose(tensor(light.values, [nq * k]), aten, { atol: 1e-6 / tau, msg: `${what}: values against ATen's mm` });
      // BLAS rounds equal keys in different positions differently in the last bit, so the float64
      // top-k agrees on the scores, not on the order of near-equal ones
      const want = topkOracle(q, keys, nq, nk, d, k, tau, withBias ? b : undefined);
      assertClose(
        torch.values,
        want.flatMap((r) => r.map((x) => x.s)),
        { atol: 2e-5 / tau, msg: `${what}: against float64` },
      );
    }
    assert.throws(() => new RowTopk(Float32Array.of(1, 0), 2, 1).add(Float32Array.of(1, 0, 0), 0), /whole rows of d = 2/);
    assert.throws(() => new RowTopk(Float32Array.of(1, 0), 2, 1, 1e-50).add(Float32Array.of(1, 0), 0), /tau must be a positive float32/);
  } finally {
    setKernelThreads(before);
  }
});
