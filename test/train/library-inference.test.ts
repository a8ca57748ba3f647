// The library's inference path: a run trained on relative data paths reopens from another
// working directory, and runInputs + predictRun classify raw rows as the trained network does.
// Oracle: two well-separated classes, which a trained MLP must get (nearly) all right.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { prepareData, resolveConfig, type TrainEvent, train } from "../../src/index.js";
import { liveTensors } from "../../src/torch/index.js";
import { openRun, predictRun, runInputs, runTraining } from "../../src/train/run.js";
import { tempDir, writeFeatureNpy } from "../data/helpers.js";

test("relative data paths are saved absolute; runInputs + predictRun classify raw rows", async () => {
  const dir = tempDir("llp-infer-");
  const n = 160;
  const f = 4;
  // class k: features around 3*(2k-1), with a little deterministic jitter
  const x = Float32Array.from({ length: n * f }, (_, i) => 3 * (2 * (Math.floor(i / f) % 2) - 1) + (((i * 7) % 13) - 6) / 10);
  writeFeatureNpy(
    dir,
    x,
    f,
    Int32Array.from({ length: n }, (_, i) => i % 2),
  );
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const cfg = resolveConfig({
      data: "x.npy",
      labels: "y.npy",
      method: "supervised",
      irEpochs: 0,
      epochs: 4,
      milestones: null,
      batchSize: 16,
      validation: 16,
      threads: 1,
      seed: 0,
    });
    await runTraining(cfg, join(dir, "run"), { resume: false });
  } finally {
    process.chdir(cwd);
  }
  const saved = JSON.parse(readFileSync(join(dir, "run", "config.json"), "utf8"));
  assert.equal(saved.data, join(dir, "x.npy"));
  assert.equal(saved.labels, join(dir, "y.npy"));
  process.chdir(tmpdir());
  const before = liveTensors();
  try {
    const run = await openRun(join(dir, "run"));
    const xb = runInputs(run, x, n);
    assert.deepEqual(xb.shape, [n, f]);
    const { probs, v } = predictRun(run, xb);
    assert.deepEqual(
      [probs.shape, v.shape],
      [
        [n, 2],
        [n, 128],
      ],
    );
    const p = probs.toNumbers();
    let right = 0;
    for (let i = 0; i < n; i++) {
      assert.ok(Math.abs((p[2 * i] as number) + (p[2 * i + 1] as number) - 1) < 1e-5);
      if (((p[2 * i + 1] as number) > 0.5 ? 1 : 0) === i % 2) right++;
    }
    assert.ok(right >= 0.95 * n, `${right} of ${n} right`);
    const vs = v.toNumbers();
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let d = 0; d < 128; d++) s += (vs[i * 128 + d] as number) ** 2;
      assert.ok(Math.abs(s - 1) < 1e-4, `|v_${i}|^2 = ${s}`);
    }
    assert.throws(() => runInputs(run, x, n + 1), /values for 161 examples/);
    for (const t of [xb, probs, v]) t.dispose();
    run.dispose();
  } finally {
    process.chdir(cwd);
  }
  assert.equal(liveTensors(), before);
});

test("prepareData + train stream a run's events in memory, writing nothing and leaving no tensors", async () => {
  const dir = tempDir("llp-stream-");
  const n = 96;
  const f = 3;
  const x = Float32Array.from({ length: n * f }, (_, i) => 2 * (2 * (Math.floor(i / f) % 2) - 1) + (((i * 5) % 11) - 5) / 10);
  // 24 labelled, the rest not
  const files = writeFeatureNpy(
    dir,
    x,
    f,
    Int32Array.from({ length: n }, (_, i) => (i < 24 ? i % 2 : -1)),
  );
  const cfg = resolveConfig({
    data: files.data,
    labels: files.labels,
    width: 8,
    validation: 8,
    batchSize: 16,
    labelledPerBatch: 4,
    irEpochs: 1,
    epochs: 2,
    milestones: [],
    threads: 1,
    seed: 3,
  });
  const before = liveTensors();
  const prepared = await prepareData(cfg, null);
  const events: TrainEvent[] = [];
  for await (const ev of train(cfg, prepared.data, { runDir: null, resume: false })) events.push(ev);
  assert.equal(liveTensors(), before, "the loop frees what it built");
  const cutoutRun = train({ ...cfg, trainView: "cutout" }, prepared.data, { runDir: null, resume: false });
  await assert.rejects(
    cutoutRun.next(),
    /trainView \(--train-view\) = cutout \(method llp\) needs images \[C,H,W\], but the data are \[3\] feature vectors/,
  );
  assert.deepEqual(readdirSync(dir).sort(), ["x.npy", "y.npy"], "no run folder, no checkpoint");
  assert.equal(events[0]?.type, "start");
  assert.ok(events.filter((e) => e.type === "step").length >= 3, "step events are streamed");
  assert.ok(!events.some((e) => e.type === "checkpoint"), "no run folder, no checkpoint event");
  const epochs = events.filter((e) => e.type === "epoch");
  assert.deepEqual(
    epochs.map((e) => [e.epoch, e.phase]),
    [
      [0, "ir"],
      [1, "llp"],
      [2, "llp"],
    ],
  );
  const end = events.at(-1);
  assert.ok(end?.type === "end");
  assert.equal(end.summary.method, "llp");
  assert.ok(end.summary.val_top1 >= 7 / 8, `two well-separated classes: val top-1 ${end.summary.val_top1}`);
  assert.ok(Number.isNaN(end.summary.test_top1), "a .npy without a test set has no test score");
});
