// `llp bench accuracy` on tiny images: the grid trains each cell in its own folder, writes the
// table, never redoes a finished cell, resumes an interrupted one to the uninterrupted result,
// and refuses bad input before writing anything.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadRecipe, resolveConfig } from "../../src/config.js";
import { CELL_FILE, cellJson, cellName, gridCells } from "../../src/report/grid.js";
import { createRunDir } from "../../src/report/runfolder.js";
import { prepareData } from "../../src/train/data.js";
import { train } from "../../src/train/loop.js";
import { tempDir, writeFeatureNpy, writeTinyImages } from "../data/helpers.js";

const dir = tempDir("llp-grid-");
const images = writeTinyImages(join(dir, "images"), 120);
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const TRAIN = [
  "--data",
  images,
  "--labels-per-class",
  "10",
  "--validation",
  "6",
  "--batch-size",
  "16",
  "--labelled-per-batch",
  "4",
  "--width",
  "8",
  "--pool-grid",
  "1",
  "--ir-epochs",
  "1",
  "--epochs",
  "3",
  "--threads",
  "1",
];
const grid = (out: string, ...extra: string[]) =>
  llp("bench", "accuracy", "--methods", "supervised,llp", "--seeds", "0", ...TRAIN, "--out", out, ...extra);
const summary = (cell: string) => JSON.parse(readFileSync(join(cell, "summary.json"), "utf8"));

test("a grid trains every cell in its own folder, writes table.md and table.json, and a second call redoes nothing", () => {
  const out = join(dir, "a");
  const r = grid(out);
  assert.equal(r.status, 0, r.stderr);
  const table = JSON.parse(readFileSync(join(out, "table.json"), "utf8"));
  assert.deepEqual(
    table.rows.map((row: { method: string; seeds: number[] }) => [row.method, row.seeds]),
    [
      ["supervised", [0]],
      ["llp", [0]],
    ],
  );
  for (const row of table.rows) {
    const s = summary(join(out, row.cells[0]));
    assert.equal(row.test_top1, null, "no test set: no test accuracy"); // an IDX folder without a test part
    assert.ok(Number.isFinite(s.val_top1));
  }
  assert.match(readFileSync(join(out, "table.md"), "utf8"), /\| llp \| 10\/class \| 100% \| 0 \|/);
  const t = llp("bench", "table", out);
  assert.equal(t.status, 0, t.stderr);
  assert.equal(t.stdout, readFileSync(join(out, "table.md"), "utf8"), "llp bench table prints the same table");
  const notGrid = llp("bench", "table", images);
  assert.equal(notGrid.status, 1);
  assert.match(notGrid.stderr, /not a grid folder/);
  const llpCell = join(out, "llp.p10pc.q100.seed0");
  const events = readFileSync(join(llpCell, "events.jsonl"), "utf8");
  const mtime = statSync(join(llpCell, "summary.json")).mtimeMs;
  const again = grid(out);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /2 cells .* \(2 finished, 0 to resume\)/);
  assert.doesNotMatch(again.stderr, /training|resuming/);
  assert.equal(readFileSync(join(llpCell, "events.jsonl"), "utf8"), events, "the finished cell was not touched");
  assert.equal(statSync(join(llpCell, "summary.json")).mtimeMs, mtime);
});

test("an interrupted grid resumes: the missing cell trains, the interrupted one resumes to the uninterrupted result", async () => {
  const out = join(dir, "b");
  // the llp cell as a killed grid leaves it: its settings file, a checkpoint after epoch 1, no summary
  const settings = gridFlagsAsSettings();
  const [, llpReq] = gridCells({ methods: ["supervised", "llp"], labelled: [null], subset: ["100%"], seeds: [0] }, settings);
  if (!llpReq) throw new Error("no llp cell");
  const cell = join(out, cellName(llpReq));
  createRunDir(cell, resolveConfig(llpReq));
  writeFileSync(join(cell, CELL_FILE), cellJson(llpReq));
  const cfg = resolveConfig({ ...loadRecipe(join(cell, CELL_FILE)), threads: 1 });
  const prepared = await prepareData(cfg, cell);
  for await (const ev of train(cfg, prepared.data, { runDir: cell, resume: false })) if (ev.type === "checkpoint") break;
  assert.ok(!existsSync(join(cell, "summary.json")));
  const r = grid(out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\(0 finished, 1 to resume\)/);
  assert.match(r.stderr, /training supervised\.p10pc\.q100\.seed0/);
  assert.match(r.stderr, /resuming llp\.p10pc\.q100\.seed0/);
  const whole = summary(join(dir, "a", "llp.p10pc.q100.seed0"));
  const resumed = summary(cell);
  assert.deepEqual([resumed.val_top1, resumed.epochs], [whole.val_top1, whole.epochs], "the resumed cell ends as the uninterrupted one");
  const starts = readFileSync(join(cell, "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === "start");
  assert.deepEqual(
    starts.map((e) => e.resumedFrom),
    [1],
    "it resumed after epoch 1 (the IR epoch), not from scratch",
  );
});

/** The settings the grid derives from TRAIN (what its cells' files hold besides the axes). */
function gridFlagsAsSettings() {
  return {
    data: images,
    labelsPerClass: 10,
    validation: 6,
    batchSize: 16,
    labelledPerBatch: 4,
    width: 8,
    poolGrid: 1,
    irEpochs: 1,
    epochs: 3,
    threads: 1,
  };
}

test("bad grids fail before anything is written, naming what is wrong", () => {
  const out = join(dir, "bad");
  for (const [args, why] of [
    [["--methods", "supervised,nope"], /--methods: unknown method "nope"/],
    [["--labelled", "ten"], /--labelled expects fractions/],
    [["--seeds", "0,x"], /--seeds expects/],
    [["--recipe", "nope"], /unknown recipe "nope"/],
    [["--mixup", "0.5", "--methods", "fixmatch"], /mixup/],
  ] as const) {
    const r = llp("bench", "accuracy", ...TRAIN, "--out", out, ...args);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, why);
    assert.ok(!existsSync(out), `${args.join(" ")}: nothing written`);
  }
  // a folder asked again with other settings is refused, not silently rerun
  const r = grid(join(dir, "a"), "--lr", "0.01");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /holds a cell trained with other settings/);
});

test("llp bench ablations trains llp with each named ablation and writes Table 6's table, scored by 1-NN", () => {
  const out = join(dir, "ablations");
  const r = llp("bench", "ablations", "--ablations", "Top5,Top5wclw", "--seeds", "0", ...TRAIN, "--out", out);
  assert.equal(r.status, 0, r.stderr);
  const table = JSON.parse(readFileSync(join(out, "table.json"), "utf8"));
  assert.deepEqual(
    table.rows.map((row: { ablation: string; cells: string[] }) => [row.ablation, row.cells]),
    [
      ["Top5", ["llp-Top5.p10pc.q100.seed0"]],
      ["Top5wclw", ["llp-Top5wclw.p10pc.q100.seed0"]],
    ],
  );
  for (const row of table.rows) {
    const cfg = JSON.parse(readFileSync(join(out, row.cells[0], "config.json"), "utf8"));
    assert.deepEqual([cfg.ablation, cfg.K], [row.ablation, 5]);
  }
  const md = readFileSync(join(out, "table.md"), "utf8");
  assert.match(md, /\| Top5 \| 10\/class \| 5 \| yes \| no \| no \| 0 \|/);
  assert.match(md, /\| Top5wclw \| 10\/class \| 5 \| yes \| yes \| yes \| 0 \|/);
  for (const [args, why] of [
    [["--methods", "llp"], /the ablations are llp's; give no --methods/],
    [["--ablations", "Top5,Top5q"], /"Top5q" is not an ablation name/],
    [["--ablation", "Top5"], /give --ablations \(a list\), not --ablation/],
  ] as const) {
    const bad = join(dir, "ablations-bad");
    const b = llp("bench", "ablations", ...TRAIN, "--out", bad, ...args);
    assert.notEqual(b.status, 0);
    assert.match(b.stderr, why);
    assert.ok(!existsSync(bad), `${args.join(" ")}: nothing written`);
  }
  const wrong = llp("bench", "accuracy", ...TRAIN, "--ablations", "Top5", "--out", join(dir, "ablations-bad"));
  assert.match(wrong.stderr, /--ablations belongs to llp bench ablations/);
});

test("a cell that fails does not stop the others; the grid exits non-zero and the table lists what finished", () => {
  const out = join(dir, "c");
  // fixmatch needs images: on feature vectors its cell fails, supervised's finishes
  const x = Float32Array.from({ length: 60 * 4 }, (_, i) => (Math.floor(i / 4) % 3) + ((i * 7) % 5) / 10);
  const files = writeFeatureNpy(
    dir,
    x,
    4,
    Int32Array.from({ length: 60 }, (_, i) => (i < 15 ? i % 3 : -1)),
  );
  const r = llp(
    "bench",
    "accuracy",
    "--methods",
    "fixmatch,supervised",
    "--seeds",
    "0",
    "--data",
    files.data,
    "--labels",
    files.labels,
    "--validation",
    "6",
    "--batch-size",
    "8",
    "--labelled-per-batch",
    "2",
    "--epochs",
    "1",
    "--threads",
    "1",
    "--out",
    out,
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /FAILED \(exit 1\) fixmatch/);
  assert.match(readFileSync(join(out, "fixmatch.pgiven.q100.seed0", "train.log"), "utf8"), /fixmatch needs images/);
  const table = JSON.parse(readFileSync(join(out, "table.json"), "utf8"));
  assert.deepEqual(
    table.rows.map((row: { method: string }) => row.method),
    ["supervised"],
  );
  assert.deepEqual(table.unfinished, ["fixmatch.pgiven.q100.seed0"]);
});

test("a cell another grid process holds is left to it: skipped, not failed, its lock kept; the rest trains", () => {
  const out = join(dir, "locked");
  const held = join(out, "supervised.p10pc.q100.seed1");
  mkdirSync(held, { recursive: true });
  writeFileSync(join(held, "grid.lock"), `${process.pid}\n`); // a live process: this test's
  const args = ["bench", "accuracy", "--methods", "supervised", "--seeds", "0,1", ...TRAIN, "--out", out];
  const r = llp(...args);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /skipped supervised\.p10pc\.q100\.seed1: another process \(pids \d+\) is training it/);
  assert.match(r.stderr, /1 cell\(s\) left to the process training them \(supervised\.p10pc\.q100\.seed1\)/);
  assert.doesNotMatch(r.stderr, /failed|FAILED/);
  assert.equal(readFileSync(join(held, "grid.lock"), "utf8"), `${process.pid}\n`, "the holder's lock is not removed");
  assert.ok(existsSync(join(out, "supervised.p10pc.q100.seed0", "summary.json")));
  const rows = JSON.parse(readFileSync(join(out, "table.json"), "utf8")).rows;
  assert.deepEqual(
    rows.map((row: { method: string; seeds: number[] }) => [row.method, row.seeds]),
    [["supervised", [0]]],
  );
});

test("a cell finished by another process after the grid planned it is kept, not trained again", async () => {
  const done = join(dir, "raced-done");
  const first = llp("bench", "accuracy", "--methods", "supervised", "--seeds", "1", ...TRAIN, "--out", done);
  assert.equal(first.status, 0, first.stderr);
  const out = join(dir, "raced");
  const cell = "supervised.p10pc.q100.seed1";
  const argv = [bin, "bench", "accuracy", "--methods", "supervised", "--seeds", "0,1", ...TRAIN, "--out", out];
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let copied = false;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      // the grid planned seed 1 as new; while it trains seed 0, another process finishes seed 1
      if (!copied && /training supervised\.p10pc\.q100\.seed0/.test(stderr)) {
        copied = true;
        cpSync(join(done, cell), join(out, cell), { recursive: true });
      }
    });
    child.on("close", (code) => resolve({ code, stderr }));
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /2 cells .* \(0 finished, 0 to resume\)/);
  assert.match(r.stderr, /kept supervised\.p10pc\.q100\.seed1: another process finished it meanwhile/);
  assert.doesNotMatch(r.stderr, /training supervised\.p10pc\.q100\.seed1/);
  assert.equal(
    readFileSync(join(out, cell, "events.jsonl"), "utf8"),
    readFileSync(join(done, cell, "events.jsonl"), "utf8"),
    "the finished cell was not touched",
  );
  assert.equal(JSON.parse(readFileSync(join(out, "table.json"), "utf8")).rows[0].seeds.length, 2);
});

test("SIGTERM to a grid (as a scheduler sends it): passed to the cell under way, which stops with a checkpoint; no new cell starts; exit 130; the next call goes on", async () => {
  const out = join(dir, "ctrl-c");
  const argv = [bin, "bench", "accuracy", "--methods", "supervised,llp", "--seeds", "0", ...TRAIN, "--epochs", "60", "--out", out];
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let sent = false;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /training supervised/.test(stderr)) {
        sent = true;
        // once the cell has a checkpoint (so the next call resumes it)
        const ckpt = join(out, "supervised.p10pc.q100.seed0", "checkpoint.safetensors");
        const poll = setInterval(() => {
          if (!existsSync(ckpt)) return;
          clearInterval(poll);
          child.kill("SIGTERM"); // the grid alone: its cells run in process groups of their own
        }, 20);
      }
    });
    child.on("close", (code) => resolve({ code, stderr }));
  });
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /SIGTERM: no new cells/);
  assert.match(r.stderr, /interrupted supervised\.p10pc\.q100\.seed0/);
  assert.ok(!existsSync(join(out, "llp.p10pc.q100.seed0")), "the next cell never started");
  const again = llp(...argv.slice(1));
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /resuming supervised\.p10pc\.q100\.seed0/);
  assert.equal(JSON.parse(readFileSync(join(out, "table.json"), "utf8")).rows.length, 2);
});
