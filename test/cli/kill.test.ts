// kill -9 at seeded random moments (in a step, an evaluation or a checkpoint write, wherever
// the delay lands), then --resume, again and again: the final summary and checkpoint equal an
// uninterrupted run's, bit for bit. Also the two states a kill inside a checkpoint save can
// leave: a partial temporary file beside the whole checkpoint (removed on resume), and (between
// its two renames) no checkpoint but the previous one and a whole temporary file (made the
// checkpoint on resume).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { checkpointPath, previousCheckpointPath } from "../../src/train/checkpoint.js";
import { tempDir, writeFeatureNpy } from "../data/helpers.js";
import { fileTensors } from "../helpers.js";

const dir = tempDir("llp-kill-");
const bin = join(process.cwd(), "bin", "llp.js");
const n = 600;
const files = writeFeatureNpy(
  dir,
  Float32Array.from({ length: n * 8 }, (_, i) => (Math.floor(i / 8) % 4) + ((i * 13) % 17) / 10),
  8,
  Int32Array.from({ length: n }, (_, i) => (i < 60 ? i % 4 : -1)),
);
const trainArgs = (out: string) => [
  "train",
  "--data",
  files.data,
  "--labels",
  files.labels,
  "--validation",
  "12",
  "--batch-size",
  "16",
  "--width",
  "256",
  "--ir-epochs",
  "1",
  "--epochs",
  "10",
  "--threads",
  "1",
  "--seed",
  "5",
  "--out",
  out,
];
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const summary = (run: string) => JSON.parse(readFileSync(join(run, "summary.json"), "utf8"));

/** Runs llp with args and SIGKILLs it after ms (if still running); resolves to whether it was killed. */
function killAfter(args: string[], ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("close", (_code, signal) => {
      clearTimeout(timer);
      resolve(signal === "SIGKILL");
    });
  });
}

let whole: string;
let wholeMs: number; // the uninterrupted run, start-up included: the kills land inside a run of this length
test("the uninterrupted run", () => {
  whole = join(dir, "whole");
  const t0 = Date.now();
  const r = llp(...trainArgs(whole));
  wholeMs = Date.now() - t0;
  assert.equal(r.status, 0, r.stderr);
});

test("SIGKILL at seeded random moments, then --resume, until it finishes: the summary and every checkpoint tensor equal the uninterrupted run's", async () => {
  const run = join(dir, "killed");
  let a = 7; // a small seeded LCG for the delays
  const next = () => {
    a = (a * 1103515245 + 12345) % 2 ** 31;
    return a / 2 ** 31;
  };
  let kills = 0;
  for (let round = 0; round < 12 && !existsSync(join(run, "summary.json")); round++) {
    const args = existsSync(checkpointPath(run)) || existsSync(previousCheckpointPath(run)) ? ["train", "--resume", run] : trainArgs(run);
    // at 10-50% of an uninterrupted run: the first kill leaves at least half the run to redo, so the second lands too
    if (await killAfter(args, Math.floor(wholeMs * (0.1 + 0.4 * next())))) kills++;
  }
  if (!existsSync(join(run, "summary.json"))) {
    const r = llp("train", "--resume", run);
    assert.equal(r.status, 0, r.stderr);
  }
  assert.ok(kills >= 2, `killed ${kills} times`);
  const [w, k] = [summary(whole), summary(run)];
  assert.deepEqual([k.test_top1, k.val_top1, k.knn_top1, k.epochs], [w.test_top1, w.val_top1, w.knn_top1, w.epochs]);
  assert.deepEqual(fileTensors(checkpointPath(run)), fileTensors(checkpointPath(whole)), "the final checkpoint, bit for bit");
  assert.deepEqual(
    readdirSync(run).filter((f) => f.includes(".tmp-")),
    [],
    "no temporary file of a killed write is left",
  );
});

/** A run of trainArgs stopped cleanly (SIGINT) once it has two checkpoints. */
function stoppedRun(out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...trainArgs(out)], { stdio: "ignore" });
    const poll = setInterval(() => {
      if (!existsSync(previousCheckpointPath(out))) return;
      clearInterval(poll);
      child.kill("SIGINT");
    }, 10);
    child.on("close", (code) => {
      clearInterval(poll);
      if (code === 130) resolve();
      else reject(new Error(`the run ended with ${code} before it could be stopped`));
    });
  });
}

/** A PID no process has now: one that just exited. */
const deadPid = () => spawnSync("true").pid as number;

test("killed inside a checkpoint save: a partial temporary file beside the checkpoint, or no checkpoint between the renames; both resume to the uninterrupted result", async () => {
  const base = join(dir, "base");
  await stoppedRun(base);
  for (const state of ["partial temporary", "between the renames"]) {
    const run = join(dir, state.replace(/ /g, "-"));
    cpSync(base, run, { recursive: true });
    const tmp = `${checkpointPath(run)}.tmp-${deadPid()}`;
    if (state === "partial temporary") {
      writeFileSync(tmp, readFileSync(checkpointPath(run)).subarray(0, 5000));
    } else {
      // the save had renamed the last checkpoint to prev and was killed before renaming its whole temporary file
      renameSync(checkpointPath(run), tmp);
    }
    const resumed = llp("train", "--resume", run);
    assert.equal(resumed.status, 0, `${state}: ${resumed.stderr}`);
    assert.ok(!existsSync(tmp), `${state}: the temporary file is gone (removed, or made the checkpoint when whole)`);
    const [w, k] = [summary(whole), summary(run)];
    assert.deepEqual([k.test_top1, k.val_top1, k.epochs], [w.test_top1, w.val_top1, w.epochs], state);
    assert.deepEqual(fileTensors(checkpointPath(run)), fileTensors(checkpointPath(whole)), `${state}: the final checkpoint`);
  }
});
