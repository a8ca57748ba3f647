// The propagation kernel on plain typed arrays, from the small addon build/Release/llp_topk.node
// (native/topk_addon.cc): the same blocked top-k of dot products as topkDotMerge_ (both addons
// compile native/topk_core.cc), with BLAS and OpenMP but without libtorch, so that `llp propagate`
// on a .npy starts in ~0.1 s instead of ~0.7 s.
import { createRequire } from "node:module";
import { chooseThreads, findBuilt, nativeLoaded } from "../torch/native.js";
import { defaultThreads } from "../torch/threads.js";
import { TILES } from "./neighbours.js";

interface TopkAddon {
  // queries [nq*d], keys [nk*d], d, tau, bias [nk] | null, offset, values [nq*k], indices [nq*k], qTile, kTile
  topkMerge(
    q: Float32Array,
    keys: Float32Array,
    d: number,
    tau: number,
    bias: Float32Array | null,
    offset: number,
    values: Float32Array,
    indices: BigInt64Array,
    qTile: number,
    kTile: number,
  ): void;
  normalizeRows(x: Float32Array, d: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
}

let addon: TopkAddon | null = null;
function kernel(): TopkAddon {
  if (addon) return addon;
  const path = findBuilt("llp_topk.node");
  if (!path) throw new Error("llp: the propagation kernel (build/Release/llp_topk.node) is not built; run `npm ci` (or ./setup.sh)");
  addon = createRequire(import.meta.url)(path) as TopkAddon;
  // OpenMP's thread count is the process's: where libtorch is loaded it has set it already
  if (!nativeLoaded()) addon.setNumThreads(defaultThreads());
  return addon;
}

/** Threads the kernel uses (OpenMP's, shared with libtorch's when both are loaded). */
export function setKernelThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be a positive integer, got ${n}`);
  kernel().setNumThreads(n);
  chooseThreads(n); // libtorch, if it loads later, keeps this count
}

/** The kernel's thread count now. */
export function kernelThreads(): number {
  return kernel().getNumThreads();
}

/** Each row of x [n * d] divided by max(its L2 norm, 1e-12), in place. */
export function normalizeRows(x: Float32Array, d: number): Float32Array {
  kernel().normalizeRows(x, d);
  return x;
}

/** A running top-k of each query's best keys by (q . k_j) / tau - bias_j; keys arrive in blocks. */
export class RowTopk {
  readonly values: Float32Array; // [Q * k] best first; -inf where not yet filled
  readonly indices: BigInt64Array; // [Q * k] rows of the whole key set; -1 where not yet filled

  constructor(
    readonly queries: Float32Array, // [Q * d]
    readonly d: number,
    readonly k: number,
    readonly tau = 1,
  ) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`top-k: k must be a positive integer, got ${k}`);
    const q = queries.length / d;
    this.values = new Float32Array(q * k).fill(Number.NEGATIVE_INFINITY);
    this.indices = new BigInt64Array(q * k).fill(-1n);
  }

  /** keys: [B * d], the rows offset..offset+B-1 of the whole key set; bias: [B] or null. */
  add(keys: Float32Array, offset: number, bias: Float32Array | null = null): void {
    kernel().topkMerge(this.queries, keys, this.d, this.tau, bias, offset, this.values, this.indices, TILES.qTile, TILES.kTile);
  }
}
