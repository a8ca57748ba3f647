// Nearest neighbours on the unit sphere (dot product = cosine similarity) by a blocked native
// kernel (native/topk_core.cc, wrapped for tensors by native/ops_topk.cc): memory holds one tile of scores per thread, never the Q x M
// similarity matrix, and keys may arrive in blocks (a bank streamed from a file).
import { tidy } from "../torch/scope.js";
import { full, noGrad, type Tensor, topkDotMerge_ } from "../torch/tensor.js";

export interface TopK {
  values: Tensor; // [Q, k] scores, best first
  indices: Tensor; // [Q, k] int64 rows of keys (ties: the lower row first)
}

export interface ScoreOptions {
  /** scores are (q . k_j) / tau; 1 = raw dot products */
  tau?: number;
  /** [M] subtracted from each key's score (e.g. log rho in Eq. 8), or null */
  bias?: Tensor | null;
}

// Tile sizes of the kernel: a [qTile, kTile] float32 tile of scores per thread (4 MiB). Measured
// on the 2-core EPYC (bench/results/propagation.json): 256 x 4096 ~ 121-126 GFLOP/s, 64 x 4096 ~ 109-112.
export const TILES = { qTile: 256, kTile: 4096 };

/** A running top-k of each query's best keys; keys are merged block by block with add(). */
export class TopkAccumulator {
  readonly values: Tensor; // [Q, k] float32, best first; -inf where not yet filled
  readonly indices: Tensor; // [Q, k] int64; -1 where not yet filled
  #seen = 0;

  constructor(
    readonly queries: Tensor, // [Q, D] float32
    readonly k: number,
    readonly tau = 1,
  ) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`top-k: k must be a positive integer, got ${k}`);
    if (queries.shape.length !== 2) throw new Error(`top-k: queries must be [Q, D], got [${queries.shape}]`);
    this.values = full([queries.size(0), k], Number.NEGATIVE_INFINITY);
    this.indices = full([queries.size(0), k], -1, "int64");
  }

  /** Keys seen so far. */
  get seen(): number {
    return this.#seen;
  }

  /** keys: [B, D], the rows offset..offset+B-1 of the whole key set; bias: [B] or null. */
  add(keys: Tensor, offset: number = this.#seen, bias: Tensor | null = null): void {
    const d = this.queries.size(1);
    if (keys.shape.length !== 2 || keys.size(1) !== d) throw new Error(`top-k: keys [${keys.shape}] must be [B, ${d}] like the queries`);
    tidy(() =>
      topkDotMerge_(this.queries.contiguous(), keys.contiguous(), this.values, this.indices, {
        tau: this.tau,
        bias: bias?.contiguous() ?? null,
        offset,
        ...TILES,
      }),
    );
    this.#seen += keys.size(0);
  }

  dispose(): void {
    this.values.dispose();
    this.indices.dispose();
  }
}

/** queries: [Q, D], keys: [M, D] -> the k best keys of each query by (q . k_j) / tau - bias_j. */
export function blockedTopk(queries: Tensor, keys: Tensor, k: number, o: ScoreOptions = {}): TopK {
  const [, d] = queries.shape as [number, number];
  const [m, dk] = keys.shape as [number, number];
  if (d !== dk) throw new Error(`blockedTopk: queries [${queries.shape}] and keys [${keys.shape}] differ in D`);
  if (k > m) throw new Error(`blockedTopk: k=${k} exceeds the ${m} keys`);
  if (o.bias && o.bias.numel !== m) throw new Error(`blockedTopk: bias [${o.bias.shape}] must be [${m}]`);
  return noGrad(() => {
    const acc = new TopkAccumulator(queries, k, o.tau ?? 1);
    acc.add(keys, 0, o.bias ?? null);
    return { values: acc.values, indices: acc.indices };
  });
}
