// The README's results table is the one bench/results/accuracy.json gives (npm run table).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { AccuracyRun } from "../../bench/common.js";
import {
  B_END,
  B_START,
  baselinesBlock,
  blockOf,
  END,
  P_END,
  P_START,
  propagationTable,
  readmeRuns,
  resultsTable,
  S_END,
  S_START,
  START,
  speedTable,
} from "../../bench/table.js";

test("the README's results table is generated from accuracy.json, rows with removed options left out", () => {
  const root = new URL("../../../", import.meta.url);
  const runs = JSON.parse(readFileSync(new URL("bench/results/accuracy.json", root), "utf8")).runs;
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const block = blockOf(readme, START, END);
  assert.equal(block, resultsTable(readmeRuns(runs)));
  // rows recorded for the baselines table are docs/methods.md's, not the README's
  const methods = readFileSync(new URL("docs/methods.md", root), "utf8");
  assert.equal(blockOf(methods, B_START, B_END), baselinesBlock(runs));
  assert.ok(!/--ema|--alignment|--teacher|--ir-weight|--min-confidence|--propagation-query|--ir-view/.test(block));
  assert.match(block, /\| 1% \| 100% \| llp \|/);
  // a hand-made pair of runs: mean and sample sd
  const fake: AccuracyRun[] = [0.8, 0.9].map((t, seed) => ({
    dataset: "fashion-mnist",
    labelled: "1%",
    subset: "100%",
    method: "llp",
    model: "small-cnn",
    seed,
    test_top1: t,
    test_top5: 1,
    command: `node bin/llp.js train --labelled 1% --seed ${seed} --threads 1`,
  }));
  assert.match(
    resultsTable(fake),
    /\| 1% \| 100% \| llp \| best measured \| 0\.8500 ± 0\.0707 \| 1\.0000 \| 0, 1 \| `llp train --labelled 1%` \|/,
  );
  // grid cells: a comparison row even with one seed; a better recorded setting is shown beside it
  const grid = [
    {
      ...fake[0],
      method: "supervised",
      test_top1: 0.82,
      grid: true,
      command: "node bin/llp.js train --method supervised --labelled 1% --seed 0",
    },
    { ...fake[0], test_top1: 0.84, grid: true, command: "node bin/llp.js train --labelled 1% --epochs 16 --seed 0" },
  ];
  const t = resultsTable([...fake, ...grid]).split("\n");
  assert.deepEqual(
    t.slice(2).map((l) => l.split(" | ").slice(2, 5).join(" ")),
    ["supervised comparison 0.8200 (1 seed)", "llp comparison 0.8400 (1 seed)", "llp best measured 0.8500 ± 0.0707"],
  );
  assert.equal(
    resultsTable([...fake.map((r) => ({ ...r, test_top1: 0.8 })), ...grid]).split("\n").length,
    4,
    "a worse setting is not shown",
  );
  // a grid cell recorded for the baselines table leaves the README's rows for docs/methods.md's
  const routed = [
    ...grid,
    { ...grid[0], method: "dct", table: "baselines", command: "node bin/llp.js train --method dct --labelled 1% --seed 0" },
  ] as AccuracyRun[];
  assert.deepEqual(readmeRuns(routed), grid);
  // a per-class-labelled cell (the smaller-scale grid) recorded without --table still stays out of the README
  assert.deepEqual(readmeRuns([...grid, { ...grid[0], labelled: "110 (11/class)", subset: "20%" }] as AccuracyRun[]), grid);
  assert.match(baselinesBlock(routed), /\| 1% \| 100% \| dct \| comparison \| 0\.8200 \(1 seed\)/);
  assert.equal(baselinesBlock(grid as AccuracyRun[]), "(no runs recorded yet)");
});

test("the README's propagation table is generated from propagation.json, one row per size from its latest run", () => {
  const root = new URL("../../../", import.meta.url);
  const runs = JSON.parse(readFileSync(new URL("bench/results/propagation.json", root), "utf8")).runs;
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const block = blockOf(readme, P_START, P_END);
  assert.equal(block, propagationTable(runs));
  assert.match(block, /\| 1,000,000 x 100,000 x 128 \|/);
});

test("the README's speed table is generated from engine.json and epoch.json: the epoch first, then every engine net", () => {
  const root = new URL("../../../", import.meta.url);
  const engine = JSON.parse(readFileSync(new URL("bench/results/engine.json", root), "utf8"));
  const epoch = JSON.parse(readFileSync(new URL("bench/results/epoch.json", root), "utf8"));
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const block = blockOf(readme, S_START, S_END);
  assert.equal(block, speedTable(engine, epoch));
  const rows = block.split("\n").slice(2);
  assert.equal(rows.length, (epoch.pytorch_closed_form_s === undefined ? 1 : 2) + engine.results.length);
  assert.match(rows[0] as string, new RegExp(`^\\| one LLP epoch \\(${epoch.epoch.steps} steps`));
  assert.ok(rows[0]?.includes(`| ${epoch.llp_s} s (`) && rows[0]?.includes(`| ${epoch.throughput_ratio} |`));
});
