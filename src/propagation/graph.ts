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

/** The L2 norm of v (a loop: spreading 10^5 values into Math.hypot overflows the call stack). */
const norm2 = (v: Float64Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

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

/** The row sums of A = scale (W + W^T). */
function degrees(g: KnnGraph, scale: number): Float64Array {
  const deg = new Float64Array(g.n);
  for (let i = 0; i < g.n; i++)
    for (let e = i * g.k; e < (i + 1) * g.k; e++) {
      const we = scale * (g.w[e] as number);
      deg[i] = (deg[i] as number) + we;
      const j = g.idx[e] as number;
      deg[j] = (deg[j] as number) + we;
    }
  return deg;
}

/**
 * The normalised symmetric affinity S = D^-1/2 A D^-1/2 with A = scale (W + W^T), as a mat-vec;
 * D holds A's row sums (a zero degree counts as 1). DLP: scale 1; DMT: 1/2.
 */
export function symmetricOperator(g: KnnGraph, o: { scale?: number } = {}): (v: Float64Array) => Float64Array {
  const { n, k, idx } = g;
  const scale = o.scale ?? 1;
  const w = scale === 1 ? g.w : Float64Array.from(g.w, (x) => x * scale);
  const deg = degrees(g, scale);
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

/**
 * DMT's graph (Liu et al. 2018, their nc notebook): 20 neighbours counting the point itself,
 * weights exp((cos - 1) / 0.2), symmetrised as (W + W^T) / 2; the point's own edge then plays no
 * part, as scipy's csgraph.laplacian ignores the diagonal.
 */
export const DMT_GRAPH = { k: 20, T: 0.2, ridge: 1e-4 } as const;

export interface DmtLabels {
  /** [n] argmax over classes of the normalised scores; labelled points keep theirs */
  y: Int32Array;
  /** [n] the winning class's normalised score: the ranking by which the most confident are kept */
  confidence: Float32Array;
  /** [C][n] f_c, each scaled to norm sqrt(n) */
  scores: Float64Array[];
}

/**
 * DMT's one global propagation, a constrained normalised cut (the nc notebook; see global.ts for
 * the dense form Table 5 uses): L = I - S on the graph above (k - 1 other neighbours, no self-loop), per class a prior b_c (+sqrt(d_i / r)
 * on class c's labelled points, -sqrt(d_i r) on the other labelled points, r balancing the two
 * sides' degree), normalised and projected off L's null vector D^1/2 1, then
 * (L + ridge I) f_c = b_c by conjugate gradient. (L + ridge I)^-1 = (1 + ridge)^-1 (I - alpha S)^-1
 * with alpha = 1 / (1 + ridge): label spreading's closed form on the prior b.
 */
export function dmtLabels(g: KnnGraph, labels: Int32Array, C: number, o: { iters?: number; tol?: number } = {}): DmtLabels {
  const { n } = g;
  if (labels.length !== n) throw new Error(`dmt: ${labels.length} labels for a graph of ${n} points`);
  const S = symmetricOperator(g, { scale: 0.5 });
  const deg = degrees(g, 0.5);
  const nullv = Float64Array.from(deg, (d) => Math.sqrt(d));
  const nn = norm2(nullv);
  const A = (v: Float64Array) => {
    const Sv = S(v);
    for (let i = 0; i < n; i++) Sv[i] = (1 + DMT_GRAPH.ridge) * (v[i] as number) - (Sv[i] as number);
    return Sv;
  };
  const scores = Array.from({ length: C }, (_, c) => {
    let pos = 0;
    let neg = 0;
    for (let i = 0; i < n; i++) {
      const l = labels[i] as number;
      if (l === c) pos += deg[i] as number;
      else if (l >= 0) neg += deg[i] as number;
    }
    const r = neg > 0 ? pos / neg : 1;
    const b = Float64Array.from(labels, (l, i) =>
      l === c ? Math.sqrt((deg[i] as number) / r) : l >= 0 ? -Math.sqrt((deg[i] as number) * r) : 0,
    );
    const bn = norm2(b) || 1;
    let dot = 0;
    for (let i = 0; i < n; i++) {
      b[i] = (b[i] as number) / bn;
      dot += (b[i] as number) * ((nullv[i] as number) / nn);
    }
    for (let i = 0; i < n; i++) b[i] = (b[i] as number) - dot * ((nullv[i] as number) / nn);
    const f = conjugateGradient(A, b, o.iters ?? 2000, o.tol ?? 1e-8);
    const fn = norm2(f) || 1;
    return Float64Array.from(f, (v) => (v / fn) * Math.sqrt(n));
  });
  const y = new Int32Array(n);
  const confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (((scores[c] as Float64Array)[i] as number) > ((scores[best] as Float64Array)[i] as number)) best = c;
    y[i] = (labels[i] as number) >= 0 ? (labels[i] as number) : best;
    confidence[i] = (scores[best] as Float64Array)[i] as number;
  }
  return { y, confidence, scores };
}
