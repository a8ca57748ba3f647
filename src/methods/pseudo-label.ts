// Pseudo-Label (Lee 2013), as the LLP paper and S4L (Zhai et al. 2019) ran it: train on the
// labelled points alone, label every unlabelled point with the classifier once, then fine-tune
// on both. A pseudo-label is kept only where the classifier's confidence reaches --threshold
// (USB's pseudolabel cutoff); the rest sit out the fine-tuning (the loss is the mean over the
// points of a batch that have a target).
//
// Phases: "supervised" for --pseudo-label-warmup epochs at the base LR (the Supervised module's
// step), then "pseudo-label" for --epochs under the LR schedule. The label state (LabelState,
// y and c for all N points) is this method's state; label() at the first fine-tuning epoch is
// its only writer, and checkpoints keep it.
import { categorization } from "../losses/losses.js";
import { LabelState } from "../memory/labels.js";
import { softmax } from "../torch/functional.js";
import { tidy } from "../torch/scope.js";
import { noGrad, type Tensor, tensor } from "../torch/tensor.js";
import type { Phase } from "../train/types.js";
import { emptyStats, type MethodContext, OnePhaseMethod, optimise, type StepStats, subsetMean, type ViewedBatch } from "./method.js";
import { Supervised } from "./supervised.js";

/**
 * The pseudo-labels kept from class probabilities probs [n * C] (rows of n points): y = argmax,
 * c = its probability; y = -1 (c kept for the record) where c < threshold. Pure.
 */
export function thresholdLabels(probs: Float32Array, n: number, threshold: number): { y: Int32Array; c: Float32Array } {
  const C = probs.length / n;
  const y = new Int32Array(n);
  const c = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < C; j++) if ((probs[i * C + j] as number) > (probs[i * C + best] as number)) best = j;
    const p = probs[i * C + best] as number;
    y[i] = p >= threshold ? best : -1;
    c[i] = p;
  }
  return { y, c };
}

/** Mean confidence and accuracy of the pseudo-labels (y >= 0) held for the batch's unlabelled points. */
export function labelMonitors(index: Int32Array, labels: LabelState, truth: Int32Array | null) {
  let n = 0;
  let conf = 0;
  let hits = 0;
  for (const i of index) {
    if (labels.isLabelled[i] || (labels.y[i] as number) < 0) continue;
    n++;
    conf += labels.c[i] as number;
    if (truth && truth[i] === labels.y[i]) hits++;
  }
  return {
    "monitor/confidence": n ? conf / n : Number.NaN,
    "monitor/pseudoLabelAccuracy": n && truth ? hits / n : Number.NaN,
  };
}

/**
 * One step on the labels held (label, kept pseudo-label, or -1 to sit out): the mean
 * cross-entropy over the batch's points that have a target, training on the union of the
 * labelled and the kept points as S4L and DMT do, whatever share of the batch sits out.
 */
export function fineTuneStep(ctx: MethodContext, labels: LabelState, batch: ViewedBatch): StepStats {
  return tidy(() => {
    const b = batch.index.length;
    const yT = Int32Array.from(batch.index, (i) => labels.y[i] as number);
    const targets = yT.reduce((n, y) => n + (y >= 0 ? 1 : 0), 0);
    const { logits } = ctx.net.heads(batch.strong ?? batch.x); // [B, C]
    const lc = subsetMean(ctx, categorization(logits, tensor(yT, [b], "int64")).sum(), targets);
    optimise(ctx, lc);
    const l = lc.item();
    return { ...emptyStats(), "loss/total": l, "loss/categorization": l, ...labelMonitors(batch.index, labels, ctx.data.trueLabels) };
  });
}

/**
 * A method that trains on the labelled points alone for --pseudo-label-warmup epochs ("supervised",
 * at the base LR, the Supervised module's step), then labels the rest its own way and trains on
 * both for --epochs under the LR schedule (pseudo-label, dlp). The label state is its state.
 */
export abstract class WarmedUpMethod extends OnePhaseMethod {
  override readonly labels: LabelState;
  override readonly totalEpochs: number;
  readonly #warmup: Supervised;

  constructor(ctx: MethodContext) {
    super(ctx);
    this.labels = new LabelState(ctx.data.labels);
    this.totalEpochs = ctx.cfg.pseudoLabelWarmup + ctx.cfg.epochs;
    this.#warmup = new Supervised(ctx);
  }
  override phase(epoch: number): Phase {
    return epoch < this.ctx.cfg.pseudoLabelWarmup ? "supervised" : this.name;
  }
  override scheduleEpoch(epoch: number): number | null {
    const w = this.ctx.cfg.pseudoLabelWarmup;
    return epoch < w ? null : epoch - w;
  }
  override sampling(phase: Phase) {
    return { labelledOnly: phase === "supervised", labelledPerBatch: this.ctx.cfg.labelledPerBatch };
  }
  step(batch: ViewedBatch, phase: Phase): StepStats {
    return phase === "supervised" ? this.#warmup.step(batch) : this.labelledStep(batch);
  }
  /** a step after the warm-up, on the labels held */
  protected abstract labelledStep(batch: ViewedBatch): StepStats;
  override dispose(): void {
    this.#warmup.dispose();
  }
}

export class PseudoLabel extends WarmedUpMethod {
  readonly name = "pseudo-label" as const;

  /** At the first fine-tuning epoch: the classifier labels every unlabelled point (a resume past its start keeps the saved labels). */
  override async beginEpoch(epoch: number, _phase?: Phase, midEpoch = false): Promise<void> {
    if (epoch === this.ctx.cfg.pseudoLabelWarmup && !midEpoch) await this.label();
  }

  /** One no-grad pass (eval mode) over the training pool: y, c of every unlabelled point. */
  async label(batchSize = 512): Promise<void> {
    const { net, data, cfg } = this.ctx;
    net.eval();
    try {
      for (let start = 0; start < data.n; start += batchSize) {
        const idx = Int32Array.from({ length: Math.min(batchSize, data.n - start) }, (_, i) => start + i);
        const x = await data.inputs(idx);
        let probs: Float32Array; // [b * C]
        try {
          probs = noGrad(() => tidy(() => softmax(net.heads(x).logits, 1).toArray() as Float32Array));
        } finally {
          x.dispose();
        }
        const kept = thresholdLabels(probs, idx.length, cfg.threshold);
        this.labels.write(idx, kept.y, kept.c);
      }
    } finally {
      net.train();
    }
  }

  protected labelledStep(batch: ViewedBatch): StepStats {
    return fineTuneStep(this.ctx, this.labels, batch);
  }
}
