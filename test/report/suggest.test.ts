// llp suggest: the class-balanced pick by hand, and the command on an image folder with an
// unlabeled/ part: only unlabelled points, ranked, spread over classes, with their files.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { pickBalanced } from "../../src/report/suggest.js";
import { tempDir } from "../data/helpers.js";

test("pickBalanced: classes take turns, the best remaining item's class first, best items first within a class", () => {
  const scores = [0.9, 0.8, 0.1, 0.7, 0.95, 0.2, 0.6];
  const classes = [0, 0, 0, 1, 2, 2, 1];
  // round 1: class 2 (0.95), class 0 (0.9), class 1 (0.7); round 2: class 0 (0.8), class 1 (0.6), class 2 (0.2); then class 0 (0.1)
  assert.deepEqual(pickBalanced(scores, classes, 7), [4, 0, 3, 1, 6, 5, 2]);
  assert.deepEqual(pickBalanced(scores, classes, 4), [4, 0, 3, 1]);
  assert.deepEqual(pickBalanced(scores, classes, 20).length, 7);
  assert.deepEqual(pickBalanced([], [], 3), []);
});

const dir = tempDir("llp-suggest-");
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const root = join(dir, "images");
const run = join(dir, "run");

/** An 8x8 gray image of class k: a bright band in rows 3k..3k+2 over noise (i varies it). */
const png = (k: number, i: number, file: string) => {
  const px = Uint8Array.from({ length: 64 }, (_, p) => (Math.floor(Math.floor(p / 8) / 3) === k ? 150 : 40) + ((p * 37 + i * 101) % 70));
  return sharp(Buffer.from(px), { raw: { width: 8, height: 8, channels: 1 } })
    .png()
    .toFile(file);
};

before(async () => {
  for (let k = 0; k < 3; k++) {
    mkdirSync(join(root, `class${k}`), { recursive: true });
    for (let i = 0; i < 16; i++) await png(k, i, join(root, `class${k}`, `${i}.png`));
  }
  mkdirSync(join(root, "unlabeled"), { recursive: true });
  for (let i = 0; i < 150; i++) await png(i % 3, 1000 + i, join(root, "unlabeled", `u${String(i).padStart(3, "0")}.png`));
  const r = llp(
    "train",
    "--data",
    root,
    "--width",
    "4",
    "--batch-size",
    "16",
    "--ir-epochs",
    "1",
    "--epochs",
    "2",
    "--threads",
    "1",
    "--out",
    run,
  );
  assert.equal(r.status, 0, r.stderr);
});

test("llp suggest lists unlabelled images only, ranked, spread over the classes, with their files", () => {
  const out = join(dir, "next.csv");
  const r = llp("suggest", run, "--budget", "12", "--out", out);
  assert.equal(r.status, 0, r.stderr);
  const [head, ...rows] = readFileSync(out, "utf8").trim().split("\n");
  assert.equal(head, "rank,index,row,file,pseudo_label,confidence,log_density,score");
  assert.equal(rows.length, 12);
  const cells = rows.map((l) => l.split(","));
  assert.deepEqual(
    cells.map((c) => Number(c[0])),
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
  for (const c of cells) {
    assert.match(c[3] as string, /unlabeled\/u\d{3}\.png$/, "an unlabelled file");
    assert.ok(existsSync(c[3] as string));
    const conf = Number(c[5]);
    assert.ok(conf > 0 && conf <= 1);
  }
  assert.equal(new Set(cells.map((c) => c[2])).size, 12, "distinct points");
  // three classes share the budget: 4 each
  const perClass = new Map<string, number>();
  for (const c of cells) perClass.set(c[4] as string, (perClass.get(c[4] as string) ?? 0) + 1);
  assert.deepEqual([...perClass.values()].sort(), [4, 4, 4]);
  // the same to stdout without --out
  const again = llp("suggest", run, "--budget", "12");
  assert.equal(again.stdout, readFileSync(out, "utf8"));
});

test("llp suggest: bad input is refused with a clear error", () => {
  for (const [args, why] of [
    [[run], /usage: llp suggest RUN_DIR --budget N/],
    [[run, "--budget", "0"], /--budget must be a positive integer, got "0"/],
    [[run, "--budget", "two"], /--budget must be a positive integer/],
    [[root, "--budget", "5"], /is not a run folder \(no config\.json\)/],
  ] as const) {
    const r = llp("suggest", ...args);
    assert.equal(r.status, 1, args.join(" "));
    assert.match(r.stderr, why);
  }
});

test("llp train --reveal makes the suggested points' labels visible besides --labels-per-class's; bad indices are refused", async () => {
  // a benchmark-like set: every image labelled, most hidden by --labels-per-class
  const { writeTinyImages } = await import("../data/helpers.js");
  const idx = writeTinyImages(join(dir, "idx"), 600);
  const common = ["--data", idx, "--labels-per-class", "5", "--validation", "30", "--width", "4", "--batch-size", "16", "--ir-epochs", "1"];
  const base = join(dir, "base");
  assert.equal(llp("train", ...common, "--epochs", "1", "--threads", "1", "--out", base).status, 0);
  const next = join(dir, "reveal.csv");
  assert.equal(llp("suggest", base, "--budget", "6", "--out", next).status, 0);
  const picked = readFileSync(next, "utf8")
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => Number(l.split(",")[1]));
  const more = join(dir, "more");
  const r = llp("train", ...common, "--epochs", "1", "--threads", "1", "--reveal", next, "--out", more);
  assert.equal(r.status, 0, r.stderr);
  const before = JSON.parse(readFileSync(join(base, "split.json"), "utf8"));
  const after = JSON.parse(readFileSync(join(more, "split.json"), "utf8"));
  assert.equal(after.counts.labelled, before.counts.labelled + 6);
  assert.deepEqual(
    after.labelled,
    [...before.labelled, ...picked].sort((a: number, b: number) => a - b),
  );
  assert.deepEqual(after.train, before.train);
  // a validation example, and one past the end, are refused naming the file
  const bad = join(dir, "bad.csv");
  for (const [i, why] of [
    [before.validation[0], /is in the validation set, not the training pool/],
    [600, /example 600 is not an index of/],
  ] as const) {
    writeFileSync(bad, `index\n${i}\n`);
    const b = llp("train", ...common, "--epochs", "1", "--threads", "1", "--reveal", bad, "--out", join(dir, "never"));
    assert.equal(b.status, 1);
    assert.match(b.stderr, why);
    assert.match(b.stderr, /bad\.csv/);
    assert.ok(!existsSync(join(dir, "never")), "nothing written");
  }
});

test("a --reveal run has its own default folder; a fresh run clears old snapshots and reports; bad index files and dotted names", async () => {
  const { resolveConfig } = await import("../../src/config.js");
  const { createRunDir, defaultRunDir } = await import("../../src/report/runfolder.js");
  const { readIndices } = await import("../../src/train/data.js");
  const { revealLabels } = await import("../../src/data/split.js");
  const { writeNpy } = await import("../../src/report/npy.js");
  const base = resolveConfig({ labelled: "1%" });
  assert.notEqual(defaultRunDir(resolveConfig({ labelled: "1%", reveal: "/x/next.csv" })), defaultRunDir(base));
  assert.match(defaultRunDir(resolveConfig({ labelled: "1%", reveal: "/x/next.csv" })), /1pct\+next@0-llp$/);
  // a fresh run in a used folder: no snapshot or report of the earlier run survives
  const used = join(dir, "used");
  mkdirSync(join(used, "snapshots"), { recursive: true });
  writeFileSync(join(used, "snapshots", "epoch-000.npy"), "old");
  mkdirSync(join(used, "report-charts"), { recursive: true });
  writeFileSync(join(used, "report.html"), "old");
  createRunDir(used, base);
  for (const f of ["snapshots", "report-charts", "report.html"]) assert.ok(!existsSync(join(used, f)), f);
  // index files: a fraction or a negative number is refused, naming the file and row
  const frac = join(dir, "frac.npy");
  writeNpy(frac, Float32Array.from([3, 3.7]), [2]);
  await assert.rejects(readIndices(frac), /frac\.npy: row 1: 3\.7\d* is not an example index/);
  const csv = join(dir, "neg.csv");
  writeFileSync(csv, "index\n4\n-2\n");
  await assert.rejects(readIndices(csv), /neg\.csv: row 3: "-2" is not an example index/);
  // a dataset name with dots keeps its subset tag right
  const split = {
    name: "data.v2@3.8",
    dataset: "data.v2",
    n: 10,
    numClasses: 2,
    options: {},
    train: Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
    labelled: Int32Array.from([0, 1, 2]),
    validation: Int32Array.from([8, 9]),
  };
  const labels = Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
  assert.equal(revealLabels(split, { labels, name: "data.v2" }, Int32Array.from([5]), "x").name, "data.v2@4.8");
});
