// Records finished runs in bench/results/accuracy.json:
// `node dist/bench/record.js [--load "how the machine was shared"] [--table baselines] RUN_DIR...`.
// Each entry carries the command that reproduces it, rebuilt from the run's config.json
// (every option that differs from its default), and the run's measured summary; a cell of
// `llp bench accuracy` (a folder with grid-cell.json) is marked grid: true.
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { arch, cpus } from "node:os";
import { join } from "node:path";
import { type Config, DEFAULTS, kebab } from "../src/config.js";
import { FASHION_MNIST_VALIDATION } from "../src/data/fashion-mnist.js";
import { findIdxPair } from "../src/data/idx.js";
import { resolveView } from "../src/data/views.js";
import { resolveModel } from "../src/model/net.js";
import { resolvePropagation } from "../src/propagation/rules.js";
import { fixedMilestones } from "../src/train/loop.js";
import { readRunConfig } from "../src/train/run.js";

/**
 * Options only some methods read: on another method's run they are no flag of its command, whatever
 * the default was when it ran (a cell saved when --consistency defaulted to 100 is still just
 * `--method supervised`).
 */
const ONLY_FOR: Partial<Record<keyof Config, Config["method"][]>> = {
  consistency: ["mean-teacher"],
  consistencyRampup: ["mean-teacher", "dct"],
  vatEpsilon: ["vat", "vat-em"],
  dctEpsilon: ["dct"],
  pseudoRatio: ["dmt"],
};

const isImageFolder = (spec: string) => existsSync(spec) && statSync(spec).isDirectory() && findIdxPair(spec, "train") === null;

const out = "bench/results/accuracy.json";
const doc = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : { runs: [] };

const argv = process.argv.slice(2);
const loadAt = argv.indexOf("--load");
const load = loadAt >= 0 ? argv.splice(loadAt, 2)[1] : "shared (other jobs running)";
// --table NAME: the run belongs to another generated table than the README's (bench/table.ts)
const tableAt = argv.findIndex((a) => a === "--table" || a.startsWith("--table="));
const table =
  tableAt < 0
    ? undefined
    : argv[tableAt]?.includes("=")
      ? argv.splice(tableAt, 1)[0]?.slice("--table=".length)
      : argv.splice(tableAt, 2)[1];
if (tableAt >= 0 && table !== "baselines") throw new Error(`--table: the tables are "baselines" (got ${table})`);

for (const dir of argv) {
  // the baselines table holds grid cells only (every method at one budget)
  if (table && !existsSync(join(dir, "grid-cell.json"))) throw new Error(`--table ${table}: ${dir} is not a cell of llp bench accuracy`);
  const cfg = readRunConfig(dir); // fills options added since the run (as the run used them)
  const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
  const split = JSON.parse(readFileSync(join(dir, "split.json"), "utf8"));
  const info = JSON.parse(readFileSync(join(dir, "data.json"), "utf8")) as { inputShape: number[] };
  // what a default stands for on this run's data is no flag (runs before --model auto,
  // --validation null and --color saved the value it resolved to)
  // (nor is what "auto" and the fixed schedule resolved to, which runs write into config.json,
  // nor the recipe: config.json holds every value it set)
  const implied = (k: string, v: unknown) =>
    k === "recipe" ||
    ONLY_FOR[k as keyof Config]?.includes(cfg.method) === false ||
    (k === "model" && v === resolveModel("auto", info.inputShape)) ||
    (k === "validation" && cfg.data.toLowerCase() === "fashion-mnist" && v === FASHION_MNIST_VALIDATION) ||
    (k === "color" && !isImageFolder(cfg.data)) ||
    (k === "propagation" && v === resolvePropagation("auto", info.inputShape)) ||
    (k === "trainView" && v === resolveView("auto", info.inputShape, cfg.method)) ||
    (k === "milestones" &&
      cfg.schedule === "fixed" &&
      JSON.stringify(v) === JSON.stringify(fixedMilestones({ ...cfg, milestones: null }, 0)));
  const flags = Object.entries(cfg)
    .filter(([k, v]) => k !== "out" && !implied(k, v) && JSON.stringify(v) !== JSON.stringify(DEFAULTS[k as keyof Config].value))
    .map(([k, v]) => `--${kebab(k)} ${Array.isArray(v) ? v.join(",") : v}`);
  const entry = {
    dataset: cfg.data,
    labelled: cfg.labelled ?? `${split.counts.labelled} (${cfg.labelsPerClass ?? "?"}/class)`,
    subset: cfg.subset,
    train_points: split.counts.train,
    method: cfg.method,
    model: `${cfg.model}${cfg.width ? `-w${cfg.width}` : ""}`,
    seed: cfg.seed,
    test_top1: summary.test_top1,
    test_top5: summary.test_top5,
    knn_top1: summary.knn_top1,
    val_top1: summary.val_top1,
    epochs: summary.epochs,
    wall_s: summary.wall_s,
    command: `node bin/llp.js train ${flags.join(" ")}`,
    machine: `${cpus()[0]?.model ?? "?"} x${cpus().length} ${arch()}, ${load}`,
    ...(existsSync(join(dir, "grid-cell.json")) ? { grid: true } : {}),
    ...(table ? { table } : {}),
  };
  // a run recorded again replaces its entry in place, keeping what was written about it; the same
  // run (same result and wall time) also keeps the machine line it was recorded with, which says
  // how the machine was shared while it trained
  const at = doc.runs.findIndex((r: { command: string }) => r.command === entry.command);
  if (at < 0) doc.runs.push(entry);
  else {
    const prev = doc.runs[at] as { note?: string; machine: string; test_top1: number; wall_s: number };
    const same = prev.test_top1 === entry.test_top1 && prev.wall_s === entry.wall_s;
    doc.runs[at] = { ...entry, ...(same ? { machine: prev.machine } : {}), ...(prev.note ? { note: prev.note } : {}) };
  }
}
writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
console.log(`${doc.runs.length} runs in ${out}`);
