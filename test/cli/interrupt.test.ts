// SIGINT and SIGTERM on `llp train`: the step under way finishes, a checkpoint of that point is
// written (inside an epoch: with the generator's state at the epoch's start, the steps taken and
// the epoch's running sums), the run says how to resume and exits 130; the resume skips the
// steps taken and ends as the uninterrupted run, epoch by epoch. A second signal exits at once.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stopOnSignal } from "../../src/cli/main.js";
import { tempDir, writeTinyImages } from "../data/helpers.js";
import { fileTensors } from "../helpers.js";

const dir = tempDir("llp-interrupt-");
const bin = join(process.cwd(), "bin", "llp.js");
// 8x8 images, augmented (pad-crop and flip draw per batch) and cut out (the run's generator draws
// per step): a resume inside an epoch must replay both. 2,000 points: about 120 steps an epoch,
// so a signal lands well inside one.
const images = writeTinyImages(join(dir, "images"), 2000, { hard: true }); // confidences below 1: a relabelling would show
const args = (out: string, method = "llp") => [
  bin,
  "train",
  "--method",
  method,
  "--data",
  images,
  "--labels-per-class",
  "80",
  "--validation",
  "12",
  "--width",
  "4",
  "--pool-grid",
  "1",
  "--batch-size",
  "16",
  "--ir-epochs",
  "1",
  "--epochs",
  "3",
  "--pseudo-label-warmup",
  "1",
  "--threads",
  "1",
  "--seed",
  "2",
  "--out",
  out,
];
const summary = (run: string) => JSON.parse(readFileSync(join(run, "summary.json"), "utf8"));

/** Starts a run and sends `sig` once it has taken `steps` steps in all (the events it wrote); resolves to its exit code and stderr. */
function interrupt(out: string, method: string, steps: number, sig: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args(out, method), { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const poll = setInterval(() => {
      const log = join(out, "events.jsonl");
      if (!existsSync(log) || (readFileSync(log, "utf8").match(/"type":"step"/g) ?? []).length < steps) return;
      clearInterval(poll);
      child.kill(sig);
    }, 5);
    child.on("close", (code) => {
      clearInterval(poll);
      resolve({ code, stderr });
    });
  });
}

const events = (run: string) =>
  readFileSync(join(run, "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
/** Each epoch's event but its timings: losses, validation, the monitors (step means included). */
const epochs = (run: string) =>
  events(run).flatMap((e) => {
    if (e.type !== "epoch") return [];
    const { wall_s: _w, epoch_s: _e, "monitor/dataWait": _d, ...rest } = e;
    return [rest];
  });

for (const method of ["llp", "supervised", "pseudo-label", "fixmatch", "dlp", "dmt", "la"])
  test(`${method}: the uninterrupted run`, () => {
    const r = spawnSync(process.execPath, args(join(dir, `whole-${method}`), method), { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  });

for (const [sig, method, at] of [
  ["SIGINT", "llp", 180], // the middle of the first LLP epoch
  ["SIGTERM", "llp", 60], // the middle of the IR epoch
  ["SIGINT", "supervised", 180], // its labelled-only stream passes over the 240 labelled points twice an epoch
  ["SIGINT", "pseudo-label", 180], // inside the epoch that starts by labelling: the resume must not label again
  ["SIGINT", "fixmatch", 180], // RandAugment draws per step, and the epoch's mask and confidence means
  ["SIGINT", "dlp", 180], // inside its first propagation epoch: the resume keeps the propagated labels
  ["SIGINT", "dmt", 180], // inside the fine-tuning epoch that starts by propagating
  ["SIGINT", "la", 180], // inside the first Local Aggregation epoch: the resume keeps its clusterings
] as const)
  test(`${method}, ${sig} inside an epoch: the step under way finishes, a checkpoint of that point is written (exit 130), and the resume ends as the uninterrupted run, epoch by epoch`, async () => {
    const run = join(dir, `${sig}-${method}`);
    const r = await interrupt(run, method, at, sig);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, new RegExp(`${sig}: stopping after the step under way`));
    assert.match(r.stderr, /llp: interrupted at epoch \d+, step [1-9]\d*: checkpoint written; `llp train --resume .*` goes on from there/);
    const last = events(run).at(-1);
    assert.equal(last.type, "interrupted");
    assert.ok(last.step > 0 && last.step < 115, `inside an epoch (step ${last.step})`);
    assert.ok(!events(run).some((e) => e.type === "end"));
    const resumed = spawnSync(process.execPath, [bin, "train", "--resume", run], { encoding: "utf8" });
    assert.equal(resumed.status, 0, resumed.stderr);
    const whole = join(dir, `whole-${method}`);
    const pick = (x: string) => [summary(x).val_top1, summary(x).test_top1, summary(x).epochs];
    assert.deepEqual(pick(run), pick(whole));
    assert.deepEqual(epochs(run), epochs(whole), "every epoch's losses, validation and monitors, the interrupted one included");
    assert.deepEqual(
      fileTensors(join(run, "checkpoint.safetensors")),
      fileTensors(join(whole, "checkpoint.safetensors")),
      "the final checkpoint, bit for bit",
    );
  });

test("a second signal exits at once: the handler aborts on the first and exits 130 on the second", () => {
  const stop = new AbortController();
  const out: string[] = [];
  const exits: number[] = [];
  const on = stopOnSignal(
    stop,
    (s) => out.push(s),
    (c) => exits.push(c),
  );
  on("SIGINT");
  assert.ok(stop.signal.aborted);
  assert.deepEqual(exits, []);
  assert.match(out.join(""), /SIGINT: stopping after the step under way \(SIGINT again to exit at once\)/);
  on("SIGTERM");
  assert.deepEqual(exits, [130]);
  assert.match(out.join(""), /SIGTERM again: exiting at once/);
});
