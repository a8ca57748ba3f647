// llp transfer: a trained run's frozen features read out on another labelled dataset (here the
// other two classes of the same feature data), the result written as JSON; bad input (a dataset
// of another shape, a training option, no --data) is refused by name with nothing written.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir, writeFeatureNpy } from "../data/helpers.js";

const dir = tempDir("llp-transfer-");
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
// four separated clusters in 4-D, 50 points each
const n = 200;
const f = 4;
const x = Float32Array.from({ length: n * f }, (_, i) => (Math.floor(i / f) % 4 === i % f ? 3 : 0) + (((i * 7) % 11) - 5) / 10);
const files = writeFeatureNpy(
  dir,
  x,
  f,
  Int32Array.from({ length: n }, (_, i) => i % 4),
);

test("a run trained on classes 0,1 reads out classes 2,3 of the same data; the result goes to --out", () => {
  const run = join(dir, "run");
  const t = llp(
    "train",
    ...["--method", "supervised", "--data", files.data, "--labels", files.labels, "--classes", "0,1"],
    ...["--validation", "10", "--batch-size", "16", "--epochs", "2", "--width", "8", "--threads", "1", "--out", run],
  );
  assert.equal(t.status, 0, t.stderr);
  const out = join(dir, "transfer.json");
  const r = llp("transfer", run, "--data", files.data, "--labels", files.labels, "--classes", "2,3", "--validation", "10", "--out", out);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(readFileSync(out, "utf8"));
  assert.deepEqual(JSON.parse(r.stdout), res);
  assert.deepEqual([res.classes, res.train, res.validation, res.scored_on, res.scored], [["2", "3"], 90, 10, "validation", 10]);
  assert.ok(res.readout_epochs > 0 && res.train_top1 > 0.9, `separable clusters read out: ${JSON.stringify(res)}`);
  // refused by name, nothing written
  mkdirSync(join(dir, "other"));
  const other = writeFeatureNpy(
    join(dir, "other"),
    new Float32Array(40 * 3).fill(1),
    3,
    Int32Array.from({ length: 40 }, (_, i) => i % 2),
  );
  for (const [args, why] of [
    [["--data", other.data, "--labels", other.labels], /examples of shape \[3\], but .* was trained on \[4\]/],
    [["--data", files.data, "--labels", files.labels, "--lr", "0.1"], /llp transfer takes no --lr/],
    [[], /needs --data SPEC/],
  ] as const) {
    const bad = join(dir, "bad.json");
    const b = llp("transfer", run, ...args, "--out", bad);
    assert.notEqual(b.status, 0);
    assert.match(b.stderr, why);
    assert.ok(!existsSync(bad), `${args.join(" ")}: nothing written`);
  }
});
