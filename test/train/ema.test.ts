// The weight average (--ema) against a hand-computed oracle, and through a checkpoint.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildNet, type ModelSpec } from "../../src/model/net.js";
import { Generator, liveTensors, noGrad, tidy } from "../../src/torch/index.js";
import { emaDecay, WeightAverage } from "../../src/train/ema.js";

const SPEC: ModelSpec = { model: "small-cnn", inputShape: [1, 28, 28], numClasses: 3, embeddingDim: 8, width: 2 };

test("emaDecay ramps in as (1 + t)/(10 + t) and is capped at d", () => {
  assert.equal(emaDecay(0.999, 0), 0.1);
  assert.equal(emaDecay(0.999, 8), 9 / 18);
  assert.equal(emaDecay(0.9, 1000), 0.9);
  assert.equal(emaDecay(0.999, 1e6), 0.999);
});

test("WeightAverage.update: theta' <- d_t theta' + (1 - d_t) theta for parameters and running statistics", () => {
  const before = liveTensors();
  const net = buildNet(SPEC, new Generator(1));
  const avg = new WeightAverage(buildNet(SPEC, new Generator(2)), 0.5);
  avg.reset(net);
  assert.equal(avg.steps, 0);
  assert.equal(avg.net.training, false, "the average stays in eval mode");
  const names = [...net.stateDict().keys()];
  assert.ok(
    names.some((n) => n.endsWith("running_mean")),
    "buffers are averaged too",
  );
  for (const n of names)
    assert.deepEqual(avg.net.stateDict().get(n)?.toNumbers(), net.stateDict().get(n)?.toNumbers(), `reset copies ${n}`);
  const old = new Map([...avg.net.stateDict()].map(([n, t]) => [n, t.toArray() as Float32Array]));
  // move every weight and buffer of the network by a known amount
  noGrad(() =>
    tidy(() =>
      net.stateDict().forEach((t) => {
        t.add_(1);
      }),
    ),
  );
  const d0 = emaDecay(0.5, 0); // 0.1
  avg.update(net);
  for (const [n, t] of avg.net.stateDict()) {
    const got = t.toArray() as Float32Array;
    const src = net.stateDict().get(n)?.toArray() as Float32Array;
    const want = (old.get(n) as Float32Array).map((o, i) => d0 * o + (1 - d0) * (src[i] as number));
    for (const [i, g] of got.entries()) assert.ok(Math.abs(g - (want[i] as number)) < 1e-5, `${n}[${i}]: ${g} vs ${want[i]}`);
  }
  assert.equal(avg.steps, 1);
  // 39 more updates toward the same network, each with its own d_t = min(0.5, (1 + t)/(10 + t)):
  // the oracle repeats the recursion in float64 from the values after the first update
  const expected = new Map([...avg.net.stateDict()].map(([n, t]) => [n, Float64Array.from(t.toArray() as Float32Array)]));
  for (let t = 1; t < 40; t++) {
    avg.update(net);
    const d = Math.min(0.5, (1 + t) / (10 + t)); // 0.1818 at t = 1, the cap 0.5 from t = 8 on
    for (const [n, e] of expected) {
      const src = net.stateDict().get(n)?.toArray() as Float32Array;
      for (let i = 0; i < e.length; i++) e[i] = d * (e[i] as number) + (1 - d) * (src[i] as number);
    }
  }
  for (const [n, t] of avg.net.stateDict()) {
    const got = t.toArray() as Float32Array;
    const want = expected.get(n) as Float64Array;
    const src = net.stateDict().get(n)?.toArray() as Float32Array;
    for (const [i, g] of got.entries())
      assert.ok(Math.abs(g - (want[i] as number)) < 1e-5, `after 40 updates ${n}[${i}]: ${g} vs ${want[i]}`);
    // and by now the average has all but reached the network it follows
    for (const [i, g] of got.entries()) assert.ok(Math.abs(g - (src[i] as number)) < 1e-4, `${n}[${i}] converged`);
  }
  assert.equal(avg.steps, 40);
  net.dispose();
  avg.dispose();
  assert.equal(liveTensors(), before, "nothing leaks");
});
