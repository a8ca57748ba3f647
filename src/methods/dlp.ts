// Label Propagation for Deep Semi-supervised Learning (DLP, Iscen et al. 2019): train on the
// labelled points alone, then at the start of every epoch describe every training point with the
// network, build a kNN graph over the descriptors (k = 50, weights cos^3), propagate the labels
// over it by conjugate gradient (alpha = 0.99, 20 steps) and train on the propagated labels, each
// point's cross-entropy weighted by its certainty (1 - entropy / log C) and its class's balancing
// weight (src/propagation/graph.ts). Their released code (ahmetius/LP-DeepSSL) sets these.
//
// The descriptor is the backbone's features averaged over any spatial grid (Backbone.descriptor:
// the global average pooling of the networks they used), L2-normalised, one no-grad eval pass.
// Phases: "supervised" for --pseudo-label-warmup epochs (the Supervised module's step), then
// "dlp" for --epochs under the LR schedule. The label state (y, and the certainty weight as c)
// is this method's state, label() its writer at each epoch's start; checkpoints keep it.
import { categorization } from "../losses/losses.js";
import type { LLPNet } from "../model/net.js";
import { dlpLabels, knnGraph } from "../propagation/graph.js";
import { normalize } from "../torch/functional.js";
import { tidy } from "../torch/scope.js";
import { type Tensor, tensor } from "../torch/tensor.js";
import { backboneFeatures } from "../train/readout.js";
import type { Phase } from "../train/types.js";
import { emptyStats, type MethodContext, optimise, type StepStats, singleProcessOnly, subsetMean, type ViewedBatch } from "./method.js";
import { labelMonitors, WarmedUpMethod } from "./pseudo-label.js";

/** Their released code's graph and solver settings. */
export const DLP = { k: 50, gamma: 3, alpha: 0.99, iters: 20 } as const;

/** The unit descriptors [n, d] of the training points (eval mode, no augmentation; kept: the caller disposes). */
export function descriptors(net: LLPNet, data: { n: number; inputs(indices: Int32Array): Promise<Tensor> }): Promise<Tensor> {
  const all = Int32Array.from({ length: data.n }, (_, i) => i);
  return backboneFeatures(net, data, all, (h) => normalize(net.backbone.descriptor(h), 1));
}

export class DLPMethod extends WarmedUpMethod {
  readonly name = "dlp" as const;
  /** [C] the class-balancing weights of the labels now held */
  #classWeight: Float64Array;

  constructor(ctx: MethodContext) {
    singleProcessOnly(ctx, "method dlp");
    super(ctx);
    this.#classWeight = new Float64Array(ctx.data.numClasses).fill(1);
  }

  /** Every propagation epoch: new labels (a resume inside the epoch keeps the saved ones). */
  override async beginEpoch(_epoch: number, phase?: Phase, midEpoch = false): Promise<void> {
    if (phase !== "dlp") return;
    if (!midEpoch) await this.label();
    this.#classWeight = this.#balance();
  }

  /** Descriptors, graph and propagation over the whole training pool; writes y and the certainty of every unlabelled point. */
  async label(): Promise<void> {
    const { net, data } = this.ctx;
    const X = await descriptors(net, data);
    let labels: ReturnType<typeof dlpLabels>;
    try {
      const graph = knnGraph(X, Math.min(DLP.k, data.n - 1), (cos) => Math.max(0, cos) ** DLP.gamma);
      labels = dlpLabels(graph, data.labels, data.numClasses, { alpha: DLP.alpha, iters: DLP.iters });
    } finally {
      X.dispose();
    }
    const all = Int32Array.from({ length: data.n }, (_, i) => i);
    this.labels.write(all, labels.y, labels.weight); // the labelled points keep theirs
  }

  /** (n / C) / |{i: y_i = c}| over the labels held (their class_weights). */
  #balance(): Float64Array {
    const C = this.ctx.data.numClasses;
    const count = new Array<number>(C).fill(0);
    for (const y of this.labels.y) if (y >= 0) count[y] = (count[y] as number) + 1;
    return Float64Array.from(count, (m) => (m > 0 ? this.labels.n / C / m : 0));
  }

  /** sum over the batch of w_i cw_{y_i} CE(x_i, y_i), / B */
  protected labelledStep(batch: ViewedBatch): StepStats {
    return tidy(() => {
      const { net, data } = this.ctx;
      const b = batch.index.length;
      const y = Int32Array.from(batch.index, (i) => this.labels.y[i] as number);
      const w = Float32Array.from(batch.index, (i, k) => {
        const c = this.labels.isLabelled[i] ? 1 : (this.labels.c[i] as number);
        return (y[k] as number) >= 0 ? c * (this.#classWeight[y[k] as number] as number) : 0;
      });
      const { logits } = net.heads(batch.strong ?? batch.x); // [B, C]
      const lc = subsetMean(
        this.ctx,
        categorization(logits, tensor(y, [b], "int64"))
          .mul(tensor(w, [b]))
          .sum(),
        b,
      );
      optimise(this.ctx, lc);
      const l = lc.item();
      return { ...emptyStats(), "loss/total": l, "loss/categorization": l, ...labelMonitors(batch.index, this.labels, data.trueLabels) };
    });
  }
}
