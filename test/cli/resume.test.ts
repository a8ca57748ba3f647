// `llp train --resume` through the bin: the saved config is used; only --threads may change.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { writeNpy } from "../../src/report/npy.js";
import { Generator } from "../../src/torch/random.js";

const dir = mkdtempSync(join(tmpdir(), "llp-resume-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });

test("llp train --resume takes --threads and refuses any other option", () => {
  const gen = new Generator(2);
  const n = 120;
  writeNpy(join(dir, "x.npy"), Float32Array.from(gen.uniforms(n * 6)), [n, 6]);
  writeNpy(
    join(dir, "y.npy"),
    Int32Array.from({ length: n }, (_, i) => (i % 4 === 0 ? i % 3 : -1)),
    [n],
  );
  const run = join(dir, "run");
  const common = ["--data", join(dir, "x.npy"), "--labels", join(dir, "y.npy"), "--model", "mlp", "--width", "8", "--batch-size", "32"];
  const first = llp("train", ...common, "--validation", "12", "--ir-epochs", "1", "--epochs", "1", "--threads", "2", "--out", run);
  assert.equal(first.status, 0, first.stderr);
  const refused = llp("train", "--resume", run, "--epochs", "3");
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /only --threads may change/);
  const resumed = llp("train", "--resume", run, "--threads", "1");
  assert.equal(resumed.status, 0, resumed.stderr);
  const summary = JSON.parse(resumed.stdout.trim().split("\n").at(-1) as string);
  assert.equal(summary.epochs, 2, "nothing left to train: the finished run is reported as it was");
  assert.equal(JSON.parse(readFileSync(join(run, "config.json"), "utf8")).threads, 2, "config.json keeps the first start");
});
