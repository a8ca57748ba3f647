// The weight average (Mean Teacher's teacher) against a hand-computed oracle.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildNet, type ModelSpec } from "../../src/model/net.js";
import { Generator, liveTensors, noGrad, tidy } from "../../src/torch/index.js";
import { emaDecay, WeightAverage } from "../../src/train/ema.js";

const SPEC: ModelSpec = { model: "small-cnn", inputShape: [1, 28, 28], numClasses: 3, embeddingDim: 8, width: 2 };

test("emaDecay ramps in as 1 - 1/(t + 1) and is capped at d", () => {
  assert.equal(emaDecay(0.999, 0), 0, "the first update copies the network");
  assert.equal(emaDecay(0.999, 1), 0.5);
  assert.equal(emaDecay(0.999, 9), 0.9);
  assert.equal(emaDecay(0.97, 1000), 0.97);
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
  // each update t follows a network moved by 0.1 (t + 1) in every weight and buffer, so the
  // average lags it; the oracle repeats theta' <- d_t theta' + (1 - d_t) theta in float64 with
  // d_t = min(0.5, 1 - 1/(t + 1)): 0 (a copy), then 0.5 from t = 1 on
  const expected = new Map([...avg.net.stateDict()].map(([n, t]) => [n, Float64Array.from(t.toArray() as Float32Array)]));
  for (let t = 0; t < 40; t++) {
    noGrad(() =>
      tidy(() =>
        net.stateDict().forEach((w) => {
          w.add_(0.1 * (t + 1));
        }),
      ),
    );
    avg.update(net);
    const d = Math.min(0.5, 1 - 1 / (t + 1));
    for (const [n, e] of expected) {
      const src = net.stateDict().get(n)?.toArray() as Float32Array;
      for (let i = 0; i < e.length; i++) e[i] = d * (e[i] as number) + (1 - d) * (src[i] as number);
    }
    if (t === 0)
      for (const [n, w] of avg.net.stateDict())
        assert.deepEqual(w.toNumbers(), net.stateDict().get(n)?.toNumbers(), `the first update copies ${n}`);
  }
  for (const [n, t] of avg.net.stateDict()) {
    const got = t.toArray() as Float32Array;
    const want = expected.get(n) as Float64Array;
    const src = net.stateDict().get(n)?.toArray() as Float32Array;
    for (const [i, g] of got.entries())
      assert.ok(
        Math.abs(g - (want[i] as number)) < 1e-3 * Math.max(1, Math.abs(want[i] as number)),
        `after 40 updates ${n}[${i}]: ${g} vs ${want[i]}`,
      );
    // the last step moved the network by 4, and the average trails it by about that much (0.5 4 + 0.25 3.9 + ...)
    for (const [i, g] of got.entries()) assert.ok((src[i] as number) - g > 3.5, `${n}[${i}] trails the network`);
  }
  assert.equal(avg.steps, 40);
  net.dispose();
  avg.dispose();
  assert.equal(liveTensors(), before, "nothing leaks");
});
