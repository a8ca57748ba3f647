// `llp propagate`: labels from a few labelled points to every point of a set of embeddings, by
// LLP's rule (Eq. 8) or weighted kNN, streamed so that N is bounded by the disk, not by memory;
// or, given a run folder, the run's final memory bank propagated again under other settings and
// scored against the true labels the run hid.
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import { resolveConfig } from "../config.js";
import { readLabelsFor } from "../data/features.js";
import { NpyMatrixReader, NpyWriter } from "../data/npy-stream.js";
import { groupFromEnv } from "../distributed/group.js";
import { setKernelThreads } from "../propagation/kernel.js";
import { RULES, resolvePropagation } from "../propagation/rules.js";
import { type EmbeddingRule, memoryRows, type PropagatedBlock, propagateStream } from "../propagation/stream.js";
import { openRun } from "../train/run.js";
import { onlyConfig, parseFlags } from "./args.js";
import { distTimeoutMs, launch, launchOptions, threadsPerWorker, watchLauncher, withoutLaunchFlags } from "./launch.js";
import { ProgressBar } from "./progress.js";

export const PROPAGATE_HELP = `llp propagate --embeddings X.npy --labels Y --out OUT [--force]
                                 labels for every row of X ([N, D] float32/float16/float64, read in blocks) from the
                                 labelled rows of Y (.npy or .csv, one per row; -1 or empty = unlabelled), by Eq. 8
                                 (--propagation llp, default) or weighted kNN (weighted-knn); --K --T --tau;
                                 OUT.csv: index,label,confidence,given; else a folder of labels.npy, confidence.npy,
                                 given.npy (+ voters.npy, shares.npy with --voters: each point's K voters);
                                 --nproc P shares the blocks among P processes (--nnodes etc. as llp train)
llp propagate RUN_DIR [--tau 0.05,0.07] [--K 10,50] [--T 25] [--propagation llp,weighted-knn] [--out FILE.json]
                                 a run's final memory bank propagated again under each setting, scored on the
                                 points whose true labels the run hid`;

/** The collective timeout of `llp propagate --nproc`: one pass over a rank's blocks may take minutes at 1M points. */
const PROPAGATE_TIMEOUT_MS = 600_000;

const EXTRA = {
  embeddings: "string",
  force: "boolean",
  voters: "boolean",
  block: "string",
  K: "string",
  T: "string",
  tau: "string",
  propagation: "string",
  nproc: "string",
  nnodes: "string",
  nodeRank: "string",
  masterAddr: "string",
  masterPort: "string",
} as const;

export async function propagateCmd(argv: string[]): Promise<number> {
  const { positionals, config, flags } = parseFlags(argv, { ...EXTRA });
  if (positionals.length > 1) throw new Error(`llp propagate takes at most one run folder, got ${positionals.join(" ")}`);
  const run = positionals[0];
  if (run !== undefined) {
    if (flags.embeddings !== undefined) throw new Error("llp propagate: give a run folder or --embeddings, not both");
    if (flags.nproc !== undefined)
      throw new Error("llp propagate RUN_DIR runs in one process; --nproc shares `llp propagate --embeddings` among processes");
    onlyConfig(config, ["out", "threads"], "propagate RUN_DIR");
    return propagateRun(run, flags, config.out as string | undefined, config.threads as number | undefined);
  }
  const launching = launchOptions(flags);
  if (launching) {
    const o = { ...launching, graceMs: distTimeoutMs(PROPAGATE_TIMEOUT_MS) + 30_000 };
    return launch(process.argv[1] as string, ["propagate", ...withoutLaunchFlags(argv)], o, (s) => process.stderr.write(s));
  }
  return propagateEmbeddings(flags, config);
}

/** "0.05,0.07" -> [0.05, 0.07], each checked by resolveConfig like the single value would be. */
function list<T>(v: string | boolean | undefined, key: "K" | "T" | "tau" | "propagation", fallback: T): T[] {
  if (v === undefined) return [fallback];
  const parts = String(v)
    .split(",")
    .map((s) => s.trim());
  return parts.map((p) => {
    const raw = key === "propagation" ? p : Number(p);
    if (typeof raw === "number" && !Number.isFinite(raw)) throw new Error(`--${key}: ${JSON.stringify(p)} is not a number`);
    return resolveConfig({ [key]: raw })[key] as T;
  });
}

function embeddingRule(kind: string): EmbeddingRule {
  const k = resolvePropagation(kind as never, [0]);
  if (RULES[k].needsClassifier) throw new Error(`--propagation ${k} needs a classifier head; llp propagate has only embeddings`);
  return k as EmbeddingRule;
}

function one<T>(values: T[], key: string): T {
  if (values.length !== 1) throw new Error(`--${key}: one value when propagating embeddings (a list sweeps a run folder's bank)`);
  return values[0] as T;
}

async function propagateEmbeddings(flags: Record<string, string | boolean>, config: Record<string, unknown>): Promise<number> {
  const embFile = flags.embeddings as string | undefined;
  const labelsFile = config.labels as string | undefined;
  const out = config.out as string | undefined;
  if (!embFile || !labelsFile || !out) throw new Error(`usage: ${PROPAGATE_HELP.split("\n")[0]}`);
  const base = resolveConfig({ ...config, labels: labelsFile, out });
  const rule = embeddingRule(one(list(flags.propagation, "propagation", base.propagation), "propagation"));
  let K = one(list(flags.K, "K", base.K), "K");
  let T = one(list(flags.T, "T", base.T), "T");
  const tau = one(list(flags.tau, "tau", base.tau), "tau");
  if (rule === "weighted-knn" && (flags.T !== undefined || config.T !== undefined))
    throw new Error("--T sets the density's neighbours; --propagation weighted-knn has no density");
  const block = flags.block === undefined ? 16384 : Number(flags.block);
  if (!Number.isInteger(block) || block < 1) throw new Error(`--block must be a positive integer, got ${flags.block}`);
  if (existsSync(out) && !flags.force) throw new Error(`${out} exists; --force replaces it`);
  if (!existsSync(dirname(resolve(out)))) throw new Error(`${out}: its folder ${dirname(out)} does not exist`);
  // a worker of `llp propagate --nproc` (or of torchrun's environment): joins its group first
  const groupOptions = groupFromEnv();
  const { ProcessGroup, streamGroup } =
    groupOptions && groupOptions.worldSize > 1 ? await import("../distributed/group.js") : { ProcessGroup: null, streamGroup: null };
  if (ProcessGroup) watchLauncher();
  const pg = groupOptions && ProcessGroup ? ProcessGroup.init({ ...groupOptions, timeoutMs: distTimeoutMs(PROPAGATE_TIMEOUT_MS) }) : null;
  const group = pg && streamGroup ? streamGroup(pg) : null;
  const writer = !group || group.rank === 0;
  if (base.threads !== null) setKernelThreads(base.threads);
  else if (group) setKernelThreads(threadsPerWorker(Number(process.env.LOCAL_WORLD_SIZE ?? 1)));
  const src = new NpyMatrixReader(embFile);
  try {
    const { labels, classNames } = await readLabelsFor(embFile, src.n, { labels: labelsFile });
    // a K or T the user gave must exist; the defaults shrink to what there is, and say so
    const m = labels.reduce((a, y) => a + (y >= 0 ? 1 : 0), 0);
    if (flags.K === undefined && config.K === undefined && m > 0 && K > m) {
      if (writer) process.stderr.write(`llp propagate: ${m} labelled points, so K = ${m} voters (default ${K})\n`);
      K = m;
    }
    if (flags.T === undefined && config.T === undefined && T > src.n) T = src.n;
    const csv = extname(out).toLowerCase() === ".csv";
    const tmp = `${out}.partial-${process.pid}`;
    const bar = writer ? new ProgressBar() : null;
    let done: ReturnType<typeof propagateStream>;
    let sink: Sink | null = null;
    try {
      // only rank 0 writes; the other ranks' blocks reach it through the group
      sink = !writer
        ? { write: () => {}, close: () => {}, abort: () => {} }
        : csv
          ? csvSink(tmp)
          : folderSink(tmp, src.n, K, Boolean(flags.voters));
      done = propagateStream(
        src,
        labels,
        {
          K,
          T,
          tau,
          rule,
          numClasses: classNames.length,
          block,
          voters: Boolean(flags.voters),
          progress: (p, i, n) => bar?.update(p, i, n),
        },
        sink.write,
        group,
      );
      sink.close();
    } catch (e) {
      sink?.abort();
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      bar?.done();
    }
    if (!writer) return 0;
    if (existsSync(out)) rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
    const summary = { out, n: src.n, labelled: done.labelled, classes: classNames.length, propagation: rule };
    if (!csv)
      writeFileSync(
        join(out, "propagate.json"),
        `${JSON.stringify({ ...summary, K, T, tau, classNames, embeddings: embFile, labels: labelsFile, density_s: done.density_s, vote_s: done.vote_s, processes: group?.worldSize ?? 1 }, null, 2)}\n`,
      );
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } finally {
    src.close();
    pg?.destroy();
  }
}

interface Sink {
  write: (b: PropagatedBlock) => void;
  close: () => void;
  abort: () => void;
}

/** index,label,confidence,given (+ voters, shares as space-separated lists with --voters), one row per point. */
function csvSink(path: string): Sink {
  const fd = openSync(path, "wx");
  let header = false;
  let closed = false;
  return {
    write: (b) => {
      const k = b.voters ? b.voters.length / b.y.length : 0;
      if (!header) {
        writeSync(fd, `index,label,confidence,given${k ? ",voters,shares" : ""}\n`);
        header = true;
      }
      const lines: string[] = [];
      for (let i = 0; i < b.y.length; i++) {
        let line = `${b.start + i},${b.y[i]},${b.c[i]},${b.given[i]}`;
        if (b.voters && b.share) {
          const v = Array.from(b.voters.subarray(i * k, (i + 1) * k), String).join(" ");
          const s = Array.from(b.share.subarray(i * k, (i + 1) * k), (x) => x.toPrecision(6)).join(" ");
          line += `,${v},${s}`;
        }
        lines.push(line);
      }
      writeSync(fd, `${lines.join("\n")}\n`);
    },
    close: () => {
      closed = true;
      closeSync(fd);
    },
    abort: () => {
      if (!closed) closeSync(fd);
      closed = true;
    },
  };
}

/** labels.npy int32 [N], confidence.npy float32 [N], given.npy uint8 [N] (+ voters.npy int64 [N, K], shares.npy float32 [N, K]). */
function folderSink(dir: string, n: number, K: number, voters: boolean): Sink {
  mkdirSync(dir);
  const files = [
    new NpyWriter(join(dir, "labels.npy"), "int32", [n]),
    new NpyWriter(join(dir, "confidence.npy"), "float32", [n]),
    new NpyWriter(join(dir, "given.npy"), "uint8", [n]),
    ...(voters ? [new NpyWriter(join(dir, "voters.npy"), "int64", [n, K]), new NpyWriter(join(dir, "shares.npy"), "float32", [n, K])] : []),
  ];
  const [y, c, g, v, s] = files as [NpyWriter, NpyWriter, NpyWriter, NpyWriter?, NpyWriter?];
  return {
    write: (b) => {
      y.write(b.y);
      c.write(b.c);
      g.write(b.given);
      if (v && s && b.voters && b.share) {
        v.write(b.voters);
        s.write(b.share);
      }
    },
    close: () => {
      for (const f of files) f.close();
    },
    abort: () => {
      for (const f of files) f.abort();
    },
  };
}

/** The run's final bank propagated again under every combination of the given settings. */
async function propagateRun(
  runDir: string,
  flags: Record<string, string | boolean>,
  out: string | undefined,
  threads: number | undefined,
): Promise<number> {
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) throw new Error(`${runDir}: not a run folder`);
  if (flags.voters || flags.block !== undefined || flags.force)
    throw new Error("llp propagate RUN_DIR: --voters, --block and --force apply to --embeddings");
  if (out !== undefined && existsSync(out)) throw new Error(`${out} exists; choose another --out`);
  const run = await openRun(runDir, threads);
  try {
    const V = run.state.method.stateDict().get("bank.V"); // [N, D], the method's own tensor
    if (!V) throw new Error(`${runDir}: the ${run.cfg.method} method keeps no memory bank to propagate over (llp does)`);
    const data = run.prepared.data;
    const truth = data.trueLabels;
    const [n, d] = V.shape as [number, number];
    const src = memoryRows(V.toArray() as Float32Array, n, d);
    // the run's own rule, unless it reads the classifier head (then Eq. 8, the rule of bare embeddings)
    const own = resolvePropagation(run.cfg.propagation, [0]);
    const rules = list(flags.propagation, "propagation", RULES[own].needsClassifier ? "llp" : own).map(embeddingRule);
    const rows: Record<string, number | string | null>[] = [];
    for (const rule of [...new Set(rules)])
      for (const tau of list(flags.tau, "tau", run.cfg.tau))
        for (const K of list(flags.K, "K", run.cfg.K))
          for (const T of rule === "llp" ? list(flags.T, "T", run.cfg.T) : [run.cfg.T]) {
            let hit = 0;
            let scored = 0;
            let conf = 0;
            let unl = 0;
            propagateStream(src, data.labels, { K, T, tau, rule, numClasses: data.numClasses }, (b) => {
              for (let i = 0; i < b.y.length; i++) {
                if (b.given[i]) continue;
                unl++;
                conf += b.c[i] as number;
                const t = truth?.[b.start + i];
                if (t === undefined || t < 0) continue;
                scored++;
                if (t === b.y[i]) hit++;
              }
            });
            rows.push({
              rule,
              tau,
              K,
              T: rule === "llp" ? T : null,
              accuracy: scored ? hit / scored : null,
              mean_confidence: unl ? conf / unl : null,
              scored,
            });
          }
    const stored = storedAccuracy(run.state.method.labels, data.labels, truth);
    const fmt = (x: unknown) => (typeof x === "number" ? (Number.isInteger(x) ? String(x) : x.toFixed(4)) : "-");
    const lines = [
      `${runDir}: ${n} points, ${data.labels.filter((y) => y >= 0).length} labelled; ${truth ? "accuracy on the unlabelled points whose true labels the run hid" : "no true labels known: accuracy not scored"}`,
      "",
      "| rule | tau | K | T | accuracy | mean confidence |",
      "| --- | --- | --- | --- | --- | --- |",
      ...rows.map((r) => `| ${r.rule} | ${r.tau} | ${r.K} | ${r.T ?? "-"} | ${fmt(r.accuracy)} | ${fmt(r.mean_confidence)} |`),
      ...(stored !== null ? ["", `the run's stored pseudo-labels: accuracy ${stored.toFixed(4)}`] : []),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    if (out !== undefined)
      writeFileSync(out, `${JSON.stringify({ run: runDir, n, rows, stored_accuracy: stored }, null, 2)}\n`, { flag: "wx" });
    return 0;
  } finally {
    run.dispose();
  }
}

function storedAccuracy(labels: { y: Int32Array } | null | undefined, given: Int32Array, truth: Int32Array | null): number | null {
  if (!labels || !truth) return null;
  let hit = 0;
  let k = 0;
  for (let i = 0; i < given.length; i++) {
    if ((given[i] as number) >= 0 || (truth[i] as number) < 0) continue;
    k++;
    if (labels.y[i] === truth[i]) hit++;
  }
  return k ? hit / k : null;
}
