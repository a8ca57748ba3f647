// Propagation over more points than memory holds (`llp propagate`): the embeddings are read block
// by block, twice. Pass 1 (rule llp only) merges every block into each labelled point's running
// top-T, which gives the density rho (Eq. 7); pass 2 votes for each block (Eq. 8) and hands the
// block's labels to a sink. Memory: the labelled points' rows [M, D], one block, and one score tile
// per thread in the kernel; never an N-long or N x M matrix. Plain typed arrays and the kernel
// addon (kernel.ts), no libtorch: the same rule as propagate() and logDensity(), which training
// runs on tensors: the kernel's scores are the same bits; the density and the vote add up in
// float64 where the tensors use float32, so they agree to ~1e-6 (test/cli/propagate.test.ts).
import { normalizeRows, RowTopk } from "./kernel.js";

/** A [n, d] matrix readable in blocks of rows (a file, or memory). */
export interface RowSource {
  readonly n: number;
  readonly d: number;
  read(start: number, count: number): Float32Array; // rows start..start+count-1, [count * d]; the source's own memory, read-only, valid until the next read
  gather(rows: ArrayLike<number>): Float32Array; // [rows.length * d]
}

/** A RowSource over a matrix already in memory. */
export function memoryRows(data: Float32Array, n: number, d: number): RowSource {
  return {
    n,
    d,
    read: (start, count) => data.subarray(start * d, (start + count) * d),
    gather: (rows) => {
      const out = new Float32Array(rows.length * d);
      for (let i = 0; i < rows.length; i++) out.set(data.subarray((rows[i] as number) * d, ((rows[i] as number) + 1) * d), i * d);
      return out;
    },
  };
}

/** The rules that label bare embeddings: Eq. 8 with the density, or weighted kNN (Eqs. 5-6). */
export type EmbeddingRule = "llp" | "weighted-knn";

export interface StreamOptions {
  K: number; // labelled voters per point
  T: number; // bank rows in each labelled point's density (rule llp)
  tau: number;
  rule: EmbeddingRule;
  numClasses: number;
  /** rows per block (default 16,384) */
  block?: number;
  /** sets smaller than this (bytes of float32 rows) are read once and kept for the vote (default 256 MiB) */
  cacheBytes?: number;
  /** also hand the sink each point's voters and their shares of the vote */
  voters?: boolean;
  /** called after each block of each pass */
  progress?: (pass: "density" | "vote", rowsDone: number, rows: number) => void;
}

/**
 * A group of processes sharing one propagation (`llp propagate --nproc P`): rank r takes blocks
 * r, r+P, r+2P, ... of both passes; the density's top-T lists are merged across ranks and every
 * round's votes gathered, so that rank 0 hands the sink every block, in order. Implemented over
 * c10d by the caller (src/distributed/), so this module stays free of libtorch.
 */
export interface StreamGroup {
  readonly rank: number;
  readonly worldSize: number;
  /** every rank's array (all of one length), concatenated in rank order */
  allGather<T extends Float32Array | Int32Array>(a: T): T;
}

/** One block of results: rows start..start+y.length-1. Given points keep their label with c = 1. */
export interface PropagatedBlock {
  start: number;
  y: Int32Array; // [b] the label (given or propagated)
  c: Float32Array; // [b] its confidence p_y (1 where given)
  given: Uint8Array; // [b] 1 where the label was given
  voters?: BigInt64Array; // [b * K] rows of the K voters, best first
  share?: Float32Array; // [b * K] each voter's share of the vote
}

/** Checks labels against the embeddings: one per row, at least one labelled, every class labelled at least once. */
export function checkLabels(labels: Int32Array, n: number, numClasses: number, what: string): number[] {
  if (labels.length !== n) throw new Error(`${what}: ${labels.length} labels for ${n} embeddings`);
  const count = new Array<number>(numClasses).fill(0);
  const rows: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = labels[i] as number;
    if (y < 0) continue;
    if (y >= numClasses) throw new Error(`${what}: label ${y} at row ${i} is out of range for ${numClasses} classes`);
    count[y] = (count[y] as number) + 1;
    rows.push(i);
  }
  if (rows.length === 0) throw new Error(`${what}: no labelled rows (every label is -1)`);
  const missing = count.flatMap((k, c) => (k === 0 ? [c] : []));
  if (missing.length > 0)
    throw new Error(
      `${what}: class${missing.length > 1 ? "es" : ""} ${missing.join(", ")} of 0..${numClasses - 1} ha${missing.length > 1 ? "ve" : "s"} no labelled point`,
    );
  return rows;
}

/** log rho of each labelled point from its T best raw dot products [M * T]: log sum_j exp(dot_j / tau) (Eq. 7, up to a constant). */
export function logDensityFromTop(values: Float32Array, T: number, tau: number): Float32Array {
  const m = values.length / T;
  const out = new Float32Array(m);
  for (let i = 0; i < m; i++) {
    let mx = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < T; j++) mx = Math.max(mx, Math.fround((values[i * T + j] as number) / tau));
    let sum = 0;
    for (let j = 0; j < T; j++) {
      const x = values[i * T + j] as number;
      if (x !== Number.NEGATIVE_INFINITY) sum += Math.exp(Math.fround(x / tau) - mx);
    }
    out[i] = mx + Math.log(sum);
  }
  return out;
}

/** Eq. 8 (weighted kNN when logRho is null) for the unit rows v [b * d] against the labelled rows VL [M * d]. */
function vote(
  v: Float32Array,
  VL: Float32Array,
  YL: Int32Array,
  d: number,
  logRho: Float32Array | null,
  o: StreamOptions,
): { y: Int32Array; c: Float32Array; voters: BigInt64Array; share: Float32Array } {
  const b = v.length / d;
  const K = o.K;
  // s_i = v_i.v / tau - log rho_i = log P^L(i|v) + const; the K best of each row, never the [b, M] matrix
  const top = new RowTopk(v, d, K, o.tau);
  top.add(VL, 0, logRho);
  const y = new Int32Array(b);
  const c = new Float32Array(b);
  const share = new Float32Array(b * K);
  const W = new Float64Array(o.numClasses); // w_j(v)
  const w = new Float64Array(K);
  for (let i = 0; i < b; i++) {
    W.fill(0);
    const best = top.values[i * K] as number;
    let total = 0;
    for (let j = 0; j < K; j++) {
      const vj = Math.exp((top.values[i * K + j] as number) - best); // a vote, up to the row's factor
      w[j] = vj;
      total += vj;
      const cls = YL[Number(top.indices[i * K + j])] as number;
      W[cls] = (W[cls] as number) + vj;
    }
    // p = w / sum w (Eq. 6), compared as the float32 values it is stored as: on equal p the lower
    // class wins, as in the tensor path's argmax
    let arg = 0;
    let bestP = Math.fround((W[0] as number) / total);
    for (let j = 1; j < o.numClasses; j++) {
      const pj = Math.fround((W[j] as number) / total);
      if (pj > bestP) {
        arg = j;
        bestP = pj;
      }
    }
    y[i] = arg;
    c[i] = bestP; // p_y
    for (let j = 0; j < K; j++) share[i * K + j] = (w[j] as number) / total;
  }
  return { y, c, voters: top.indices, share };
}

/** Propagates labels from the labelled rows of `src` to every row; results go to `sink` block by block, in order. */
export function propagateStream(
  src: RowSource,
  labels: Int32Array,
  o: StreamOptions,
  sink: (b: PropagatedBlock) => void,
  group: StreamGroup | null = null,
): { labelled: number; density_s: number; vote_s: number } {
  const { n, d } = src;
  const labelledRows = checkLabels(labels, n, o.numClasses, "labels");
  const m = labelledRows.length;
  if (!Number.isInteger(o.K) || o.K < 1) throw new Error(`K must be a positive integer, got ${o.K}`);
  if (o.K > m) throw new Error(`K=${o.K} voters, but only ${m} labelled point${m === 1 ? "" : "s"}`);
  if (o.rule === "llp" && (!Number.isInteger(o.T) || o.T < 1)) throw new Error(`T must be a positive integer, got ${o.T}`);
  if (o.rule === "llp" && o.T > n) throw new Error(`T=${o.T} neighbours for the density, but only ${n} points`);
  if (!(o.tau > 0)) throw new Error(`tau must be > 0, got ${o.tau}`);
  const block = o.block ?? 16384;
  const P = group?.worldSize ?? 1;
  const rank = group?.rank ?? 0;
  const nBlocks = Math.ceil(n / block);
  const mine = (j: number) => j % P === rank; // block j is this rank's
  const VL = normalizeRows(src.gather(labelledRows), d); // [M * D]
  const YL = Int32Array.from(labelledRows, (r) => labels[r] as number); // [M]
  // below cacheBytes the normalised blocks of pass 1 are kept for pass 2 instead of read again
  const cache: Map<number, Float32Array> | null = o.rule === "llp" && (n * d * 4) / P <= (o.cacheBytes ?? 256 * 2 ** 20) ? new Map() : null;
  const scratch = cache ? null : new Float32Array(Math.min(block, n) * d); // one block, reused when nothing is cached
  // the unit rows start..start+b-1: a copy (the source's memory is read-only), kept when cached
  const unit = (start: number, b: number): Float32Array => {
    const rows = src.read(start, b);
    const v = scratch ? scratch.subarray(0, b * d) : new Float32Array(rows);
    if (scratch) v.set(rows);
    return normalizeRows(v, d);
  };
  const t0 = performance.now();
  let logRho: Float32Array | null = null;
  if (o.rule === "llp") {
    const acc = new RowTopk(VL, d, o.T);
    for (let j = 0; j < nBlocks; j++) {
      if (!mine(j)) continue;
      const s = j * block;
      const b = Math.min(block, n - s);
      const v = unit(s, b);
      acc.add(v, s);
      cache?.set(j, v); // small sets: pass 2 reads its blocks from here
      o.progress?.("density", Math.min(n, s + b), n);
    }
    // a group: each labelled point's best T among every rank's best T
    logRho = logDensityFromTop(group ? mergeTop(group.allGather(acc.values), P, m, o.T) : acc.values, o.T, o.tau); // [M]
  }
  const t1 = performance.now();
  // the blocks are voted in rounds of P, rank r taking block round * P + r; a group gathers each
  // round's results, and rank 0 hands them to the sink in order
  for (let round = 0; round * P < nBlocks; round++) {
    const j = round * P + rank;
    const s = j * block;
    const b = j < nBlocks ? Math.min(block, n - s) : 0;
    let out: { y: Int32Array; c: Float32Array; voters: BigInt64Array; share: Float32Array };
    if (b > 0) {
      const v = cache?.get(j) ?? unit(s, b);
      out = vote(v, VL, YL, d, logRho, o);
      cache?.delete(j); // voted: let it go
    } else out = { y: new Int32Array(0), c: new Float32Array(0), voters: new BigInt64Array(0), share: new Float32Array(0) };
    const results = group ? gatherRound(group, out, block, o.K, Boolean(o.voters)) : [out];
    for (let r = 0; r < results.length; r++) {
      const jr = round * P + r;
      if (jr >= nBlocks || rank !== 0) continue;
      const sr = jr * block;
      const br = Math.min(block, n - sr);
      const res = results[r] as typeof out;
      const [y, c] = [res.y.subarray(0, br), res.c.subarray(0, br)];
      const given = new Uint8Array(br);
      for (let i = 0; i < br; i++) {
        const label = labels[sr + i] as number;
        if (label < 0) continue;
        given[i] = 1;
        y[i] = label;
        c[i] = 1;
      }
      // voters as rows of the whole set, not of the labelled list
      const voters = o.voters
        ? BigInt64Array.from(res.voters.subarray(0, br * o.K), (t) => BigInt(labelledRows[Number(t)] as number))
        : null;
      sink({ start: sr, y, c, given, ...(voters ? { voters, share: res.share.subarray(0, br * o.K) } : {}) });
      o.progress?.("vote", Math.min(n, sr + br), n);
    }
  }
  return { labelled: m, density_s: (t1 - t0) / 1000, vote_s: (performance.now() - t1) / 1000 };
}

/** [P * M * T] every rank's best T per labelled point (best first, -inf where unfilled) -> [M * T] the best T of their union. */
export function mergeTop(all: Float32Array, P: number, m: number, T: number): Float32Array {
  const out = new Float32Array(m * T);
  const pos = new Int32Array(P);
  for (let i = 0; i < m; i++) {
    pos.fill(0);
    for (let t = 0; t < T; t++) {
      // a P-way merge of sorted lists
      let best = -1;
      let bv = Number.NEGATIVE_INFINITY;
      for (let r = 0; r < P; r++) {
        if ((pos[r] as number) >= T) continue;
        const v = all[(r * m + i) * T + (pos[r] as number)] as number;
        if (best < 0 || v > bv) [best, bv] = [r, v];
      }
      out[i * T + t] = bv;
      pos[best] = (pos[best] as number) + 1;
    }
  }
  return out;
}

/** One vote round's results from every rank, each padded to a whole block for the gather. */
function gatherRound(
  g: StreamGroup,
  out: { y: Int32Array; c: Float32Array; voters: BigInt64Array; share: Float32Array },
  block: number,
  K: number,
  voters: boolean,
) {
  const pad = <T extends Int32Array | Float32Array>(a: T, len: number, make: (n: number) => T): T => {
    const p = make(len);
    p.set(a);
    return p;
  };
  const split = <T extends Int32Array | Float32Array>(a: T, len: number) =>
    Array.from({ length: g.worldSize }, (_, r) => a.subarray(r * len, (r + 1) * len) as T);
  const ys = split(g.allGather(pad(out.y, block, (n) => new Int32Array(n))), block);
  const cs = split(g.allGather(pad(out.c, block, (n) => new Float32Array(n))), block);
  const vs = voters ? split(g.allGather(pad(Int32Array.from(out.voters, Number), block * K, (n) => new Int32Array(n))), block * K) : null;
  const ss = voters ? split(g.allGather(pad(out.share, block * K, (n) => new Float32Array(n))), block * K) : null;
  return ys.map((y, r) => ({
    y,
    c: cs[r] as Float32Array,
    voters: vs ? BigInt64Array.from(vs[r] as Int32Array, BigInt) : new BigInt64Array(0),
    share: ss ? (ss[r] as Float32Array) : new Float32Array(0),
  }));
}
