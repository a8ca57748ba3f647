// Local Aggregation's parts against hand arithmetic: k-means finds separated groups; the loss
// takes the background as the kB most similar bank rows and the close set as those sharing a
// cluster in any clustering; the sizes follow the released config's shares; --init la is llp's.
import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveConfig } from "../../src/config.js";
import { localAggregation } from "../../src/losses/losses.js";
import { LA_CONFIG, laSizes } from "../../src/methods/la-state.js";
import { kmeans } from "../../src/propagation/kmeans.js";
import { Generator, liveTensors, tensor, tidy } from "../../src/torch/index.js";

test("kmeans puts separated groups in separate clusters, from any start", () => {
  const before = liveTensors();
  const centres = [
    [5, 0],
    [0, 5],
    [-5, -5],
  ];
  const g = new Generator(3);
  const noise = g.uniforms(60 * 2);
  const X = Array.from({ length: 60 }, (_, i) => (centres[i % 3] as number[]).map((c, e) => c + ((noise[i * 2 + e] as number) - 0.5)));
  for (const seed of [0, 1, 2]) {
    const a = tidy(() => kmeans(tensor(X.flat(), [60, 2]), 3, new Generator(seed)).toNumbers());
    for (let i = 3; i < 60; i++) assert.equal(a[i], a[i % 3], `point ${i} with its group`);
    assert.equal(new Set([a[0], a[1], a[2]]).size, 3, "three groups, three clusters");
  }
  assert.throws(() => tidy(() => kmeans(tensor([1, 2], [1, 2]), 2, new Generator(0))), /needs 1 <= k <= 1 rows/);
  assert.equal(liveTensors(), before);
});

test("localAggregation: background = the kB most similar rows; close = rows sharing a cluster in any clustering", () => {
  // a bank of 6 unit rows at angles 0, 10, 20, 90, 100, 180 degrees; v at 5 degrees
  const deg = [0, 10, 20, 90, 100, 180];
  const bank = deg.flatMap((d) => [Math.cos((d * Math.PI) / 180), Math.sin((d * Math.PI) / 180)]);
  const v = [Math.cos((5 * Math.PI) / 180), Math.sin((5 * Math.PI) / 180)];
  // point 1's clusters: clustering 0 puts it with row 0, clustering 1 with row 3
  const clusters = [
    [0, 0, 1, 2, 2, 3],
    [4, 5, 6, 5, 7, 8],
  ];
  const tau = 0.5;
  const kB = 4; // background: rows 0, 1, 2, 3 (the four most similar to v)
  const s = deg.map((_, j) => (v[0] as number) * (bank[2 * j] as number) + (v[1] as number) * (bank[2 * j + 1] as number));
  const e = s.map((x) => Math.exp(x / tau));
  const background = [0, 1, 2, 3];
  const close = [0, 1, 3]; // shares a cluster with point 1: row 0 (clustering 0), row 3 (clustering 1), itself
  const sum = (rows: number[]) => rows.reduce((a, j) => a + (e[j] as number), 0);
  const want = -Math.log(sum(close) / sum(background) + 1e-7);
  const got = tidy(() =>
    localAggregation(
      tensor(v, [1, 2], "float64"),
      tensor(bank, [6, 2], "float64"),
      tensor(clusters.flat(), [2, 6], "int64"),
      tensor([1], [1], "int64"),
      kB,
      tau,
    ).toNumbers(),
  );
  assert.ok(Math.abs((got[0] as number) - want) < 1e-9, `${got[0]} vs ${want}`);
  // no close row in the background: -log 1e-7, as their code
  const lonely = tidy(() =>
    localAggregation(
      tensor(v, [1, 2], "float64"),
      tensor(bank, [6, 2], "float64"),
      tensor([9, 9, 9, 9, 9, 0], [1, 6], "int64"),
      tensor([5], [1], "int64"),
      kB,
      tau,
    ).toNumbers(),
  );
  assert.ok(Math.abs((lonely[0] as number) + Math.log(1e-7)) < 1e-6);
});

test("laSizes keep the released config's shares of the data; --init la belongs to llp", () => {
  assert.deepEqual(laSizes(LA_CONFIG.n), { kB: 4096, k: 30000, H: 10 });
  assert.deepEqual(laSizes(55000), { kB: 176, k: 1288, H: 10 });
  assert.deepEqual(laSizes(100), { kB: 16, k: 2, H: 10 });
  assert.equal(resolveConfig({ init: "la", irEpochs: 2 }).init, "la");
  assert.throws(() => resolveConfig({ init: "la" }), /needs irEpochs \(--ir-epochs\) >= 2 \(got 1\)/);
  assert.throws(
    () => resolveConfig({ method: "supervised", init: "la" }),
    /init \(--init\) = la sets llp's warm start; supervised has none/,
  );
});
