// Instance Recognition alone (Wu et al. 2018): every point its own class, -log P(i|v_i) over the
// memory bank, no labels in the loss; the labels only score the features. Two scores, as the
// unsupervised-feature papers report them: weighted kNN of the labelled points' bank rows (the
// run's kNN top-1), and a linear readout of the frozen backbone features fitted on the labelled
// points after every epoch (src/train/readout.ts), installed as the classifier head, so the
// run's top-1, llp predict and llp export score the readout.
//
// The bank (LLPState, shared with LLP, whose first phase this is) is its one piece of state.
import type { ViewKind } from "../data/views.js";
import type { LLPNet } from "../model/net.js";
import type { Tensor } from "../torch/tensor.js";
import { readoutOnLabelled } from "../train/readout.js";
import type { Phase } from "../train/types.js";
import { BankMethod } from "./bank-method.js";
import { instanceStep } from "./llp.js";
import { type Method, type MethodContext, needsLabelled, type StepStats, type ViewedBatch } from "./method.js";

export class IRKnn extends BankMethod implements Method {
  readonly name = "ir-knn" as const;
  readonly labels = null;
  readonly totalEpochs: number;

  constructor(ctx: MethodContext) {
    needsLabelled(ctx, "method ir-knn");
    super(ctx);
    this.totalEpochs = ctx.cfg.epochs;
  }

  phase(): Phase {
    return "ir";
  }
  /** the whole run is IR, under the run's learning-rate schedule */
  scheduleEpoch(epoch: number): number {
    return epoch;
  }
  /** one shuffled stream: the labels play no part in the loss */
  sampling() {
    return { labelledOnly: false, labelledPerBatch: 0 };
  }
  /** IR trains on one view (Wu et al. 2018), as LLP's first phase */
  view(): ViewKind {
    return "weak";
  }
  beginEpoch(): void {}

  step(batch: ViewedBatch): StepStats {
    return instanceStep(this.ctx, this.state, batch);
  }

  /** The linear readout on the labelled points' frozen features (validation decides its LR drops), as the classifier head. */
  async endEpoch(): Promise<void> {
    await readoutOnLabelled(this.ctx.net, this.ctx.data, this.ctx.gen);
  }
}
