// The report's analyses against hand-made data: tight clusters aggregate to 1, spread ones to
// about 0; MDS keeps the distances of points on a line and of a planar configuration; the
// reliability bins and the coverage at thresholds count by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { aggregationMetric, classicalMds, coverageAtThresholds, reliability } from "../../src/report/analysis.js";

const unit = (x: number[]) => {
  const n = Math.hypot(...x);
  return x.map((t) => t / n);
};

test("aggregation metric: two tight clusters give about 1, antipodal points in one class give 0", () => {
  // class 0 near e1, class 1 near e2 (D = 3), small jitter
  const rows: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < 20; i++) {
    rows.push(unit([1, 0.01 * Math.sin(i), 0.01 * Math.cos(i)]));
    y.push(0);
    rows.push(unit([0.01 * Math.cos(i), 1, 0.01 * Math.sin(i)]));
    y.push(1);
  }
  const tight = aggregationMetric(Float32Array.from(rows.flat()), Int32Array.from(y), 2);
  assert.ok(tight.mean > 0.999 && tight.mean <= 1 + 1e-6, `${tight.mean}`);
  // class 0 at +e1 and -e1 (mean 0), class 1 at e2 only; class 2 absent (NaN, left out of the mean)
  const spread = aggregationMetric(Float32Array.from([1, 0, 0, -1, 0, 0, 0, 1, 0]), Int32Array.from([0, 0, 1]), 3);
  assert.ok(Math.abs(spread.perClass[0] as number) < 1e-9);
  assert.ok(Math.abs((spread.perClass[1] as number) - 1) < 1e-9);
  assert.ok(Number.isNaN(spread.perClass[2]));
  assert.ok(Math.abs(spread.mean - 0.5) < 1e-9);
  // unlabelled rows (-1) are skipped
  assert.equal(aggregationMetric(Float32Array.from([1, 0, 0, 1]), Int32Array.from([0, -1]), 1).mean, 1);
});

const dist = (a: ArrayLike<number>, i: number, j: number, k: number) => {
  let s = 0;
  for (let t = 0; t < k; t++) s += ((a[i * k + t] as number) - (a[j * k + t] as number)) ** 2;
  return Math.sqrt(s);
};

test("MDS keeps the distances of points on a line in 5-D, and of a planar configuration", () => {
  const ts = [0, 0.5, 1.7, 2, 3.9, 4.2];
  const dir = unit([1, -2, 0.5, 3, 1]);
  const line = Float64Array.from(ts.flatMap((t) => dir.map((d) => 7 + t * d)));
  const y = classicalMds(line, ts.length, 2);
  for (let i = 0; i < ts.length; i++)
    for (let j = 0; j < ts.length; j++) assert.ok(Math.abs(dist(y, i, j, 2) - Math.abs((ts[i] as number) - (ts[j] as number))) < 1e-6);
  // points of a plane tilted in 4-D: every pairwise distance kept
  const plane = [
    [0, 0],
    [3, 0],
    [0, 2],
    [1, 1],
    [2.5, -1],
  ];
  const [u, v] = [unit([1, 1, 0, 1]), unit([1, -1, 1, 0])];
  const X = Float64Array.from(
    plane.flatMap(([a, b]) => (u as number[]).map((ui, t) => (a as number) * ui + (b as number) * ((v as number[])[t] as number))),
  );
  const z = classicalMds(X, plane.length, 2);
  const P = Float64Array.from(plane.flat());
  for (let i = 0; i < plane.length; i++)
    for (let j = 0; j < plane.length; j++) assert.ok(Math.abs(dist(z, i, j, 2) - dist(P, i, j, 2)) < 1e-6);
});

test("reliability bins and coverage at thresholds count by hand", () => {
  const conf = [0.05, 0.15, 0.95, 1, 0.55, 0.58];
  const correct = [false, true, true, true, false, true];
  const r = reliability(conf, correct, 10);
  assert.equal(r.bins.length, 10);
  assert.deepEqual(
    r.bins.map((b) => b.count),
    [1, 1, 0, 0, 0, 2, 0, 0, 0, 2],
  );
  assert.equal(r.bins[9]?.accuracy, 1);
  assert.ok(Math.abs((r.bins[9]?.meanConfidence as number) - 0.975) < 1e-12);
  assert.equal(r.bins[5]?.accuracy, 0.5);
  // ECE = sum over bins of share x |accuracy - confidence|
  const ece = (1 / 6) * 0.05 + (1 / 6) * 0.85 + (2 / 6) * Math.abs(0.5 - 0.565) + (2 / 6) * 0.025;
  assert.ok(Math.abs(r.ece - ece) < 1e-12);
  assert.deepEqual(coverageAtThresholds(conf, correct, [0, 0.5, 0.99]), [
    { threshold: 0, coverage: 1, accuracy: 4 / 6 },
    { threshold: 0.5, coverage: 4 / 6, accuracy: 3 / 4 },
    { threshold: 0.99, coverage: 1 / 6, accuracy: 1 },
  ]);
});
