// A fresh `llp train` into a folder that holds an earlier run starts clean: events.jsonl holds
// this run's events only (it used to be appended to), and the earlier run's eval file is gone.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { writeNpy } from "../../src/report/npy.js";

const dir = mkdtempSync(join(tmpdir(), "llp-rerun-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });

test("training again into the same --out replaces the earlier run instead of appending to it", () => {
  const n = 40;
  writeNpy(
    join(dir, "x.npy"),
    Float32Array.from({ length: n * 3 }, (_, i) => Math.sin(i) + (Math.floor(i / 3) % 2)),
    [n, 3],
  );
  writeNpy(
    join(dir, "y.npy"),
    Int32Array.from({ length: n }, (_, i) => (i % 4 === 0 ? -1 : i % 2)),
    [n],
  );
  const run = join(dir, "run");
  const train = (seed: string) =>
    llp(
      "train",
      ...["--data", join(dir, "x.npy"), "--labels", join(dir, "y.npy"), "--model", "mlp", "--width", "8", "--batch-size", "8"],
      ...["--validation", "4", "--ir-epochs", "1", "--epochs", "1", "--threads", "1", "--seed", seed, "--out", run],
    );
  const first = train("0");
  assert.equal(first.status, 0, first.stderr);
  const ev = llp("eval", run, "--on", "validation");
  assert.equal(ev.status, 0, ev.stderr);
  assert.ok(existsSync(join(run, "eval-validation.json")));
  const second = train("1");
  assert.equal(second.status, 0, second.stderr);
  const events = readFileSync(join(run, "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(events.filter((e) => e.type === "start").length, 1, "one run's events");
  assert.equal(events.filter((e) => e.type === "end").length, 1);
  assert.equal(JSON.parse(readFileSync(join(run, "config.json"), "utf8")).seed, 1);
  assert.ok(!existsSync(join(run, "eval-validation.json")), "the earlier run's eval is not left beside the new run");
});
