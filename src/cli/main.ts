// llp's command line: parse, resolve the config, call the library, report. Nothing else.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { type Config, resolveConfig } from "../config.js";
import { findIdxPair } from "../data/idx.js";
import { type LoadOptions, loadDataset } from "../data/load.js";
import { type GroupOptions, groupFromEnv, type ProcessGroup } from "../distributed/group.js";
import { embedAll, perClass } from "../eval/metrics.js";
import { exportRunOnnx, HEADS, notExportable } from "../export/onnx.js";
import { writeNpy } from "../report/npy.js";
import { defaultRunDir, writeJson } from "../report/runfolder.js";
import { writeFileAtomic } from "../torch/safetensors.js";
import { dispose, tidy } from "../torch/scope.js";
import { inferenceNet } from "../train/checkpoint.js";
import { normalizedInputs } from "../train/data.js";
import { evaluateRun, Interrupted, openRun, predictRun, readRunConfig, runTraining } from "../train/run.js";
import { choice, configHelp, onlyConfig, parseFlags } from "./args.js";
import { BENCH_HELP, benchCmd } from "./bench.js";
import { runDemo } from "./demo.js";
import { decodeInputs } from "./inputs.js";
import { distTimeoutMs, launch, launchOptions, threadsPerWorker, watchLauncher, withoutLaunchFlags } from "./launch.js";
import { Progress } from "./progress.js";
import { PROPAGATE_HELP, propagateCmd } from "./propagate.js";
import { TRANSFER_HELP, transferCmd } from "./transfer.js";

const HELP = `llp: semi-supervised learning by Local Label Propagation (Zhuang et al. 2019)

  llp train [options]              train (default: Fashion-MNIST); --resume RUN_DIR continues a run;
                                   --report rewrites RUN_DIR/report.html after every checkpoint;
                                   --nproc P trains data-parallel in P processes (c10d, Gloo), across hosts
                                   with --nnodes N --node-rank R --master-addr HOST0 --master-port PORT
                                   (torchrun's RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT work too;
                                   LLP_DIST_TIMEOUT_MS bounds every collective, default 300000)
  llp eval RUN_DIR [--on validation]   test top-1/top-5 of the classifier head and bank kNN, per class
  llp predict RUN_DIR INPUT...     class, confidence, top-5 (images, folders of images, or a .npy of rows) [--format csv]
  llp embed RUN_DIR --out FILE.npy embeddings v of the training pool (row i is example FILE.index.npy[i]
                                   of the dataset), or of any --data SPEC in its own order
  ${PROPAGATE_HELP.replace(/\n(?=.)/g, "\n  ")}
  llp export RUN_DIR --out FILE.onnx [--head both|classifier|embedding] [--force]
                                   the network as ONNX (opset 17, batch dimension dynamic, pixels 0-255
                                   in, normalisation inside), for onnxruntime-node/-web without libtorch
  llp report RUN_DIR [RUN_DIR...] [--out FILE.html]
                                   a self-contained HTML report (curves, pseudo-label reliability, confusion,
                                   the paper's Fig. 2 analyses; charts also as SVG/PNG); default RUN_DIR/report.html
  llp suggest RUN_DIR --budget N [--out FILE.csv]
                                   unlabelled points to label next (unsure, in dense regions, class-balanced):
                                   rank, index, row, file, pseudo_label, confidence, log_density, score
  llp demo                         supervised-only vs LLP on the same Fashion-MNIST labels
  ${BENCH_HELP.replace(/\n(?=.)/g, "\n  ")}
  ${TRANSFER_HELP.replace(/\n(?=.)/g, "\n  ")}
train options (default, where it comes from):
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // `llp train --help` (any command): the help, not a run
  if (rest.some((a) => a === "--help" || a === "-h")) return main(["--help"]);
  switch (cmd) {
    case "train":
      return trainCmd(rest);
    case "eval":
      return evalCmd(rest);
    case "predict":
      return predictCmd(rest);
    case "embed":
      return embedCmd(rest);
    case "propagate":
      return propagateCmd(rest);
    case "export":
      return exportCmd(rest);
    case "report":
      return reportCmd(rest);
    case "suggest":
      return suggestCmd(rest);
    case "demo":
      return runDemo(rest);
    case "bench":
      return benchCmd(rest);
    case "transfer":
      return transferCmd(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${HELP}${configHelp()}\n`);
      return 0;
    default:
      throw new Error(`unknown command "${cmd}" (llp --help)`);
  }
}

async function trainCmd(argv: string[]): Promise<number> {
  const { config, flags } = parseFlags(argv, {
    resume: "string",
    report: "boolean",
    nproc: "string",
    nnodes: "string",
    nodeRank: "string",
    masterAddr: "string",
    masterPort: "string",
  });
  const launching = launchOptions(flags);
  if (launching) {
    const checked = resolveConfig(config); // a bad option fails here, once, not in every worker
    const world = launching.nproc * launching.nnodes;
    if (typeof flags.resume !== "string" && checked.batchSize < world)
      throw new Error(
        `batchSize (--batch-size) = ${checked.batchSize} gives each of ${world} processes less than one row: give at least ${world}`,
      );
    const o = { ...launching, graceMs: distTimeoutMs(TRAIN_TIMEOUT_MS) + 30_000 };
    return launch(process.argv[1] as string, ["train", ...withoutLaunchFlags(argv)], o, (s) => process.stderr.write(s));
  }
  // a worker of a group (llp train --nproc, torchrun's environment): joins it before anything else
  const groupOptions = groupFromEnv();
  const group = groupOptions && groupOptions.worldSize > 1 ? await joinGroup(groupOptions) : null;
  const quiet = group !== null && group.rank !== 0;
  if (group && config.threads === undefined) config.threads = threadsPerWorker(Number(process.env.LOCAL_WORLD_SIZE ?? 1));
  let cfg: Config;
  let runDir: string;
  if (typeof flags.resume === "string") {
    runDir = flags.resume;
    // the saved config, except the machine's share: --threads may differ from the first start
    const { threads, ...rest } = config;
    if (Object.keys(rest).length > 0) throw new Error("--resume continues a run with its saved config; only --threads may change");
    cfg = { ...readRunConfig(runDir), ...(threads !== undefined ? { threads: threads as number | null } : {}) };
  } else {
    cfg = resolveConfig(config);
    runDir = cfg.out ?? defaultRunDir(cfg);
  }
  const progress = quiet ? null : new Progress();
  // SIGINT/SIGTERM: finish the step under way, then stop (the checkpoint on disk stays whole); a second one exits at once
  const stop = new AbortController();
  const onSignal = stopOnSignal(stop, (s) => process.stderr.write(s), process.exit);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const summary = await runTraining(cfg, runDir, {
      resume: typeof flags.resume === "string",
      onEvent: async (ev) => {
        progress?.on(ev);
        // --report: the report of the run so far after every checkpoint, and of the finished run
        if (!quiet && flags.report === true && (ev.type === "checkpoint" || ev.type === "end"))
          await (await import("../report/report.js"))
            .writeReport([runDir], join(runDir, "report.html"), { threads: cfg.threads })
            .catch((e: Error) => process.stderr.write(`llp: the report could not be written (${e.message}); training goes on\n`));
      },
      signal: stop.signal,
      group,
    });
    if (!quiet) process.stdout.write(`${JSON.stringify({ run: runDir, ...summary })}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof Interrupted)) throw e;
    if (!quiet) process.stderr.write(`llp: ${e.message}\n`);
    return 130;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    group?.destroy();
  }
}

/** Joins the group torchrun's variables describe; a worker of the launcher also exits when the launcher is gone. */
async function joinGroup(o: GroupOptions): Promise<ProcessGroup> {
  const { ProcessGroup } = await import("../distributed/group.js");
  watchLauncher();
  return ProcessGroup.init({ ...o, timeoutMs: distTimeoutMs(TRAIN_TIMEOUT_MS) });
}

/** Training's default collective timeout: long enough for rank 0's checkpoint, snapshots and --report between epochs. */
const TRAIN_TIMEOUT_MS = 300_000;
/**
 * The handler of SIGINT/SIGTERM during training: the first asks the loop to stop after the step
 * under way (stop.abort()); a second exits at once with status 130.
 */
export function stopOnSignal(stop: AbortController, write: (s: string) => void, exit: (code: number) => void) {
  return (sig: NodeJS.Signals): void => {
    if (stop.signal.aborted) {
      write(`\nllp: ${sig} again: exiting at once\n`);
      exit(130);
      return;
    }
    write(`\nllp: ${sig}: stopping after the step under way (${sig} again to exit at once)\n`);
    stop.abort();
  };
}

async function evalCmd(argv: string[]): Promise<number> {
  const { positionals, config, flags } = parseFlags(argv, { on: "string" });
  onlyConfig(config, ["threads"], "eval");
  const on = choice(flags.on, "on", ["test", "validation"] as const);
  const runDir = one(positionals, "RUN_DIR");
  const run = await openRun(runDir, config.threads as number | undefined);
  try {
    const acc = await evaluateRun(run, on);
    const out = {
      run: runDir,
      on,
      top1: acc.top1,
      top5: acc.top5,
      knn_top1: acc.knnTop1,
      nn_top1: acc.nnTop1,
      per_class: perClass(acc.confusion, run.info.classNames),
      confusion: acc.confusion,
    };
    writeJson(join(runDir, `eval-${on}.json`), out);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    run.dispose();
  }
  return 0;
}

async function predictCmd(argv: string[]): Promise<number> {
  const { positionals, config, flags } = parseFlags(argv, { format: "string" });
  onlyConfig(config, ["threads"], "predict");
  const format = choice(flags.format, "format", ["json", "csv"] as const);
  const [runDir, ...inputs] = positionals;
  if (!runDir || inputs.length === 0) throw new Error("usage: llp predict RUN_DIR INPUT... [--format json|csv]");
  const run = await openRun(runDir, config.threads as number | undefined);
  try {
    const { x, names } = await decodeInputs(inputs, run.info.inputShape, run.info.normalization);
    const rows = tidy(() => {
      const p = predictRun(run, x).probs; // [B, C]
      const [top, idx] = p.topk(Math.min(5, p.size(1)), 1, true);
      const tp = top.toNumbers();
      const ti = idx.toNumbers();
      const k = top.size(1);
      return names.map((name, b) => ({
        input: name,
        class: run.info.classNames[ti[b * k] as number],
        confidence: tp[b * k],
        top5: Array.from({ length: k }, (_, j) => ({ class: run.info.classNames[ti[b * k + j] as number], p: tp[b * k + j] })),
      }));
    });
    x.dispose();
    if (format === "csv") {
      process.stdout.write("input,class,confidence\n");
      for (const r of rows) process.stdout.write(`${JSON.stringify(r.input)},${JSON.stringify(r.class)},${r.confidence}\n`);
    } else process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  } finally {
    run.dispose();
  }
  return 0;
}

async function exportCmd(argv: string[]): Promise<number> {
  const { positionals, config, flags } = parseFlags(argv, { head: "string", force: "boolean", output: "string" });
  onlyConfig(config, ["out", "threads"], "export");
  const runDir = one(positionals, "RUN_DIR");
  const head = choice(flags.head, "head", HEADS);
  const out = outPath(flags, config) ?? undefined;
  if (!out) throw new Error("usage: llp export RUN_DIR --out FILE.onnx [--head both|classifier|embedding] [--force]");
  if (existsSync(out) && flags.force !== true) throw new Error(`${out} exists: give --force to replace it`);
  const why = notExportable(runDir);
  if (why) throw new Error(why);
  const t0 = performance.now();
  const run = await openRun(runDir, config.threads as number | undefined);
  try {
    const bytes = exportRunOnnx(run, head, packageVersion());
    writeFileAtomic(out, bytes);
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(`${JSON.stringify({ out, head, bytes: bytes.length, seconds: Number(seconds.toFixed(2)) })}\n`);
  } finally {
    run.dispose();
  }
  return 0;
}

async function reportCmd(argv: string[]): Promise<number> {
  const { positionals, config, flags } = parseFlags(argv, { output: "string" });
  onlyConfig(config, ["out", "threads"], "report");
  if (positionals.length === 0) throw new Error("usage: llp report RUN_DIR [RUN_DIR...] [--out FILE.html]");
  const out = outPath(flags, config) ?? (positionals.length === 1 ? join(positionals[0] as string, "report.html") : "report.html");
  // the report and suggest modules load the chart grammar (vega, ~0.3 s): only for the commands that use them
  const { writeReport } = await import("../report/report.js");
  const r = await writeReport(positionals, out, { threads: (config.threads as number | null | undefined) ?? null });
  process.stdout.write(
    `${JSON.stringify({ report: r.html, charts: r.charts.length / 2, chartsDir: r.charts[0] ? dirname(r.charts[0]) : null })}\n`,
  );
  return 0;
}

async function suggestCmd(argv: string[]): Promise<number> {
  const { positionals, config, flags } = parseFlags(argv, { budget: "string", output: "string" });
  onlyConfig(config, ["out", "threads"], "suggest");
  const runDir = one(positionals, "RUN_DIR");
  if (flags.budget === undefined) throw new Error("usage: llp suggest RUN_DIR --budget N [--out FILE.csv]");
  const budget = Number(flags.budget);
  if (!Number.isInteger(budget) || budget < 1) throw new Error(`--budget must be a positive integer, got ${JSON.stringify(flags.budget)}`);
  const out = outPath(flags, config);
  if (!existsSync(join(runDir, "config.json"))) throw new Error(`${runDir} is not a run folder (no config.json)`);
  if (!existsSync(join(runDir, "checkpoint.safetensors")))
    throw new Error(`${runDir} has no checkpoint.safetensors yet (it needs a trained network)`);
  const run = await openRun(runDir, config.threads as number | undefined);
  try {
    const { suggest, suggestionsCsv } = await import("../report/suggest.js");
    const csv = suggestionsCsv(await suggest(run, budget));
    if (out) {
      writeFileAtomic(out, csv);
      process.stdout.write(`${JSON.stringify({ out, rows: csv.trim().split("\n").length - 1 })}\n`);
    } else process.stdout.write(csv);
  } finally {
    run.dispose();
  }
  return 0;
}

async function embedCmd(argv: string[]): Promise<number> {
  const { positionals, config, flags } = parseFlags(argv, { data: "string", output: "string" });
  onlyConfig(config, ["out", "threads"], "embed");
  const runDir = one(positionals, "RUN_DIR");
  // --out is a config key, so parseFlags has read it (as --out FILE or --out=FILE)
  const out = outPath(flags, config) ?? undefined;
  if (!out) throw new Error("llp embed RUN_DIR --out FILE.npy");
  const run = await openRun(runDir, config.threads as number | undefined);
  try {
    const src = typeof flags.data === "string" ? await datasetSource(flags.data, run) : run.prepared.data;
    const { v, logits } = await embedAll(inferenceNet(run.state), { n: src.n, inputs: src.inputs });
    writeNpy(out, v.toArray() as Float32Array, v.shape);
    dispose([v, logits]);
    // --data rows are in that data's order; the training pool's rows are split.train's examples
    let index: string | null = null;
    if (typeof flags.data !== "string") {
      index = `${out.replace(/\.npy$/i, "")}.index.npy`;
      writeNpy(index, run.prepared.split.train, [run.prepared.split.train.length]);
    }
    process.stdout.write(`${JSON.stringify({ out, n: src.n, dim: run.cfg.embeddingDim, ...(index ? { index } : {}) })}\n`);
  } finally {
    run.dispose();
  }
  return 0;
}

/** Any dataset spec, read as the run's inputs: images at the run's size and colour, no labels needed. */
async function datasetSource(spec: string, run: Awaited<ReturnType<typeof openRun>>) {
  const shape = run.info.inputShape;
  const ext = extname(spec).toLowerCase();
  const imageFolder = shape.length === 3 && existsSync(spec) && statSync(spec).isDirectory() && findIdxPair(spec, "train") === null;
  const o: LoadOptions =
    ext === ".npy" || ext === ".csv"
      ? { unlabelled: true, ...(ext === ".csv" && run.cfg.labelColumn !== null ? { labelColumn: run.cfg.labelColumn } : {}) }
      : imageFolder
        ? { size: [shape[1] as number, shape[2] as number], color: shape[0] === 1 ? "gray" : "rgb" }
        : {};
  const ds = await loadDataset(spec, o);
  if (ds.shape.join("x") !== shape.join("x"))
    throw new Error(`${spec}: examples of shape [${ds.shape}] do not match the run's inputs [${shape}]`);
  return { n: ds.n, inputs: (idx: Int32Array) => normalizedInputs(ds, run.info.normalization, idx) };
}

function one(pos: string[], what: string): string {
  if (pos.length !== 1) throw new Error(`expected one ${what}, got ${pos.length}`);
  return pos[0] as string;
}

/** llp's version, from its package.json (two folders above dist/src/cli). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** --out FILE of a command that is not training: parseFlags reads --out as the config key (--out FILE or --out=FILE). */
function outPath(flags: Record<string, string | boolean>, config: Record<string, unknown>): string | null {
  return (flags.output as string | undefined) ?? (config.out as string | null | undefined) ?? null;
}
