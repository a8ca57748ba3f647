// Data-parallel training over a ProcessGroup (PyTorch's DDP, with SyncBatchNorm): every rank
// draws the same global batch from the same seeded generator and takes its rows (src/data/shard.ts);
// the step's objective is scaled so that the mean of the ranks' gradients is the gradient of the
// whole batch's loss; gradients are averaged in one bucket before the optimiser steps; batch norm
// takes the global batch's statistics. What a step writes into N-long state (LLP's bank and label
// state) is all-gathered, so that state stays identical on every rank. One owner: the loop makes
// it, the methods reach it through their context.

import { type Shard, shardRows } from "../data/shard.js";
import { STEP_STAT_KEYS } from "../methods/method.js";
import { BatchNorm2d } from "../torch/nn/layers.js";
import type { Module } from "../torch/nn/module.js";
import { tidy } from "../torch/scope.js";
import { cat, full, type Tensor, tensor } from "../torch/tensor.js";
import { averageGradients, type ProcessGroup } from "./group.js";

/** Every key a step's statistics may hold (StepStats), in one order for the ranks' all-reduce. */
const STAT_KEYS: string[] = [...STEP_STAT_KEYS].sort();

/** Seconds spent in collectives, accumulated (the loop reports their share of the step). */
export interface CommClock {
  seconds: number;
  calls: number;
}

export class DataParallel {
  readonly shard: Shard;
  readonly comm: CommClock = { seconds: 0, calls: 0 };
  /** the step under way: its whole batch's size and this rank's rows of it */
  #globalSize = 0;
  #localSize = 0;

  constructor(readonly group: ProcessGroup) {
    this.shard = { rank: group.rank, worldSize: group.worldSize };
  }
  get rank(): number {
    return this.group.rank;
  }
  get worldSize(): number {
    return this.group.worldSize;
  }

  /** Times one collective into the clock. */
  timed<T>(f: () => T): T {
    const t0 = performance.now();
    try {
      return f();
    } finally {
      this.comm.seconds += (performance.now() - t0) / 1000;
      this.comm.calls++;
    }
  }

  /** Every BatchNorm of the network takes the global batch's statistics in training (PyTorch's convert_sync_batchnorm). */
  convertSyncBatchNorm(net: Module): void {
    for (const m of net.modules()) if (m instanceof BatchNorm2d) m.sync = this.group; // its collectives are timed natively
  }

  /** Seconds in collectives so far: the ones timed here and SyncBatchNorm's (forward and backward, timed natively). */
  commSeconds(): number {
    return this.comm.seconds + this.group.syncBatchNormSeconds();
  }

  /** A step begins on this rank's b rows of a batch of B. */
  beginStep(globalSize: number, localSize: number): void {
    this.#globalSize = globalSize;
    this.#localSize = localSize;
  }

  /**
   * What a rank's objective (a mean over its b rows) is multiplied by so that the ranks' mean
   * gradient is the gradient of the mean over all B rows: P b / B (1 when the batch splits evenly).
   */
  get objectiveScale(): number {
    return this.#globalSize > 0 ? (this.worldSize * this.#localSize) / this.#globalSize : 1;
  }

  /** Gradients <- the ranks' mean (one bucket); parameters without a gradient on this step (a head a phase leaves unused) are left out on every rank alike. */
  averageGradients(params: Tensor[]): void {
    this.timed(() =>
      averageGradients(
        this.group,
        params.filter((p) => p.grad !== null),
      ),
    );
  }

  /**
   * Rows of every rank, in the order of the global batch: rank r's k-th row is row r + kP. Ranks may
   * hold different counts (a last short batch); x [b, ...] -> [B, ...].
   */
  gatherRows(x: Tensor, globalSize = this.#globalSize): Tensor {
    return tidy(() => {
      const P = this.worldSize;
      const most = Math.ceil(globalSize / P);
      const b = x.shape[0] as number;
      const rest = x.shape.slice(1);
      const padded = b === most ? x : cat([x, full([most - b, ...rest], 0, x.dtype)]);
      const all = this.timed(() => this.group.allGather(padded.contiguous())); // [P * most, ...] rank-major
      // global row g = r + kP sits at r * most + k
      const order = Int32Array.from({ length: globalSize }, (_, g) => (g % P) * most + Math.floor(g / P));
      return all.indexSelect(0, tensor(order, [globalSize], "int64"));
    });
  }

  /** Int32/Float32 rows of every rank, as gatherRows. */
  gatherArray<T extends Int32Array | Float32Array>(a: T, globalSize = this.#globalSize): T {
    return tidy(() => {
      const t = tensor(a, [a.length], a instanceof Int32Array ? "int32" : "float32");
      return this.gatherRows(t, globalSize).toArray() as T;
    });
  }

  /** This rank's part [lo, hi) of n items split into P contiguous parts (sharded density, propagation). */
  part(n: number): [number, number] {
    const per = Math.ceil(n / this.worldSize);
    return [Math.min(n, this.rank * per), Math.min(n, (this.rank + 1) * per)];
  }

  /** Each rank's part of [n, ...] (part(n)), gathered back into the whole, in order. */
  gatherParts(mine: Tensor, n: number): Tensor {
    return tidy(() => {
      const per = Math.ceil(n / this.worldSize);
      const b = mine.shape[0] as number;
      const rest = mine.shape.slice(1);
      const padded = b === per ? mine : cat([mine, full([per - b, ...rest], 0, mine.dtype)]);
      return this.timed(() => this.group.allGather(padded.contiguous())).slice(0, 0, n);
    });
  }

  /**
   * The ranks' step statistics as one process would log them: each value weighted by the rank's
   * rows (NaN values, a rank without unlabelled rows, left out), plus whether any rank was asked
   * to stop (so all stop at the same step).
   */
  agree(stats: Record<string, number>, stop: boolean): { stats: Record<string, number>; stop: boolean } {
    // one fixed list of keys on every rank (a rank may lack a term its rows did not need); a key
    // no rank has is left out, and a loss that is not finite on any rank stays so
    const keys = [...new Set([...STAT_KEYS, ...Object.keys(stats)])].sort();
    if (keys.length !== STAT_KEYS.length)
      throw new Error(`data-parallel: unknown step statistics ${Object.keys(stats).filter((k) => !STAT_KEYS.includes(k))}`);
    const b = this.#localSize;
    const v = new Float64Array(2 * keys.length + 1);
    keys.forEach((k, i) => {
      const x = stats[k];
      if (x === undefined) return;
      if (Number.isFinite(x) || k === "loss/total") {
        v[2 * i] = x * b;
        v[2 * i + 1] = b;
      }
    });
    v[2 * keys.length] = stop ? 1 : 0;
    const sums = tidy(() => {
      const t = tensor(v, [v.length], "float64");
      this.timed(() => this.group.allReduce(t));
      return t.toArray() as Float64Array;
    });
    const out: Record<string, number> = {};
    keys.forEach((k, i) => {
      const value = (sums[2 * i + 1] as number) > 0 ? (sums[2 * i] as number) / (sums[2 * i + 1] as number) : Number.NaN;
      if (k in stats || !Number.isNaN(value)) out[k] = value;
    });
    return { stats: out, stop: (sums[2 * keys.length] as number) > 0 };
  }

  /** Each count summed over the ranks (one all-reduce). */
  sumCounts(counts: number[]): number[] {
    return tidy(() => {
      const t = tensor(Float64Array.from(counts), [counts.length], "float64");
      this.timed(() => this.group.allReduce(t));
      return Array.from(t.toArray() as Float64Array);
    });
  }

  /** Rank 0's value of a number, on every rank. */
  fromRankZero(x: number): number {
    return tidy(() => {
      const t = tensor(Float64Array.of(x), [1], "float64");
      this.timed(() => this.group.broadcast(t, 0));
      return t.item();
    });
  }

  /** Rows of a batch of b this rank takes. */
  rows(b: number): Int32Array {
    return shardRows(b, this.shard);
  }
}
