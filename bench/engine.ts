// `npm run bench:engine`: llp's training step against PyTorch's, same libtorch, same threads.
// A step is forward + cross-entropy + backward + SGD (momentum 0.9, weight decay 5e-4), batch 128.
//
// Every engine runs as a persistent worker that times N steps per request (JSON lines over
// stdin/stdout), so all stay warm; each round asks every worker in turn, alternating the order,
// and each side's median over rounds is reported. Every headline side runs under llp's malloc
// setting (LLP_MALLOC in common.ts: mmap and trim thresholds raised, mmap off), checked from
// inside each process. Workers:
//   llp               this process (its addon applies the setting at load, see native/addon.cc)
//   pytorch           bench/engine_pytorch.py started with the setting as MALLOC_* variables
// Context workers, for the nets in --context (default small-cnn; resnet18 takes many minutes):
//   pytorch-malloc    PyTorch with glibc's default malloc
//   pytorch-thresholds PyTorch with the thresholds raised but mmap on (a common tuning)
//   llp-low-mmap      llp in a child process with MALLOC_MMAP_THRESHOLD_=131072 (the addon then
//                     leaves malloc alone): what the allocator setting is worth
//
//   npm run bench:engine -- [--rounds 5] [--threads N] [--nets small-cnn,resnet18] [--context small-cnn] [--no-write]
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { allocatorTuned, F, Generator, keep, SGD, setNumThreads, type Tensor, tidy, torchVersion } from "../src/torch/index.js";
import {
  assertLlpMalloc,
  LLP_MALLOC,
  LOW_MMAP_MALLOC,
  machineInfo,
  mean,
  median,
  r2,
  THRESHOLDS_MALLOC,
  type Timing,
  timeSteps,
  Worker,
} from "./common.js";
import { ResNet18, smallCnn } from "./nets.js";

/** a name ending in -cl: the same net with its weights and input in channels-last (NHWC) memory */
type Net = "small-cnn" | "resnet18" | "small-cnn-cl" | "resnet18-cl";
const BATCH = 128;
/** Steps per timed request: enough to average a step's jitter, few enough for 5+ rounds. */
const STEPS: Record<Net, number> = { "small-cnn": 8, resnet18: 2, "small-cnn-cl": 8, "resnet18-cl": 2 };
const WARMUP = 2;
const PYTHON = "/usr/bin/python3"; // Debian's python3-torch: the same libtorch 1.13 as the addon

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: String(availableParallelism()) },
    nets: { type: "string", default: "small-cnn,resnet18,small-cnn-cl,resnet18-cl" },
    context: { type: "string", default: "small-cnn" },
    worker: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
  },
});
const rounds = Number(args.rounds);
const threads = Number(args.threads);
const repo = fileURLToPath(new URL("../..", import.meta.url));

/** llp's training step for a net, on fixed seeded data. */
function llpStep(net: Net): () => void {
  const gen = new Generator(0);
  const small = net.startsWith("small-cnn");
  const model = small ? smallCnn(gen) : new ResNet18(gen);
  let x = keep(gen.randn(small ? [BATCH, 1, 28, 28] : [BATCH, 3, 32, 32])); // [B,C,H,W]
  const y = keep(gen.randint(0, 10, [BATCH])); // [B]
  if (net.endsWith("-cl")) {
    model.toChannelsLast();
    const nhwc = keep(x.channelsLast());
    x.dispose();
    x = nhwc;
  }
  const opt = SGD.forModule(model, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  model.train();
  return () => {
    tidy(() => {
      const loss: Tensor = F.crossEntropy(model.forward(x), y);
      loss.backward();
    });
    opt.step();
    opt.zeroGrad();
  };
}

/** In-process llp timings; models are built on first use and kept (like the Python worker). */
const llpSteps = new Map<Net, () => void>();
function timeLlp(net: Net, n: number): Timing {
  let step = llpSteps.get(net);
  if (step === undefined) {
    step = llpStep(net);
    llpSteps.set(net, step);
  }
  return timeSteps(step, n);
}

/** Worker mode: answer {"net", "steps"} requests on stdin with timings, as engine_pytorch.py does. */
async function serve(): Promise<void> {
  setNumThreads(threads);
  console.log(JSON.stringify({ ready: true, torch: torchVersion(), threads, allocator_tuned: allocatorTuned() }));
  for await (const line of createInterface({ input: process.stdin })) {
    const req = JSON.parse(line) as { net?: Net; steps?: number; quit?: boolean };
    if (req.quit) break;
    console.log(JSON.stringify(timeLlp(req.net as Net, req.steps as number)));
  }
}

async function main(): Promise<void> {
  setNumThreads(threads);
  const loadBefore = loadavg()[0] as number;
  const nets = (args.nets as string).split(",") as Net[];
  const context = new Set((args.context as string).split(",").filter((s) => s !== ""));
  const script = `${repo}bench/engine_pytorch.py`;
  if (!allocatorTuned()) throw new Error("llp's allocator setting is off (a MALLOC_* variable is set): unset it to benchmark");
  const py = await new Worker(PYTHON, [script, String(threads)], LLP_MALLOC, threads).start();
  const pyAllocator = assertLlpMalloc(py.ready, "PyTorch worker");
  const useContext = nets.some((n) => context.has(n));
  const pyMalloc = useContext ? await new Worker(PYTHON, [script, String(threads)], {}, threads).start() : null;
  const pyThresholds = useContext ? await new Worker(PYTHON, [script, String(threads)], THRESHOLDS_MALLOC, threads).start() : null;
  const llpLow = useContext
    ? await new Worker(
        process.execPath,
        [fileURLToPath(import.meta.url), "--worker", "--threads", String(threads)],
        LOW_MMAP_MALLOC,
        threads,
      ).start()
    : null;
  if (llpLow && llpLow.ready.allocator_tuned !== false) throw new Error("llp-low-mmap worker still tuned its allocator");

  const results = [];
  for (const net of nets) {
    const n = STEPS[net];
    const sides: [string, (steps: number) => Promise<Timing>][] = [
      ["llp", async (k) => timeLlp(net, k)],
      ["pytorch", (k) => py.time({ net, steps: k })],
    ];
    if (context.has(net) && pyMalloc && pyThresholds && llpLow) {
      sides.push(
        ["pytorch-malloc", (k) => pyMalloc.time({ net, steps: k })],
        ["pytorch-thresholds", (k) => pyThresholds.time({ net, steps: k })],
        ["llp-low-mmap", (k) => llpLow.time({ net, steps: k })],
      );
    }
    // warm-up: the first steps allocate, pick kernels and grow the heaps
    for (const [, time] of sides) await time(WARMUP);
    const ms = new Map(sides.map(([name]) => [name, [] as number[]]));
    const cpu = new Map(sides.map(([name]) => [name, [] as number[]]));
    for (let r = 0; r < rounds; r++) {
      // alternate who goes first, so a slow phase of a shared machine hits every side
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const [name, time] of order) {
        const t = await time(n);
        ms.get(name)?.push(mean(t.ms));
        cpu.get(name)?.push(mean(t.cpu_ms));
      }
      console.error(`${net} round ${r + 1}/${rounds}: ${sides.map(([s]) => `${s} ${ms.get(s)?.at(-1)?.toFixed(1)} ms`).join(", ")}`);
    }
    const med = (m: Map<string, number[]>, name: string) => (m.has(name) ? r2(median(m.get(name) as number[])) : null);
    const llpMs = med(ms, "llp") as number;
    const pyMs = med(ms, "pytorch") as number;
    results.push({
      net,
      llp_ms: llpMs,
      pytorch_ms: pyMs,
      ratio: r2(llpMs / pyMs),
      runs: rounds,
      steps_per_run: n,
      llp_cpu_ms: med(cpu, "llp"),
      pytorch_cpu_ms: med(cpu, "pytorch"),
      pytorch_default_malloc_ms: med(ms, "pytorch-malloc"),
      pytorch_thresholds_ms: med(ms, "pytorch-thresholds"),
      llp_low_mmap_ms: med(ms, "llp-low-mmap"),
      rounds_ms: Object.fromEntries([...ms].map(([k, v]) => [k, v.map(r2)])),
    });
  }
  for (const w of [py, pyMalloc, pyThresholds, llpLow]) w?.close();

  const report = {
    machine: machineInfo(loadBefore, { torch: torchVersion(), pytorch: py.ready.torch }),
    threads,
    batch: BATCH,
    step: "forward + cross-entropy + backward + SGD(momentum 0.9, weight decay 5e-4)",
    command: `npm run bench:engine -- ${process.argv.slice(2).join(" ")}`.trim(),
    allocator: {
      llp_allocator_tuned: allocatorTuned(),
      pytorch_env: LLP_MALLOC,
      pytorch: pyAllocator,
      pytorch_thresholds_env: THRESHOLDS_MALLOC,
      llp_low_mmap_env: LOW_MMAP_MALLOC,
    },
    results,
  };
  console.log(
    "| net | llp ms | pytorch ms | ratio | llp cpu ms | pytorch cpu ms | pytorch default-malloc ms | pytorch thresholds-only ms | llp low-mmap ms | runs |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of results) {
    const cells = [
      r.llp_ms,
      r.pytorch_ms,
      r.ratio,
      r.llp_cpu_ms,
      r.pytorch_cpu_ms,
      r.pytorch_default_malloc_ms ?? "-",
      r.pytorch_thresholds_ms ?? "-",
      r.llp_low_mmap_ms ?? "-",
      r.runs,
    ];
    console.log(`| ${r.net} | ${cells.join(" | ")} |`);
  }
  if (!args["no-write"]) {
    const out = `${repo}bench/results/engine.json`;
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    console.error(`wrote ${out}`);
  }
}

if (args.worker) await serve();
else await main();
