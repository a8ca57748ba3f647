// The analyses a run report shows, as pure functions of arrays (no tensors, no files): the
// paper's aggregation metric (Fig. 2), classical MDS for 2-D pictures of the embedding,
// and pseudo-label reliability (per-class recall and precision: eval/metrics.ts perClass).

/**
 * The paper's aggregation metric (Sec. 5, Fig. 2): for each class, the L2 norm of the mean of
 * its points' embeddings (unit vectors, so 1 = all at one point, near 0 = spread over the
 * sphere), and its average over the classes present. v: [n, D] row after row, y: [n] (-1 skipped).
 */
export function aggregationMetric(v: Float32Array, y: Int32Array, numClasses: number): { perClass: number[]; mean: number } {
  const n = y.length;
  const d = n > 0 ? v.length / n : 0;
  if (!Number.isInteger(d)) throw new Error(`aggregationMetric: ${v.length} values are not ${n} rows`);
  const sums = Array.from({ length: numClasses }, () => new Float64Array(d));
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < n; i++) {
    const c = y[i] as number;
    if (c < 0) continue;
    if (c >= numClasses) throw new Error(`aggregationMetric: label ${c} is not below ${numClasses}`);
    counts[c] = (counts[c] as number) + 1;
    const s = sums[c] as Float64Array;
    for (let j = 0; j < d; j++) s[j] = (s[j] as number) + (v[i * d + j] as number);
  }
  const perClass = sums.map((s, c) => {
    const k = counts[c] as number;
    if (k === 0) return Number.NaN;
    let q = 0;
    for (const x of s) q += (x / k) ** 2;
    return Math.sqrt(q);
  });
  const present = perClass.filter((x) => !Number.isNaN(x));
  return { perClass, mean: present.length ? present.reduce((a, b) => a + b, 0) / present.length : Number.NaN };
}

/**
 * Classical (Torgerson) MDS: points [n, D] -> [n, k] coordinates whose Euclidean distances
 * approximate the points' (exactly, when the points span k dimensions). The doubly centred
 * Gram matrix's top k eigenvectors, by power iteration with deflation.
 */
export function classicalMds(points: Float32Array | Float64Array, n: number, k = 2, iterations = 300): Float64Array {
  const d = n > 0 ? points.length / n : 0;
  if (!Number.isInteger(d)) throw new Error(`classicalMds: ${points.length} values are not ${n} rows`);
  // centred points give the doubly centred Gram matrix B = X_c X_c^T directly
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (points[i * d + j] as number) / n;
  const B = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let t = 0; t < d; t++)
        s += ((points[i * d + t] as number) - (mean[t] as number)) * ((points[j * d + t] as number) - (mean[t] as number));
      B[i * n + j] = s;
      B[j * n + i] = s;
    }
  const out = new Float64Array(n * k);
  const mul = (x: Float64Array) => {
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += (B[i * n + j] as number) * (x[j] as number);
      y[i] = s;
    }
    return y;
  };
  for (let c = 0; c < k; c++) {
    // a fixed start that is not orthogonal to a typical eigenvector
    let x = Float64Array.from({ length: n }, (_, i) => 1 + Math.sin(i * 12.9898 + c * 78.233));
    let lambda = 0;
    for (let it = 0; it < iterations; it++) {
      const y = mul(x);
      let norm = 0;
      for (const t of y) norm += t * t;
      norm = Math.sqrt(norm);
      if (norm === 0) break;
      for (let i = 0; i < n; i++) y[i] = (y[i] as number) / norm;
      lambda = norm;
      x = y;
    }
    const scale = Math.sqrt(Math.max(lambda, 0));
    for (let i = 0; i < n; i++) out[i * k + c] = (x[i] as number) * scale;
    // deflate: B -= lambda x x^T
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) B[i * n + j] = (B[i * n + j] as number) - lambda * (x[i] as number) * (x[j] as number);
  }
  return out;
}

export interface ReliabilityBin {
  /** confidences in [lo, hi) (the last bin includes 1) */
  lo: number;
  hi: number;
  count: number;
  meanConfidence: number;
  accuracy: number;
}

/** Accuracy against confidence in equal-width bins, and the expected calibration error. */
export function reliability(
  confidence: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  bins = 10,
): { bins: ReliabilityBin[]; ece: number } {
  const n = confidence.length;
  const acc = Array.from({ length: bins }, (_, b) => ({ lo: b / bins, hi: (b + 1) / bins, count: 0, conf: 0, hits: 0 }));
  for (let i = 0; i < n; i++) {
    const c = confidence[i] as number;
    const b = acc[Math.min(bins - 1, Math.max(0, Math.floor(c * bins)))] as (typeof acc)[number];
    b.count++;
    b.conf += c;
    if (correct[i]) b.hits++;
  }
  let ece = 0;
  const out = acc.map((b) => {
    const meanConfidence = b.count ? b.conf / b.count : Number.NaN;
    const accuracy = b.count ? b.hits / b.count : Number.NaN;
    if (b.count) ece += (b.count / n) * Math.abs(accuracy - meanConfidence);
    return { lo: b.lo, hi: b.hi, count: b.count, meanConfidence, accuracy };
  });
  return { bins: out, ece: n ? ece : Number.NaN };
}

/** For each threshold t: the share of points with confidence >= t, and their accuracy. */
export function coverageAtThresholds(
  confidence: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  thresholds: number[],
): { threshold: number; coverage: number; accuracy: number }[] {
  const n = confidence.length;
  return thresholds.map((t) => {
    let kept = 0;
    let hits = 0;
    for (let i = 0; i < n; i++)
      if ((confidence[i] as number) >= t) {
        kept++;
        if (correct[i]) hits++;
      }
    return { threshold: t, coverage: n ? kept / n : Number.NaN, accuracy: kept ? hits / kept : Number.NaN };
  });
}
