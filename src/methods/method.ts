// What a training method is to the shared loop (train/loop.ts): what it keeps, what one step
// computes from a batch, what happens at an epoch's start. One module per method, side by side
// (src/methods/*.ts, as google-research/fixmatch keeps its methods); all share the network, the
// data pipeline, evaluation, checkpoints and run folders.
import type { Config } from "../config.js";
import type { Draws } from "../data/shard.js";
import { resolveView, type ViewKind } from "../data/views.js";
import type { DataParallel } from "../distributed/data-parallel.js";
import type { LabelState } from "../memory/labels.js";
import type { LLPNet } from "../model/net.js";
import type { Module } from "../torch/nn/module.js";
import { SGD } from "../torch/optim.js";
import type { Generator } from "../torch/random.js";
import type { Tensor } from "../torch/tensor.js";
import type { Batch, Phase, TrainData } from "../train/types.js";

/** One step's named terms, logged under these stable keys every step. */
export interface StepStats {
  "loss/total": number;
  "loss/categorization": number;
  "loss/aggregation": number;
  "loss/instance": number;
  /** mean confidence of the training targets of unlabelled points (NaN where none; fixmatch: of every unlabelled point's weak-view prediction, kept or not) */
  "monitor/confidence": number;
  /** fresh pseudo-labels against the true labels, unlabelled points (NaN if unknown) */
  "monitor/pseudoLabelAccuracy": number;
  /** Mean Teacher: the consistency cost and its ramped weight; FixMatch: its unlabelled term L_u; VAT: LDS; DCT: L_cot and lambda_cot */
  "loss/consistency"?: number;
  "monitor/consistencyWeight"?: number;
  /** VAT-EM: the entropy of the predictions */
  "loss/entropy"?: number;
  /** S4L-Rotation: the rotation-prediction loss */
  "loss/rotation"?: number;
  /** Deep Co-Training: the view-difference term L_dif */
  "loss/difference"?: number;
  /** FixMatch: the share of unlabelled points above the confidence threshold */
  "monitor/mask"?: number;
}

/** Every key a step's statistics may hold, in one order (the ranks' all-reduce, the report's loss curves). */
export const STEP_STAT_KEYS: readonly (keyof StepStats)[] = [
  "loss/total",
  "loss/categorization",
  "loss/aggregation",
  "loss/instance",
  "loss/consistency",
  "loss/entropy",
  "loss/rotation",
  "loss/difference",
  "monitor/confidence",
  "monitor/pseudoLabelAccuracy",
  "monitor/consistencyWeight",
  "monitor/mask",
];

export const emptyStats = (): StepStats => ({
  "loss/total": 0,
  "loss/categorization": 0,
  "loss/aggregation": 0,
  "loss/instance": 0,
  "monitor/confidence": Number.NaN,
  "monitor/pseudoLabelAccuracy": Number.NaN,
});

/** What every method is built from: the run's config and data, and the network, optimiser and generator the loop owns. */
export interface MethodContext {
  cfg: Config;
  data: TrainData;
  net: LLPNet;
  opt: SGD;
  gen: Generator;
  /**
   * a fresh network of the same architecture, from its own generator (the run's stream is
   * untouched): seeded cfg.seed + seedOffset (0: the run's own initialisation)
   */
  makeNet(seedOffset?: number): LLPNet;
  /** data-parallel training: this process is one rank of a group (src/distributed/data-parallel.ts); null: one process */
  dp: DataParallel | null;
}

/** A batch as a step receives it: the loaded (weak) view, and the view its losses see when that differs. */
export interface ViewedBatch extends Batch {
  /** [B, ...] the strong view (views.ts), or null when the losses see x itself */
  strong: Tensor | null;
  /** what the step's own random draws (mixup) come from: the run's generator, or this rank's share of it */
  draws: Draws;
}

export interface Method {
  readonly name: Config["method"];
  /** epochs in all phases */
  readonly totalEpochs: number;
  phase(epoch: number): Phase;
  /** epochs into the learning-rate schedule at `epoch`, or null in a phase it does not cover (IR) */
  scheduleEpoch(epoch: number): number | null;
  /** how the loop draws a phase's batches */
  sampling(phase: Phase): { labelledOnly: boolean; labelledPerBatch: number };
  /** which view of its batches a phase's losses see (the loop builds it from src/data/views.ts) */
  view(phase: Phase): ViewKind;
  /** a fresh run only, before its first epoch (LLP fills its memory bank) */
  start(): Promise<void>;
  /**
   * at every epoch's start (LLP refreshes the density rho; pseudo-label labels the unlabelled
   * points); midEpoch: a resume inside the epoch, whose start-of-epoch state the checkpoint restored
   */
  beginEpoch(epoch: number, phase: Phase, midEpoch?: boolean): void | Promise<void>;
  step(batch: ViewedBatch, phase: Phase): StepStats;
  /** after an epoch's last step, before its validation (ir-knn fits its linear readout) */
  endEpoch?(epoch: number, phase: Phase): void | Promise<void>;
  /** the network that evaluates, predicts and embeds */
  evalNet(): LLPNet;
  /** labelled bank rows V [M, D] and labels y [M] int64 for kNN evaluation (the caller disposes), or null */
  knnRows(): { V: Tensor; y: Tensor } | null;
  /** the N-long pseudo-label state the epoch monitors read, or null */
  readonly labels: LabelState | null;
  /** what a checkpoint keeps besides the network, optimiser and generator (views of the method's own tensors) */
  stateDict(): Map<string, Tensor>;
  /** restores stateDict() from a checkpoint's tensors (keys as saved); extra keys are ignored */
  loadStateDict(state: Map<string, Tensor>, path: string): void;
  dispose(): void;
}

/**
 * What most methods share: one phase named as the method, under the LR schedule from the first
 * epoch, batches with --labelled-per-batch labelled points, the configured view, nothing to do at
 * an epoch's start, the network itself evaluating, no state besides it. A method overrides what
 * differs and writes its step.
 */
export abstract class OnePhaseMethod implements Method {
  abstract readonly name: Config["method"];
  readonly labels: LabelState | null = null;
  readonly totalEpochs: number;
  protected readonly ctx: MethodContext;

  constructor(ctx: MethodContext) {
    this.ctx = ctx;
    this.totalEpochs = ctx.cfg.epochs;
  }
  phase(_epoch?: number): Phase {
    return this.name;
  }
  scheduleEpoch(epoch: number): number | null {
    return epoch;
  }
  sampling(_phase?: Phase): { labelledOnly: boolean; labelledPerBatch: number } {
    return { labelledOnly: false, labelledPerBatch: this.ctx.cfg.labelledPerBatch };
  }
  view(_phase?: Phase): ViewKind {
    return resolveView(this.ctx.cfg.trainView, this.ctx.data.inputShape, this.name);
  }
  async start(): Promise<void> {}
  beginEpoch(_epoch?: number, _phase?: Phase, _midEpoch?: boolean): void | Promise<void> {}
  abstract step(batch: ViewedBatch, phase: Phase): StepStats;
  evalNet(): LLPNet {
    return this.ctx.net;
  }
  knnRows(): { V: Tensor; y: Tensor } | null {
    return null;
  }
  stateDict(): Map<string, Tensor> {
    return new Map();
  }
  loadStateDict(_state: Map<string, Tensor>, _path: string): void {}
  dispose(): void {}
}

/**
 * sum / count, a mean over a subset of the batch's rows (its labelled points, those with a target),
 * as one process computes it over the whole batch. Data-parallel, every rank holds part of the
 * subset: the count is summed over the ranks, and the term is scaled so that optimise()'s scale and
 * the ranks' average give sum over all ranks / count over all ranks. Every rank must call it, in the
 * same order (it is a collective). sum: a scalar tensor.
 */
export function subsetMean(ctx: Pick<MethodContext, "dp">, sum: Tensor, count: number): Tensor {
  const { dp } = ctx;
  if (!dp) return sum.div(Math.max(1, count));
  const [all] = dp.sumCounts([count]) as [number];
  return sum.div((Math.max(1, all) * dp.objectiveScale) / dp.worldSize);
}

/**
 * One SGD step on `objective` (its gradient is what is optimised, its value need not be the loss).
 * Data-parallel: the objective, a mean over this rank's rows, is scaled to its share of the whole
 * batch's, and the gradients are averaged across ranks before the step. `extra`: optimisers of
 * parameters a method owns besides the network (S4L's rotation head), stepped alike at the
 * network's learning rate.
 */
export function optimise(ctx: Pick<MethodContext, "opt" | "dp">, objective: Tensor, extra: SGD[] = []): void {
  const { opt, dp } = ctx;
  const all = [opt, ...extra];
  for (const o of all) o.zeroGrad();
  if (dp && dp.objectiveScale !== 1) objective.mul(dp.objectiveScale).backward();
  else objective.backward();
  if (dp) dp.averageGradients(all.flatMap((o) => o.groups.flatMap((g) => g.params)));
  for (const o of extra) o.lr = opt.lr;
  for (const o of all) o.step();
}

/**
 * Refuses data-parallel training for a method whose per-epoch global step (a graph, a clustering,
 * a propagation over all N points) is not yet split across ranks: every rank would repeat it,
 * and the ranks agree only while their results are bit-identical.
 */
export function singleProcessOnly(ctx: Pick<MethodContext, "dp">, what: string): void {
  if (ctx.dp)
    throw new Error(
      `${what} does not train data-parallel yet (its global step per epoch is not split across ranks): train it without --nproc`,
    );
}

/** Refuses a method that scores its features on the labelled points when there are none. */
export function needsLabelled(ctx: Pick<MethodContext, "data">, what: string): void {
  if (!ctx.data.labels.some((y) => y >= 0))
    throw new Error(
      `${what} fits its readout on the labelled points, and the data have none: give labels (--labels, --labelled or --labels-per-class)`,
    );
}

/**
 * A module a method trains besides the network (S4L's rotation head, DCT's second network), with
 * its own SGD at the run's settings (optimise(ctx, loss, [part.opt]) steps it at the network's
 * learning rate). Its weights and momentum are checkpointed under `prefix`; `what` names it in
 * the error when a checkpoint lacks it. Owns both.
 */
export class OwnedPart<M extends Module> {
  readonly opt: SGD;
  constructor(
    readonly module: M,
    cfg: Pick<Config, "lr" | "momentum" | "weightDecay">,
    readonly prefix: string,
    readonly what: string,
  ) {
    this.opt = SGD.forModule(module, { lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
  }
  stateDict(): Map<string, Tensor> {
    const m = new Map<string, Tensor>();
    for (const [k, t] of this.module.stateDict()) m.set(`${this.prefix}${k}`, t);
    for (const [k, t] of this.opt.stateDict()) m.set(`${this.prefix}${k}`, t);
    return m;
  }
  loadStateDict(state: Map<string, Tensor>, path: string): void {
    const p = this.prefix;
    const mine = new Map([...state].filter(([k]) => k.startsWith(p)).map(([k, t]) => [k.slice(p.length), t]));
    if (mine.size === 0) throw new Error(`${path}: no ${this.what} in this checkpoint (saved by another method?)`);
    this.module.loadStateDict(new Map([...mine].filter(([k]) => !k.startsWith("momentum."))));
    this.opt.loadStateDict(new Map([...mine].filter(([k]) => k.startsWith("momentum."))));
  }
  dispose(): void {
    this.opt.dispose();
    this.module.dispose();
  }
}
