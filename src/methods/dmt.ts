// Deep Metric Transfer (DMT, Liu et al. 2018): Instance Recognition first (no labels), then one
// global label propagation over the learned embedding, then fine-tuning on the labelled points
// and the most confident share of the propagated labels.
//   1. --ir-epochs of Instance Recognition (the memory bank, as LLP's first phase);
//   2. once, at the first fine-tuning epoch: a 20-NN graph over the bank (weights
//      exp((cos - 1) / 0.2), the point itself among its neighbours) and the constrained normalised
//      cut of their nc notebook (dmtLabels, src/propagation/graph.ts);
//   3. --epochs of cross-entropy on the labelled points and the --pseudo-ratio most confident
//      unlabelled ones (their CIFAR-10 script: 0.2); the rest sit out (as pseudo-label's step).
// Their fine-tuning uses lr 0.01 with a cosine schedule; here the run's schedule, as for every
// method. The bank (LLPState) and then the label state are this method's state.

import { resolveView, type ViewKind } from "../data/views.js";
import type { LabelState } from "../memory/labels.js";
import { DMT_GRAPH, dmtLabels, knnGraph } from "../propagation/graph.js";
import type { Phase } from "../train/types.js";
import { BankMethod } from "./bank-method.js";
import { instanceStep } from "./llp.js";
import { type Method, type MethodContext, type StepStats, singleProcessOnly, type ViewedBatch } from "./method.js";
import { fineTuneStep } from "./pseudo-label.js";

/** The unlabelled points kept: the `ratio` share with the highest confidence (ties: the lower row). */
export function mostConfident(confidence: Float32Array, labels: Int32Array, ratio: number): Int32Array {
  const unlabelled = Int32Array.from(labels.keys()).filter((i) => (labels[i] as number) < 0);
  const keep = Math.floor(unlabelled.length * ratio);
  return Int32Array.from(
    [...unlabelled].sort((a, b) => (confidence[b] as number) - (confidence[a] as number) || a - b).slice(0, keep),
  ).sort();
}

export class DMT extends BankMethod implements Method {
  readonly name = "dmt" as const;
  readonly totalEpochs: number;

  constructor(ctx: MethodContext) {
    singleProcessOnly(ctx, "method dmt");
    super(ctx);
    this.totalEpochs = ctx.cfg.irEpochs + ctx.cfg.epochs;
  }

  /** the pseudo-labels: -1 for every unlabelled point until the propagation, then the kept ones */
  get labels(): LabelState {
    return this.state.labels;
  }
  phase(epoch: number): Phase {
    return epoch < this.ctx.cfg.irEpochs ? "ir" : "dmt";
  }
  scheduleEpoch(epoch: number): number | null {
    return epoch < this.ctx.cfg.irEpochs ? null : epoch - this.ctx.cfg.irEpochs;
  }
  sampling(phase: Phase) {
    return { labelledOnly: false, labelledPerBatch: phase === "ir" ? 0 : this.ctx.cfg.labelledPerBatch };
  }
  view(phase: Phase): ViewKind {
    return phase === "ir" ? "weak" : resolveView(this.ctx.cfg.trainView, this.ctx.data.inputShape);
  }

  /** The first fine-tuning epoch propagates, once (a resume past its start keeps the saved labels). */
  beginEpoch(epoch: number, _phase?: Phase, midEpoch = false): void {
    if (epoch === this.ctx.cfg.irEpochs && !midEpoch) this.propagate();
  }

  /** The global propagation over the bank; writes the kept pseudo-labels (the others: -1). */
  propagate(): void {
    const { data, cfg } = this.ctx;
    const graph = knnGraph(this.state.bank.V, Math.min(DMT_GRAPH.k - 1, data.n - 1), (cos) => Math.exp((cos - 1) / DMT_GRAPH.T));
    const out = dmtLabels(graph, data.labels, data.numClasses);
    const kept = new Int32Array(data.n).fill(-1);
    for (const i of mostConfident(out.confidence, data.labels, cfg.pseudoRatio)) kept[i] = out.y[i] as number;
    this.state.labels.write(
      Int32Array.from({ length: data.n }, (_, i) => i),
      kept,
      out.confidence,
    );
  }

  step(batch: ViewedBatch, phase: Phase): StepStats {
    return phase === "ir" ? instanceStep(this.ctx, this.state, batch) : fineTuneStep(this.ctx, this.state.labels, batch);
  }
}
