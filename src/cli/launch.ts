// `llp train --nproc P`: what torchrun does for a PyTorch script. The launcher starts P worker
// processes of the same command on this host, each with torchrun's environment (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT); across hosts, each host runs the same
// command with its --node-rank. Rank 0 prints; every worker's errors reach stderr marked with its
// rank. When a worker fails, the others are given the group's timeout to fail on their own
// (clear errors) and are then stopped; a stop signal is passed to every worker once.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { availableParallelism } from "node:os";

export interface LaunchOptions {
  nproc: number; // workers on this host
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number | null; // null: a free port (one host only)
  /** how long a failed worker's peers are given to exit on their own before they are stopped */
  graceMs: number;
}

const LAUNCH_FLAGS = ["nproc", "nnodes", "nodeRank", "masterAddr", "masterPort"];
export const isLaunchFlag = (name: string) => LAUNCH_FLAGS.includes(name);

/** Reads the launcher's flags; the rest of argv is the workers' command line. */
export function launchOptions(flags: Record<string, string | boolean>): LaunchOptions | null {
  if (flags.nproc === undefined) {
    const other = LAUNCH_FLAGS.find((k) => flags[k] !== undefined);
    if (other) throw new Error(`--${kebab(other)} goes with --nproc (the workers to start on this host)`);
    return null;
  }
  const int = (k: string, lo: number, hi: number, fallback: number) => {
    const v = flags[k];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (typeof v !== "string" || !/^\d+$/.test(v) || n < lo || n > hi)
      throw new Error(`--${kebab(k)} must be an integer in ${lo}..${hi}, got ${v}`);
    return n;
  };
  const nproc = int("nproc", 1, 256, 1);
  const nnodes = int("nnodes", 1, 4096, 1);
  const nodeRank = int("nodeRank", 0, nnodes - 1, 0);
  const masterPort = flags.masterPort === undefined ? null : int("masterPort", 1, 65535, 29500);
  if (nnodes > 1 && (flags.masterAddr === undefined || masterPort === null))
    throw new Error("--nnodes > 1 needs --master-addr and --master-port (node 0's address and a port open on it)");
  const masterAddr = typeof flags.masterAddr === "string" ? flags.masterAddr : "127.0.0.1";
  return { nproc, nnodes, nodeRank, masterAddr, masterPort, graceMs: 90_000 };
}

/**
 * How long every collective of a worker may wait: LLP_DIST_TIMEOUT_MS, else the command's default
 * (PyTorch's is 30 minutes; llp's are shorter, so a dead rank is noticed sooner).
 */
export function distTimeoutMs(fallback: number): number {
  const v = process.env.LLP_DIST_TIMEOUT_MS;
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`LLP_DIST_TIMEOUT_MS=${v} is not a positive number of milliseconds`);
  return n;
}

/**
 * A worker started by the launcher (LLP_LAUNCHED) exits when the launcher is gone: its stdin, a
 * pipe from the launcher, closes. Outside the launcher, nothing.
 */
export function watchLauncher(): void {
  if (process.env.LLP_LAUNCHED !== "1" || process.stdin.isTTY) return;
  process.stdin.on("end", () => {
    process.stderr.write("llp: the launcher is gone; this rank exits\n");
    process.exit(1);
  });
  process.stdin.resume();
  process.stdin.unref?.();
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

/** Threads per worker when the command does not say: this host's cores shared among its workers. */
export const threadsPerWorker = (localWorkers: number) => Math.max(1, Math.floor(availableParallelism() / localWorkers));

/**
 * Runs `argv` (an llp command line without the launcher's flags) as o.nproc workers. Resolves with
 * the exit status: 0 when every worker succeeded, else the first failure's status. o.graceMs should
 * exceed the workers' collective timeout, so that a failed worker's peers fail on their own (with
 * an error naming the collective) before they are stopped.
 */
export async function launch(script: string, argv: string[], o: LaunchOptions, err: (s: string) => void): Promise<number> {
  const port = o.masterPort ?? (await freePort());
  const world = o.nnodes * o.nproc;
  const workers: ChildProcess[] = [];
  let failed: number | null = null;
  let stopTimer: NodeJS.Timeout | null = null;
  const exits: Promise<number>[] = [];
  for (let local = 0; local < o.nproc; local++) {
    const rank = o.nodeRank * o.nproc + local;
    const env = {
      ...process.env,
      RANK: String(rank),
      WORLD_SIZE: String(world),
      LOCAL_RANK: String(local),
      LOCAL_WORLD_SIZE: String(o.nproc),
      MASTER_ADDR: o.masterAddr,
      MASTER_PORT: String(port),
      LLP_LAUNCHED: "1",
    };
    // stdin stays a pipe: a worker whose launcher is gone (killed) sees it close and stops;
    // its own process group: a terminal's Ctrl-C reaches the launcher only, which passes each signal
    // on to every worker (a second one makes them exit at once, as for one process)
    const w = spawn(process.execPath, [script, ...argv], {
      env,
      stdio: ["pipe", rank === 0 ? "inherit" : "ignore", "pipe"],
      detached: true,
    });
    workers.push(w);
    let buf = "";
    w.stderr?.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) if (rank === 0 || l.trim() !== "") err(rank === 0 ? `${l}\n` : `[rank ${rank}] ${l}\n`);
    });
    exits.push(
      new Promise<number>((ok) =>
        w.on("exit", (code, sig) => {
          if (buf) err(rank === 0 ? `${buf}\n` : `[rank ${rank}] ${buf}\n`);
          const status = code ?? (sig ? 128 + (sigNumber(sig) ?? 1) : 1);
          if (status !== 0 && failed === null) {
            failed = status;
            if (status !== 130)
              err(
                `llp: rank ${rank} exited with status ${status}${sig ? ` (${sig})` : ""}; the other ranks stop within the group's timeout\n`,
              );
            // the peers fail on their own within the timeout; any still running after the grace period are stopped
            stopTimer = setTimeout(() => {
              for (const p of workers) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
            }, o.graceMs);
            stopTimer.unref();
          }
          ok(status);
        }),
      ),
    );
    w.on("error", (e) => {
      err(`llp: could not start rank ${rank}: ${e.message}\n`);
      if (w.pid === undefined) w.emit("exit", 1, null); // never started: Node emits no exit event
    });
  }
  const forward = (sig: NodeJS.Signals) => {
    for (const w of workers) if (w.exitCode === null) w.kill(sig);
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  try {
    const statuses = await Promise.all(exits);
    return statuses.find((s) => s === 130) !== undefined && failed === 130 ? 130 : (failed ?? 0);
  } finally {
    if (stopTimer) clearTimeout(stopTimer);
    process.off("SIGINT", forward);
    process.off("SIGTERM", forward);
  }
}

const sigNumber = (s: NodeJS.Signals): number | undefined => ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 })[s as string];

/** argv without the launcher's flags (--nproc 2, --master-port=29500, ...): the workers' command line. */
export function withoutLaunchFlags(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const m = /^--([A-Za-z-]+)(=.*)?$/.exec(a);
    const name = m ? (m[1] as string).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) : "";
    if (m && isLaunchFlag(name)) {
      if (m[2] === undefined) i++; // its value
      continue;
    }
    out.push(a);
  }
  return out;
}
