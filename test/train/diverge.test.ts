// A run whose loss stops being a number is stopped with an error that says so, instead of
// training on to a summary that reads like a result (chance accuracy from NaN weights).
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { resolveConfig } from "../../src/config.js";
import { liveTensors } from "../../src/torch/index.js";
import { prepareData } from "../../src/train/data.js";
import { train } from "../../src/train/loop.js";
import { runTraining } from "../../src/train/run.js";
import { tempDir, writeFeatureNpy } from "../data/helpers.js";

test("a diverging run stops with an error naming the epoch, step and --lr, and frees its tensors", async () => {
  const dir = tempDir("llp-diverge-");
  const n = 64;
  const x = Float32Array.from({ length: n * 4 }, (_, i) => ((i * 37) % 11) - 5);
  const files = writeFeatureNpy(
    dir,
    x,
    4,
    Int32Array.from({ length: n }, (_, i) => i % 2),
  );
  const cfg = resolveConfig({
    data: files.data,
    labels: files.labels,
    method: "supervised",
    irEpochs: 0,
    epochs: 3,
    milestones: null,
    batchSize: 16,
    validation: 8,
    threads: 1,
    seed: 0,
  });
  const before = liveTensors();
  // resolveConfig caps lr at 10 (runTraining checks again); the loop itself takes what it is given,
  // and an lr past any sane value makes the divergence certain
  const prepared = await prepareData(cfg, null);
  await assert.rejects(
    (async () => {
      for await (const _ of train({ ...cfg, lr: 1e30 }, prepared.data, { runDir: null, resume: false }));
    })(),
    /the loss is (NaN|Infinity) at epoch \d+, step \d+: training diverged: try a lower lr \(--lr\)/,
  );
  await assert.rejects(runTraining({ ...cfg, lr: 1e30 }, join(dir, "run"), { resume: false }), /lr \(--lr\) must be a number in \[0, 10\]/);
  assert.equal(liveTensors(), before);
});
