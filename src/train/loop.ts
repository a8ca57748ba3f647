// The training loop: Instance Recognition epochs, then LLP epochs (refresh density, propagate,
// optimise, write back, evaluate), with LR drops on validation plateaus. It yields typed
// events; the CLI, the run folder writer and the tests consume them. Library code never prints.
import { type Config, optionName } from "../config.js";
import { evaluate } from "../eval/metrics.js";
import { MemoryBank } from "../memory/bank.js";
import { LabelState } from "../memory/labels.js";
import { buildNet, resolveModel } from "../model/net.js";
import { logDensity } from "../propagation/density.js";
import { SGD } from "../torch/optim.js";
import { Generator } from "../torch/random.js";
import { dispose, keep, tidy } from "../torch/scope.js";
import { noGrad, type Tensor, tensor } from "../torch/tensor.js";
import { inferenceNet, type LoopState, loadCheckpoint, loadTeacherLabels, saveCheckpoint, type TrainState } from "./checkpoint.js";
import { WeightAverage } from "./ema.js";
import { dropsAtEpoch, initialPlateau, lrAfterDrops, plateauStep } from "./schedule.js";
import { type StepContext, trainStep } from "./step.js";
import type { EpochEvent, EvalSet, Phase, StepEvent, TrainData, TrainEvent } from "./types.js";

export interface TrainOptions {
  runDir: string | null; // checkpoints go here when set
  resume: boolean; // continue from runDir's checkpoint
}

export async function* train(cfg: Config, data: TrainData, o: TrainOptions): AsyncGenerator<TrainEvent> {
  const t0 = Date.now();
  if (cfg.trainView !== "weak" && data.inputShape.length !== 3)
    throw new Error(`${optionName("trainView")} = ${cfg.trainView} needs images [C,H,W], but the data are [${data.inputShape.join(",")}]`);
  if (cfg.irView !== "weak" && data.inputShape.length !== 3)
    throw new Error(`${optionName("irView")} = ${cfg.irView} needs images [C,H,W], but the data are [${data.inputShape.join(",")}]`);
  const s = buildState(cfg, data);
  const labelled = labelledTensors(s.labels);
  const labelledIdx = keep(labelled.idx); // [M]
  const labelledY = keep(labelled.y); // [M]
  const totalEpochs = (cfg.method === "llp" ? cfg.irEpochs : 0) + cfg.epochs;
  let loop: LoopState = { epoch: 0, drops: 0, plateau: initialPlateau(), wallS: 0, bestVal: -1, nceZ: null };
  const ctx: StepContext = {
    cfg,
    net: s.net,
    opt: s.opt,
    bank: s.bank as MemoryBank,
    labels: s.labels,
    numClasses: data.numClasses,
    labelledIdx,
    labelledY,
    logRho: null,
    trueLabels: data.trueLabels,
    gen: s.gen,
    nceZ: null, // the NCE normaliser, once estimated (restored below on a resume)
    ema: s.ema,
  };
  // from here on, a failure (a checkpoint that does not fit this network included) frees the
  // state built above in the finally below
  try {
    if (o.resume && o.runDir) loop = loadCheckpoint(o.runDir, s).loop;
    else {
      if (s.bank) await initBank(s.bank, s, data);
      if (cfg.teacher !== null) loadTeacherLabels(cfg.teacher, s.labels); // frozen targets (a student)
    }
    ctx.nceZ = loop.nceZ;
    const wallBefore = loop.wallS; // epoch time of the sessions before a resume
    yield {
      type: "start",
      config: cfg,
      n: data.n,
      labelled: s.labels.labelledRows.length,
      stepsPerEpoch: data.stepsPerEpoch,
      resumedFrom: o.resume ? loop.epoch : null,
    };
    for (let epoch = loop.epoch; epoch < totalEpochs && !loop.plateau.stop; epoch++) {
      const tEpoch = Date.now();
      const phase: Phase = cfg.method === "supervised" ? "supervised" : epoch < cfg.irEpochs ? "ir" : "llp";
      const phaseEpoch = phase === "ir" ? 0 : epoch - (cfg.method === "llp" ? cfg.irEpochs : 0);
      const drops = cfg.milestones ? dropsAtEpoch(cfg.milestones, phaseEpoch) : loop.drops;
      s.opt.lr = lrAfterDrops(cfg.lr, drops, cfg.lrDrop);
      if (phase === "llp" && s.bank && cfg.teacher === null) refreshDensity(ctx, s.bank); // rho once per epoch (Sec. 4)
      let step = 0;
      let lossSum = 0;
      for await (const batch of data.epoch(s.gen, { labelledOnly: phase === "supervised", labelledPerBatch: cfg.labelledPerBatch })) {
        const st = trainStep(ctx, batch, phase);
        batch.x.dispose();
        if (!Number.isFinite(st.total)) {
          throw new Error(
            `the loss is ${st.total} at epoch ${epoch}, step ${step}: training diverged: try a lower ${optionName("lr")}, or the inputs hold values too large for float32`,
          );
        }
        lossSum += st.total;
        yield stepEvent(epoch, step++, phase, s.opt.lr, st);
      }
      const val = await evaluateState(s, data.validation, cfg, data.numClasses);
      if (phase !== "ir" && epoch % cfg.evalEvery === 0) {
        const r = plateauStep(loop.plateau, val.top1, { patience: cfg.patience, maxDrops: cfg.maxDrops });
        loop.plateau = r.state;
        if (r.drop && !cfg.milestones) {
          loop.drops++;
          yield { type: "lrDrop", epoch, lr: lrAfterDrops(cfg.lr, loop.drops, cfg.lrDrop) };
        }
        if (cfg.milestones) loop.plateau.stop = false;
      }
      loop.epoch = epoch + 1;
      loop.nceZ = ctx.nceZ;
      loop.bestVal = Math.max(loop.bestVal, val.top1);
      loop.wallS += (Date.now() - tEpoch) / 1000;
      yield epochEvent(epoch, phase, s, data, val, lossSum / Math.max(1, step), loop.wallS, (Date.now() - tEpoch) / 1000);
      if (o.runDir && (loop.epoch % cfg.checkpointEvery === 0 || loop.epoch === totalEpochs || loop.plateau.stop)) {
        yield { type: "checkpoint", epoch, path: saveCheckpoint(o.runDir, s, loop, JSON.stringify(cfg)) };
      }
    }
    const test = data.test ? await evaluateState(s, data.test, cfg, data.numClasses) : null;
    const val = await evaluateState(s, data.validation, cfg, data.numClasses);
    yield {
      type: "end",
      summary: {
        method: cfg.method,
        test_top1: test?.top1 ?? Number.NaN,
        test_top5: test?.top5 ?? Number.NaN,
        knn_top1: test?.knnTop1 ?? Number.NaN,
        val_top1: val.top1,
        epochs: loop.epoch,
        wall_s: wallBefore + (Date.now() - t0) / 1000, // the whole run's, across resumes
      },
    };
  } finally {
    ctx.logRho?.dispose();
    labelledIdx.dispose();
    labelledY.dispose();
    disposeState(s);
  }
}

/** Network, optimiser, bank and label state, all from the run's seed. */
export function buildState(cfg: Config, data: TrainData): TrainState {
  const gen = new Generator(cfg.seed);
  const net = buildNet(netSpec(cfg, data), gen);
  const opt = SGD.forModule(net, { lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
  const bank = cfg.method === "llp" ? new MemoryBank(data.n, cfg.embeddingDim, gen, cfg.bankMomentum) : null;
  let ema: WeightAverage | null = null;
  if (cfg.ema > 0) {
    // same architecture; its own throwaway generator, so the run's stream is the same with or without
    const copy = buildNet(netSpec(cfg, data), new Generator(cfg.seed));
    ema = new WeightAverage(copy, cfg.ema);
    ema.reset(net);
  }
  return { net, opt, bank, labels: new LabelState(data.labels), gen, ema };
}

function netSpec(cfg: Config, data: TrainData) {
  return {
    model: resolveModel(cfg.model, data.inputShape),
    inputShape: data.inputShape,
    numClasses: data.numClasses,
    embeddingDim: cfg.embeddingDim,
    width: cfg.width ?? undefined,
    poolGrid: cfg.poolGrid ?? undefined,
  };
}

export function disposeState(s: TrainState): void {
  s.net.dispose();
  s.opt.dispose();
  s.bank?.dispose();
  s.ema?.dispose();
}

/** Fills the bank with every training point's embedding (one no-grad pass, eval mode). */
async function initBank(bank: MemoryBank, s: TrainState, data: TrainData, batchSize = 512): Promise<void> {
  s.net.eval();
  for (let start = 0; start < data.n; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, data.n - start) }, (_, i) => start + i);
    const x = await data.inputs(idx);
    noGrad(() => tidy(() => bank.set(tensor(idx, [idx.length], "int64"), s.net.heads(x).v)));
    x.dispose();
  }
  s.net.train();
}

function refreshDensity(ctx: StepContext, bank: MemoryBank): void {
  ctx.logRho?.dispose();
  ctx.logRho =
    ctx.labelledIdx.numel === 0
      ? null
      : keep(tidy(() => logDensity(bank.V.indexSelect(0, ctx.labelledIdx), bank.V, ctx.cfg.T, ctx.cfg.tau)));
}

/**
 * Classifier and kNN accuracy of a labelled set. kNN votes come from the labelled points' bank
 * rows (Eqs. 5-6); without a bank (supervised) there is no kNN.
 */
export async function evaluateState(s: TrainState, set: EvalSet, cfg: Config, numClasses: number) {
  const { idx, y: Y } = labelledTensors(s.labels, s.bank ? s.labels.labelledRows : new Int32Array(0)); // [M], [M]
  const V = s.bank ? s.bank.V.indexSelect(0, idx) : tensor(new Float32Array(0), [0, cfg.embeddingDim]); // [M, D]
  try {
    return await evaluate(inferenceNet(s), set, V, Y, { K: cfg.K, tau: cfg.tau, numClasses });
  } finally {
    dispose([idx, Y, V]);
  }
}

/** [M] int64 rows of the labelled points (default: all of them) and [M] int64 their labels. */
export function labelledTensors(labels: LabelState, rows: Int32Array = labels.labelledRows): { idx: Tensor; y: Tensor } {
  return {
    idx: tensor(rows, [rows.length], "int64"),
    y: tensor(
      Int32Array.from(rows, (i) => labels.y[i] as number),
      [rows.length],
      "int64",
    ),
  };
}

function stepEvent(epoch: number, step: number, phase: Phase, lr: number, st: ReturnType<typeof trainStep>): StepEvent {
  return {
    type: "step",
    epoch,
    step,
    phase,
    "loss/total": st.total,
    "loss/categorization": st.categorization,
    "loss/aggregation": st.aggregation,
    "loss/instance": st.instance,
    "monitor/confidence": st.confidence,
    "monitor/pseudoLabelAccuracy": st.pseudoLabelAccuracy,
    "monitor/lr": lr,
  };
}

function epochEvent(
  epoch: number,
  phase: Phase,
  s: TrainState,
  data: TrainData,
  val: { top1: number; knnTop1: number },
  loss: number,
  wallS: number,
  epochS: number,
): EpochEvent {
  const L = s.labels;
  let n = 0,
    have = 0,
    hits = 0,
    conf = 0;
  const counts = new Array<number>(data.numClasses).fill(0);
  for (let i = 0; i < L.n; i++) {
    if (L.isLabelled[i]) continue;
    n++;
    const y = L.y[i] as number;
    if (y < 0) continue;
    have++;
    conf += L.c[i] as number;
    counts[y] = (counts[y] as number) + 1;
    if (data.trueLabels && data.trueLabels[i] === y) hits++;
  }
  return {
    type: "epoch",
    epoch,
    phase,
    "monitor/lr": s.opt.lr,
    "val/top1": val.top1,
    "val/knnTop1": val.knnTop1,
    "monitor/pseudoLabelAccuracy": have && data.trueLabels ? hits / have : Number.NaN,
    "monitor/confidence": have ? conf / have : Number.NaN,
    "monitor/coverage": n ? have / n : 1,
    "monitor/largestClassShare": have ? Math.max(...counts) / have : Number.NaN,
    "monitor/dataWait": data.dataWaitFraction(),
    "loss/total": loss,
    wall_s: wallS,
    epoch_s: epochS,
  };
}
