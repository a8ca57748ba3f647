// `npm run bench:distributed`: data-parallel LLP steps on Fashion-MNIST (1% labelled, batch 128,
// the default network) with P = 1, 2, 4 processes on this machine: each step's wall time and the
// time the ranks spend in collectives (gradient all-reduce, SyncBatchNorm's statistics, the
// bank/label all-gather, the step's statistics), and its share of the step. P processes share this
// machine's cores (P = 1 runs 2 threads; P >= 2 one thread a rank; P = 4 oversubscribes 2 cores).
// Then `llp propagate` on a clustered synthetic set (250k x 128, 10% labelled) with 1 process at 1
// and 2 kernel threads and with --nproc 2 (1 thread each), wall to wall, rounds alternating.
// Run it on an otherwise idle machine; the load average is recorded.
//
//   npm run bench:distributed -- [--procs 1,2,4] [--steps 40] [--skip 5] [--rounds 2] [--no-write]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { freePort } from "../src/cli/launch.js";
import { writeNpy } from "../src/report/npy.js";
import { median, r2 } from "./common.js";

const { values: args } = parseArgs({
  options: {
    procs: { type: "string", default: "1,2,4" },
    steps: { type: "string", default: "40" },
    skip: { type: "string", default: "5" },
    rounds: { type: "string", default: "2" },
    /** the propagation part: points of a clustered synthetic set (0: skip) */
    "propagate-n": { type: "string", default: "250000" },
    /** skip the training part */
    "no-training": { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});
const repo = new URL("../../", import.meta.url).pathname;
const worker = `${repo}dist/bench/distributed-worker.js`;

/** One run of P ranks: rank 0's per-step records. */
async function runP(P: number): Promise<{ ms: number; comm_ms: number }[]> {
  const port = String(await freePort());
  const threads = P === 1 ? "2" : "1";
  const outs = await Promise.all(
    Array.from({ length: P }, (_, r) => {
      return new Promise<string>((ok, fail) => {
        const c = spawn(process.execPath, [worker, "--steps", args.steps as string, "--skip", args.skip as string, "--threads", threads], {
          env: { ...process.env, RANK: String(r), WORLD_SIZE: String(P), MASTER_PORT: port },
          stdio: ["ignore", "pipe", "inherit"],
        });
        let out = "";
        c.stdout.on("data", (d) => {
          out += d;
        });
        c.on("exit", (code) => (code === 0 ? ok(out) : fail(new Error(`rank ${r} of ${P} exited with ${code}`))));
      });
    }),
  );
  return (outs[0] as string)
    .trim()
    .split("\n")
    .filter((l) => l)
    .map((l) => JSON.parse(l));
}

const load0 = loadavg();
const procs = (args.procs as string).split(",").map(Number);
const perP = new Map<number, { step: number[]; comm: number[] }>(procs.map((p) => [p, { step: [], comm: [] }]));
const rows: Record<string, unknown>[] = [];
for (let round = 0; round < (args["no-training"] ? 0 : Number(args.rounds)); round++)
  for (const P of procs) {
    const recs = await runP(P);
    const m = perP.get(P) as { step: number[]; comm: number[] };
    m.step.push(median(recs.map((r) => r.ms)));
    m.comm.push(median(recs.map((r) => r.comm_ms)));
    process.stderr.write(
      `P=${P} round ${round}: step ${r2(m.step.at(-1) as number)} ms, communication ${r2(m.comm.at(-1) as number)} ms\n`,
    );
  }
for (const P of args["no-training"] ? [] : procs) {
  const m = perP.get(P) as { step: number[]; comm: number[] };
  const step = median(m.step);
  const comm = median(m.comm);
  rows.push({
    procs: P,
    threads_per_rank: P === 1 ? 2 : 1,
    step_ms: r2(step),
    step_ms_range: [r2(Math.min(...m.step)), r2(Math.max(...m.step))],
    comm_ms: r2(comm),
    comm_ms_range: [r2(Math.min(...m.comm)), r2(Math.max(...m.comm))],
    comm_share: r2(comm / step),
    oversubscribed: P > cpus().length,
  });
}
const propagation = Number(args["propagate-n"]) > 0 ? await propagationPart(Number(args["propagate-n"])) : null;
const result = {
  what: "data-parallel LLP steps, Fashion-MNIST 1%, batch 128 (global), small-cnn; rank 0's medians over steps, then over rounds",
  command: `npm run bench:distributed -- --procs ${args.procs} --steps ${args.steps} --skip ${args.skip} --rounds ${args.rounds}`,
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "" },
  loadavg_before: load0.map(r2),
  loadavg_after: loadavg().map(r2),
  date: new Date().toISOString(),
  rows,
  propagation,
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (!args["no-write"]) {
  const file = `${repo}bench/results/distributed.json`;
  const prev = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  writeFileSync(
    file,
    `${JSON.stringify({ ...prev, ...(args["no-training"] ? {} : { training: result }), ...(propagation ? { propagation: { command: result.command, machine: result.machine, loadavg_before: result.loadavg_before, loadavg_after: result.loadavg_after, date: result.date, ...propagation } } : {}) }, null, 2)}\n`,
  );
}

/** llp propagate wall to wall: 1 process at 1 and 2 threads, and 2 processes at 1 thread each. */
async function propagationPart(n: number) {
  const dir = `${repo}bench/tmp/distributed`;
  mkdirSync(dir, { recursive: true });
  const X = `${dir}/x${n}.npy`;
  const Y = `${dir}/y${n}.npy`;
  const D = 128;
  if (!existsSync(X)) {
    // 100 clusters on the sphere, 10% of the points labelled with their cluster's class (10 classes)
    let s = 1;
    const u = () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648 - 0.5;
    };
    const centres = Float32Array.from({ length: 100 * D }, u);
    const x = new Float32Array(n * D);
    const y = new Int32Array(n).fill(-1);
    for (let i = 0; i < n; i++) {
      const c = i % 100;
      for (let j = 0; j < D; j++) x[i * D + j] = (centres[c * D + j] as number) + 0.35 * u();
      if (i % 10 === 0) y[i] = c % 10;
    }
    writeNpy(X, x, [n, D]);
    writeNpy(Y, y, [n]);
  }
  const runs = [
    { name: "1 process, 1 thread", args: ["--threads", "1"] },
    { name: "1 process, 2 threads", args: ["--threads", "2"] },
    { name: "2 processes, 1 thread each", args: ["--nproc", "2", "--threads", "1"] },
  ];
  const times = new Map<string, number[]>(runs.map((r) => [r.name, []]));
  for (let round = 0; round < Number(args.rounds); round++)
    for (const r of round % 2 ? [...runs].reverse() : runs) {
      const out = `${dir}/out-${n}`;
      rmSync(out, { recursive: true, force: true });
      const t0 = performance.now();
      const p = spawnSync(process.execPath, [`${repo}bin/llp.js`, "propagate", "--embeddings", X, "--labels", Y, "--out", out, ...r.args], {
        encoding: "utf8",
      });
      const s = (performance.now() - t0) / 1000;
      if (p.status !== 0) throw new Error(`${r.name}: ${p.stderr}`);
      times.get(r.name)?.push(s);
      process.stderr.write(`propagate ${n}: ${r.name}: ${r2(s)} s\n`);
    }
  const med = (k: string) => median(times.get(k) as number[]);
  return {
    what: `llp propagate, ${n} x ${D} synthetic (100 clusters), 10% labelled, rule llp, K = 10, T = 25; wall to wall (process start, libtorch load for c10d included)`,
    seconds: Object.fromEntries(runs.map((r) => [r.name, { median: r2(med(r.name)), all: (times.get(r.name) as number[]).map(r2) }])),
    speedup_2proc_vs_1thread: r2(med(runs[0]?.name as string) / med(runs[2]?.name as string)),
    speedup_2proc_vs_2threads: r2(med(runs[1]?.name as string) / med(runs[2]?.name as string)),
  };
}
