// The training step's test context: a tiny network and a method over N = 96 points (every 8th
// labelled, C = 4 classes, D = 16), shared by the step tests and the step oracles. step() hands
// a batch to the method as the loop does, its strong view built first from the run's generator.
import type { Config } from "../../src/config.js";
import { makeView } from "../../src/data/views.js";
import type { MemoryBank } from "../../src/memory/bank.js";
import type { LabelState } from "../../src/memory/labels.js";
import { createMethod, type Method, type StepStats } from "../../src/methods/index.js";
import { LLP } from "../../src/methods/llp.js";
import { buildNet, type LLPNet, type ModelSpec } from "../../src/model/net.js";
import { Generator, SGD, type Tensor } from "../../src/torch/index.js";
import type { Batch, Phase, TrainData } from "../../src/train/types.js";

export const N = 96;

export const SPEC: ModelSpec = { model: "small-cnn", inputShape: [1, 28, 28], numClasses: 4, embeddingDim: 16, width: 2 };

export interface StepContext {
  cfg: Config;
  net: LLPNet;
  opt: SGD;
  gen: Generator;
  data: TrainData;
  method: Method;
  /** LLP's state (method llp) */
  bank: MemoryBank;
  labels: LabelState;
  labelledIdx: Tensor;
  labelledY: Tensor;
  logRho: Tensor | null;
}

/** The parts of TrainData a step reads. */
function tinyData(): TrainData {
  return {
    n: N,
    inputShape: SPEC.inputShape,
    numClasses: 4,
    classNames: ["0", "1", "2", "3"],
    labels: Int32Array.from({ length: N }, (_, i) => (i % 8 === 0 ? (i / 8) % 4 : -1)),
    trueLabels: null,
  } as unknown as TrainData;
}

export function context(config: Config): StepContext {
  const cfg = { ...config, embeddingDim: SPEC.embeddingDim };
  const gen = new Generator(3);
  const net = buildNet(SPEC, gen);
  const opt = SGD.forModule(net, { lr: 0.03, momentum: 0.9, weightDecay: 1e-4 });
  const data = tinyData();
  const method = createMethod({ cfg, data, net, opt, gen, makeNet: (o = 0) => buildNet(SPEC, new Generator(5 + o)), dp: null });
  const llp = method instanceof LLP ? method.state : null;
  return {
    cfg,
    net,
    opt,
    gen,
    data,
    method,
    get bank() {
      return llp?.bank as MemoryBank;
    },
    get labels() {
      return llp?.labels as LabelState;
    },
    get labelledIdx() {
      return llp?.labelledIdx as Tensor;
    },
    get labelledY() {
      return llp?.labelledY as Tensor;
    },
    get logRho() {
      return llp?.logRho ?? null;
    },
    set logRho(t: Tensor | null) {
      if (llp) llp.logRho = t;
    },
  };
}

/** One step of ctx's method on batch, as the loop takes it. */
export function step(ctx: StepContext, batch: Batch, phase: Phase): StepStats {
  const view = ctx.method.view(phase);
  const strong = view === "weak" ? null : makeView(view, batch.x, ctx.gen);
  try {
    return ctx.method.step({ ...batch, strong, draws: ctx.gen }, phase);
  } finally {
    strong?.dispose();
  }
}

/** Frees what context() built: the method's state, the network and the optimiser. */
export function release(ctx: StepContext): void {
  ctx.method.dispose();
  ctx.net.dispose();
  ctx.opt.dispose();
}
