// `npm run bench:bank`: LLP's aggregation loss L_A over the whole memory bank (B = 128 rows
// against N = 55,000, D = 128, C = 10, tau = 0.07), forward and backward to the embeddings,
// side by side and alternating:
//   llp-closed-form   bankSetLoss: one native call, gradient in closed form (what training runs)
//   llp-autograd      aggregation(bankExp(...)): the same loss through autograd (the reference)
//   pytorch-*         Debian's PyTorch 1.13 (bench/bank_pytorch.py): masked log-sum-exp, and
//                     the one-hot product llp's reference uses; run under llp's malloc setting
//                     (LLP_MALLOC in common.ts), checked from inside the worker
//
//   npm run bench:bank -- [--rounds 7] [--threads N] [--no-write]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { aggregation, bankExp, bankSetLoss } from "../src/losses/losses.js";
import { allocatorTuned, F, Generator, keep, setNumThreads, type Tensor, tidy, torchVersion } from "../src/torch/index.js";
import { assertLlpMalloc, LLP_MALLOC, mean, median, r2, type Timing, timeSteps, Worker } from "./common.js";

const [B, N, D, C, TAU] = [128, 55000, 128, 10, 0.07];
const STEPS = 5;
const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "7" },
    threads: { type: "string", default: String(availableParallelism()) },
    "no-write": { type: "boolean", default: false },
  },
});
const rounds = Number(args.rounds);
const threads = Number(args.threads);
const repo = fileURLToPath(new URL("../..", import.meta.url));
setNumThreads(threads);

const gen = new Generator(0);
const bank = keep(F.normalize(gen.randn([N, D]), 1)); // [N, D]
const bankY = keep(gen.randint(-1, C, [N])); // [N]
const y = keep(gen.randint(-1, C, [B])); // [B]
const index = keep(gen.randint(0, N, [B])); // [B]
const w = keep(gen.rand([B])); // [B]
const raw = keep(gen.randn([B, D])); // [B, D]

/** Forward and backward to a leaf v, as the network's output would be. */
function llpStep(variant: "closed-form" | "autograd"): () => void {
  return () =>
    tidy(() => {
      const v = F.normalize(raw, 1).detach().requiresGrad_();
      const loss: Tensor =
        variant === "closed-form"
          ? bankSetLoss(v, bank, bankY, y, index, TAU, C, w).objective
          : aggregation(bankExp(v, bank, TAU), bankY, y, index, C)
              .mul(w)
              .sum();
      loss.backward();
    });
}

const loadBefore = loadavg()[0] as number;
// both sides under llp's malloc setting: the addon applies it here, the environment in PyTorch's worker
if (!allocatorTuned()) throw new Error("llp's allocator setting is off (a MALLOC_* variable is set): unset it to benchmark");
const py = await new Worker("/usr/bin/python3", [`${repo}bench/bank_pytorch.py`, String(threads)], LLP_MALLOC, threads).start();
const pyAllocator = assertLlpMalloc(py.ready, "PyTorch worker");
const sides: [string, (n: number) => Promise<Timing>][] = [
  ["llp-closed-form", async (n) => timeSteps(llpStep("closed-form"), n)],
  ["llp-autograd", async (n) => timeSteps(llpStep("autograd"), n)],
  ["pytorch-masked-lse", (n) => py.time({ variant: "masked-lse", steps: n })],
  ["pytorch-onehot-mm", (n) => py.time({ variant: "onehot-mm", steps: n })],
];
for (const [, time] of sides) await time(2); // warm-up
const ms = new Map(sides.map(([s]) => [s, [] as number[]]));
for (let r = 0; r < rounds; r++) {
  for (const [name, time] of r % 2 === 0 ? sides : [...sides].reverse()) ms.get(name)?.push(mean((await time(STEPS)).ms));
  console.error(`round ${r + 1}/${rounds}: ${sides.map(([s]) => `${s} ${ms.get(s)?.at(-1)?.toFixed(1)} ms`).join(", ")}`);
}
py.close();
const med = Object.fromEntries([...ms].map(([k, v]) => [k, r2(median(v))]));
const bestPy = Math.min(med["pytorch-masked-lse"] as number, med["pytorch-onehot-mm"] as number);
const report = {
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: availableParallelism(),
    torch: torchVersion(),
    pytorch: py.ready.torch,
    date: new Date().toISOString(),
    load_average: [r2(loadBefore), r2(loadavg()[0] as number)],
  },
  threads,
  allocator: { llp_allocator_tuned: allocatorTuned(), pytorch_env: LLP_MALLOC, pytorch: pyAllocator },
  shape: { B, N, D, C, tau: TAU },
  work: "L_A (Eq. 3) over the full bank, per-row weights, forward + backward to v [B, D]",
  command: `npm run bench:bank -- ${process.argv.slice(2).join(" ")}`.trim(),
  median_ms: med,
  ratio_closed_form_to_best_pytorch: r2((med["llp-closed-form"] as number) / bestPy),
  rounds_ms: Object.fromEntries([...ms].map(([k, v]) => [k, v.map(r2)])),
};
console.log(JSON.stringify(report.median_ms), "closed-form / best PyTorch:", report.ratio_closed_form_to_best_pytorch);
if (!args["no-write"]) {
  // one entry per command (so per thread count): a rerun replaces its own entry, keeps the others
  const out = `${repo}bench/results/bank.json`;
  const doc = existsSync(out) ? (JSON.parse(readFileSync(out, "utf8")) as { runs?: (typeof report)[] }) : {};
  const runs = (doc.runs ?? []).filter((r) => r.command !== report.command);
  mkdirSync(`${repo}bench/results`, { recursive: true });
  writeFileSync(out, `${JSON.stringify({ runs: [...runs, report] }, null, 2)}\n`);
  console.error(`wrote ${out} (${runs.length + 1} runs)`);
}
