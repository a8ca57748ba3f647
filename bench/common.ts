// What the side-by-side benchmarks share: persistent JSON-lines workers and robust summaries.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/**
 * glibc malloc settings, as environment variables for a worker process. LLP_MALLOC is what llp's
 * addon sets at load (native/addon.cc): every side of a headline comparison runs under it.
 */
export const LLP_MALLOC = { MALLOC_MMAP_THRESHOLD_: "33554432", MALLOC_TRIM_THRESHOLD_: "1073741824", MALLOC_MMAP_MAX_: "0" };
/** The thresholds raised, mmap still on (a common PyTorch tuning), and glibc's initial values fixed. */
export const THRESHOLDS_MALLOC = { MALLOC_MMAP_THRESHOLD_: "33554432", MALLOC_TRIM_THRESHOLD_: "1073741824" };
export const LOW_MMAP_MALLOC = { MALLOC_MMAP_THRESHOLD_: "131072", MALLOC_TRIM_THRESHOLD_: "131072" };

/** What a PyTorch worker reports of its allocator (bench/malloc_probe.py). */
export interface AllocatorState {
  threshold_raised: boolean;
  mmap_off: boolean;
}

/** Fails unless a worker started under LLP_MALLOC really runs with it. */
export function assertLlpMalloc(ready: Record<string, unknown>, who: string): AllocatorState {
  const a = ready.allocator as AllocatorState | undefined;
  if (!a?.threshold_raised || !a.mmap_off) throw new Error(`${who}: llp's malloc setting did not take effect (${JSON.stringify(a)})`);
  return a;
}

export interface Timing {
  /** Wall-clock ms per step. */
  ms: number[];
  /** Process CPU ms per step (all threads): steadier than wall time on a shared machine. */
  cpu_ms: number[];
}

/** Times n calls of step in this process. */
export function timeSteps(step: () => void, n: number): Timing {
  const t: Timing = { ms: [], cpu_ms: [] };
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    step();
    t.ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    t.cpu_ms.push((c.user + c.system) / 1e3);
  }
  return t;
}

/**
 * A persistent worker process answering one JSON line per request. On start it prints one
 * JSON line describing itself (kept in `ready`); each request {...what, steps} gets a Timing.
 */
export class Worker {
  readonly #proc;
  readonly #lines: AsyncIterator<string>;
  ready: Record<string, unknown> = {};

  constructor(cmd: string, argv: string[], env: Record<string, string>, threads: number) {
    this.#proc = spawn(cmd, argv, {
      env: { ...process.env, ...env, OMP_NUM_THREADS: String(threads), LLP_THREADS: String(threads) },
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.#lines = createInterface({ input: this.#proc.stdout })[Symbol.asyncIterator]();
  }
  async #read(): Promise<Record<string, unknown>> {
    const r = await this.#lines.next();
    if (r.done) throw new Error("benchmark worker exited early");
    return JSON.parse(r.value);
  }
  async start(): Promise<this> {
    this.ready = await this.#read();
    return this;
  }
  async time(request: Record<string, unknown>): Promise<Timing> {
    this.#proc.stdin.write(`${JSON.stringify(request)}\n`);
    return (await this.#read()) as unknown as Timing;
  }
  close(): void {
    this.#proc.stdin.end(`${JSON.stringify({ quit: true })}\n`);
  }
}

export const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
export const median = (a: number[]) => {
  const s = [...a].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
export const r2 = (v: number) => Math.round(v * 100) / 100;

/** One recorded accuracy run (bench/results/accuracy.json). */
export interface AccuracyRun {
  dataset: string;
  labelled: string;
  subset: string;
  method: string;
  model: string;
  seed: number;
  test_top1: number;
  test_top5: number;
  command: string;
  /** the command uses an option llp no longer has */
  removed_option?: boolean;
  /** a cell of `llp bench accuracy`: every method at one budget */
  grid?: boolean;
  /**
   * which generated table shows the run: absent = the README's; "baselines" = docs/methods.md's
   * comparison of every method at a smaller scale (record.js --table)
   */
  table?: string;
}

/** Mean, sample sd (NaN for one value), min and max. */
export const seedStats = (xs: number[]) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)) : Number.NaN;
  return { mean: m, sd, lo: Math.min(...xs), hi: Math.max(...xs) };
};

/** A command without its --seed and --threads: the runs of one setting share it. */
export const seedless = (c: string) =>
  c
    .replace(/ --seed \d+/, "")
    .replace(/ --threads \d+/, "")
    .trim();

/**
 * The machine a benchmark ran on, for its results file: CPU, cores, Node, the engines' versions
 * (given, so this module loads no engine), the date, and the 1-minute load average when the run
 * started and now (other jobs' load: read the per-round numbers with it).
 */
export function machineInfo(loadAtStart: number, versions: Record<string, unknown>) {
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: availableParallelism(),
    node: process.version,
    ...versions,
    date: new Date().toISOString(),
    load_average: [r2(loadAtStart), r2(loadavg()[0] as number)],
  };
}

/** Runs `node bin/llp.js ...args`; resolves with its stdout when it exits 0 (its stderr goes to ours). */
export function llp(...args: string[]): Promise<string> {
  const bin = fileURLToPath(new URL("../../bin/llp.js", import.meta.url));
  return new Promise((ok, fail) => {
    const p = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.on("exit", (code) => (code === 0 ? ok(out) : fail(new Error(`llp ${args.join(" ")} exited ${code}`))));
  });
}

/** A run folder's test top-1 once it has finished: trains it, resumes it after a cut, or keeps it. */
export async function finishedRun(dir: string, trainArgs: string[]): Promise<number> {
  const top1 = () => (JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as { test_top1: number }).test_top1;
  if (existsSync(join(dir, "summary.json"))) return top1();
  if (existsSync(join(dir, "checkpoint.safetensors"))) await llp("train", "--resume", dir, "--threads", "1");
  else await llp("train", ...trainArgs, "--threads", "1", "--out", dir);
  return top1();
}
