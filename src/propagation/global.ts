// Global propagation methods for the paper's Table 5 (small sets: dense n x n is fine). Each takes
// unit embeddings X [n, d] (row-major), labels y [n] (-1 = unlabelled) and C classes, and returns
// the label it gives each point. Plain float64 arithmetic: at n = 500 a solve is milliseconds.
//   LS   Zhou et al. 2004, learning with local and global consistency: F = (I - alpha S)^-1 Y
//   LP   Zhu & Ghahramani 2002, the harmonic solution: f_u = (D_uu - W_uu)^-1 W_ul f_l
//   DMT  Liu et al. 2018 (microsoft/metric-transfer.pytorch, notebooks/nc.ipynb): a constrained
//        normalised cut: 20-NN graph (self counted, its loop then dropped as csgraph.laplacian
//        drops the diagonal) with weights exp((cos - 1) / 0.2), (W + W^T) / 2,
//        L = I - D^-1/2 W D^-1/2, a degree-weighted +-1 prior b per class, logits = L^+ b (the
//        reference keeps L's 200 smallest eigenpairs; here (L + 1e-4 I)^-1 b, by conjugate gradient)
//   DLP  Iscen et al. 2019 (ahmetius/LP-DeepSSL, update_plabels): 50-NN graph, similarities cubed,
//        W + W^T, S = D^-1/2 W D^-1/2, (I - alpha S) z_c = y_c (1 / |L_c| on class c's labelled
//        points) by 20 conjugate-gradient steps, alpha = 0.99, negatives to 0
//   LLP  the paper's Eq. 8 (src/propagation/propagate.ts), for comparison on the same sample

import { conjugateGradient } from "./graph.js";

export interface GlobalInput {
  X: Float64Array; // [n, d] unit rows
  y: Int32Array; // [n], -1 = unlabelled
  n: number;
  d: number;
  C: number;
}

/** Gram matrix G = X X^T [n, n]. */
function gram(x: GlobalInput): Float64Array {
  const { X, n, d } = x;
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += (X[i * d + e] as number) * (X[j * d + e] as number);
      G[i * n + j] = s;
      G[j * n + i] = s;
    }
  return G;
}

/** Keeps each row's k largest entries of A (others 0; the diagonal only if self), then W + W^T (times `scale`). */
function knnSymmetric(A: Float64Array, n: number, k: number, o: { self?: boolean; scale?: number } = {}): Float64Array {
  const W = new Float64Array(n * n);
  const idx = Array.from({ length: n }, (_, j) => j);
  for (let i = 0; i < n; i++) {
    const row = A.subarray(i * n, (i + 1) * n);
    const best = idx
      .filter((j) => o.self || j !== i)
      .sort((a, b) => (row[b] as number) - (row[a] as number) || a - b)
      .slice(0, k);
    for (const j of best) W[i * n + j] = row[j] as number;
  }
  const scale = o.scale ?? 1;
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      const s = scale * ((W[i * n + j] as number) + (W[j * n + i] as number));
      W[i * n + j] = s;
      W[j * n + i] = s;
    }
  return W;
}

const matVec = (M: Float64Array, n: number, v: Float64Array): Float64Array => {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += (M[i * n + j] as number) * (v[j] as number);
    out[i] = s;
  }
  return out;
};

/** argmax over classes of scores F [n, C] (given points keep their label). */
function decide(F: Float64Array[], x: GlobalInput): Int32Array {
  const out = new Int32Array(x.n);
  for (let i = 0; i < x.n; i++) {
    if ((x.y[i] as number) >= 0) {
      out[i] = x.y[i] as number;
      continue;
    }
    let best = 0;
    for (let c = 1; c < x.C; c++) if ((F[c]?.[i] as number) > (F[best]?.[i] as number)) best = c;
    out[i] = best;
  }
  return out;
}

/** S = D^-1/2 W D^-1/2 (a zero degree counts as 1). */
function symNormalise(W: Float64Array, n: number): Float64Array {
  const dInv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += W[i * n + j] as number;
    dInv[i] = 1 / Math.sqrt(s > 0 ? s : 1);
  }
  const S = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) S[i * n + j] = (dInv[i] as number) * (W[i * n + j] as number) * (dInv[j] as number);
  return S;
}

/** Label spreading on affinity W: (I - alpha S) F_c = Y_c per class, Y_c = seed(c) on class c's labelled points. */
function spread(
  W: Float64Array,
  x: GlobalInput,
  alpha: number,
  o: { seed?: (c: number) => number; iters?: number; tol?: number } = {},
): Float64Array[] {
  const { n } = x;
  const S = symNormalise(W, n);
  const apply = (v: Float64Array) => {
    const Sv = matVec(S, n, v);
    for (let i = 0; i < n; i++) Sv[i] = (v[i] as number) - alpha * (Sv[i] as number);
    return Sv;
  };
  return Array.from({ length: x.C }, (_, c) => {
    const w = o.seed ? o.seed(c) : 1;
    return conjugateGradient(
      apply,
      Float64Array.from(x.y, (yi) => (yi === c ? w : 0)),
      o.iters,
      o.tol,
    );
  });
}

/** exp(-gamma |x_i - x_j|^2) for unit rows (|x_i - x_j|^2 = 2 - 2 x_i.x_j), zero diagonal: [n, n] */
function gaussianAffinity(x: GlobalInput, gamma: number): Float64Array {
  return gram(x).map((g, ij) => (Math.floor(ij / x.n) === ij % x.n ? 0 : Math.exp(-gamma * Math.max(0, 2 - 2 * g))));
}

/** Zhou et al. 2004 with the Gaussian affinity exp(-gamma |x_i - x_j|^2) (scikit-learn's rbf, gamma = 20), alpha = 0.99. */
export function labelSpreading(x: GlobalInput, o: { gamma?: number; alpha?: number } = {}): Int32Array {
  const gamma = o.gamma ?? 20;
  return decide(spread(gaussianAffinity(x, gamma), x, o.alpha ?? 0.99), x);
}

/** Zhu & Ghahramani 2002: the harmonic function on the same Gaussian affinity, labelled points clamped. */
export function labelPropagation(x: GlobalInput, o: { gamma?: number } = {}): Int32Array {
  const gamma = o.gamma ?? 20;
  const { n } = x;
  const W = gaussianAffinity(x, gamma);
  const u = Array.from({ length: n }, (_, i) => i).filter((i) => (x.y[i] as number) < 0);
  const m = u.length;
  // L_uu = D_uu - W_uu (symmetric positive definite when every component holds a labelled point)
  const L = new Float64Array(m * m);
  for (let a = 0; a < m; a++) {
    const i = u[a] as number;
    let deg = 0;
    for (let j = 0; j < n; j++) deg += W[i * n + j] as number;
    for (let b = 0; b < m; b++) L[a * m + b] = (a === b ? deg : 0) - (W[i * n + (u[b] as number)] as number);
  }
  const F: Float64Array[] = [];
  for (let c = 0; c < x.C; c++) {
    // right-hand side W_ul f_l for class c
    const rhs = new Float64Array(m);
    for (let a = 0; a < m; a++) {
      const i = u[a] as number;
      let s = 0;
      for (let j = 0; j < n; j++) if (x.y[j] === c) s += W[i * n + j] as number;
      rhs[a] = s;
    }
    const fu = conjugateGradient((v) => matVec(L, m, v), rhs);
    const full = new Float64Array(n);
    u.forEach((i, a) => {
      full[i] = fu[a] as number;
    });
    F.push(full);
  }
  return decide(F, x);
}

/** DMT's constrained normalised cut (see the header). */
export function dmtPropagation(x: GlobalInput, o: { k?: number; T?: number } = {}): Int32Array {
  const { n } = x;
  const T = o.T ?? 0.2;
  const G = gram(x);
  const W = knnSymmetric(
    G.map((g) => Math.exp((g - 1) / T)),
    n,
    Math.min(o.k ?? 20, n),
    { self: true, scale: 0.5 },
  );
  // the neighbour lists count the point itself, but scipy's csgraph.laplacian (their notebook's L)
  // ignores the diagonal: no self-loops in the degrees or in S
  for (let i = 0; i < n; i++) W[i * n + i] = 0;
  const deg = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) deg[i] = (deg[i] as number) + (W[i * n + j] as number);
  const S = symNormalise(W, n);
  // L's null space holds D^1/2 1 (and one such vector per connected component): the prior is
  // projected off the first, and (L + 1e-4 I) f = b stands for the pseudo-inverse on the rest, whose
  // near-zero modes then weigh most, as the reference's smallest eigenpairs do
  const nullv = Float64Array.from(deg, (v) => Math.sqrt(v));
  const nn = Math.hypot(...nullv);
  const L = (v: Float64Array) => {
    const Sv = matVec(S, n, v);
    for (let i = 0; i < n; i++) Sv[i] = (1 + 1e-4) * (v[i] as number) - (Sv[i] as number);
    return Sv;
  };
  const F: Float64Array[] = [];
  for (let c = 0; c < x.C; c++) {
    // +1 on class c's labelled points, -1 on the other labelled points, weighted by degree and balanced
    const p = Float64Array.from(x.y, (yi, i) => (yi === c ? (deg[i] as number) : 0));
    const q = Float64Array.from(x.y, (yi, i) => (yi >= 0 && yi !== c ? (deg[i] as number) : 0));
    const r = p.reduce((a, b) => a + b, 0) / q.reduce((a, b) => a + b, 0);
    const b = Float64Array.from(p, (pi, i) => Math.sqrt(pi / r) - Math.sqrt((q[i] as number) * r));
    const bn = Math.hypot(...b);
    let dot = 0;
    for (let i = 0; i < n; i++) {
      b[i] = (b[i] as number) / bn;
      dot += (b[i] as number) * ((nullv[i] as number) / nn);
    }
    for (let i = 0; i < n; i++) b[i] = (b[i] as number) - dot * ((nullv[i] as number) / nn);
    const f = conjugateGradient(L, b, 2000, 1e-8);
    const fn = Math.hypot(...f) || 1;
    F.push(Float64Array.from(f, (v) => (v / fn) * Math.sqrt(n)));
  }
  return decide(F, x);
}

/** DLP's propagation (see the header): class scores from 20 CG steps, negatives to 0, argmax. */
export function dlpPropagation(x: GlobalInput, o: { k?: number; gamma?: number; alpha?: number } = {}): Int32Array {
  const gamma = o.gamma ?? 3;
  const G = gram(x);
  const A = G.map((g) => Math.max(0, g) ** gamma);
  const count = new Array<number>(x.C).fill(0);
  for (const yi of x.y) if (yi >= 0) count[yi] = (count[yi] as number) + 1;
  const Z = spread(knnSymmetric(A, x.n, Math.min(o.k ?? 50, x.n - 1)), x, o.alpha ?? 0.99, {
    seed: (c) => 1 / Math.max(1, count[c] as number),
    iters: 20,
    tol: 1e-6,
  });
  for (const z of Z) for (let i = 0; i < z.length; i++) z[i] = Math.max(0, z[i] as number);
  return decide(Z, x);
}
