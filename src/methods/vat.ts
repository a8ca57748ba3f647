// Virtual Adversarial Training (Miyato et al. 2018), and VAT-EM: VAT with entropy minimisation.
//   L = L_s + alpha LDS  [+ H for vat-em]
//   L_s = mean over the batch's labelled points of CE(p(x), y)
//   LDS = mean over the batch of KL(p(x) || p(x + r_adv)), p(x) a target (no gradient)
//   r_adv = eps g / |g|,  g = grad_r KL(p(x) || p(x + r)) at r = xi d / |d|,  d ~ N(0, I)
//         (one power iteration: g approximates the dominant eigenvector of the KL's Hessian)
//   H = mean over the batch of the entropy of p(x) (gradient through p)
// Norms are per example, over all input dims. LDS and H cover every point of the batch (their
// unlabelled stream is the whole training set). Defaults: eps = --vat-epsilon (6, USB's setting;
// the released code: 8.0 on CIFAR-10, 3.5 on SVHN, both with augmentation), xi = 1e-2 (a measured
// departure from their 1e-6, see VAT_XI), one iteration, alpha = --unlabelled-weight (1), the
// entropy weight 1 (their "vatent"). The
// perturbed forwards leave the batch-norm running statistics as they were (their code's
// update_batch_stats=False). The method keeps no state beyond the network.
import { perRow } from "../data/shard.js";
import { categorization, klFromLogits, predictionEntropy } from "../losses/losses.js";
import { keepingRunningStats, type LLPNet } from "../model/net.js";
import { normalize } from "../torch/functional.js";
import { tidy } from "../torch/scope.js";
import { type Tensor, tensor } from "../torch/tensor.js";
import { emptyStats, type MethodContext, OnePhaseMethod, optimise, type StepStats, subsetMean, type ViewedBatch } from "./method.js";

/**
 * The finite-difference step of the power iteration. Miyato et al. use 1e-6; in float32 on
 * standardised 28x28 images that step (3.6e-8 per pixel) is mostly rounded away, and the
 * direction it finds is noise: measured on Fashion-MNIST with small-cnn (docs/experiments.md),
 * its cosine to the directions found with xi = 1e-3 and 1e-2 (0.976 to each other) is 0.09.
 */
export const VAT_XI = 1e-2;

/** Each example of x [B, ...] scaled to unit L2 norm over all its dims. */
export function unitPerExample(x: Tensor): Tensor {
  const shape = x.shape;
  return normalize(x.reshape([shape[0] as number, -1]), 1).reshape(shape);
}

/** b rows of k standard normal draws (Box-Muller on the step's uniforms), [b * k] row-major. */
export function gaussianRows(draws: ViewedBatch["draws"], b: number, k: number): Float32Array {
  const k2 = k + (k % 2);
  const u = perRow(draws, k2, b);
  const z = new Float32Array(b * k);
  for (let r = 0; r < b; r++)
    for (let j = 0; j < k; j += 2) {
      const u1 = 1 - (u[r * k2 + j] as number); // in (0, 1]
      const u2 = u[r * k2 + j + 1] as number;
      const m = Math.sqrt(-2 * Math.log(u1));
      z[r * k + j] = m * Math.cos(2 * Math.PI * u2);
      if (j + 1 < k) z[r * k + j + 1] = m * Math.sin(2 * Math.PI * u2);
    }
  return z;
}

/**
 * The virtual adversarial perturbation of x [B, ...] for a network whose clean logits are
 * `target` [B, C]: eps times the unit direction one power iteration from d [B, ...] finds.
 * The gradient pass leaves the parameters' .grad dirty (optimise() clears them) and the running
 * statistics as they were.
 */
export function adversarialPerturbation(net: LLPNet, x: Tensor, target: Tensor, d: Tensor, xi: number, eps: number): Tensor {
  return tidy(() => {
    const r = unitPerExample(d).mul(xi).requiresGrad_(); // [B, ...]
    keepingRunningStats(net, () =>
      klFromLogits(target, net.heads(x.add(r)).logits)
        .sum()
        .backward(),
    );
    const g = r.grad;
    if (!g) throw new Error("vat: no gradient reached the perturbation");
    return unitPerExample(g.detach()).mul(eps);
  });
}

export class VAT extends OnePhaseMethod {
  constructor(
    ctx: MethodContext,
    readonly name: "vat" | "vat-em",
  ) {
    super(ctx);
  }

  step(batch: ViewedBatch): StepStats {
    return tidy(() => {
      const { cfg, net } = this.ctx;
      const x = batch.strong ?? batch.x; // [B, ...]
      const b = batch.index.length;
      const { logits } = net.heads(x); // [B, C]
      const y = tensor(batch.label, [b], "int64"); // [B], -1 = unlabelled
      const labelled = batch.label.reduce((n, l) => n + (l >= 0 ? 1 : 0), 0);
      const ls = subsetMean(this.ctx, categorization(logits, y).sum(), labelled); // mean over the labelled points
      const per = x.numel / b;
      const d = tensor(gaussianRows(batch.draws, b, per), x.shape); // [B, ...]
      const rAdv = adversarialPerturbation(net, x, logits, d, VAT_XI, cfg.vatEpsilon);
      const lds = keepingRunningStats(net, () => klFromLogits(logits, net.heads(x.add(rAdv)).logits)).mean();
      let loss = ls.add(lds.mul(cfg.unlabelledWeight));
      const h = this.name === "vat-em" ? predictionEntropy(logits).mean() : null;
      if (h) loss = loss.add(h);
      optimise(this.ctx, loss);
      return {
        ...emptyStats(),
        "loss/total": loss.item(),
        "loss/categorization": ls.item(),
        "loss/consistency": lds.item(),
        ...(h ? { "loss/entropy": h.item() } : {}),
      };
    });
  }
}
