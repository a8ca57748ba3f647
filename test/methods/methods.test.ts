// Every method in the registry on tiny data: it trains, a run interrupted after its first
// checkpoint resumes to exactly the uninterrupted result, and no tensor outlives either.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { type Config, METHOD_ORDER, resolveConfig } from "../../src/config.js";
import { METHODS } from "../../src/methods/index.js";
import { createRunDir } from "../../src/report/runfolder.js";
import { liveTensors } from "../../src/torch/index.js";
import { prepareData } from "../../src/train/data.js";
import { train } from "../../src/train/loop.js";
import { runTraining } from "../../src/train/run.js";
import { tempDir, writeFeatureNpy, writeTinyImages } from "../data/helpers.js";
import { runEvents, stepLosses } from "../helpers.js";

const dir = tempDir("llp-methods-");
const n = 120;
const f = 4;
// three separated clusters; 30 labelled (10 a class), the rest unlabelled
const x = Float32Array.from({ length: n * f }, (_, i) => 2 * ((Math.floor(i / f) % 3) - 1) + (((i * 7) % 13) - 6) / 8);
const files = writeFeatureNpy(
  dir,
  x,
  f,
  Int32Array.from({ length: n }, (_, i) => (i < 30 ? i % 3 : -1)),
);

// the same on 8x8 images (fixmatch and s4l-rotation need images)
const NEEDS_IMAGES = new Set<Config["method"]>(["fixmatch", "s4l-rotation", "ir-knn"]); // ir-knn: its image view must resolve and reopen
const imageDir = writeTinyImages(join(dir, "images"), n);

const losses = stepLosses;

/** A method on the tiny data (fixmatch and s4l-rotation on the images): 1 IR epoch for llp, 1 warm-up epoch for pseudo-label, then `epochs`. */
const tinyConfig = (method: Config["method"], epochs: number, extra: Partial<Config> = {}) =>
  resolveConfig({
    method,
    ...(NEEDS_IMAGES.has(method) ? { data: imageDir, labelsPerClass: 10, poolGrid: 1 } : { data: files.data, labels: files.labels }),
    width: 8,
    validation: 6,
    batchSize: 16,
    labelledPerBatch: 4,
    irEpochs: 1,
    epochs,
    pseudoLabelWarmup: 1,
    threshold: 0.4,
    milestones: [],
    threads: 1,
    seed: 3,
    ...extra,
  });

/** Every method, and llp with the released code's Local Aggregation warm start. */
const VARIANTS: [string, Config["method"], Partial<Config>][] = [
  ...(Object.keys(METHODS) as Config["method"][]).map((m): [string, Config["method"], Partial<Config>] => [m, m, {}]),
  ["llp --init la", "llp", { init: "la", irEpochs: 2 }],
];

for (const [name, method, extra] of VARIANTS)
  test(`${name}: trains on tiny data, resumes to the uninterrupted result, frees its tensors`, async () => {
    const before = liveTensors();
    const cfg = tinyConfig(method, 3, extra);
    const whole = await runTraining(cfg, join(dir, `${name.replace(/\W+/g, "-")}-whole`), { resume: false });
    const trace = losses(join(dir, `${name.replace(/\W+/g, "-")}-whole`));
    assert.ok(trace.length >= 10 && trace.every(Number.isFinite), `${method} trained (${trace.length} steps)`);
    if (method === "fixmatch") {
      // without a label state, an epoch reports the mean of its steps' mask
      const evs = runEvents(join(dir, `${name.replace(/\W+/g, "-")}-whole`));
      for (const ep of evs.filter((e) => e.type === "epoch")) {
        const masks = evs.filter((e) => e.type === "step" && e.epoch === ep.epoch).map((e) => e["monitor/mask"] as number);
        const mean = masks.reduce((a, b) => a + b, 0) / masks.length;
        assert.ok(Math.abs((ep["monitor/mask"] as number) - mean) < 1e-12, `epoch ${ep.epoch}: mask ${ep["monitor/mask"]} vs ${mean}`);
      }
    }
    // interrupted after the first checkpoint, as a killed process would be, then resumed
    const part = join(dir, `${name.replace(/\W+/g, "-")}-part`);
    createRunDir(part, cfg);
    const prepared = await prepareData(cfg, part);
    // after the second epoch: pseudo-label has labelled (at epoch 1), so the resume must restore its labels
    let checkpoints = 0;
    for await (const ev of train(cfg, prepared.data, { runDir: part, resume: false }))
      if (ev.type === "checkpoint" && ++checkpoints === 2) break;
    const resumed = await runTraining(cfg, part, { resume: true });
    const after = losses(part); // the resumed epochs (the interrupted part wrote no events)
    assert.ok(after.length > 0 && after.length < trace.length);
    assert.deepEqual(after, trace.slice(trace.length - after.length), "the same loss at every resumed step");
    assert.deepEqual([resumed.val_top1, resumed.epochs], [whole.val_top1, whole.epochs]);
    assert.equal(liveTensors(), before, "no tensor outlives the runs");
  });

for (const [name, method, extra] of VARIANTS)
  test(`${name}: live tensors and RSS stay flat across epochs`, async () => {
    const cfg = tinyConfig(method, 12, extra);
    const prepared = await prepareData(cfg, null);
    const at: { tensors: number; rss: number }[] = [];
    for await (const ev of train(cfg, prepared.data, { runDir: null, resume: false }))
      if (ev.type === "epoch") at.push({ tensors: liveTensors(), rss: process.memoryUsage().rss });
    // from the third epoch on (every phase has started, its state is built), nothing accumulates
    const steady = at.slice(3);
    assert.ok(
      steady.every((a) => a.tensors === steady[0]?.tensors),
      `live tensors by epoch: ${at.map((a) => a.tensors)}`,
    );
    const grew = ((steady.at(-1)?.rss ?? 0) - (steady[0]?.rss ?? 0)) / 2 ** 20;
    assert.ok(grew < 16, `RSS grew ${grew.toFixed(1)} MiB over ${steady.length - 1} epochs`);
  });

test("the tables' method order names every method once", () => {
  assert.deepEqual([...METHOD_ORDER].sort(), Object.keys(METHODS).sort());
});
