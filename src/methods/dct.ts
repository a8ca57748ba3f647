// Deep Co-Training (Qiao et al. 2018), two views: two networks of the same architecture, started
// from different initialisations, learn from the labelled points, agree on the unlabelled ones,
// and are kept apart by each other's adversarial examples:
//   L = L_sup + lambda_cot(e) L_cot + lambda_dif(e) L_dif
//   L_sup = CE(p1(x), y) + CE(p2(x), y), each a mean over the batch's labelled points
//   L_cot = mean over the batch's unlabelled points of the Jensen-Shannon divergence
//           H((p1 + p2) / 2) - (H(p1) + H(p2)) / 2      (the co-training assumption)
//   L_dif = mean over the batch of H(p1(x), p2(g1(x))) + H(p2(x), p1(g2(x)))   (view difference)
//   g_k(x) = x + eps sign(grad_x CE(p_k(x), t)), t = y where labelled, argmax p_k(x) elsewhere (FGSM)
// H(p) the entropy, H(p, q) = -sum_c p_c log q_c the cross-entropy, gradients through both sides.
// lambda_cot = 10 and lambda_dif = 0.5 (their CIFAR-10 and SVHN settings) under the sigmoid
// ramp-up of --consistency-rampup epochs (theirs: 80 of 600); eps = --dct-epsilon (0.02, the
// value the authors gave for the PyTorch reimplementation, in the network's input units).
// As that reimplementation, the attack's forward runs in eval mode (each example's gradient is
// its own); the perturbed forwards use their batch's statistics and leave the running ones as
// they were. Both networks see the same batch (their code draws the labelled batches apart).
// The first network (the run's) evaluates, predicts and exports; the second and its optimiser's
// momentum are this method's state.
import { categorization, predictionEntropy } from "../losses/losses.js";
import { keepingRunningStats, type LLPNet } from "../model/net.js";
import { logSoftmax, softmax } from "../torch/functional.js";
import { tidy } from "../torch/scope.js";
import { type Tensor, tensor, where } from "../torch/tensor.js";
import { sigmoidRampup } from "../train/schedule.js";
import {
  emptyStats,
  type MethodContext,
  OnePhaseMethod,
  OwnedPart,
  optimise,
  type StepStats,
  subsetMean,
  type ViewedBatch,
} from "./method.js";

/** The co-training weight after ramp-up (Qiao et al. 2018, CIFAR-10 and SVHN). */
export const DCT_LAMBDA_COT = 10;
/** The view-difference weight after ramp-up (Qiao et al. 2018). */
export const DCT_LAMBDA_DIF = 0.5;
/** The second network's generator seed offset (cfg.seed + this): far past any run's own seed, so no seed's second network is another seed's first. */
const SECOND_VIEW_SEED = 1_000_003;

/**
 * The Jensen-Shannon divergence of two predictions, per example: H(m) - (H(p1) + H(p2)) / 2,
 * m = (p1 + p2) / 2 (natural log, so it lies in [0, ln 2]). logits1, logits2: [B, C] -> [B]
 */
export function jensenShannon(logits1: Tensor, logits2: Tensor): Tensor {
  const m = softmax(logits1, 1).add(softmax(logits2, 1)).div(2); // [B, C]
  const hm = m.mul(m.clamp(1e-30).log()).sum(1).neg(); // [B]
  return hm.sub(predictionEntropy(logits1).add(predictionEntropy(logits2)).div(2));
}

/** H(p, q) per example: -sum_c softmax(pLogits)_c log softmax(qLogits)_c, gradients through both. [B, C] -> [B] */
export function crossEntropyBetween(pLogits: Tensor, qLogits: Tensor): Tensor {
  return softmax(pLogits, 1).mul(logSoftmax(qLogits, 1)).sum(1).neg();
}

/**
 * FGSM (Goodfellow et al. 2015) against `net`: x + eps sign(grad_x sum CE(net(x), target)), the
 * forward in eval mode. x: [B, ...]; target: [B] int64 (every row a class). The backward leaves
 * the parameters' .grad dirty (optimise() clears them).
 */
export function fgsm(net: LLPNet, x: Tensor, target: Tensor, eps: number): Tensor {
  return tidy(() => {
    const was = net.training;
    const xr = x.detach().requiresGrad_(); // [B, ...]
    net.eval();
    try {
      categorization(net.heads(xr).logits, target).sum().backward();
    } finally {
      net.train(was);
    }
    const g = xr.grad;
    if (!g) throw new Error("dct: no gradient reached the input");
    return x.detach().add(g.sign().mul(eps));
  });
}

export class DeepCoTraining extends OnePhaseMethod {
  readonly name = "dct" as const;
  /** the second view's network (the first is the run's), and its SGD */
  readonly #second: OwnedPart<LLPNet>;
  #epoch = 0;

  constructor(ctx: MethodContext) {
    super(ctx);
    this.#second = new OwnedPart(ctx.makeNet(SECOND_VIEW_SEED).train(), ctx.cfg, "second.", "second network");
  }

  /** the second view's network */
  get second(): LLPNet {
    return this.#second.module;
  }

  override beginEpoch(epoch: number): void {
    this.#epoch = epoch;
  }

  /** lambda_cot and lambda_dif at an epoch: their maxima times the sigmoid ramp-up. */
  weights(epoch: number): { cot: number; dif: number } {
    const r = sigmoidRampup(epoch, this.ctx.cfg.consistencyRampup);
    return { cot: DCT_LAMBDA_COT * r, dif: DCT_LAMBDA_DIF * r };
  }

  step(batch: ViewedBatch): StepStats {
    return tidy(() => {
      const { cfg, net } = this.ctx;
      const x = batch.strong ?? batch.x; // [B, ...]
      const b = batch.index.length;
      const y = tensor(batch.label, [b], "int64"); // [B], -1 = unlabelled
      const labelled = batch.label.reduce((n, l) => n + (l >= 0 ? 1 : 0), 0);
      const l1 = net.heads(x).logits; // [B, C]
      const l2 = this.second.heads(x).logits; // [B, C]
      const lsup = subsetMean(this.ctx, categorization(l1, y).add(categorization(l2, y)).sum(), labelled); // both networks' means
      const unlabelled = y.lt(0).float(); // [B]
      const lcot = subsetMean(this.ctx, jensenShannon(l1, l2).mul(unlabelled).sum(), b - labelled);
      // each network's adversarial examples, toward the label or its own prediction
      const g1 = fgsm(net, x, where(y.ge(0), y, l1.detach().argmax(1)), cfg.dctEpsilon); // [B, ...]
      const g2 = fgsm(this.second, x, where(y.ge(0), y, l2.detach().argmax(1)), cfg.dctEpsilon);
      const l2OnG1 = keepingRunningStats(this.second, () => this.second.heads(g1).logits); // [B, C]
      const l1OnG2 = keepingRunningStats(net, () => net.heads(g2).logits);
      const ldif = crossEntropyBetween(l1, l2OnG1).add(crossEntropyBetween(l2, l1OnG2)).mean();
      const w = this.weights(this.#epoch);
      const loss = lsup.add(lcot.mul(w.cot)).add(ldif.mul(w.dif));
      optimise(this.ctx, loss, [this.#second.opt]);
      return {
        ...emptyStats(),
        "loss/total": loss.item(),
        "loss/categorization": lsup.item(),
        "loss/consistency": lcot.item(),
        "loss/difference": ldif.item(),
        "monitor/consistencyWeight": w.cot,
      };
    });
  }

  override stateDict(): Map<string, Tensor> {
    return this.#second.stateDict();
  }
  override loadStateDict(state: Map<string, Tensor>, path: string): void {
    this.#second.loadStateDict(state, path);
  }
  override dispose(): void {
    this.#second.dispose();
  }
}
