// LLP's loss terms. Each is a pure function of tensors, named after the paper's quantity.
// None touches the bank, the label state, the optimiser or the config.
//
// All bank terms share E = exp((v.V^T - 1) / tau): the non-parametric softmax's numerators
// (Eq. 1) scaled by the constant exp(-1/tau). Rows are unit vectors, so v_j.v <= 1 and every
// entry lies in [exp(-2/tau), 1]: no overflow, and for tau >= 0.03 no float32 underflow, so no
// per-row max is needed. Sums over sets of bank rows then come from one exp pass and a small
// matmul, instead of a masked log-sum-exp per set (about 3x faster on a 60k bank).
//
// Training uses `bankSetLoss`: the same L_IR / L_A values with their gradient in closed form
// (one native call, no autograd graph over the [B, N] scores). `instanceRecognition` and
// `aggregation` are the same quantities written with autograd ops; the tests hold the closed
// form to them (values and gradients), and they remain the readable statement of Eqs. 1-3.
import { crossEntropy, logSoftmax, oneHot, setNll, softmax } from "../torch/functional.js";
import { type Tensor, where } from "../torch/tensor.js";

/** E [B, N]: exp((v_j.v - 1) / tau) for every bank row j. v: [B, D], bank: [N, D] */
export function bankExp(v: Tensor, bank: Tensor, tau: number): Tensor {
  return v.mm(bank.T).sub(1).div(tau).exp();
}

/**
 * Instance Recognition (Wu et al. 2018): L_IR = -log P(i | v_i) = log sum_j E_j - log E_i.
 * E: [B, N] from bankExp, index: [B] int64 -> [B]
 */
export function instanceRecognition(E: Tensor, index: Tensor): Tensor {
  return E.sum(1)
    .log()
    .sub(E.gather(1, index.unsqueeze(1)).squeeze(1).log());
}

/**
 * Aggregation (Eq. 3): L_A(v) = -log P(A | v), A = { i : y_i = y }, P(A|v) = sum_{i in A} P(i|v).
 * A always contains the point's own bank row, so a point without a pseudo-label (y = -1, "its
 * own instance") gets exactly the Instance Recognition loss.
 * E: [B, N]; bankLabels: [N] int (-1 = none); y: [B] int64; index: [B] int64 -> [B]
 */
export function aggregation(E: Tensor, bankLabels: Tensor, y: Tensor, index: Tensor, numClasses: number): Tensor {
  const member = oneHot(bankLabels.long().add(1), numClasses + 1).to(E.dtype); // [N, C+1], column 0 = no label
  const classMass = E.mm(member); // [B, C+1] sum of E over each class's rows
  const inClass = classMass.gather(1, y.add(1).unsqueeze(1)).squeeze(1).mul(y.ge(0).float()); // [B]
  const own = E.gather(1, index.unsqueeze(1)).squeeze(1); // [B]
  const ownCounted = bankLabels.long().indexSelect(0, index).eq(y).logicalAnd(y.ge(0)); // [B] own row already in its class
  const massA = inClass.add(where(ownCounted, 0, own)); // [B]
  return E.sum(1).log().sub(massA.log());
}

/**
 * L_A (Eq. 3) for rows with a (pseudo-)label y_i >= 0 and L_IR (= -log P(index_i | v_i)) for
 * rows with y_i = -1, over the full bank, with the gradient in closed form:
 * dL_i/dv_i = (1/tau) sum_j (P(j|v_i) - P(j|v_i, A_i)) V_j, P(.|v, A) the softmax restricted to A.
 * values: [B] the per-example losses (no grad). objective: a scalar whose gradient with respect
 * to v is d(sum_i weight_i values_i)/dv; its value is not a loss (report `values`).
 * v: [B, D] (with grad); bank: [N, D]; bankLabels: [N] int (-1 = none); y, index: [B] int64;
 * weight: [B]
 */
export function bankSetLoss(
  v: Tensor,
  bank: Tensor,
  bankLabels: Tensor,
  y: Tensor,
  index: Tensor,
  tau: number,
  numClasses: number,
  weight: Tensor,
): { values: Tensor; objective: Tensor } {
  const { loss, gradV } = setNll(v.detach(), bank, bankLabels, y, index, tau, numClasses, weight);
  return { values: loss, objective: v.mul(gradV).sum() };
}

/**
 * Categorization L_C: cross-entropy of the classifier head against (pseudo-)labels, per example.
 * Rows with y = -1 contribute 0. logits: [B, C], y: [B] int64 -> [B]
 */
export function categorization(logits: Tensor, y: Tensor): Tensor {
  const valid = y.ge(0); // [B]
  const target = where(valid, y, 0); // [B]
  return crossEntropy(logits, target, valid.float(), "none");
}

/**
 * Eq. 4 without the weight-decay term (applied by the optimiser): per example
 * c * [L_C + L_A], averaged over the batch. A point without a pseudo-label (y = -1) is trained
 * as its own instance: L_A (= L_IR there) with weight 1 and no L_C.
 * share (optional, [B]): each example's part of a mixed image (--mixup); the mixed loss is the
 * sum of this over the two sources with shares lambda and 1 - lambda.
 * lc, la, c: [B]; y: [B] -> scalar
 */
export function llpLoss(lc: Tensor, la: Tensor, c: Tensor, y: Tensor, share?: Tensor): Tensor {
  const perExample = lc.mul(c).add(la.mul(aggregationWeight(c, y))); // [B]
  return (share ? perExample.mul(share) : perExample).mean();
}

/** The weight Eq. 4 puts on L_A: c where there is a (pseudo-)label, 1 for an own instance. c, y: [B] -> [B] */
export function aggregationWeight(c: Tensor, y: Tensor): Tensor {
  return where(y.ge(0), c, 1);
}

/**
 * Mean Teacher's consistency cost (Tarvainen & Valpola 2017, "mse" in their code): the squared
 * distance between the student's and the teacher's class probabilities, divided by C, per
 * example. The teacher's side is a target (no gradient). logits, teacherLogits: [B, C] -> [B]
 */
export function consistencyMse(logits: Tensor, teacherLogits: Tensor): Tensor {
  const c = logits.size(1);
  return softmax(logits, 1).sub(softmax(teacherLogits.detach(), 1)).square().sum(1).div(c);
}

/**
 * KL(q || p) per example from logits, q the target (no gradient): sum_c q_c (log q_c - log p_c),
 * VAT's distance between the clean and the perturbed prediction. targetLogits, logits: [B, C] -> [B]
 */
export function klFromLogits(targetLogits: Tensor, logits: Tensor): Tensor {
  const t = targetLogits.detach();
  return softmax(t, 1)
    .mul(logSoftmax(t, 1).sub(logSoftmax(logits, 1)))
    .sum(1);
}

/** The entropy of the predicted class distribution per example, -sum_c p_c log p_c (VAT-EM's term). logits: [B, C] -> [B] */
export function predictionEntropy(logits: Tensor): Tensor {
  return softmax(logits, 1).mul(logSoftmax(logits, 1)).sum(1).neg();
}

/**
 * Local Aggregation (Zhuang, Zhai & Yamins 2019), per example: -log P(C_i and B_i | v) / P(B_i | v),
 * B_i the kB bank rows most similar to v, C_i the rows sharing a cluster with point i in any of
 * the H clusterings, P(A | v) proportional to the sum over A of exp(v . v_j / tau). As their
 * code, 1e-7 is added to the ratio (a row with no close neighbour in its background costs
 * -log 1e-7 and takes no gradient). v: [B, D], bank: [N, D], clusters: [H, N] int64, index: [B] -> [B]
 */
export function localAggregation(v: Tensor, bank: Tensor, clusters: Tensor, index: Tensor, kB: number, tau: number): Tensor {
  const [scores, back] = v.mm(bank.T).div(tau).topk(kB, 1); // [B, kB] each
  const h = clusters.size(0);
  const own = clusters.indexSelect(1, index).unsqueeze(2); // [H, B, 1]
  const theirs = clusters.indexSelect(1, back.flatten()).reshape([h, back.size(0), kB]); // [H, B, kB]
  const close = theirs.eq(own).any(0); // [B, kB]
  const all = scores.logsumexp(1); // [B]
  const near = where(close, scores, Number.NEGATIVE_INFINITY).logsumexp(1); // [B]
  return near.sub(all).exp().add(1e-7).log().neg();
}
