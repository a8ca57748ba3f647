// Local Aggregation (Zhuang, Zhai & Yamins 2019): unsupervised, from an Instance Recognition warm
// start. Every epoch H k-means clusterings of the memory bank define each point's close
// neighbours C_i (rows sharing one of its clusters); its background neighbours B_i are the kB
// bank rows most similar to its embedding; the loss -log P(C_i and B_i | v) / P(B_i | v) pulls the
// close ones in among the background (losses.ts: localAggregation). The labels only score the
// features, as for ir-knn: weighted kNN of the labelled bank rows, and a linear readout fitted
// after every epoch and installed as the classifier head.
//
// Sizes: their released ImageNet config (kB = 4096 background neighbours, k = 30000 clusters,
// H = 10 clusterings over 1,281,167 images) scaled to the training set's N, so each cluster and
// background holds the same share of the data (la-state.ts). Phases: "ir" for --ir-epochs, then
// "la" for --epochs. The clusterings (LocalAggregationState) and the bank (LLPState) are its state.
import type { ViewKind } from "../data/views.js";
import type { LLPNet } from "../model/net.js";
import type { Tensor } from "../torch/tensor.js";
import { readoutOnLabelled } from "../train/readout.js";
import type { Phase } from "../train/types.js";
import { BankMethod } from "./bank-method.js";
import { LocalAggregationState } from "./la-state.js";
import { instanceStep } from "./llp.js";
import { type Method, type MethodContext, needsLabelled, type StepStats, singleProcessOnly, type ViewedBatch } from "./method.js";

export class LocalAggregation extends BankMethod implements Method {
  readonly name = "la" as const;
  readonly labels = null;
  readonly totalEpochs: number;
  readonly aggregation: LocalAggregationState;

  constructor(ctx: MethodContext) {
    singleProcessOnly(ctx, "method la");
    needsLabelled(ctx, "method la");
    super(ctx);
    this.aggregation = new LocalAggregationState(ctx.data.n);
    this.totalEpochs = ctx.cfg.irEpochs + ctx.cfg.epochs;
  }

  phase(epoch: number): Phase {
    return epoch < this.ctx.cfg.irEpochs ? "ir" : "la";
  }
  scheduleEpoch(epoch: number): number | null {
    return epoch < this.ctx.cfg.irEpochs ? null : epoch - this.ctx.cfg.irEpochs;
  }
  sampling() {
    return { labelledOnly: false, labelledPerBatch: 0 };
  }
  /** one view, as IR */
  view(): ViewKind {
    return "weak";
  }
  /** new clusterings at every LA epoch's start (a resume inside one keeps the saved ones) */
  beginEpoch(_epoch: number, phase: Phase, midEpoch = false): void {
    if (phase === "la" && !(midEpoch && this.aggregation.clusters)) this.aggregation.refresh(this.state.bank.V, this.ctx.gen);
  }
  step(batch: ViewedBatch, phase: Phase): StepStats {
    return phase === "ir" ? instanceStep(this.ctx, this.state, batch) : this.aggregation.step(this.ctx, this.state, batch);
  }
  /** the linear readout on the labelled points' frozen features, as the classifier head (as ir-knn) */
  async endEpoch(): Promise<void> {
    await readoutOnLabelled(this.ctx.net, this.ctx.data, this.ctx.gen);
  }
  override stateDict(): Map<string, Tensor> {
    const m = super.stateDict();
    if (this.aggregation.clusters) m.set("la.clusters", this.aggregation.clusters);
    return m;
  }
  override loadStateDict(state: Map<string, Tensor>, path: string): void {
    super.loadStateDict(state, path);
    const c = state.get("la.clusters");
    if (c) this.aggregation.restore(c);
  }
  override dispose(): void {
    this.aggregation.dispose();
    super.dispose();
  }
}
