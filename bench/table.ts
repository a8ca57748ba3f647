// The README's results table, generated from bench/results/accuracy.json:
// `npm run table` rewrites the lines between the README's results markers (--check: fail if
// they differ instead). Full Fashion-MNIST only, runs grouped by their command up to --seed and
// --threads (runs with a removed option left out). First the comparison: every group of grid
// cells (`llp bench accuracy`, every method at one budget), however many seeds it has so far;
// then, for a method and labelled fraction with a better recorded setting of at least two
// seeds, that setting (the one with the most seeds, then the best mean), marked as such.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type AccuracyRun, seedless, seedStats } from "./common.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const START = "<!-- results:start (npm run table) -->";
const END = "<!-- results:end -->";
const METHOD_ORDER = ["supervised", "mean-teacher", "pseudo-label", "fixmatch", "llp"];

/** The Markdown table for these runs. */
export function resultsTable(runs: AccuracyRun[]): string {
  const groups = new Map<string, AccuracyRun[]>();
  for (const r of runs) {
    if (r.removed_option || r.dataset !== "fashion-mnist") continue;
    const k = `${r.grid ? "grid " : ""}${seedless(r.command)}`; // grid cells never mix with other runs
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const seedsOf = (rs: AccuracyRun[]) => new Set(rs.map((r) => r.seed)).size;
  const mean = (rs: AccuracyRun[]) => seedStats(rs.map((r) => r.test_top1)).mean;
  const rows: { setting: string; cmd: string; rs: AccuracyRun[] }[] = [];
  for (const [cmd, rs] of groups) if (rs[0]?.grid) rows.push({ setting: "comparison", cmd: cmd.slice("grid ".length), rs });
  const compared = new Map(rows.map((g) => [key(g.rs[0] as AccuracyRun), mean(g.rs)]));
  const best = new Map<string, { cmd: string; rs: AccuracyRun[] }>(); // "labelled method" -> group
  for (const [cmd, rs] of groups) {
    const first = rs[0] as AccuracyRun;
    if (first.grid || first.subset !== "100%" || seedsOf(rs) < 2) continue;
    const k = key(first);
    const cur = best.get(k);
    if (!cur || seedsOf(rs) > seedsOf(cur.rs) || (seedsOf(rs) === seedsOf(cur.rs) && mean(rs) > mean(cur.rs))) best.set(k, { cmd, rs });
  }
  // a better recorded setting is shown beside the comparison (or in its place where the grid has none yet)
  for (const [k, g] of best) {
    const c = compared.get(k);
    if (c === undefined || mean(g.rs) > c) rows.push({ setting: "best measured", ...g });
  }
  const f = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(4));
  const lines = [
    "| labels | subset | method | setting | test top-1 (mean ± sd) | top-5 | seeds | command (add `--seed N`) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  rows.sort((a, b) => {
    const [x, y] = [a.rs[0] as AccuracyRun, b.rs[0] as AccuracyRun];
    return (
      Number.parseFloat(x.labelled) - Number.parseFloat(y.labelled) ||
      Number.parseFloat(x.subset) - Number.parseFloat(y.subset) ||
      (a.setting === b.setting ? 0 : a.setting === "comparison" ? -1 : 1) ||
      METHOD_ORDER.indexOf(x.method) - METHOD_ORDER.indexOf(y.method)
    );
  });
  for (const { setting, cmd, rs } of rows) {
    const first = rs[0] as AccuracyRun;
    const t1 = seedStats(rs.map((r) => r.test_top1));
    const t5 = seedStats(rs.map((r) => r.test_top5));
    const seeds = [...new Set(rs.map((r) => r.seed))].sort((a, b) => a - b);
    lines.push(
      `| ${first.labelled} | ${first.subset} | ${first.method} | ${setting} | ${f(t1.mean)}${seeds.length > 1 ? ` ± ${f(t1.sd)}` : " (1 seed)"} | ${f(t5.mean)} | ${seeds.join(", ")} | \`${cmd.replace("node bin/llp.js", "llp")}\` |`,
    );
  }
  return lines.join("\n");
}

/** A row's place: labelled fraction, subset and method. */
const key = (r: AccuracyRun) => `${r.labelled} ${r.subset} ${r.method}`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs: AccuracyRun[] = JSON.parse(readFileSync(`${repo}bench/results/accuracy.json`, "utf8")).runs;
  const readme = readFileSync(`${repo}README.md`, "utf8");
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${START} ... ${END} block`);
  const next = `${readme.slice(0, a + START.length)}\n${resultsTable(runs)}\n${readme.slice(b)}`;
  if (process.argv.includes("--check")) {
    if (next !== readme) {
      console.error("README.md's results table is not the one accuracy.json gives: run npm run table");
      process.exit(1);
    }
  } else writeFileSync(`${repo}README.md`, next);
}
