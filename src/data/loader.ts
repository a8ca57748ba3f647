// Batches {index, x, label} for training and evaluation, prepared ahead of the consumer.
//
// Each epoch is an async iterator. While the consumer trains on batch t, batches t+1..t+prefetch
// are being prepared: image decoding on libuv's threads, augmentation and normalisation on a
// worker thread (prepareIn: "worker"), so both overlap a synchronous training step. What is
// left on the main thread (gathering examples, making tensors) is counted as waiting in `stats`.
import type { Generator } from "../torch/random.js";
import { keep } from "../torch/scope.js";
import { type Tensor, tensor } from "../torch/tensor.js";
import type { AugmentOptions, Normalization } from "./augment.js";
import type { Dataset } from "./dataset.js";
import { rejectUnknownKeys } from "./errors.js";
import { makePreparer, type Preparer } from "./prepare.js";
import { BatchSampler, SAMPLER_KEYS, type SamplerOptions } from "./sampler.js";
import { pickRows, type Shard, shardRows } from "./shard.js";
import { gather } from "./subset.js";

export interface LoaderOptions extends SamplerOptions {
  /** Augmentation recipe (see augment.ts); null = none, for evaluation. Default: null. */
  augment?: AugmentOptions | null;
  /** Per-channel normalisation after augmentation (see channelStats); null = inputs in [0, 1]. Default: null. */
  normalize?: Normalization | null;
  /** Batches whose reads are started ahead of the one being consumed. Default: 2. */
  prefetch?: number;
  /**
   * Where augmentation and normalisation run: "worker" (one worker thread per loader, so they
   * overlap training) or "main" (between steps). Same values either way. Default: "worker".
   */
  prepareIn?: "worker" | "main";
  /**
   * Data-parallel training: this rank reads and prepares only its rows of every batch (shard.ts),
   * with the augmentation draws the whole batch's would give them. Default: every row.
   */
  shard?: Shard | null;
}
const LOADER_KEYS = [...SAMPLER_KEYS, "augment", "normalize", "prefetch", "prepareIn", "shard"];

/** One batch. The consumer owns its tensors: dispose() (or `using`) when done. */
export class Batch implements Disposable {
  /** [B] int64 copy of `index`, for indexing the memory bank. */
  readonly indexTensor: Tensor;
  /** [B] int64 copy of `label` (-1 = unlabelled). */
  readonly labelTensor: Tensor;
  constructor(
    /** [B] dataset index of each example. */
    readonly index: Int32Array,
    /** float32 [B, ...shape], augmented and normalised. */
    readonly x: Tensor,
    /** [B] class or -1 for unlabelled. */
    readonly label: Int32Array,
    /** rows of the whole batch this one is a rank's share of (data-parallel training) */
    readonly globalSize: number = index.length,
  ) {
    this.indexTensor = keep(tensor(index, [index.length], "int64"));
    this.labelTensor = keep(tensor(label, [label.length], "int64"));
  }
  get size(): number {
    return this.index.length;
  }
  dispose(): void {
    this.x.dispose();
    this.indexTensor.dispose();
    this.labelTensor.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Where the time went, accumulated over every epoch since the last reset. */
export class LoaderStats {
  /** Batches delivered. */
  batches = 0;
  /** ms the consumer spent waiting inside next() for a batch. */
  waitMs = 0;
  /** ms of wall time while epochs were being iterated (the consumer's work included). */
  totalMs = 0;
  /** ms of batch preparation (augmentation, normalisation, tensor creation), on whichever thread. */
  prepareMs = 0;
  /** waitMs / totalMs: the share of training time lost to data (target < 0.05). */
  get waitFraction(): number {
    return this.totalMs > 0 ? this.waitMs / this.totalMs : 0;
  }
  toJSON() {
    return {
      batches: this.batches,
      waitMs: this.waitMs,
      totalMs: this.totalMs,
      prepareMs: this.prepareMs,
      waitFraction: this.waitFraction,
    };
  }
}

export class DataLoader {
  readonly sampler: BatchSampler;
  readonly stats = new LoaderStats();
  readonly prefetch: number;
  readonly #gen: Generator | null;
  readonly #preparer: Preparer;
  readonly #shard: Shard | null;

  /**
   * gen: the run's generator. The loader forks its own stream from it at construction, so the
   * shuffles and augmentations are fixed by the generator's state then, whatever the timing of
   * reads. May be null only without shuffling, augmentation or class balancing (evaluation).
   */
  constructor(
    readonly dataset: Dataset,
    options: LoaderOptions = {},
    gen: Generator | null = null,
  ) {
    rejectUnknownKeys(options, LOADER_KEYS, "loader");
    const { augment = null, normalize = null, prefetch = 2, prepareIn = "worker", shard = null, ...samplerOptions } = options;
    if (shard) shardRows(0, shard); // checks it
    this.#shard = shard;
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new Error(`loader: prefetch must be a non-negative integer, got ${prefetch}`);
    this.prefetch = prefetch;
    const needsGen = (samplerOptions.shuffle ?? true) || augment !== null;
    if (needsGen && gen === null) throw new Error("loader: shuffling and augmentation need a Generator");
    this.#gen = gen === null ? null : gen.fork();
    this.sampler = new BatchSampler(dataset.labels, dataset.numClasses, samplerOptions, this.#gen);
    if (prepareIn !== "worker" && prepareIn !== "main") throw new Error(`loader: prepareIn must be "worker" or "main", got ${prepareIn}`);
    this.#preparer = makePreparer(prepareIn, dataset.shape, augment, normalize);
  }

  get batchesPerEpoch(): number {
    return this.sampler.batchesPerEpoch;
  }

  /** Stops the preparation worker (it does not keep the process alive when idle anyway). */
  close(): Promise<void> {
    return this.#preparer.close();
  }

  resetStats(): void {
    Object.assign(this.stats, { batches: 0, waitMs: 0, totalMs: 0, prepareMs: 0 });
  }

  /**
   * One pass over the data. Breaking out early frees the batches prepared ahead. skip: leave out
   * the pass's first batches (their random draws are still taken, so the rest are as in a whole
   * pass: a resume inside an epoch).
   */
  async *epoch(skip = 0): AsyncGenerator<Batch, void, undefined> {
    const plan = this.sampler.epoch();
    const queue: Promise<Batch>[] = [];
    let next = Math.min(skip, plan.length);
    const draws = this.#preparer.drawsPerExample;
    if (draws > 0) for (let k = 0; k < next; k++) (this.#gen as Generator).uniforms((plan[k] as Int32Array).length * draws);
    let mark = performance.now();
    try {
      while (true) {
        const asked = performance.now();
        while (queue.length <= this.prefetch && next < plan.length) queue.push(this.#schedule(plan[next++] as Int32Array));
        const pending = queue.shift();
        if (pending === undefined) break;
        const batch = await pending;
        const got = performance.now();
        this.stats.waitMs += got - asked;
        this.stats.totalMs += got - mark;
        this.stats.batches++;
        mark = got;
        yield batch;
      }
    } finally {
      this.stats.totalMs += performance.now() - mark;
      for (const p of queue)
        p.then(
          (b) => b.dispose(),
          () => {},
        );
    }
  }

  /** Starts preparing a batch; the uniforms are drawn now, in schedule order, so results do not depend on timing. */
  #schedule(indices: Int32Array): Promise<Batch> {
    const B = indices.length;
    const draws = this.#preparer.drawsPerExample;
    const all = draws === 0 ? null : (this.#gen as Generator).uniforms(B * draws); // the whole batch's, on every rank
    const rows = this.#shard ? shardRows(B, this.#shard) : null;
    const mine = rows ? pickRows(indices, rows) : indices;
    const u = all && rows ? pickRows(all, rows, draws) : all;
    const b = mine.length;
    const p = this.dataset
      .readRaw(mine)
      .then((raw) => this.#preparer.prepare(raw, b, u))
      .then(({ values, ms }) => {
        const t0 = performance.now();
        const batch = new Batch(mine, keep(tensor(values, [b, ...this.dataset.shape], "float32")), gather(this.dataset.labels, mine), B);
        this.stats.prepareMs += ms + performance.now() - t0;
        return batch;
      });
    p.catch(() => {}); // rejections surface when the batch is awaited
    return p;
  }
}
