// Graph label propagation at the scale of a training set (DLP, Iscen et al. 2019): a kNN graph
// over unit descriptors found by the blocked kernel and kept as neighbour lists, and
// (I - alpha S) z_c = y_c solved per class by conjugate gradient, where
// S = D^-1/2 (W + W^T) D^-1/2 is applied from the lists (no N x N matrix is ever formed).
import type { Tensor } from "../torch/tensor.js";
import { blockedTopk } from "./neighbours.js";

/** Solves A z = b for symmetric positive definite A given as a mat-vec, by conjugate gradient (stops at |r| <= tol |b|). */
export function conjugateGradient(apply: (v: Float64Array) => Float64Array, b: Float64Array, iters = 500, tol = 1e-8): Float64Array {
  const z = new Float64Array(b.length);
  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  let rr = r.reduce((s, v) => s + v * v, 0);
  const stop = tol * tol * Math.max(rr, 1e-300);
  for (let it = 0; it < iters && rr > stop; it++) {
    const Ap = apply(p);
    let pAp = 0;
    for (let i = 0; i < p.length; i++) pAp += (p[i] as number) * (Ap[i] as number);
    const a = rr / pAp;
    let rr2 = 0;
    for (let i = 0; i < z.length; i++) {
      z[i] = (z[i] as number) + a * (p[i] as number);
      r[i] = (r[i] as number) - a * (Ap[i] as number);
      rr2 += (r[i] as number) ** 2;
    }
    const beta = rr2 / rr;
    for (let i = 0; i < p.length; i++) p[i] = (r[i] as number) + beta * (p[i] as number);
    rr = rr2;
  }
  return z;
}

/** A directed kNN graph: each of n points' k neighbours (self excluded) and the edge weights. */
export interface KnnGraph {
  n: number;
  k: number;
  idx: Int32Array; // [n * k] neighbour rows
  w: Float64Array; // [n * k] edge weights (>= 0)
}

/**
 * The k nearest other rows of every row of X [n, d] (unit rows: dot = cosine) with weights
 * weight(cos). The search takes k + 1 and drops the row itself (or, among duplicates, the last).
 */
export function knnGraph(X: Tensor, k: number, weight: (cos: number) => number): KnnGraph {
  const n = X.size(0);
  if (k < 1 || k > n - 1) throw new Error(`kNN graph: k = ${k} needs 1 <= k < n = ${n}`);
  const top = blockedTopk(X, X, k + 1);
  const vals = top.values.toArray() as Float32Array;
  const rows = top.indices.toArray() as BigInt64Array;
  top.values.dispose();
  top.indices.dispose();
  const idx = new Int32Array(n * k);
  const w = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let out = 0;
    for (let j = 0; j <= k && out < k; j++) {
      const r = Number(rows[i * (k + 1) + j]);
      if (r === i) continue;
      idx[i * k + out] = r;
      w[i * k + out] = weight(vals[i * (k + 1) + j] as number);
      out++;
    }
  }
  return { n, k, idx, w };
}

/** The normalised symmetric affinity S = D^-1/2 (W + W^T) D^-1/2 as a mat-vec, D its degrees (a zero degree counts as 1). */
export function symmetricOperator(g: KnnGraph): (v: Float64Array) => Float64Array {
  const { n, k, idx, w } = g;
  const deg = new Float64Array(n);
  for (let i = 0; i < n; i++)
    for (let e = i * k; e < (i + 1) * k; e++) {
      deg[i] = (deg[i] as number) + (w[e] as number);
      const j = idx[e] as number;
      deg[j] = (deg[j] as number) + (w[e] as number);
    }
  const dInv = Float64Array.from(deg, (d) => 1 / Math.sqrt(d > 0 ? d : 1));
  return (v) => {
    const u = Float64Array.from(v, (x, i) => x * (dInv[i] as number)); // D^-1/2 v
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      const ui = u[i] as number;
      for (let e = i * k; e < (i + 1) * k; e++) {
        const j = idx[e] as number;
        const we = w[e] as number;
        s += we * (u[j] as number); // (W u)_i
        out[j] = (out[j] as number) + we * ui; // (W^T u)_j
      }
      out[i] = (out[i] as number) + s;
    }
    for (let i = 0; i < n; i++) out[i] = (out[i] as number) * (dInv[i] as number);
    return out;
  };
}

export interface DlpLabels {
  /** [n] argmax of the propagated scores; the labelled points keep their label */
  y: Int32Array;
  /** [n] 1 - H(p_i) / log C over its largest value; 1 on the labelled points */
  weight: Float32Array;
  /** [C] (n / C) / |{i: y_i = c}|, the class-balancing weight (0 for an empty class) */
  classWeight: Float64Array;
  /** [C][n] the propagated scores z_c */
  scores: Float64Array[];
}

/**
 * DLP's labels (Iscen et al. 2019, their update_plabels): per class, (I - alpha S) z_c = y_c with
 * y_c = 1 / |L_c| on class c's labelled points, by `iters` conjugate-gradient steps (tol 1e-6);
 * then per point the scores' L1-normalised row with negatives set to 0 gives p_i, its argmax the
 * pseudo-label and 1 - H(p_i) / log C the weight, scaled by its largest value over all points.
 * labels: [n], -1 = unlabelled.
 */
export function dlpLabels(g: KnnGraph, labels: Int32Array, C: number, o: { alpha?: number; iters?: number } = {}): DlpLabels {
  const { n } = g;
  if (labels.length !== n) throw new Error(`dlp: ${labels.length} labels for a graph of ${n} points`);
  const alpha = o.alpha ?? 0.99;
  const S = symmetricOperator(g);
  const A = (v: Float64Array) => {
    const Sv = S(v);
    for (let i = 0; i < n; i++) Sv[i] = (v[i] as number) - alpha * (Sv[i] as number);
    return Sv;
  };
  const count = new Array<number>(C).fill(0);
  for (const l of labels) if (l >= 0) count[l] = (count[l] as number) + 1;
  const scores = Array.from({ length: C }, (_, c) =>
    conjugateGradient(
      A,
      Float64Array.from(labels, (l) => (l === c ? 1 / (count[c] as number) : 0)),
      o.iters ?? 20,
      1e-6,
    ),
  );
  const y = new Int32Array(n);
  const weight = new Float32Array(n);
  const p = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    let l1 = 0;
    for (let c = 0; c < C; c++) l1 += Math.abs((scores[c] as Float64Array)[i] as number);
    let sum = 0;
    let best = 0;
    for (let c = 0; c < C; c++) {
      p[c] = Math.max(0, ((scores[c] as Float64Array)[i] as number) / (l1 || 1));
      sum += p[c] as number;
      if ((p[c] as number) > (p[best] as number)) best = c;
    }
    let h = 0;
    for (let c = 0; c < C; c++) {
      const q = sum > 0 ? (p[c] as number) / sum : 1 / C;
      if (q > 0) h -= q * Math.log(q);
    }
    y[i] = (labels[i] as number) >= 0 ? (labels[i] as number) : best;
    weight[i] = 1 - h / Math.log(C);
  }
  let top = 0; // over every point, as their code scales before the labelled points are set to 1
  for (let i = 0; i < n; i++) top = Math.max(top, weight[i] as number);
  for (let i = 0; i < n; i++) weight[i] = (labels[i] as number) >= 0 ? 1 : top > 0 ? (weight[i] as number) / top : 0;
  const perClass = new Array<number>(C).fill(0);
  for (const l of y) perClass[l] = (perClass[l] as number) + 1;
  const classWeight = Float64Array.from(perClass, (m) => (m > 0 ? n / C / m : 0));
  return { y, weight, classWeight, scores };
}
