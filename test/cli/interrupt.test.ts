// SIGINT and SIGTERM on `llp train`: the step under way finishes, the run stops with the
// checkpoint on disk whole, says how to resume and exits 130; the resume ends as the
// uninterrupted run. A second signal exits at once.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stopOnSignal } from "../../src/cli/main.js";
import { tempDir, writeFeatureNpy } from "../data/helpers.js";

const dir = tempDir("llp-interrupt-");
const bin = join(process.cwd(), "bin", "llp.js");
const n = 800;
const files = writeFeatureNpy(
  dir,
  Float32Array.from({ length: n * 8 }, (_, i) => (Math.floor(i / 8) % 4) + ((i * 13) % 17) / 10),
  8,
  Int32Array.from({ length: n }, (_, i) => (i < 80 ? i % 4 : -1)),
);
const args = (out: string) => [
  bin,
  "train",
  "--data",
  files.data,
  "--labels",
  files.labels,
  "--validation",
  "12",
  "--batch-size",
  "16",
  "--ir-epochs",
  "1",
  "--epochs",
  "12",
  "--threads",
  "1",
  "--seed",
  "2",
  "--out",
  out,
];
const summary = (run: string) => JSON.parse(readFileSync(join(run, "summary.json"), "utf8"));

/** Starts a run and sends `signals` once its stderr shows `after` (an epoch line); resolves to its exit code and stderr. */
function interrupt(out: string, after: RegExp, signals: NodeJS.Signals[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args(out), { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let sent = false;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (!sent && after.test(stderr)) {
        sent = true;
        for (const s of signals) child.kill(s);
      }
    });
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

let whole: { val_top1: number; epochs: number };
test("the uninterrupted run", () => {
  const r = spawnSync(process.execPath, args(join(dir, "whole")), { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  whole = summary(join(dir, "whole"));
});

for (const sig of ["SIGINT", "SIGTERM"] as const)
  test(`${sig}: the step under way finishes, the run stops saying how to resume (exit 130), and the resume ends as the uninterrupted run`, async () => {
    const run = join(dir, sig);
    const r = await interrupt(run, /epoch 2 /, [sig]);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, new RegExp(`${sig}: stopping after the step under way`));
    assert.match(r.stderr, /llp: interrupted (at epoch \d+, step \d+|before epoch \d+): `llp train --resume .*` continues after epoch \d+/);
    const events = readFileSync(join(run, "events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(events.at(-1).type, "interrupted");
    assert.ok(!events.some((e) => e.type === "end"));
    const resumed = spawnSync(process.execPath, [bin, "train", "--resume", run], { encoding: "utf8" });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.deepEqual([summary(run).val_top1, summary(run).epochs], [whole.val_top1, whole.epochs]);
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
