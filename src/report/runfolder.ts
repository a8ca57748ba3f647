// The run folder: config.json, split.json, data.json, events.jsonl, summary.json, checkpoint.
// Every JSON file is written atomically; events.jsonl is appended one line per event.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { type Config, dropRemovedOptions, resolveConfig } from "../config.js";
import { writeFileAtomic } from "../torch/safetensors.js";
import type { TrainEvent } from "../train/types.js";

export function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`);
}

export function readJson<T>(path: string): T {
  if (!existsSync(path)) throw new Error(`${path}: missing`);
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** A run folder's config.json, with the defaults of runs saved before an option existed. */
export function readRunConfig(runDir: string): Config {
  const saved = readJson<Record<string, unknown>>(join(runDir, "config.json"));
  // runs saved before the pool-grid option existed used global average pooling
  if (!("poolGrid" in saved) && saved.model === "small-cnn") saved.poolGrid = 1;
  // runs saved before --color existed decoded image folders as rgb
  if (!("color" in saved)) saved.color = "rgb";
  // runs saved before --schedule existed dropped the LR on validation plateaus unless given milestones
  if (!("schedule" in saved)) saved.schedule = "plateau";
  // runs saved before --train-view existed trained on one view
  if (!("trainView" in saved)) saved.trainView = "weak";
  return resolveConfig(dropRemovedOptions(saved, runDir) as Partial<Config>, { recipe: false });
}

/** runs/<dataset>.<labels>@<seed>-<method>, as FixMatch names runs by their split. */
export function defaultRunDir(cfg: Config): string {
  const ds =
    cfg.data
      .replace(/[^A-Za-z0-9_.-]+/g, "_")
      .replace(/^_+|_+$/g, "")
      .slice(-40) || "data";
  const lab = cfg.labelled ?? (cfg.labelsPerClass !== null ? `${cfg.labelsPerClass}pc` : "given");
  // a run with revealed labels is another run than the one it came from: never its folder
  const reveal = cfg.reveal
    ? `+${basename(cfg.reveal)
        .replace(/\.[^.]*$/, "")
        .replace(/[^A-Za-z0-9_.-]+/g, "_")}`
    : "";
  return join("runs", `${ds}.${lab.replace("%", "pct")}${reveal}@${cfg.seed}-${cfg.method}`);
}

/** What a run writes besides config/split/data.json, which a fresh run rewrites anyway. */
const RUN_OUTPUTS = [
  "events.jsonl",
  "summary.json",
  "checkpoint.safetensors",
  "checkpoint.prev.safetensors",
  "checkpoint.damaged.safetensors",
  "eval-test.json",
  "eval-validation.json",
  "snapshots",
  "report.html",
  "report-charts",
];

/**
 * Starts a fresh run in `dir`. A folder that held an earlier run loses that run's outputs first,
 * so its events, summary, checkpoint and eval files never mix two runs (resume with --resume).
 */
export function createRunDir(dir: string, cfg: Config): void {
  mkdirSync(dir, { recursive: true });
  for (const f of RUN_OUTPUTS) rmSync(join(dir, f), { force: true, recursive: true });
  writeJson(join(dir, "config.json"), cfg);
}

/** Appends each event to events.jsonl; writes summary.json at the end. */
export class EventLog {
  readonly path: string;
  constructor(readonly dir: string) {
    this.path = join(dir, "events.jsonl");
  }
  write(ev: TrainEvent): void {
    const line =
      ev.type === "start"
        ? {
            type: "start",
            n: ev.n,
            labelled: ev.labelled,
            stepsPerEpoch: ev.stepsPerEpoch,
            resumedFrom: ev.resumedFrom,
            schedule: ev.schedule,
          }
        : ev;
    appendFileSync(this.path, `${JSON.stringify(line, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v))}\n`);
    if (ev.type === "end") writeJson(join(this.dir, "summary.json"), ev.summary);
  }
}
