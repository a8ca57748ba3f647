// `llp propagate` end to end through the installed bin: three well separated clusters, two
// labelled points each; every unlabelled point must get its cluster's label, labelled points
// keep theirs with confidence 1, and the file says which labels were given.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type Config, resolveConfig } from "../../src/config.js";
import { writeNpy } from "../../src/report/npy.js";
import { Generator } from "../../src/torch/random.js";

const dir = mkdtempSync(join(tmpdir(), "llp-prop-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(process.cwd(), "bin", "llp.js");

test("llp propagate labels three separated clusters from two labels each", () => {
  const gen = new Generator(3);
  const d = 8;
  const perClass = 15;
  const n = 3 * perClass;
  const centres = Array.from(gen.uniforms(3 * d), (u) => 4 * (u - 0.5));
  const noise = gen.uniforms(n * d);
  const X = new Float32Array(n * d);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    truth[i] = Math.floor(i / perClass);
    for (let j = 0; j < d; j++) X[i * d + j] = (centres[truth[i] * d + j] as number) + 0.05 * ((noise[i * d + j] as number) - 0.5);
  }
  const given = new Set([0, 1, perClass, perClass + 1, 2 * perClass, 2 * perClass + 1]);
  const labels = Int32Array.from(truth, (y, i) => (given.has(i) ? y : -1));
  writeNpy(join(dir, "emb.npy"), X, [n, d]);
  writeNpy(join(dir, "labels.npy"), labels, [n]);
  const out = join(dir, "p.csv");
  const report = JSON.parse(
    execFileSync(
      process.execPath,
      [bin, "propagate", "--embeddings", join(dir, "emb.npy"), "--labels", join(dir, "labels.npy"), "--out", out],
      {
        encoding: "utf8",
      },
    ),
  );
  assert.deepEqual(report, { out, n, labelled: 6, classes: 3, propagation: "llp" });
  const rows = readFileSync(out, "utf8").trim().split("\n");
  assert.equal(rows[0], "index,label,confidence,given");
  assert.equal(rows.length, n + 1);
  for (let i = 0; i < n; i++) {
    const [idx, y, c, g] = (rows[i + 1] as string).split(",").map(Number);
    assert.equal(idx, i);
    assert.equal(y, truth[i], `row ${i}`);
    assert.equal(g, given.has(i) ? 1 : 0);
    if (given.has(i)) assert.equal(c, 1);
    else assert.ok((c as number) > 0.5 && (c as number) <= 1, `row ${i} confidence ${c}`);
  }
});

/** `llp propagate` on placeholder files with extra options: the config check fails first. */
const refused = (...extra: string[]) =>
  spawnSync(process.execPath, [bin, "propagate", "--embeddings", "x.npy", "--labels", "y.npy", "--out", "o.csv", ...extra], {
    encoding: "utf8",
  });

test("llp propagate refuses the kinds that need a classifier head", () => {
  const r = refused("--propagation", "classifier");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /needs a classifier head/);
});

test("a removed option is refused by name, on the command line and in a config", () => {
  const r = refused("--alignment", "prior");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--alignment was removed: it measured flat \(docs\/experiments.md\)/);
  assert.throws(() => resolveConfig({ teacher: "x" } as Partial<Config>), /option "teacher" \(--teacher\) was removed/);
});
