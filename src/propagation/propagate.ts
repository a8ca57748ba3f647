// Label propagation (paper Eqs. 5-8). Pure: embeddings and labelled points in, pseudo-labels
// and confidences out. Serves training, `llp propagate` and evaluation alike.
import { softmax } from "../torch/functional.js";
import { tidy } from "../torch/scope.js";
import { cat, noGrad, type Tensor, zeros } from "../torch/tensor.js";
import { blockedTopk } from "./neighbours.js";

export interface Propagated {
  y: Tensor; // [B] int64 pseudo-label: argmax_j p_j(v)
  c: Tensor; // [B] float32 confidence: p_y(v)
  p: Tensor; // [B, C] class probabilities p_j(v)
}

export interface PropagateOptions {
  /** K: labelled voters per point (paper: 10) */
  K: number;
  /** tau: temperature of the non-parametric softmax (paper: 0.07) */
  tau: number;
  numClasses: number;
  /**
   * log rho(v_i) for each labelled point (Eq. 7), from logDensity(). null = plain weighted
   * kNN (Eqs. 5-6): voters are the K most probable labelled points, weights P(i|v).
   */
  logRho: Tensor | null;
}

/**
 * v: [B, D] unit embeddings; labelledV: [M, D] their bank rows; labelledY: [M] int64 labels.
 * With density: P^L(i|v) = P(i|v) / rho(v_i); the K labelled points with the highest P^L vote,
 * w_j = sum of P^L over voters of class j, p = w / sum w, y = argmax p, c = p_y (Eq. 8).
 * P's normaliser Z(v) is the same for every i, so it cancels in p and in the ranking; we work
 * with log-weights s_i = v_i.v / tau - log rho_i and subtract each row's max before exp.
 */
export function propagate(v: Tensor, labelledV: Tensor, labelledY: Tensor, o: PropagateOptions): Propagated {
  return tidy(() => {
    const { y, c, p } = propagateWithVoters(v, labelledV, labelledY, o);
    return { y, c, p };
  });
}

/** propagate() and who voted: voters [B, K] int64 rows of labelledV, best first; share [B, K] each voter's w_i / sum w. */
export function propagateWithVoters(
  v: Tensor,
  labelledV: Tensor,
  labelledY: Tensor,
  o: PropagateOptions,
): Propagated & { voters: Tensor; share: Tensor } {
  const [b, d] = v.shape as [number, number];
  const [m, dl] = labelledV.shape as [number, number];
  if (d !== dl) throw new Error(`propagate: v [${v.shape}] and labelledV [${labelledV.shape}] differ in D`);
  if (labelledY.numel !== m) throw new Error(`propagate: labelledY [${labelledY.shape}] must be [${m}]`);
  if (o.logRho !== null && o.logRho.numel !== m) throw new Error(`propagate: logRho [${o.logRho.shape}] must be [${m}]`);
  const k = Math.min(o.K, m);
  return noGrad(() =>
    tidy(() => {
      // s_i = v_i.v / tau - log rho_i = log P^L(i|v) + const; the K best, never the whole [B, M]
      const { values: top, indices: voters } = blockedTopk(v, labelledV, k, { tau: o.tau, bias: o.logRho }); // [B, K]
      const w = top.sub(top.max(1, true)).exp(); // [B, K] votes, up to a per-row factor
      const cls = labelledY.indexSelect(0, voters.flatten()).reshape([b, k]); // [B, K]
      const W = zeros([b, o.numClasses]).scatterAdd(1, cls, w); // [B, C] w_j(v)
      const total = W.sum(1, true); // [B, 1]
      const p = W.div(total); // [B, C] Eq. 6
      const [c, y] = p.maxDim(1);
      return { y, c, p, voters, share: w.div(total) };
    }),
  );
}

/** The released code's variant: pseudo-labels from the classifier head. logits: [B, C] */
export function classifierLabels(logits: Tensor): Propagated {
  return noGrad(() =>
    tidy(() => {
      const p = softmax(logits.detach(), 1);
      const [c, y] = p.maxDim(1);
      return { y, c, p };
    }),
  );
}

/**
 * propagate() over many points in blocks of rows, so memory holds at most block x M
 * similarities. v: [Q, D] -> y [Q] int64, c [Q] float32 (p is not kept).
 */
export function propagateBlocked(
  v: Tensor,
  labelledV: Tensor,
  labelledY: Tensor,
  o: PropagateOptions,
  block = 4096,
): { y: Tensor; c: Tensor } {
  return tidy(() => {
    const ys: Tensor[] = [];
    const cs: Tensor[] = [];
    for (let s = 0; s < v.size(0); s += block) {
      const p = propagate(v.slice(0, s, Math.min(v.size(0), s + block)), labelledV, labelledY, o);
      ys.push(p.y);
      cs.push(p.c);
    }
    return ys.length === 0 ? { y: zeros([0], "int64"), c: zeros([0]) } : { y: cat(ys), c: cat(cs) };
  });
}

/** Both sources at once: p = (a.p + b.p) / 2, y = argmax p, c = p_y. a, b: [B, C] each */
export function meanLabels(a: Propagated, b: Propagated): Propagated {
  return noGrad(() =>
    tidy(() => {
      const p = a.p.add(b.p).mul(0.5); // [B, C]
      const [c, y] = p.maxDim(1);
      return { y, c, p };
    }),
  );
}
