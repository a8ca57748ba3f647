// `npm run bench:distributed`: data-parallel LLP steps on Fashion-MNIST (1% labelled, batch 128,
// the default network) with P = 1, 2, 4 processes on this machine: each step's wall time and the
// time the ranks spend in collectives (gradient all-reduce, SyncBatchNorm's statistics, the
// bank/label all-gather, the step's statistics), and its share of the step. P processes share this
// machine's cores (P = 1 runs 2 threads; P >= 2 one thread a rank; P = 4 oversubscribes 2 cores).
// Run it on an otherwise idle machine; the load average is recorded.
//
//   npm run bench:distributed -- [--procs 1,2,4] [--steps 40] [--skip 5] [--rounds 2] [--no-write]
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { freePort } from "../src/cli/launch.js";
import { median, r2 } from "./common.js";

const { values: args } = parseArgs({
  options: {
    procs: { type: "string", default: "1,2,4" },
    steps: { type: "string", default: "40" },
    skip: { type: "string", default: "5" },
    rounds: { type: "string", default: "2" },
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
const rows: Record<string, unknown>[] = [];
const procs = (args.procs as string).split(",").map(Number);
const perP = new Map<number, { step: number[]; comm: number[] }>(procs.map((p) => [p, { step: [], comm: [] }]));
for (let round = 0; round < Number(args.rounds); round++)
  for (const P of procs) {
    const recs = await runP(P);
    const m = perP.get(P) as { step: number[]; comm: number[] };
    m.step.push(median(recs.map((r) => r.ms)));
    m.comm.push(median(recs.map((r) => r.comm_ms)));
    process.stderr.write(`P=${P} round ${round}: step ${r2(m.step.at(-1) as number)} ms, communication ${r2(m.comm.at(-1) as number)} ms\n`);
  }
for (const P of procs) {
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
const result = {
  what: "data-parallel LLP steps, Fashion-MNIST 1%, batch 128 (global), small-cnn; rank 0's medians over steps, then over rounds",
  command: `npm run bench:distributed -- --procs ${args.procs} --steps ${args.steps} --skip ${args.skip} --rounds ${args.rounds}`,
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "" },
  loadavg_before: load0.map(r2),
  loadavg_after: loadavg().map(r2),
  date: new Date().toISOString(),
  rows,
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (!args["no-write"]) {
  const file = `${repo}bench/results/distributed.json`;
  const prev = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  writeFileSync(file, `${JSON.stringify({ ...prev, training: result }, null, 2)}\n`);
}
