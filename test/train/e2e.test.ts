// End to end on real Fashion-MNIST (a few thousand images): a seeded run repeats exactly,
// resuming from a checkpoint gives the uninterrupted result, and LLP beats supervised-only
// training of the same network on the same labels and step budget.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type Config, resolveConfig } from "../../src/config.js";
import { createRunDir } from "../../src/report/runfolder.js";
import { liveTensors } from "../../src/torch/index.js";
import { prepareData } from "../../src/train/data.js";
import { train } from "../../src/train/loop.js";
import { openRun, runTraining } from "../../src/train/run.js";

const dir = mkdtempSync(join(tmpdir(), "llp-e2e-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// 5% of Fashion-MNIST's training pool (2950 points), 20 labels per class, a small network.
const BASE = { subset: "5%", validation: 1000, labelsPerClass: 20, width: 8, batchSize: 128, seed: 7, threads: 2 };
const SHORT = { ...BASE, method: "llp", irEpochs: 1, epochs: 2, milestones: null, labelledPerBatch: 32 } satisfies Partial<Config>;

const lossTrace = (runDir: string) =>
  readFileSync(join(runDir, "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === "step")
    .map((e) => e["loss/total"]);

test("a seeded LLP run repeats exactly, step by step", async () => {
  const before = liveTensors();
  const a = await runTraining(resolveConfig({ ...SHORT, out: join(dir, "a") }), join(dir, "a"), { resume: false });
  const b = await runTraining(resolveConfig({ ...SHORT, out: join(dir, "b") }), join(dir, "b"), { resume: false });
  const ta = lossTrace(join(dir, "a"));
  assert.ok(ta.length > 40 && ta.every(Number.isFinite), "a real run was traced");
  assert.deepEqual(lossTrace(join(dir, "b")), ta, "same seed, same loss at every step");
  assert.equal(b.test_top1, a.test_top1);
  assert.equal(b.knn_top1, a.knn_top1);
  assert.ok(a.test_top1 > 0.3, `the short run learned something (test top-1 ${a.test_top1})`);
  assert.equal(liveTensors(), before, "no tensor outlives a run");
});

test("resuming from a checkpoint gives the same result as an uninterrupted run", async () => {
  const cfg: Config = resolveConfig({ ...SHORT, out: join(dir, "r") });
  const whole = await runTraining({ ...cfg, out: join(dir, "whole") }, join(dir, "whole"), { resume: false });
  // interrupted: stop consuming after the second checkpoint, as a killed process would
  const runDir = join(dir, "part");
  createRunDir(runDir, { ...cfg, out: runDir });
  const prepared = await prepareData({ ...cfg, out: runDir }, runDir);
  let checkpoints = 0;
  let partWall = 0; // seconds of the interrupted part's epochs
  for await (const ev of train({ ...cfg, out: runDir }, prepared.data, { runDir, resume: false })) {
    if (ev.type === "epoch") partWall = ev.wall_s;
    if (ev.type === "checkpoint" && ++checkpoints === 2) break;
  }
  let resumedEpochs = 0; // seconds of the resumed part's epochs
  const resumed = await runTraining({ ...cfg, out: runDir }, runDir, {
    resume: true,
    onEvent: (ev) => {
      if (ev.type === "epoch") resumedEpochs += ev.epoch_s;
    },
  });
  // the summary's wall time covers the whole run, not only the part after the resume
  assert.ok(resumed.wall_s >= partWall + resumedEpochs, `wall_s ${resumed.wall_s} < ${partWall} + ${resumedEpochs}`);
  assert.equal(resumed.epochs, whole.epochs);
  assert.equal(resumed.test_top1, whole.test_top1);
  assert.equal(resumed.knn_top1, whole.knn_top1);
  assert.equal(resumed.val_top1, whole.val_top1);
});

test("a resume continues the saved config: another config is refused, a checkpoint of another shape frees what it built", async () => {
  const runDir = join(dir, "part"); // the interrupted-then-resumed run above
  const cfg: Config = resolveConfig({ ...SHORT, out: runDir });
  await assert.rejects(
    runTraining({ ...cfg, lr: 5, method: "supervised" }, runDir, { resume: true }),
    /only threads may change, but method \(saved "llp", given "supervised"\), lr \(saved 0.03, given 5\) differ/,
  );
  const before = liveTensors();
  const prepared = await prepareData({ ...cfg, width: 16 }, runDir);
  const wider = train({ ...cfg, width: 16 }, prepared.data, { runDir, resume: true });
  await assert.rejects(wider.next(), /shape/);
  assert.equal(liveTensors(), before, "the network, bank and labels built before the checkpoint failed are freed");
  // openRun on a folder whose config no longer fits its checkpoint
  const edited = join(dir, "edited");
  cpSync(runDir, edited, { recursive: true });
  const saved = JSON.parse(readFileSync(join(edited, "config.json"), "utf8"));
  writeFileSync(join(edited, "config.json"), JSON.stringify({ ...saved, width: 16, out: edited }));
  await assert.rejects(openRun(edited), /shape/);
  assert.equal(liveTensors(), before, "openRun frees its network when the checkpoint does not fit");
});

// The paper's central claim at test scale: LLP above supervised-only training of the same
// network on the same 200 labels, each trained to convergence on the same step budget. At this
// scale LLP needs its longer schedule and the classifier averaged into the pseudo-labels
// (--propagation llp+classifier, a named departure); measured at 1 thread (README "Accuracy"):
// seed 7 LLP 0.7520 vs supervised-only 0.7345, seed 8 0.7677 vs 0.7443, seed 9 0.7831 vs
// 0.7626. With Eq. 8 alone the same schedule gave 0.7434 (seed 7): a margin too small to assert.
const CLAIM = { ...BASE, threads: 1 };
const LLP_LONG = {
  ...CLAIM,
  method: "llp",
  irEpochs: 1,
  epochs: 40,
  milestones: [35],
  labelledPerBatch: 32,
  propagation: "llp+classifier",
} satisfies Partial<Config>;
const SUP_LONG = {
  ...CLAIM,
  method: "supervised",
  irEpochs: 0,
  epochs: 41,
  milestones: [36],
  labelledPerBatch: 32,
} satisfies Partial<Config>;

test("LLP beats supervised-only on the same labels and step budget", async (t) => {
  const llp = await runTraining(resolveConfig({ ...LLP_LONG, out: join(dir, "llp") }), join(dir, "llp"), { resume: false });
  const sup = await runTraining(resolveConfig({ ...SUP_LONG, out: join(dir, "sup") }), join(dir, "sup"), { resume: false });
  const labelled = (d: string) => JSON.parse(readFileSync(join(dir, d, "split.json"), "utf8")).labelled;
  assert.deepEqual(labelled("sup"), labelled("llp"), "same labels");
  t.diagnostic(`test top-1: LLP ${llp.test_top1}, supervised-only ${sup.test_top1}`);
  assert.ok(llp.test_top1 > sup.test_top1 + 0.005, `LLP ${llp.test_top1} vs supervised-only ${sup.test_top1}`);
});
