import assert from "node:assert/strict";
import { test } from "node:test";
import { Generator, zeros } from "../../src/torch/index.js";
import { tidyTest } from "../helpers.js";

tidyTest("same seed gives the same numbers; different seeds differ", () => {
  const a = new Generator(7);
  const b = new Generator(7);
  const c = new Generator(8);
  const ra = a.randn([64]).toNumbers();
  assert.deepEqual(b.randn([64]).toNumbers(), ra);
  assert.notDeepEqual(c.randn([64]).toNumbers(), ra);
  // the stream advances: a second draw differs from the first
  assert.notDeepEqual(a.randn([64]).toNumbers(), ra);
  b.randn([64]);
  assert.deepEqual(a.rand([5]).toNumbers(), b.rand([5]).toNumbers());
});

tidyTest("manualSeed restarts the stream", () => {
  const g = new Generator(1);
  const first = g.rand([10]).toNumbers();
  g.rand([10]);
  g.manualSeed(1);
  assert.deepEqual(g.rand([10]).toNumbers(), first);
});

tidyTest("getState/setState replays every kind of draw", () => {
  const g = new Generator(123);
  g.randn([3]);
  const state = g.getState();
  const draws = () => [
    g.randn([8]).toNumbers(),
    g.rand([8], "float64").toNumbers(),
    g.randint(0, 100, [8]).toNumbers(),
    g.randperm(8).toNumbers(),
    g.normal_(zeros([4]), 3, 2).toNumbers(),
    g.uniform_(zeros([4]), -1, 1).toNumbers(),
  ];
  const first = draws();
  g.setState(state);
  assert.deepEqual(draws(), first);
  // and the state moves to another generator
  const h = new Generator(999).setState(state);
  assert.deepEqual(h.randn([8]).toNumbers(), first[0]);
});

tidyTest("randperm is a permutation of 0..n-1", () => {
  const g = new Generator(3);
  const p = g.randperm(1000);
  assert.equal(p.dtype, "int64");
  const v = p.toNumbers();
  assert.deepEqual(
    [...v].sort((x, y) => x - y),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.notDeepEqual(
    v.slice(0, 20),
    Array.from({ length: 20 }, (_, i) => i),
  );
  const q = g.permutation(50);
  assert.ok(q instanceof Int32Array);
  assert.deepEqual(
    [...q].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
});

tidyTest("randint stays in [low, high) and hits every value", () => {
  const g = new Generator(5);
  const v = g.randint(-3, 4, [2000]).toNumbers();
  assert.ok(v.every((x) => x >= -3 && x < 4 && Number.isInteger(x)));
  assert.equal(new Set(v).size, 7);
  assert.equal(g.randint(0, 10, [3], "int32").dtype, "int32");
  for (let i = 0; i < 50; i++) {
    const k = g.int(2, 5);
    assert.ok(k >= 2 && k < 5);
  }
});

tidyTest("distribution moments: randn ~ N(0,1), rand ~ U(0,1), normal_, uniform_", () => {
  const g = new Generator(11);
  const n = 20000;
  const z = g.randn([n], "float64");
  assert.ok(Math.abs(z.mean().item()) < 0.03);
  assert.ok(Math.abs(z.std().item() - 1) < 0.03);
  const u = g.rand([n], "float64");
  assert.ok(u.min().item() >= 0 && u.max().item() < 1);
  assert.ok(Math.abs(u.mean().item() - 0.5) < 0.01);
  const t = g.normal_(zeros([n], "float64"), 5, 0.5);
  assert.ok(Math.abs(t.mean().item() - 5) < 0.02);
  assert.ok(Math.abs(t.std().item() - 0.5) < 0.02);
  const w = g.uniform_(zeros([n], "float64"), -2, 6);
  assert.ok(w.min().item() >= -2 && w.max().item() < 6);
  assert.ok(Math.abs(w.mean().item() - 2) < 0.1);
  const xs = g.uniforms(100);
  assert.ok(xs instanceof Float64Array && xs.every((x) => x >= 0 && x < 1));
});

tidyTest("bernoulli and multinomial follow their probabilities", () => {
  const g = new Generator(2);
  const probs = zeros([10000], "float64").add(0.25);
  const b = g.bernoulli(probs);
  assert.ok(Math.abs(b.mean().item() - 0.25) < 0.02);
  assert.ok(b.toNumbers().every((x) => x === 0 || x === 1));
  const m = g.multinomial(zeros([4]).add(1), 4, false).toNumbers(); // without replacement: a permutation
  assert.deepEqual([...m].sort(), [0, 1, 2, 3]);
});

test("fork: a reproducible stream, independent of its parent's and of its siblings'", () => {
  const draw = (g: Generator) => {
    const t = g.randn([4096]);
    const a = t.toNumbers();
    t.dispose();
    return a;
  };
  const corr = (a: number[], b: number[]) => {
    const m = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
    const [ma, mb] = [m(a), m(b)];
    let [sab, saa, sbb] = [0, 0, 0];
    for (let i = 0; i < a.length; i++) {
      const [da, db] = [(a[i] as number) - ma, (b[i] as number) - mb];
      [sab, saa, sbb] = [sab + da * db, saa + da * da, sbb + db * db];
    }
    return sab / Math.sqrt(saa * sbb);
  };
  const parent = new Generator(9);
  const [f1, f2] = [parent.fork(), parent.fork()];
  const [s1, s2, rest] = [draw(f1), draw(f2), draw(parent)];
  const root = draw(new Generator(9)); // the parent seed's own stream, from its start
  // reproducible: the same parent seed forks the same streams
  const again = new Generator(9);
  assert.deepEqual(draw(again.fork()), s1);
  // independent: no stream repeats or shifts another (no value in common), and none correlates
  // with another beyond chance (4096 normal pairs: |r| has sd 1/64; 0.08 is 5 sd)
  const streams = { f1: s1, f2: s2, parentAfter: rest, parentSeed: root };
  const names = Object.keys(streams) as (keyof typeof streams)[];
  for (const [i, a] of names.entries())
    for (const b of names.slice(i + 1)) {
      if (a === "parentAfter" && b === "parentSeed") continue; // one stream, read from two places
      const seen = new Set(streams[a]);
      assert.ok(!streams[b].some((x) => seen.has(x)), `${a} and ${b} share values`);
      const r = corr(streams[a], streams[b]);
      assert.ok(Math.abs(r) < 0.08, `${a} and ${b} correlate: r = ${r}`);
    }
});

test("seed must be a non-negative safe integer", () => {
  assert.throws(() => new Generator(-1), RangeError);
  assert.throws(() => new Generator(1.5), RangeError);
});
