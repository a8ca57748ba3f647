// Damaged checkpoints and full disks: a checkpoint carries a checksum; a truncated or corrupt
// last checkpoint is refused by name, and a resume falls back to the one before it (kept as
// checkpoint.prev.safetensors) and says so; a write that fails (a file-size limit standing in
// for a full disk) leaves the checkpoint already there intact, says so, and a later resume
// ends as the uninterrupted run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { resolveConfig } from "../../src/config.js";
import { createRunDir } from "../../src/report/runfolder.js";
import { checkpointPath, previousCheckpointPath } from "../../src/train/checkpoint.js";
import { prepareData } from "../../src/train/data.js";
import { train } from "../../src/train/loop.js";
import { runTraining } from "../../src/train/run.js";
import { tempDir, writeFeatureNpy } from "../data/helpers.js";

const dir = tempDir("llp-ckpt-");
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const n = 150;
const files = writeFeatureNpy(
  dir,
  Float32Array.from({ length: n * 6 }, (_, i) => (Math.floor(i / 6) % 3) + ((i * 7) % 11) / 10),
  6,
  Int32Array.from({ length: n }, (_, i) => (i < 30 ? i % 3 : -1)),
);
// an MLP of the default width: a checkpoint of about 2 MiB, far larger than anything else a run writes
const cfg = resolveConfig({
  data: files.data,
  labels: files.labels,
  validation: 9,
  batchSize: 32,
  irEpochs: 1,
  epochs: 3,
  threads: 1,
  seed: 4,
});
const summary = (run: string) => JSON.parse(readFileSync(join(run, "summary.json"), "utf8"));

/** A run stopped as a killed process leaves it, after its `epochs`-th checkpoint. */
async function partial(name: string, epochs: number): Promise<string> {
  const run = join(dir, name);
  createRunDir(run, cfg);
  const prepared = await prepareData(cfg, run);
  let k = 0;
  for await (const ev of train(cfg, prepared.data, { runDir: run, resume: false })) if (ev.type === "checkpoint" && ++k === epochs) break;
  return run;
}

let whole: { val_top1: number; epochs: number };
test("the uninterrupted run", async () => {
  await runTraining(cfg, join(dir, "whole"), { resume: false });
  whole = summary(join(dir, "whole"));
  assert.ok(statSync(checkpointPath(join(dir, "whole"))).size > 1.5 * 2 ** 20);
  assert.ok(existsSync(previousCheckpointPath(join(dir, "whole"))), "the checkpoint before the last is kept");
});

test("a corrupt last checkpoint is refused by its checksum; the resume uses the one before and says so, and ends as the uninterrupted run", async () => {
  const run = await partial("corrupt", 2);
  const ckpt = checkpointPath(run);
  const bytes = readFileSync(ckpt);
  bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 0x10; // one flipped bit in the data
  writeFileSync(ckpt, bytes);
  const r = llp("train", "--resume", run);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /checkpoint\.safetensors: not a valid safetensors file \(its checksum does not match its contents/);
  assert.match(
    r.stderr,
    /resumed from the checkpoint before it \(.*checkpoint\.prev\.safetensors, after epoch 0\); the damaged one is kept as .*checkpoint\.damaged\.safetensors/,
  );
  assert.deepEqual(
    readFileSync(join(run, "checkpoint.damaged.safetensors")),
    bytes,
    "set aside, so no later save rotates it into the previous checkpoint's place",
  );
  assert.deepEqual([summary(run).val_top1, summary(run).epochs], [whole.val_top1, whole.epochs]);
});

test("a checkpoint whose checksum key is damaged as well as its data is refused, not loaded unchecked", async () => {
  const run = await partial("keyless", 2);
  const ckpt = checkpointPath(run);
  const bytes = readFileSync(ckpt);
  const at = bytes.indexOf('"sha256"');
  assert.ok(at > 0);
  bytes[at + 2] = "X".charCodeAt(0); // "sX256": the check would be gone
  bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 0x10;
  writeFileSync(ckpt, bytes);
  const r = llp("train", "--resume", run);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /its checksum is missing and its metadata is damaged\): resumed from the checkpoint before it/);
  assert.deepEqual([summary(run).val_top1, summary(run).epochs], [whole.val_top1, whole.epochs]);
});

test("a truncated checkpoint with nothing before it is refused by name; eval of a damaged finished run refuses to score an older model", async () => {
  const run = await partial("truncated", 1);
  assert.ok(!existsSync(previousCheckpointPath(run)));
  truncateSync(checkpointPath(run), 5000);
  const r = llp("train", "--resume", run);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /truncated\/checkpoint\.safetensors: not a valid safetensors file/);
  // a finished run whose last checkpoint is damaged: eval names the whole one before it
  const done = join(dir, "done");
  await runTraining(cfg, done, { resume: false });
  truncateSync(checkpointPath(done), 1000);
  const e = llp("eval", done);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /the checkpoint before it \(.*checkpoint\.prev\.safetensors, after epoch 2\) is whole; `llp train --resume/);
});

test("a full disk (a file-size limit) while writing a checkpoint: the run stops saying the checkpoint there is intact; a later resume ends as the uninterrupted run", async () => {
  const run = await partial("full", 1);
  const before = readFileSync(checkpointPath(run));
  // ulimit -f 1024: no file may grow past 1 MiB; node sees EFBIG instead of a signal
  const r = spawnSync("bash", ["-c", `ulimit -f 1024; exec "${process.execPath}" "${bin}" train --resume "${run}"`], { encoding: "utf8" });
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /could not write the checkpoint after epoch 1 \(.*EFBIG.*\); the checkpoint already there is intact: free space, then `llp train --resume/,
  );
  assert.deepEqual(readFileSync(checkpointPath(run)), before, "the checkpoint there is untouched");
  assert.deepEqual(
    readdirSync(run).filter((f) => f.includes(".tmp-")),
    [],
    "no temporary file left behind",
  );
  const again = llp("train", "--resume", run);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual([summary(run).val_top1, summary(run).epochs], [whole.val_top1, whole.epochs]);
});
