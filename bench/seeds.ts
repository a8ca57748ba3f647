// Mean and spread over seeds of the runs in bench/results/accuracy.json:
// `node dist/bench/seeds.js [--min 2] [--grep TEXT]`.
// Runs are grouped by their command with `--seed N` and `--threads N` taken out (the thread
// count changes only float rounding). For every LLP group it also prints the per-seed margin
// over the supervised-only group on the same data, labels and network, seed by seed.
import { readFileSync } from "node:fs";
import { type AccuracyRun, seedless, seedStats } from "./common.js";

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const min = Number(opt("--min") ?? 2);
const grep = opt("--grep");

const runs: AccuracyRun[] = JSON.parse(readFileSync("bench/results/accuracy.json", "utf8")).runs;
const key = (r: AccuracyRun) => seedless(r.command);
const groups = new Map<string, AccuracyRun[]>();
for (const r of runs) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);

const f4 = (x: number) => x.toFixed(4);
const pts = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(2)}`;
const where = (r: AccuracyRun) => `${r.dataset} ${r.labelled} of ${r.subset} ${r.model}`;

for (const [cmd, rs] of groups) {
  const seeds = [...new Set(rs.map((r) => r.seed))];
  if (seeds.length < min || (grep && !cmd.includes(grep))) continue;
  const s = seedStats(rs.map((r) => r.test_top1));
  const first = rs[0] as AccuracyRun;
  console.log(
    `${where(first)}, ${first.method}, seeds ${seeds.join(",")}: test top-1 ${f4(s.mean)} ± ${f4(s.sd)} (sd; ${f4(s.lo)}-${f4(s.hi)})`,
  );
  console.log(`  ${cmd}`);
  if (first.method !== "llp") continue;
  // the supervised groups on the same data and network with a run at each of these seeds
  for (const [supCmd, sup] of groups) {
    const s0 = sup[0] as AccuracyRun;
    if (s0.method !== "supervised" || where(s0) !== where(first)) continue;
    const pairs = rs.flatMap((r) => sup.filter((q) => q.seed === r.seed).map((q) => r.test_top1 - q.test_top1));
    if (pairs.length < Math.min(min, seeds.length)) continue;
    const m = seedStats(pairs);
    console.log(
      `  margin over ${supCmd.replace("node bin/llp.js train ", "")}: ${pts(m.mean)} points (${pts(m.lo)} to ${pts(m.hi)}, ${pairs.length} seeds)`,
    );
  }
}
