// FixMatch (Sohn et al. 2020): where the network is confident about an unlabelled image's weak
// view (max probability >= tau = --threshold), that class becomes the target of its strong view.
//   L = L_s + lambda_u L_u
//   L_s = mean over the B_l labelled points of CE(p(weak x), y)
//   L_u = mean over the mu B_l unlabelled points of 1[max q >= tau] CE(p(strong u), argmax q),
//         q = p(weak u), no gradient through q
// Batches hold B/8 labelled points and the rest unlabelled (mu = 7, their setting; the unlabelled
// stream holds the unlabelled points only). The weak view is the batch as loaded (flip and crop);
// the strong view is RandAugment then Cutout (src/data/views.ts, --train-view randaugment). As in
// their code, the weak and strong batches go through the network together (one batch-norm
// batch), and a weight average of the network (decay 0.999, over parameters and batch-norm
// statistics, its first updates ramped as Mean Teacher's: train/ema.ts) evaluates and predicts;
// update() is its only writer.
import { categorization } from "../losses/losses.js";
import type { LLPNet } from "../model/net.js";
import { softmax } from "../torch/functional.js";
import { tidy } from "../torch/scope.js";
import { cat, type Tensor, tensor } from "../torch/tensor.js";
import { WeightAverage } from "../train/ema.js";
import { emptyStats, type MethodContext, OnePhaseMethod, optimise, type StepStats, subsetMean, type ViewedBatch } from "./method.js";

/** The evaluated weight average's decay when --ema-decay is null (Sohn et al. 2020). */
export const FIXMATCH_EMA = 0.999;

/**
 * FixMatch's unlabelled term from the unlabelled points' weak and strong logits [U, C]:
 * targets argmax softmax(weak), mask max softmax(weak) >= tau; values [U] = mask * CE(strong, target).
 */
export function fixmatchUnlabelled(
  weakLogits: Tensor,
  strongLogits: Tensor,
  tau: number,
): { values: Tensor; mask: Tensor; target: Tensor; conf: Tensor } {
  const [conf, target] = softmax(weakLogits.detach(), 1).maxDim(1); // [U], [U] int64
  const mask = conf.ge(tau).float(); // [U]
  return { values: categorization(strongLogits, target).mul(mask), mask, target, conf };
}

export class FixMatch extends OnePhaseMethod {
  readonly name = "fixmatch" as const;
  readonly average: WeightAverage;

  constructor(ctx: MethodContext) {
    super(ctx);
    this.average = new WeightAverage(ctx.makeNet(), ctx.cfg.emaDecay ?? FIXMATCH_EMA);
    this.average.reset(ctx.net);
  }

  override async start(): Promise<void> {
    this.average.reset(this.ctx.net);
  }

  step(batch: ViewedBatch): StepStats {
    return tidy(() => {
      const { cfg, net, data } = this.ctx;
      if (!batch.strong) throw new Error("fixmatch: the loop gave no strong view");
      const b = batch.index.length;
      const lab: number[] = [];
      const unl: number[] = [];
      for (let k = 0; k < b; k++) ((batch.label[k] as number) >= 0 ? lab : unl).push(k);
      const u = unl.length;
      const unlT = tensor(unl, [u], "int64"); // [U] rows of the unlabelled points
      // weak views of the whole batch and strong views of its unlabelled points, one forward
      const { logits: all } = net.heads(u > 0 ? cat([batch.x, batch.strong.indexSelect(0, unlT)]) : batch.x); // [B + U, C]
      const weak = all.slice(0, 0, b); // [B, C]
      const y = tensor(batch.label, [b], "int64"); // [B], -1 = unlabelled
      const ls = subsetMean(this.ctx, categorization(weak, y).sum(), lab.length); // mean over the labelled points
      const lu = u > 0 ? fixmatchUnlabelled(weak.indexSelect(0, unlT), all.slice(0, b, b + u), cfg.threshold) : null;
      // mean over the unlabelled points (taken on every rank: a collective under data-parallel training)
      const luMean = subsetMean(this.ctx, lu ? lu.values.sum() : ls.mul(0), u);
      const loss = lu ? ls.add(luMean.mul(cfg.unlabelledWeight)) : ls;
      optimise(this.ctx, loss);
      this.average.update(net);
      const stats = { ...emptyStats(), "loss/total": loss.item(), "loss/categorization": ls.item() };
      if (!lu) return stats;
      const mask = lu.mask.toArray() as Float32Array;
      const target = lu.target.to("int32").toArray() as Int32Array;
      const truth = data.trueLabels;
      let kept = 0;
      let hits = 0;
      unl.forEach((k, j) => {
        if (!mask[j]) return;
        kept++;
        if (truth && truth[batch.index[k] as number] === target[j]) hits++;
      });
      return {
        ...stats,
        "loss/consistency": lu.values.mean().item(), // this rank's
        "monitor/mask": kept / u,
        "monitor/confidence": lu.conf.mean().item(),
        "monitor/pseudoLabelAccuracy": kept && truth ? hits / kept : Number.NaN,
      };
    });
  }

  override evalNet(): LLPNet {
    return this.average.net;
  }
  override stateDict(): Map<string, Tensor> {
    return this.average.stateDict("average.");
  }
  override loadStateDict(state: Map<string, Tensor>, path: string): void {
    this.average.loadStateDict(state, "average.", path, "fixmatch weight average");
  }
  override dispose(): void {
    this.average.dispose();
  }
}
