// One rank's share of a global batch (data-parallel training, src/distributed/data-parallel.ts):
// rank r of P takes the batch's rows r, r+P, r+2P, ... Every rank draws the random numbers of the
// whole batch and keeps its rows' draws, so each rank's generator moves exactly as one process's
// would, and P processes see the augmentations, views and mixup shares one process sees.
import type { Generator } from "../torch/random.js";
import { type Tensor, tensor } from "../torch/tensor.js";

export interface Shard {
  rank: number;
  worldSize: number;
}

/** The positions in a batch of b that a rank takes: rank, rank + P, ... (ascending). */
export function shardRows(b: number, s: Shard): Int32Array {
  if (!Number.isInteger(s.worldSize) || s.worldSize < 1 || !Number.isInteger(s.rank) || s.rank < 0 || s.rank >= s.worldSize)
    throw new RangeError(`shard: rank ${s.rank} of ${s.worldSize} is not a rank`);
  const n = s.rank < b ? Math.ceil((b - s.rank) / s.worldSize) : 0;
  return Int32Array.from({ length: n }, (_, k) => s.rank + k * s.worldSize);
}

/** rows of a per-row array (k values per row) -> the picked rows' values, in order. */
export function pickRows<T extends Float64Array | Int32Array | Float32Array>(a: T, rows: Int32Array, k = 1): T {
  const out = new (a.constructor as new (n: number) => T)(rows.length * k);
  for (let j = 0; j < rows.length; j++) out.set(a.subarray((rows[j] as number) * k, ((rows[j] as number) + 1) * k), j * k);
  return out;
}

/** What a step's random views draw from: the run's generator, or a rank's share of it (RowDraws). */
export type Draws = Pick<Generator, "uniforms" | "randperm">;

/**
 * The draws of a rank's rows of a batch of `globalSize`: uniforms(n) for the local b rows (n a
 * multiple of b, the same count per row) draws that many per row for the whole batch from the
 * run's generator and returns this rank's rows' share; randperm(b) draws a permutation of the whole
 * batch and returns the order it puts this rank's rows in (with every row local, the permutation
 * itself).
 */
export class RowDraws implements Draws {
  constructor(
    readonly whole: Generator,
    readonly rows: Int32Array, // [b] positions in the global batch
    readonly globalSize: number,
  ) {}

  uniforms(n: number): Float64Array {
    const b = this.rows.length;
    if (b === 0 || n % b !== 0) throw new RangeError(`a rank's draws come per row: ${n} uniforms for ${b} rows`);
    return this.perRow(n / b);
  }

  /** k uniforms for each of this rank's rows: the whole batch's k per row drawn, this rank's kept (also with no rows of its own). */
  perRow(k: number): Float64Array {
    return pickRows(this.whole.uniforms(k * this.globalSize), this.rows, k);
  }

  randperm(n: number): Tensor {
    if (n !== this.rows.length) throw new RangeError(`a rank's permutation is of its ${this.rows.length} rows, not ${n}`);
    const perm = this.whole.permutation(this.globalSize); // [B]
    const mine = pickRows(perm, this.rows); // [b] the rows' places, distinct
    const order = Int32Array.from(mine.keys()).sort((a, c) => (mine[a] as number) - (mine[c] as number));
    const rank = new Int32Array(n); // rank[j]: the place of row j among this rank's rows
    order.forEach((j, r) => {
      rank[j] = r;
    });
    return tensor(rank, [n], "int64");
  }
}

/** k uniforms for each of b rows: from the run's generator, or a rank's share of the whole batch's. */
export function perRow(gen: Draws, k: number, b: number): Float64Array {
  return isRowDraws(gen) ? gen.perRow(k) : gen.uniforms(k * b);
}

/** Whether a draw source is one rank's share of the run's generator. */
export const isRowDraws = (d: Draws): d is RowDraws => d instanceof RowDraws;
