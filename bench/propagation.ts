// `npm run bench:propagation`: `llp propagate` (density over T = 25 bank rows + Eq. 8 vote over
// K = 10, streamed from a .npy) against scikit-learn's LabelSpreading and LabelPropagation
// (kernel='knn') and against the same rule written in numpy, each a separate process measured
// wall to wall with its peak RSS (bench/propagation_py.py measure), rounds alternating the order.
// Sizes: Fashion-MNIST PCA-128 (60k, 1% labelled) and clustered synthetic embeddings (250k and
// 1M, 10% labelled). The sgemm rate numpy reaches on this machine is measured in the same run;
// llp's GFLOP/s counts the two products (density M x N x D and vote N x M x D, 2 flops each).
//
//   npm run bench:propagation -- [--sizes 60k,250k,1m] [--rounds 3] [--sklearn-max 250k] [--numpy-max 250k] [--no-write]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { torchVersion } from "../src/torch/index.js";
import { median, r2 } from "./common.js";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "60k,250k,1m" },
    rounds: { type: "string", default: "3" },
    "sklearn-max": { type: "string", default: "250k" },
    "numpy-max": { type: "string", default: "250k" },
    "sklearn-timeout": { type: "string", default: "1200" },
    threads: { type: "string", default: "2" },
    "no-write": { type: "boolean", default: false },
  },
});
const repo = new URL("../../", import.meta.url).pathname;
const PY = "/usr/bin/python3"; // Debian's, with python3-numpy and python3-sklearn
const script = `${repo}bench/propagation_py.py`;
const dataDir = `${repo}bench/tmp/propagation`;
const threads = args.threads as string;
const FILES: Record<string, string> = { "60k": "fmnist", "250k": "s250k", "1m": "s1m" };
const N: Record<string, number> = { "60k": 60_000, "250k": 250_000, "1m": 1_000_000 };
const order = ["60k", "250k", "1m"];
const within = (size: string, max: string) => order.indexOf(size) <= order.indexOf(max);

function py(...a: string[]): Record<string, unknown> {
  const r = spawnSync(PY, [script, ...a], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
    env: { ...process.env, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads, THREADS: threads },
  });
  if (r.status !== 0) throw new Error(`${PY} ${script} ${a.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop() as string);
}

/** One side, one round: wall seconds and peak RSS of its process, plus what it printed. */
function measure(
  cmd: string[],
  timeoutS?: number,
): { wall: number; peak_rss_mb: number; ok: boolean; out: Record<string, unknown> | null; note?: string } {
  const wrapped = timeoutS ? ["timeout", String(timeoutS), ...cmd] : cmd;
  const m = py("measure", ...wrapped) as { wall: number; peak_rss_mb: number; rc: number; stdout: string; stderr: string };
  const last = m.stdout.trim().split("\n").pop() ?? "";
  let out: Record<string, unknown> | null = null;
  try {
    out = JSON.parse(last);
  } catch {}
  const note = m.rc === 124 ? `stopped after ${timeoutS} s` : m.rc !== 0 ? `exit ${m.rc}: ${m.stderr.trim().split("\n").pop()}` : undefined;
  return { wall: m.wall, peak_rss_mb: m.peak_rss_mb, ok: m.rc === 0, out, ...(note ? { note } : {}) };
}

const loadBefore = loadavg()[0] as number;
py("data", dataDir);
const sgemm = py("sgemm") as { numpy: string; gflops: Record<string, number> };
const peak = Math.max(...Object.values(sgemm.gflops));
const rounds = Number(args.rounds);
const results: Record<string, unknown>[] = [];
for (const size of (args.sizes as string).split(",")) {
  const f = FILES[size];
  if (!f) throw new Error(`--sizes: ${size} is not one of ${Object.keys(FILES).join(", ")}`);
  const X = `${dataDir}/${f}.npy`;
  const Y = `${dataDir}/${f}.labels.npy`;
  const n = N[size] as number;
  const sides: Record<string, () => ReturnType<typeof measure>> = {
    llp: () => {
      const out = `${dataDir}/${f}.llp-out`;
      rmSync(out, { recursive: true, force: true });
      const r = measure([
        process.execPath,
        `${repo}bin/llp.js`,
        "propagate",
        "--embeddings",
        X,
        "--labels",
        Y,
        "--out",
        out,
        "--threads",
        threads,
      ]);
      if (r.ok) {
        const meta = JSON.parse(readFileSync(`${out}/propagate.json`, "utf8")) as { density_s: number; vote_s: number };
        const tr = py("accuracy", `${out}/labels.npy`, Y) as { accuracy: number };
        r.out = { ...meta, accuracy: tr.accuracy };
      }
      return r;
    },
    ...(within(size, args["numpy-max"] as string) ? { numpy: () => measure([PY, script, "numpy", X, Y]) } : {}),
    ...(within(size, args["sklearn-max"] as string)
      ? {
          "sklearn-spreading": () => measure([PY, script, "sklearn", "spreading", X, Y], Number(args["sklearn-timeout"])),
          "sklearn-propagation": () => measure([PY, script, "sklearn", "propagation", X, Y], Number(args["sklearn-timeout"])),
        }
      : {}),
  };
  // scikit-learn runs once per size where a run takes minutes; where it takes under a minute (60k)
  // it runs every round like the others, so the ratio is of medians (its time varies by ~20%)
  const runs: Record<string, ReturnType<typeof measure>[]> = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
  const again = (k: string) => !k.startsWith("sklearn") || ((runs[k]?.[0]?.ok ?? false) && (runs[k]?.[0]?.wall ?? Infinity) < 60);
  for (let r = 0; r < rounds; r++) {
    const names = Object.keys(sides).filter((k) => r === 0 || again(k));
    for (const k of r % 2 ? names.reverse() : names) {
      const m = (sides[k] as () => ReturnType<typeof measure>)();
      runs[k]?.push(m);
      console.error(`${size} round ${r} ${k}: ${m.wall.toFixed(1)} s, ${m.peak_rss_mb.toFixed(0)} MB${m.note ? ` (${m.note})` : ""}`);
    }
  }
  const labelled = Number((py("count", Y) as { labelled: number }).labelled);
  const flop = 4 * n * labelled * 128;
  const row: Record<string, unknown> = { size, n, labelled, d: 128, flop };
  for (const [k, ms] of Object.entries(runs)) {
    const ok = ms.filter((m) => m.ok);
    const walls = ok.map((m) => m.wall);
    const entry: Record<string, unknown> = {
      runs: ms.length,
      wall_s: ok.length ? r2(median(walls)) : null,
      wall_spread_s: ok.length ? [r2(Math.min(...walls)), r2(Math.max(...walls))] : null,
      peak_rss_mb: Math.round(Math.max(...ms.map((m) => m.peak_rss_mb))),
      accuracy: (ok[0]?.out?.accuracy as number | undefined) ?? null,
      ...(ms.some((m) => m.note) ? { note: ms.find((m) => m.note)?.note } : {}),
    };
    if (k === "llp" && ok.length) {
      const compute = ok.map((m) => (m.out?.density_s as number) + (m.out?.vote_s as number));
      entry.compute_s = r2(median(compute));
      entry.gflops = r2(flop / median(compute) / 1e9);
      entry.fraction_of_sgemm_peak = r2(flop / median(compute) / 1e9 / peak);
    }
    if (k === "numpy" && ok.length) entry.compute_s = r2(median(ok.map((m) => m.out?.seconds as number)));
    row[k] = entry;
  }
  const llpWall = (row.llp as { wall_s: number | null }).wall_s;
  for (const k of ["numpy", "sklearn-spreading", "sklearn-propagation"]) {
    const w = (row[k] as { wall_s: number | null } | undefined)?.wall_s;
    if (w && llpWall) row[`speedup_vs_${k}`] = r2(w / llpWall);
  }
  results.push(row);
  console.error(JSON.stringify(row));
}
const report = {
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    torch: torchVersion(),
    numpy: sgemm.numpy,
    date: new Date().toISOString(),
    load_average: [r2(loadBefore), r2(loadavg()[0] as number)],
  },
  threads: Number(threads),
  rounds,
  sgemm_gflops: sgemm.gflops,
  work: "labels for every row of a .npy of embeddings: density over T = 25 bank rows for each labelled point, then Eq. 8 over K = 10 (llp, numpy); scikit-learn's kNN graph methods (n_neighbors 7) for comparison",
  command: `npm run bench:propagation -- ${process.argv.slice(2).join(" ")}`.trim(),
  results,
};
console.log(JSON.stringify(report, null, 2));
if (!args["no-write"]) {
  const out = `${repo}bench/results/propagation.json`;
  const doc = existsSync(out) ? (JSON.parse(readFileSync(out, "utf8")) as { runs?: (typeof report)[] }) : {};
  const runs = (doc.runs ?? []).filter((r) => r.command !== report.command);
  mkdirSync(`${repo}bench/results`, { recursive: true });
  writeFileSync(out, `${JSON.stringify({ runs: [...runs, report] }, null, 2)}\n`);
}
