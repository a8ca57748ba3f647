// The README's results table is the one bench/results/accuracy.json gives (npm run table).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { resultsTable } from "../../bench/table.js";

test("the README's results table is generated from accuracy.json, rows with removed options left out", () => {
  const root = new URL("../../../", import.meta.url);
  const runs = JSON.parse(readFileSync(new URL("bench/results/accuracy.json", root), "utf8")).runs;
  const readme = readFileSync(new URL("README.md", root), "utf8");
  const block = readme.slice(readme.indexOf("(npm run table) -->") + "(npm run table) -->".length, readme.indexOf("<!-- results:end -->"));
  assert.equal(block.trim(), resultsTable(runs));
  assert.ok(!/--ema|--alignment|--teacher|--ir-weight|--min-confidence|--propagation-query|--ir-view/.test(block));
  assert.match(block, /\| 1% \| llp \|/);
  // a hand-made pair of runs: mean and sample sd
  const fake = [0.8, 0.9].map((t, seed) => ({
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
  assert.match(resultsTable(fake), /\| 1% \| llp \| 0\.8500 ± 0\.0707 \| 1\.0000 \| 0, 1 \| `llp train --labelled 1%` \|/);
});
