// `node dist/bench/suggest.js`: does labelling what `llp suggest` picks raise accuracy more than
// labelling as many random unlabelled points? For each seed: a base run at --labelled (default
// 1% of Fashion-MNIST); `llp suggest --budget B` on it; B random unlabelled training points of
// the same run (seeded); then two runs from scratch with the base run's labels plus the true
// labels of each pick (`--reveal`), side by side at 1 thread each. Test top-1 of both arms per
// seed, their mean and sd, and the paired difference go to bench/results/suggest.json. Rerun the
// same command to go on: finished runs are kept, interrupted ones resume.
// --base reuses finished runs as the base runs (the grid's LLP cells are `llp train --labelled 1%
// --seed N`, the base run exactly), which saves a third of the work: a template with {seed}.
//
//   node dist/bench/suggest.js [--seeds 0,1,2] [--budget 100] [--labelled 1%] [--out runs/suggest]
//     [--base runs/grid/llp.p1.q100.seed{seed}] [-- extra train options]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Generator } from "../src/torch/random.js";
import { finishedRun, llp, mean } from "./common.js";

const { values: args, positionals: extra } = parseArgs({
  options: {
    seeds: { type: "string", default: "0,1,2" },
    budget: { type: "string", default: "100" },
    labelled: { type: "string", default: "1%" },
    out: { type: "string", default: "runs/suggest" },
    base: { type: "string" },
  },
  allowPositionals: true,
});
const repo = new URL("../../", import.meta.url).pathname;
const seeds = (args.seeds as string).split(",").map(Number);
const budget = Number(args.budget);
const root = args.out as string;
mkdirSync(root, { recursive: true });

// a run cut short (a session's end, Ctrl-C) resumes from its checkpoint; a finished one is kept
const summaryOf = (dir: string) => JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as { test_top1: number };
const train = (dir: string, seed: number, more: string[]) =>
  finishedRun(dir, ["--labelled", args.labelled as string, "--seed", String(seed), ...extra, ...more]);

const rows: { seed: number; base: number; suggested: number; random: number; difference: number }[] = [];
const loadBefore = loadavg()[0] as number;
for (const seed of seeds) {
  const base = args.base ? (args.base as string).replaceAll("{seed}", String(seed)) : join(root, `base.seed${seed}`);
  if (args.base) {
    // a run of the same split and method, finished: its seed and label fraction must be the ones asked for
    if (!existsSync(join(base, "summary.json"))) throw new Error(`--base: ${base} is not a finished run (no summary.json)`);
    const cfg = JSON.parse(readFileSync(join(base, "config.json"), "utf8")) as { seed: number; labelled: string | null; method: string };
    if (cfg.seed !== seed || cfg.labelled !== args.labelled || cfg.method !== "llp")
      throw new Error(
        `--base: ${base} is ${cfg.method} at ${cfg.labelled}, seed ${cfg.seed}; wanted llp at ${args.labelled}, seed ${seed}`,
      );
  } else await train(base, seed, []);
  const suggested = join(root, `suggested.seed${seed}.csv`);
  if (!existsSync(suggested)) await llp("suggest", base, "--budget", String(budget), "--out", suggested, "--threads", "1");
  // as many random unlabelled points of the same pool, drawn from the seed
  const split = JSON.parse(readFileSync(join(base, "split.json"), "utf8")) as { train: number[]; labelled: number[] };
  const labelled = new Set(split.labelled);
  const pool = split.train.filter((i) => !labelled.has(i));
  const u = new Generator(seed + 7).uniforms(pool.length);
  const order = pool.map((_, j) => j).sort((a, b) => (u[a] as number) - (u[b] as number));
  const random = join(root, `random.seed${seed}.csv`);
  writeFileSync(
    random,
    `index\n${order
      .slice(0, budget)
      .map((j) => pool[j])
      .join("\n")}\n`,
  );
  const [withSuggested, withRandom] = await Promise.all([
    train(join(root, `suggested.seed${seed}`), seed, ["--reveal", suggested]),
    train(join(root, `random.seed${seed}`), seed, ["--reveal", random]),
  ]);
  rows.push({
    seed,
    base: summaryOf(base).test_top1,
    suggested: withSuggested,
    random: withRandom,
    difference: withSuggested - withRandom,
  });
  console.error(`seed ${seed}: base ${summaryOf(base).test_top1}, +${budget} suggested ${withSuggested}, +${budget} random ${withRandom}`);
}
const sd = (a: number[]) => Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / Math.max(1, a.length - 1));
const col = (k: "base" | "suggested" | "random" | "difference") => rows.map((r) => r[k]);
const report = {
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    date: new Date().toISOString(),
    load_average: [loadBefore, loadavg()[0]],
  },
  command: `node dist/bench/suggest.js ${process.argv.slice(2).join(" ")}`.trim(),
  labelled: args.labelled,
  budget,
  rows,
  mean: { base: mean(col("base")), suggested: mean(col("suggested")), random: mean(col("random")), difference: mean(col("difference")) },
  sd: { suggested: sd(col("suggested")), random: sd(col("random")), difference: sd(col("difference")) },
};
console.log(JSON.stringify(report, null, 2));
writeFileSync(join(repo, "bench", "results", "suggest.json"), `${JSON.stringify(report, null, 2)}\n`);
