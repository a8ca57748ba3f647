// `llp bench accuracy` and `llp bench ablations`: grids of training runs (src/report/grid.ts). Each cell is an `llp train` in
// its own process and run folder (a failed cell does not stop the others); finished cells are
// never redone, interrupted ones resume from their checkpoint; the table covers every finished
// cell under --out.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Config, loadRecipe, resolveConfig } from "../config.js";
import { loadNpyFeatures } from "../data/features.js";
import { PAPER_ABLATIONS, parseAblation } from "../methods/ablation.js";
import { METHODS } from "../methods/index.js";
import { setKernelThreads } from "../propagation/kernel.js";
import { type Table5Options, table5, table5Markdown } from "../propagation/table5.js";
import { CELL_FILE, type CellRequest, cellJson, cellName, cellStatus, type GridAxes, gridCells, writeGridTable } from "../report/grid.js";
import { writeFileAtomic } from "../torch/safetensors.js";
import { openRun, processAlive } from "../train/run.js";
import { parseFlags } from "./args.js";

/** The default comparison: the paper's baselines a user would otherwise pick, FixMatch, and LLP. */
export const DEFAULT_METHODS: Config["method"][] = ["supervised", "mean-teacher", "pseudo-label", "fixmatch", "llp"];

export const BENCH_HELP = `llp bench accuracy [grid options] [train options for every cell]
  --methods LIST   methods to compare (default: ${DEFAULT_METHODS.join(",")}; any of ${Object.keys(METHODS).join(",")}; all: every one)
  --labelled LIST  labelled fractions p, e.g. 1%,10% (default: the train options' --labelled, or the labels as given)
  --subset LIST    subsets q of the training pool, e.g. 30%,70%,100% (default: 100%)
  --seeds LIST     seeds (default: 0,1,2)
  --jobs N         cells trained at once (default 1; give each --threads accordingly)
  --out DIR        the grid's folder (default runs/grid): one run folder per cell, table.md, table.json;
                   grids started side by side on one folder share its cells (each cell locked while it trains)
llp bench ablations [grid options] [train options for every cell]
                 the paper's Table 6: llp with each ablation (--ablation NAME), scored by test 1-NN top-1
  --ablations LIST the ablations (default: ${PAPER_ABLATIONS.join(",")})
  --labelled LIST  (default 10%, the paper's); --seeds, --jobs as above; --out DIR (default runs/ablations)
llp bench table GRID_DIR           the table of a grid's finished cells so far (rewrites table.md, table.json)
llp bench propagation (RUN_DIR | --embeddings X.npy --labels Y.npy) [--classes 10] [--per-class 50] [--labelled 5]
                 [--resamples 10] [--seed 0] [--out FILE.json]
                 the paper's Table 5: Label Spreading, Label Propagation, DMT's and DLP's propagation and LLP's
                 rule on samples of C classes x n points with k labelled each, mean ± sd over resamples
`;

const GRID_FLAGS = ["methods", "ablations", "labelled", "subset", "seeds", "jobs"] as const;

/** Splits the grid's own list flags from the train options every cell shares. */
function splitArgs(argv: string[]): { grid: Partial<Record<(typeof GRID_FLAGS)[number], string>>; rest: string[] } {
  const grid: Partial<Record<(typeof GRID_FLAGS)[number], string>> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const [name, inline] = a.startsWith("--") ? (a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]) : ["", undefined];
    if (!(GRID_FLAGS as readonly string[]).includes(name)) {
      rest.push(a);
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined) throw new Error(`--${name} needs a value`);
    grid[name as (typeof GRID_FLAGS)[number]] = v;
  }
  return { grid, rest };
}

/** A comma-separated list, each value once (a repeated one would be the same cell twice). */
const list = (s: string) => [
  ...new Set(
    s
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  ),
];

export async function benchCmd(argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  if (sub === "table") {
    // the table of a grid's finished cells so far, while it runs or after
    if (args.length !== 1 || args[0]?.startsWith("--")) throw new Error("usage: llp bench table GRID_DIR");
    const dir = args[0] as string;
    if (!existsSync(dir) || !readdirSync(dir).some((f) => existsSync(join(dir, f, CELL_FILE))))
      throw new Error(`${dir}: not a grid folder (no cell of llp bench accuracy in it)`);
    process.stdout.write(writeGridTable(dir));
    return 0;
  }
  if (sub === "propagation") return table5Cmd(args);
  if (sub !== "accuracy" && sub !== "ablations") throw new Error(`usage: ${BENCH_HELP}`);
  const cmd = `llp bench ${sub}`;
  const { grid, rest } = splitArgs(args);
  const { positionals, config } = parseFlags(rest, {});
  if (positionals.length > 0) throw new Error(`${cmd} takes options only, got ${positionals.join(" ")}`);
  if (config.method !== undefined) throw new Error(`${cmd}: give --methods (a list), not --method`);
  if (config.seed !== undefined) throw new Error(`${cmd}: give --seeds (a list), not --seed`);
  if (sub === "ablations") {
    if (grid.methods !== undefined) throw new Error(`${cmd}: the ablations are llp's; give no --methods`);
    if (config.ablation !== undefined) throw new Error(`${cmd}: give --ablations (a list), not --ablation`);
    if (config.labelsPerClass === undefined) grid.labelled ??= (config.labelled as string | undefined) ?? "10%"; // the paper's
  } else if (grid.ablations !== undefined) throw new Error(`${cmd}: --ablations belongs to llp bench ablations`);
  const out = (config.out as string | null | undefined) ?? (sub === "ablations" ? "runs/ablations" : "runs/grid");
  const { out: _o, recipe, ...given } = config as Partial<Config>;
  // a recipe is expanded here: each cell's settings file is then complete on its own
  const settings: Partial<Config> = recipe ? { ...loadRecipe(recipe), ...given } : given;
  const seeds = list(grid.seeds ?? "0,1,2").map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`--seeds expects seeds like 0,1,2, got "${s}"`);
    return Number(s);
  });
  const jobs = Number(grid.jobs ?? 1);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs expects a positive integer, got "${grid.jobs}"`);
  const labelled = grid.labelled !== undefined ? list(grid.labelled) : [settings.labelled ?? null];
  for (const p of labelled)
    if (p !== null && !/^\d+(\.\d+)?%$/.test(p)) throw new Error(`--labelled expects fractions like 1%,10%, got "${p}"`);
  const { labelled: _l, subset: _s, ...shared } = settings;
  const ablations = sub === "ablations" ? list(grid.ablations ?? PAPER_ABLATIONS.join(",")) : [null];
  for (const a of ablations) if (a !== null) parseAblation(a); // a bad name, before anything is written
  const axes: GridAxes = {
    methods: (sub === "ablations"
      ? ["llp"]
      : grid.methods === "all"
        ? Object.keys(METHODS)
        : grid.methods !== undefined
          ? list(grid.methods)
          : DEFAULT_METHODS) as Config["method"][],
    ablations,
    labelled,
    subset: list(grid.subset ?? settings.subset ?? "100%"),
    seeds,
  };
  for (const m of axes.methods)
    if (!(m in METHODS)) throw new Error(`--methods: unknown method "${m}" (the methods are ${Object.keys(METHODS).join(", ")})`);
  const cells = gridCells(axes, shared);
  if (cells.length === 0) throw new Error(`${cmd}: the grid has no cells`);
  // every cell's settings and folder are checked before any cell starts
  for (const c of cells) {
    try {
      resolveConfig(c);
    } catch (e) {
      throw new Error(`cell ${cellName(c)}: ${(e as Error).message}`);
    }
  }
  const plan = cells.map((c) => {
    const dir = join(out, cellName(c));
    return { c, dir, status: cellStatus(dir, c) };
  });
  const todo = plan.filter((p) => p.status !== "finished");
  process.stderr.write(
    `${cmd}: ${cells.length} cells in ${out} (${cells.length - todo.length} finished, ${todo.filter((p) => p.status === "interrupted").length} to resume), ${jobs} at a time\n`,
  );
  let failed = 0;
  const skipped: string[] = []; // cells another grid process is training: neither finished nor failed
  let next = 0;
  // A signal to the grid (Ctrl-C, kill, a scheduler's SIGTERM) is passed to the cells under way
  // (their own process groups), which stop after their step with a checkpoint; the grid starts
  // no new cell. A second signal is passed on too: the cells exit at once.
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    for (const c of running) c.kill(sig);
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${cmd}: ${sig}: no new cells; the cells under way stop after their step (rerun to resume)\n`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const threads = settings.threads ?? null; // the machine's share: given to each child, kept out of the cell files
  const worker = async () => {
    while (!stopping && next < todo.length) {
      const p = todo[next++] as (typeof todo)[number];
      const code = await runCell(p.c, p.dir, threads).catch((e: Error) => {
        process.stderr.write(`  FAILED ${cellName(p.c)}: ${e.message}\n`);
        return 1;
      });
      if (code === "skipped") skipped.push(cellName(p.c));
      else if (code !== 0 && code !== "finished") failed++;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, todo.length) }, worker));
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const md = writeGridTable(out);
  process.stdout.write(md);
  if (stopping) {
    process.stderr.write(`${cmd}: interrupted; rerun the same command to go on (finished cells are kept)\n`);
    return 130;
  }
  if (skipped.length > 0)
    process.stderr.write(
      `${cmd}: ${skipped.length} cell(s) left to the process training them (${skipped.join(", ")}); run \`llp bench table ${out}\` once it is done\n`,
    );
  if (failed > 0) process.stderr.write(`${cmd}: ${failed} cell(s) failed; see train.log in their folders\n`);
  return failed > 0 ? 1 : 0;
}

const BIN = fileURLToPath(new URL("../../../bin/llp.js", import.meta.url));
/** The cells' child processes now running. */
const running = new Set<ChildProcess>();

/**
 * Trains one cell in a child `llp train` (its output in the cell's train.log); resolves to its
 * exit code, "skipped" when another process holds the cell, or "finished" when another process
 * finished it since the grid started. A lock file (the grid's pid) keeps a second grid on the same
 * folder off the cell while it trains; a lock whose process is gone is taken over. The cell's
 * status is read again under the lock: a grid's plan is as old as the grid.
 */
async function runCell(c: CellRequest, dir: string, threads: number | null): Promise<number | "skipped" | "finished"> {
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, "grid.lock");
  if (!takeLock(lock)) {
    process.stderr.write(`  skipped ${cellName(c)}: another process (pids ${readFileSync(lock, "utf8").trim()}) is training it\n`);
    return "skipped";
  }
  try {
    const status = cellStatus(dir, c);
    if (status === "finished") {
      process.stderr.write(`  kept ${cellName(c)}: another process finished it meanwhile\n`);
      return "finished";
    }
    const file = join(dir, CELL_FILE);
    if (status === "new") writeFileAtomic(file, cellJson(c));
    const args = [
      "train",
      ...(status === "interrupted" ? ["--resume", dir] : ["--recipe", file, "--out", dir]),
      ...(threads !== null ? ["--threads", String(threads)] : []),
    ];
    const log = openSync(join(dir, "train.log"), "a");
    const t0 = Date.now();
    process.stderr.write(`  ${status === "interrupted" ? "resuming" : "training"} ${cellName(c)}\n`);
    const code = await new Promise<number>((resolve) => {
      // detached: its own process group, so a terminal's Ctrl-C reaches it once, through the grid
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", log, log], detached: true });
      running.add(child);
      if (child.pid !== undefined) writeFileSync(lock, `${process.pid} ${child.pid}\n`); // a grid killed outright leaves its cell's process alive: it holds the cell
      child.on("exit", () => running.delete(child));
      child.on("error", (e) => {
        process.stderr.write(`  could not start llp train for ${cellName(c)}: ${e.message}\n`);
        resolve(1);
      });
      child.on("close", (code) => resolve(code ?? 1));
    });
    closeSync(log);
    const min = ((Date.now() - t0) / 60000).toFixed(1);
    const how = code === 0 ? "finished" : code === 130 ? "interrupted" : `FAILED (exit ${code})`;
    process.stderr.write(`  ${how} ${cellName(c)} in ${min} min\n`);
    return code;
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Creates the lock file with this process's pid (the cell's child is added once started); false if a live process of it holds it. */
function takeLock(lock: string): boolean {
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: "wx" });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pids = readFileSync(lock, "utf8").trim().split(/\s+/).map(Number);
      if (pids.some((pid) => Number.isInteger(pid) && pid > 0 && processAlive(pid))) return false;
      rmSync(lock, { force: true }); // its grid and its cell's process are gone
    }
  }
  return false;
}

/** `llp bench propagation`: Table 5 on a run's bank or on any embeddings with their true labels. */
async function table5Cmd(argv: string[]): Promise<number> {
  const names = ["classes", "perClass", "labelled", "resamples", "seed", "K", "T", "tau"] as const;
  const { positionals, config, flags } = parseFlags(argv, {
    embeddings: "string",
    labelsFile: "string",
    ...Object.fromEntries(names.map((k) => [k, "string"])),
  } as Record<string, "string">);
  const opts: Partial<Table5Options> = {};
  for (const k of names) {
    if (flags[k] === undefined) continue;
    const v = Number(flags[k]);
    if (!Number.isFinite(v)) throw new Error(`--${k}: ${JSON.stringify(flags[k])} is not a number`);
    opts[k] = v;
  }
  const extra = Object.keys(config).filter((k) => !["out", "threads", "labels"].includes(k));
  if (extra.length > 0) throw new Error(`llp bench propagation takes no --${extra.join(", --")} (see llp --help)`);
  // Table 5 runs on the kernel addon and in plain arrays: libtorch loads only to read a run's bank
  const threads = typeof config.threads === "number" ? config.threads : undefined;
  if (threads !== undefined) setKernelThreads(threads);
  const out = config.out as string | undefined;
  if (out !== undefined && existsSync(out)) throw new Error(`${out} exists; choose another --out`);
  let v: Float32Array;
  let truth: Int32Array;
  let d: number;
  let source: string;
  if (positionals.length === 1 && flags.embeddings === undefined) {
    const runDir = positionals[0] as string;
    const run = await openRun(runDir, threads); // the run's saved thread count must not replace --threads
    try {
      const V = run.state.method.stateDict().get("bank.V");
      if (!V) throw new Error(`${runDir}: the ${run.cfg.method} method keeps no memory bank (llp does)`);
      v = V.toArray() as Float32Array;
      d = V.size(1);
      truth = run.prepared.data.trueLabels ?? run.prepared.data.labels;
      source = `the final memory bank of ${runDir}`;
    } finally {
      run.dispose();
    }
  } else if (positionals.length === 0 && typeof flags.embeddings === "string") {
    const labels = (config.labels as string | undefined) ?? (flags.labelsFile as string | undefined);
    if (!labels) throw new Error("llp bench propagation --embeddings X.npy needs --labels Y.npy (the class of every row)");
    const ds = await loadNpyFeatures(flags.embeddings, { labels });
    if (ds.shape.length !== 1) throw new Error(`${flags.embeddings}: expected a [N, D] matrix of embeddings`);
    v = ds.data as Float32Array;
    d = ds.shape[0] as number;
    truth = ds.labels;
    source = flags.embeddings;
  } else throw new Error("usage: llp bench propagation RUN_DIR | --embeddings X.npy --labels Y.npy [options]");
  const r = table5(v, truth, d, opts);
  process.stdout.write(table5Markdown(r, source));
  if (out !== undefined) writeFileAtomic(out, `${JSON.stringify({ source, ...r }, null, 2)}\n`);
  return 0;
}
