// The training step's test context: a tiny network, bank and label state (N = 96 points, every
// 8th labelled, C = 4 classes, D = 16), shared by the step tests and the step oracles.
import type { Config } from "../../src/config.js";
import { MemoryBank } from "../../src/memory/bank.js";
import { LabelState } from "../../src/memory/labels.js";
import { buildNet, type ModelSpec } from "../../src/model/net.js";
import { Generator, keep, SGD } from "../../src/torch/index.js";
import { WeightAverage } from "../../src/train/ema.js";
import { labelledTensors } from "../../src/train/loop.js";
import type { StepContext } from "../../src/train/step.js";

export const N = 96;

export const SPEC: ModelSpec = { model: "small-cnn", inputShape: [1, 28, 28], numClasses: 4, embeddingDim: 16, width: 2 };

export function context(cfg: Config): StepContext {
  const gen = new Generator(3);
  const net = buildNet(SPEC, gen);
  let ema: WeightAverage | null = null;
  if (cfg.ema > 0) {
    ema = new WeightAverage(buildNet(SPEC, new Generator(5)), cfg.ema);
    ema.reset(net);
  }
  const labels = new LabelState(Int32Array.from({ length: N }, (_, i) => (i % 8 === 0 ? (i / 8) % 4 : -1)));
  const l = labelledTensors(labels);
  return {
    cfg,
    net,
    opt: SGD.forModule(net, { lr: 0.03, momentum: 0.9, weightDecay: 1e-4 }),
    bank: new MemoryBank(N, 16, gen, 0.5),
    labels,
    numClasses: 4,
    labelledIdx: keep(l.idx),
    labelledY: keep(l.y),
    logRho: null,
    trueLabels: null,
    gen,
    nceZ: null,
    ema,
  };
}

/** Frees what context() built: the labelled tensors, the network, optimiser, bank and weight average. */
export function release(ctx: StepContext): void {
  for (const t of [ctx.labelledIdx, ctx.labelledY]) t.dispose();
  for (const m of [ctx.net, ctx.opt, ctx.bank]) m.dispose();
  ctx.ema?.dispose();
}
