// A group of llp processes over PyTorch's c10d (TCPStore + Gloo, native/distributed.cc): the collectives
// that data-parallel training and sharded propagation are built from. Rank 0 serves the store at
// masterAddr:masterPort; every call waits at most timeoutMs and otherwise throws, naming the
// collective and the rank, so a dead or unreachable peer never hangs a run. A group whose
// collective failed refuses further use: destroy it and join a new one. Every rank must pass
// tensors of the same shape and dtype (all-gather checks and names a mismatch). Across hosts,
// GLOO_SOCKET_IFNAME names the interface to use, as for PyTorch.

import type { StreamGroup } from "../propagation/stream.js";
import { type Handle, native } from "../torch/native.js";
import { tidy } from "../torch/scope.js";
import { cat, Tensor, tensor } from "../torch/tensor.js";

export interface GroupOptions {
  rank: number;
  worldSize: number;
  /** the store's host: rank 0's address (default 127.0.0.1) */
  masterAddr?: string;
  /** the store's port (default 29500, torchrun's) */
  masterPort?: number;
  /** how long every collective may wait (default 60 s; joining may take up to about twice this) */
  timeoutMs?: number;
}

export type ReduceOp = "sum" | "max" | "min";

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  #handle: Handle | null;

  private constructor(handle: Handle, rank: number, worldSize: number) {
    this.#handle = handle;
    this.rank = rank;
    this.worldSize = worldSize;
  }

  /** Joins the group: returns once every rank has joined, throws otherwise (after up to about 2 x timeoutMs). */
  static init(o: GroupOptions): ProcessGroup {
    const { rank, worldSize } = o;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`worldSize must be a positive integer, got ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize)
      throw new RangeError(`rank must be an integer in 0..${worldSize - 1}, got ${rank}`);
    const timeoutMs = o.timeoutMs ?? 60_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new RangeError(`timeoutMs must be a positive integer, got ${timeoutMs}`);
    const port = o.masterPort ?? 29500;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`masterPort must be 1..65535, got ${port}`);
    const h = native.DistInit(rank, worldSize, o.masterAddr ?? "127.0.0.1", port, timeoutMs) as Handle;
    return new ProcessGroup(h, rank, worldSize);
  }

  get #h(): Handle {
    if (!this.#handle) throw new Error("the process group was destroyed");
    return this.#handle;
  }

  /** x <- op over the ranks of x, in place on every rank. */
  allReduce(x: Tensor, op: ReduceOp = "sum"): void {
    native.DistAllReduce(this.#h, x.handle, op);
  }

  /** Every rank's x (the same shape on each), concatenated along dim 0 in rank order: [worldSize * B, ...]. */
  allGather(x: Tensor): Tensor {
    return new Tensor(native.DistAllGather(this.#h, x.handle) as Handle);
  }

  /** x <- root's x, in place on every rank. */
  broadcast(x: Tensor, root = 0): void {
    native.DistBroadcast(this.#h, x.handle, root);
  }

  /** Returns once every rank has reached it. */
  barrier(): void {
    native.DistBarrier(this.#h);
  }

  /**
   * Batch norm in training mode over the global batch: every rank's x [B_r, C, ...] contributes to
   * one mean and variance per channel (PyTorch's SyncBatchNorm); running statistics updated in place.
   * Differentiable: its backward pass all-reduces too, so every rank must run the same forward and
   * backward passes in the same order.
   */
  syncBatchNorm(x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, momentum: number, eps: number): Tensor {
    return new Tensor(
      native.DistSyncBatchNorm(
        this.#h,
        x.handle,
        weight.handle,
        bias.handle,
        runningMean.handle,
        runningVar.handle,
        momentum,
        eps,
      ) as Handle,
    );
  }

  /** Seconds spent so far in syncBatchNorm's collectives, forward and backward. */
  syncBatchNormSeconds(): number {
    return native.DistSyncSeconds(this.#h) as number;
  }

  /** Leaves the group now (closes its connections). */
  destroy(): void {
    if (this.#handle) native.DistDestroy(this.#handle);
    this.#handle = null;
  }
}

/** The group torchrun's environment describes (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), or null outside one. */
export function groupFromEnv(env: NodeJS.ProcessEnv = process.env): GroupOptions | null {
  if (env.WORLD_SIZE === undefined && env.RANK === undefined) return null;
  const num = (k: string, fallback?: number) => {
    const v = env[k];
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new Error(`${k} is not set (RANK and WORLD_SIZE go together)`);
    }
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${k}=${v} is not a non-negative integer`);
    return n;
  };
  return {
    rank: num("RANK"),
    worldSize: num("WORLD_SIZE"),
    masterAddr: env.MASTER_ADDR ?? "127.0.0.1",
    masterPort: num("MASTER_PORT", 29500),
  };
}

/**
 * Data-parallel training's gradient step (DDP's all-reduce, in one bucket): each parameter's
 * gradient becomes the mean of the ranks' gradients. The gradients are flattened into one tensor,
 * all-reduced once and written back, so the cost is one collective a step whatever the number of
 * parameters. Every rank must have a gradient for every parameter (as DDP requires without
 * find_unused_parameters); a missing one is named.
 */
export function averageGradients(group: ProcessGroup, params: Tensor[]): void {
  tidy(() => {
    const grads = params.map((p, i) => {
      const g = p.grad;
      if (g === null) throw new Error(`averageGradients: parameter ${i} [${p.shape}] has no gradient on rank ${group.rank}`);
      return g;
    });
    if (grads.length === 0) return;
    const flat = cat(grads.map((g) => g.flatten())); // [sum of numels]
    group.allReduce(flat);
    flat.div_(group.worldSize);
    let offset = 0;
    for (const g of grads) {
      g.copy_(flat.slice(0, offset, offset + g.numel).reshape(g.shape));
      offset += g.numel;
    }
  });
}

/** A group as `llp propagate` shares a propagation across processes (propagation/stream.ts's StreamGroup): typed arrays in, typed arrays out. */
export function streamGroup(g: ProcessGroup): StreamGroup {
  return {
    rank: g.rank,
    worldSize: g.worldSize,
    allGather<T extends Float32Array | Int32Array>(a: T): T {
      return tidy(() => {
        const t = tensor(a, [a.length], a instanceof Int32Array ? "int32" : "float32");
        return g.allGather(t).toArray() as T;
      });
    },
  };
}
