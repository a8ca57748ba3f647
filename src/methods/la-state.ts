// Local Aggregation's state and step (Zhuang, Zhai & Yamins 2019), shared by the la method and
// LLP's --init la: H k-means clusterings of the memory bank, refreshed once per epoch, and the
// step on the loss they define (losses.ts: localAggregation).
import { localAggregation } from "../losses/losses.js";
import { kmeans } from "../propagation/kmeans.js";
import type { Generator } from "../torch/random.js";
import { keep, tidy } from "../torch/scope.js";
import { stack, type Tensor, tensor } from "../torch/tensor.js";
import type { LLPState } from "./llp.js";
import { emptyStats, type MethodContext, optimise, type StepStats, type ViewedBatch } from "./method.js";

/** Their released config (neuroailab/LocalAggregation-Pytorch, imagenet_la.json) and the data it was set for. */
export const LA_CONFIG = { background: 4096, clusters: 30000, clusterings: 10, n: 1281167 } as const;

/** The background size kB and cluster count k for N points: the released config's shares of the data (at least 16 and 2, at most N). */
export function laSizes(n: number): { kB: number; k: number; H: number } {
  const share = (x: number) => Math.round((x * n) / LA_CONFIG.n);
  return {
    kB: Math.min(n, Math.max(16, share(LA_CONFIG.background))),
    k: Math.min(n, Math.max(2, share(LA_CONFIG.clusters))),
    H: LA_CONFIG.clusterings,
  };
}

/** The H clusterings of the bank (refresh() once per epoch is their only writer) and the loss they define. */
export class LocalAggregationState {
  /** [H, N] int64 cluster of every bank row in each clustering; null before the first refresh */
  clusters: Tensor | null = null;
  readonly sizes: { kB: number; k: number; H: number };
  constructor(n: number) {
    this.sizes = laSizes(n);
  }
  /** New clusterings of the bank V [N, D], their initial centres drawn from gen. */
  refresh(V: Tensor, gen: Generator): void {
    this.clusters?.dispose();
    this.clusters = keep(tidy(() => stack(Array.from({ length: this.sizes.H }, () => kmeans(V, this.sizes.k, gen)))));
  }
  restore(clusters: Tensor): void {
    this.clusters?.dispose();
    this.clusters = keep(clusters.clone());
  }
  /** One LA step: the loss on the batch's embeddings, the update, the bank rows written back. */
  step(ctx: MethodContext, bank: LLPState, batch: ViewedBatch): StepStats {
    const { clusters } = this;
    if (!clusters) throw new Error("local aggregation: no clusterings yet (refresh() at the epoch's start)");
    return tidy(() => {
      const index = tensor(batch.index, [batch.index.length], "int64"); // [B]
      const { v } = ctx.net.heads(batch.x); // [B, D]
      const values = localAggregation(v, bank.bank.V, clusters, index, this.sizes.kB, ctx.cfg.tau); // [B]
      const loss = values.mean();
      optimise(ctx, loss);
      bank.writeBack(batch.index, index, v.detach(), null, ctx.dp);
      const l = loss.item();
      return { ...emptyStats(), "loss/total": l, "loss/instance": l };
    });
  }
  dispose(): void {
    this.clusters?.dispose();
  }
}
