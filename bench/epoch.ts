// `npm run bench:epoch`: one whole LLP epoch on Fashion-MNIST in llp against a PyTorch script doing
// the same work (bench/epoch_pytorch.py), alternating in one run, medians over rounds. PyTorch runs
// twice: with L_A through autograd (as its users write it) and with llp's closed form (the same
// formulation on both sides: what is left is the engine).
//
// The epoch is the default run's (`llp train --labelled 1%`: small-cnn width 32, 32 labelled + 96
// unlabelled a batch, pad-crop + flip, a cutout copy for the losses, llp+classifier pseudo-labels,
// L_A over the whole bank, SGD, bank and label write-back), from the density refresh at its start
// to validation at its end, as the training loop's epoch event times it (epoch_s). llp's side is
// llp's own training loop (train() from src/train/loop.ts), a fresh run each round whose
// Instance Recognition phase is skipped (irEpochs 0: the work of a step does not depend on the
// weights); the bank fill before the first epoch is not part of the epoch on either side.
//
// Besides the whole epoch:
//   split  where llp's epoch goes: each part timed alone on the same batches with the library's own
//          functions (data, views, network, bank loss, propagation, write-back per step, scaled to
//          the epoch's steps; density and evaluation once); PyTorch's from timers inside its epoch
//   floor  the epoch's arithmetic (convolutions and heads forward and backward, bank scores and
//          their gradient, propagation, density, evaluation) at the sgemm rate measured in this run
//
//   npm run bench:epoch -- [--rounds 3] [--threads N] [--subset 100%] [--split-steps 30] [--no-write]
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { resolveConfig } from "../src/config.js";
import { makeView } from "../src/data/views.js";
import { evaluate } from "../src/eval/metrics.js";
import { bankSetLoss, categorization } from "../src/losses/losses.js";
import { MemoryBank } from "../src/memory/bank.js";
import { LabelState, labelledTensors } from "../src/memory/labels.js";
import { buildNet } from "../src/model/net.js";
import { logDensity } from "../src/propagation/density.js";
import { RULES } from "../src/propagation/rules.js";
import {
  allocatorTuned,
  Generator,
  keep,
  noGrad,
  SGD,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
  torchVersion,
} from "../src/torch/index.js";
import { prepareData } from "../src/train/data.js";
import { train } from "../src/train/loop.js";
import type { Batch, TrainData } from "../src/train/types.js";
import { assertLlpMalloc, LLP_MALLOC, machineInfo, median, r2, Worker } from "./common.js";

const PYTHON = "/usr/bin/python3"; // Debian's python3-torch: the same libtorch 1.13 as the addon
const WIDTH = 32; // small-cnn's default width
const WARMUP = 5; // split: steps run before the timed ones (the first steps allocate and pick kernels)

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: String(availableParallelism()) },
    subset: { type: "string", default: "100%" },
    "split-steps": { type: "string", default: "30" },
    "no-write": { type: "boolean", default: false },
  },
});
const rounds = Number(args.rounds);
const threads = Number(args.threads);
const splitSteps = Number(args["split-steps"]);
const repo = fileURLToPath(new URL("../..", import.meta.url));

const config = () => resolveConfig({ labelled: "1%", subset: args.subset as string, irEpochs: 0, epochs: 2, threads, seed: 0 });

/** One epoch of llp's own training loop: its epoch event. */
async function llpEpoch(data: TrainData): Promise<{ epoch_s: number; val_top1: number }> {
  const stop = new AbortController();
  let epoch: { epoch_s: number; val_top1: number } | null = null;
  for await (const ev of train(config(), data, { runDir: null, resume: false, signal: stop.signal })) {
    if (ev.type !== "epoch") continue;
    epoch = { epoch_s: ev.epoch_s, val_top1: ev["val/top1"] };
    stop.abort(); // the loop stops between epochs
  }
  if (!epoch) throw new Error("llp's epoch did not finish");
  return epoch;
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

/** Where llp's epoch goes: each part alone, on the epoch's own batches and state. */
async function llpSplit(data: TrainData): Promise<Record<string, number>> {
  const cfg = config();
  const gen = new Generator(1);
  const net = buildNet(
    { model: "small-cnn", inputShape: data.inputShape, numClasses: data.numClasses, embeddingDim: cfg.embeddingDim },
    gen,
  );
  const opt = SGD.forModule(net, { lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
  const bank = new MemoryBank(data.n, cfg.embeddingDim, gen, cfg.bankMomentum);
  const labels = new LabelState(data.labels);
  const lab = labelledTensors(labels);
  const [labelledIdx, labelledY] = [keep(lab.idx), keep(lab.y)];
  const s: Record<string, number> = { data: 0, views: 0, network: 0, "bank loss": 0, propagation: 0, "write-back": 0 };
  const batches: Batch[] = [];
  let t = performance.now();
  for await (const b of data.epoch(gen, { labelledOnly: false, labelledPerBatch: cfg.labelledPerBatch })) {
    batches.push(b);
    if (batches.length === WARMUP) t = performance.now(); // the loader's start is not a step's
    if (batches.length === WARMUP + splitSteps) break;
  }
  s.data = seconds(t) * (splitSteps / Math.max(1, batches.length - WARMUP));
  const logRhoT = performance.now();
  const logRho = keep(logDensity(bank.V.indexSelect(0, labelledIdx), bank.V, cfg.T, cfg.tau)); // [M]
  const density = seconds(logRhoT);
  const bankY = () => tensor(labels.y, [labels.n], "int32");
  for (const [k, b] of batches.entries()) {
    if (k === WARMUP) for (const key of Object.keys(s)) if (key !== "data") s[key] = 0; // the first steps allocate
    tidy(() => {
      const B = b.index.length;
      const index = tensor(b.index, [B], "int64");
      t = performance.now();
      const xs = makeView("cutout", b.x, gen, data.normalization);
      s.views += seconds(t);
      t = performance.now();
      const weak = noGrad(() => net.heads(b.x));
      const { v, logits } = net.heads(xs);
      s.network += seconds(t);
      t = performance.now();
      const p = RULES["llp+classifier"].label({
        v: weak.v,
        logits: weak.logits,
        labelledV: bank.V.indexSelect(0, labelledIdx),
        labelledY,
        logRho,
        K: cfg.K,
        tau: cfg.tau,
        numClasses: data.numClasses,
      });
      const fresh = { y: p.y.to("int32").toArray() as Int32Array, c: p.c.toArray() as Float32Array };
      s.propagation += seconds(t);
      t = performance.now();
      const y = tensor(
        Int32Array.from(b.index, (i) => labels.y[i] as number),
        [B],
        "int64",
      );
      const c = tensor(
        Float32Array.from(b.index, (i) => labels.c[i] as number),
        [B],
        "float32",
      );
      const la = bankSetLoss(v, bank.V, bankY(), y, index, cfg.tau, data.numClasses, c.div(B));
      s["bank loss"] += seconds(t);
      t = performance.now();
      const objective = categorization(logits, y).mul(c).mean().add(la.objective);
      opt.zeroGrad();
      objective.backward();
      opt.step();
      objective.item();
      s.network += seconds(t);
      t = performance.now();
      bank.update(index, weak.v);
      labels.write(b.index, fresh.y, fresh.c);
      s["write-back"] += seconds(t);
    });
    b.x.dispose();
  }
  const scale = data.stepsPerEpoch / Math.max(1, batches.length - WARMUP);
  for (const k of Object.keys(s)) s[k] = (s[k] as number) * scale;
  s.density = density;
  t = performance.now();
  await evaluate(net, data.validation, bank.V.indexSelect(0, labelledIdx), labelledY, {
    K: cfg.K,
    tau: cfg.tau,
    numClasses: data.numClasses,
  });
  s.evaluation = seconds(t);
  for (const x of [logRho, labelledIdx, labelledY]) x.dispose();
  bank.dispose();
  net.dispose();
  opt.dispose();
  return s;
}

/** sgemm GFLOP/s at this run's threads: median of 5 products of 2048 x 2048 matrices. */
function sgemmRate(): number {
  const gen = new Generator(2);
  const n = 2048;
  const [a, b] = [keep(gen.randn([n, n])), keep(gen.randn([n, n]))];
  tidy(() => a.mm(b).sum().item()); // warm-up
  const rates: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    tidy(() => a.mm(b).sum().item());
    rates.push((2 * n ** 3) / seconds(t0) / 1e9);
  }
  a.dispose();
  b.dispose();
  return median(rates);
}

/** The epoch's floating-point work, by part (GFLOP). Backward = twice the forward, less the first layer's input gradient. */
function epochFlops(data: TrainData, cfg: ReturnType<typeof config>, M: number) {
  const [, H = 28, W = 28] = data.inputShape;
  const [cin] = data.inputShape as [number];
  const w = WIDTH;
  // small-cnn: (cin, cout, spatial size) of each 3x3 conv; pooling halves after the 1st and 3rd
  const convs: [number, number, number][] = [
    [cin, w, H * W],
    [w, 2 * w, (H * W) / 4],
    [2 * w, 2 * w, (H * W) / 4],
    [2 * w, 4 * w, (H * W) / 16],
    [4 * w, 4 * w, (H * W) / 16],
  ];
  const conv = convs.map(([i, o, hw]) => 2 * hw * i * o * 9);
  const features = 4 * w * 49;
  const forward = conv.reduce((a, b) => a + b, 0) + 2 * features * (cfg.embeddingDim + data.numClasses); // per image
  const backward = 2 * forward - (conv[0] as number); // no gradient for the input
  const B = cfg.batchSize;
  const steps = data.stepsPerEpoch;
  const N = data.n;
  const D = cfg.embeddingDim;
  const C = data.numClasses;
  const g = {
    network: steps * B * (2 * forward + backward), // the no-grad weak pass, the strong pass and its backward
    "bank loss": steps * (4 * B * N * D + 2 * B * N * (C + 1)), // scores, their gradient, class sums
    propagation: steps * 2 * B * M * D,
    density: 2 * M * N * D,
    evaluation: data.validation.n * (forward + 2 * M * D),
  };
  return Object.fromEntries(Object.entries(g).map(([k, v]) => [k, v / 1e9]));
}

async function main(): Promise<void> {
  setNumThreads(threads);
  if (!allocatorTuned()) throw new Error("llp's allocator setting is off (a MALLOC_* variable is set): unset it to benchmark");
  const loadBefore = loadavg()[0] as number;
  const cfg = config();
  const { data } = await prepareData(cfg, null);
  const M = data.labels.reduce((n, l) => n + (l >= 0 ? 1 : 0), 0);
  const twin = (la: "autograd" | "closed") =>
    new Worker(
      PYTHON,
      [
        `${repo}bench/epoch_pytorch.py`,
        JSON.stringify({
          n: data.n,
          labelled: M,
          validation: data.validation.n,
          steps: data.stepsPerEpoch,
          labelled_per_batch: cfg.labelledPerBatch,
          threads,
          width: WIDTH,
          seed: 0,
          channels_last: "probe",
          la,
        }),
      ],
      LLP_MALLOC,
      threads,
    ).start();
  // PyTorch as its users write L_A (autograd), and with llp's closed form (same formulation, same engine)
  const py = await twin("autograd");
  const pyClosed = await twin("closed");
  const pyAllocator = assertLlpMalloc(py.ready, "PyTorch worker");
  assertLlpMalloc(pyClosed.ready, "PyTorch worker (closed form)");
  if (py.ready.n !== data.n) throw new Error(`PyTorch's training set has ${py.ready.n} points, llp's ${data.n}`);
  console.error(`PyTorch ready (channels-last probe: ${JSON.stringify(py.ready.probe)})`);

  type TwinEpoch = { epoch_s: number; sections: Record<string, number>; val_top1: number };
  const llpS: number[] = [];
  const pyS: number[] = [];
  const closedS: number[] = [];
  const pySections: Record<string, number>[] = [];
  const closedSections: Record<string, number>[] = [];
  let lastVal = { llp: Number.NaN, pytorch: Number.NaN, pytorch_closed_form: Number.NaN };
  const sides = ["llp", "pytorch", "pytorch-closed"] as const;
  for (let r = 0; r < rounds; r++) {
    const order = [...sides.slice(r % 3), ...sides.slice(0, r % 3)]; // each side goes first once in 3 rounds
    for (const side of order) {
      if (side === "llp") {
        const e = await llpEpoch(data);
        llpS.push(e.epoch_s);
        lastVal = { ...lastVal, llp: e.val_top1 };
      } else if (side === "pytorch") {
        const e = (await py.time({ epoch: true })) as unknown as TwinEpoch;
        pyS.push(e.epoch_s);
        pySections.push(e.sections);
        lastVal = { ...lastVal, pytorch: e.val_top1 };
      } else {
        const e = (await pyClosed.time({ epoch: true })) as unknown as TwinEpoch;
        closedS.push(e.epoch_s);
        closedSections.push(e.sections);
        lastVal = { ...lastVal, pytorch_closed_form: e.val_top1 };
      }
    }
    console.error(
      `round ${r + 1}/${rounds}: llp ${llpS.at(-1)?.toFixed(1)} s, pytorch ${pyS.at(-1)?.toFixed(1)} s, pytorch closed form ${closedS.at(-1)?.toFixed(1)} s`,
    );
  }
  py.close();
  pyClosed.close();
  const split = await llpSplit(data);
  const rate = sgemmRate();
  const flops = epochFlops(data, cfg, M);
  const totalGflop = Object.values(flops).reduce((a, b) => a + b, 0);
  const floorS = totalGflop / rate;
  const llpMed = median(llpS);
  const pyMed = median(pyS);
  const images = data.stepsPerEpoch * cfg.batchSize;
  const closedMed = median(closedS);
  const medianSections = (all: Record<string, number>[]) =>
    Object.fromEntries(Object.keys(all[0] ?? {}).map((k) => [k, r2(median(all.map((s) => s[k] as number)))]));
  const pyMedianSections = medianSections(pySections);
  const report = {
    machine: machineInfo(loadBefore, { torch: torchVersion(), pytorch: py.ready.torch }),
    command: `npm run bench:epoch -- ${process.argv.slice(2).join(" ")}`.trim(),
    threads,
    epoch: {
      data: `fashion-mnist, --labelled 1%, --subset ${args.subset}`,
      n: data.n,
      labelled: M,
      validation: data.validation.n,
      steps: data.stepsPerEpoch,
      batch: cfg.batchSize,
      labelled_per_batch: cfg.labelledPerBatch,
      network: `small-cnn width ${WIDTH}`,
    },
    llp_s: r2(llpMed),
    pytorch_s: r2(pyMed),
    llp_images_per_s: r2(images / llpMed),
    pytorch_images_per_s: r2(images / pyMed),
    throughput_ratio: r2(pyMed / llpMed),
    pytorch_closed_form_s: r2(closedMed),
    throughput_ratio_closed_form: r2(closedMed / llpMed),
    rounds_s: { llp: llpS.map(r2), pytorch: pyS.map(r2), pytorch_closed_form: closedS.map(r2) },
    val_top1_last_round: lastVal,
    pytorch_channels_last: py.ready.channels_last,
    pytorch_closed_form_channels_last: pyClosed.ready.channels_last,
    pytorch_channels_last_probe: py.ready.probe,
    allocator: { llp_allocator_tuned: allocatorTuned(), pytorch_env: LLP_MALLOC, pytorch: pyAllocator },
    split_s: {
      llp: Object.fromEntries(Object.entries(split).map(([k, v]) => [k, r2(v)])),
      llp_how: `each part alone on ${splitSteps} of the epoch's batches after ${WARMUP} untimed ones, scaled to its ${data.stepsPerEpoch} steps; density and evaluation once`,
      pytorch: pyMedianSections,
      pytorch_closed_form: medianSections(closedSections),
      pytorch_how:
        "timers inside its epoch (median over rounds); 'network' holds both forward passes, the backward and SGD; 'bank loss': autograd twin, its forward only (its backward is in 'network'); closed-form twin, values and gradient",
    },
    floor: {
      gflop: Object.fromEntries(Object.entries(flops).map(([k, v]) => [k, r2(v)])),
      sgemm_gflops: r2(rate),
      floor_s: r2(floorS),
      llp_over_floor: r2(llpMed / floorS),
      pytorch_over_floor: r2(pyMed / floorS),
      pytorch_closed_form_over_floor: r2(closedMed / floorS),
    },
  };
  console.log(JSON.stringify(report, null, 2));
  if (!args["no-write"]) {
    const out = `${repo}bench/results/epoch.json`;
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    console.error(`wrote ${out}`);
  }
}

await main();
