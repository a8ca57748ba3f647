// Which examples go in which batch: shuffled epochs drawn from the seeded generator.
import type { Generator } from "../torch/random.js";
import { rejectUnknownKeys } from "./errors.js";

export interface SamplerOptions {
  /** B, examples per batch. Default: 128 (the batch size of the original LLP/LA code). */
  batchSize?: number;
  /** Reshuffle every epoch; false walks the examples in order (evaluation). Default: true. */
  shuffle?: boolean;
  /** Drop the last, smaller batch of an epoch. Default: false. */
  dropLast?: boolean;
  /**
   * Labelled examples forced into every batch (0 = off). When set, an epoch is one pass over
   * the unlabelled examples, B - labelledPerBatch per batch, and the labelled ones are
   * oversampled from their own stream, reshuffled whenever it runs out. Default: 0.
   */
  labelledPerBatch?: number;
  /**
   * Draw labelled examples class-balanced: classes take turns (in a reshuffled order), each
   * class cycling through its own shuffled examples. Applies to the labelled stream; without
   * labelledPerBatch every example must be labelled. Default: false.
   */
  balanceClasses?: boolean;
}

export const SAMPLER_DEFAULTS: Required<SamplerOptions> = {
  batchSize: 128,
  shuffle: true,
  dropLast: false,
  labelledPerBatch: 0,
  balanceClasses: false,
};
export const SAMPLER_KEYS = Object.keys(SAMPLER_DEFAULTS);

/** Endless stream over items, reshuffled (when shuffle) each time it is exhausted. */
class Cycle {
  #order: Int32Array;
  #pos = 0;
  constructor(
    readonly items: Int32Array,
    readonly gen: Generator | null,
    readonly shuffle: boolean,
  ) {
    this.#order = this.#next();
  }
  #next(): Int32Array {
    if (!this.shuffle || this.gen === null) return this.items;
    const p = this.gen.permutation(this.items.length);
    return p.map((j) => this.items[j] as number);
  }
  next(): number {
    if (this.#pos === this.#order.length) {
      this.#order = this.#next();
      this.#pos = 0;
    }
    return this.#order[this.#pos++] as number;
  }
}

/** Labelled examples taken class by class in turns. */
class BalancedCycle {
  #classes: Cycle;
  #perClass: Cycle[];
  constructor(labelled: Int32Array, labels: Int32Array, numClasses: number, gen: Generator | null, shuffle: boolean) {
    const byClass: number[][] = Array.from({ length: numClasses }, () => []);
    for (const i of labelled) (byClass[labels[i] as number] as number[]).push(i);
    const present = byClass.map((a, c) => (a.length > 0 ? c : -1)).filter((c) => c >= 0);
    this.#perClass = byClass.map((a) => new Cycle(Int32Array.from(a), gen, shuffle));
    this.#classes = new Cycle(Int32Array.from(present), gen, shuffle);
  }
  next(): number {
    return (this.#perClass[this.#classes.next()] as Cycle).next();
  }
}

export class BatchSampler {
  readonly options: Required<SamplerOptions>;
  readonly #gen: Generator | null;
  readonly #unlabelled: Int32Array;
  readonly #stream: Cycle | BalancedCycle | null;
  /** Examples one epoch walks through: all of them, or the unlabelled ones with labelledPerBatch. */
  readonly #walk: Int32Array;
  readonly #walkPerBatch: number;

  /**
   * labels: [N] with -1 = unlabelled. gen: drawn from at construction and at each epoch() call;
   * may be null only with shuffle: false.
   */
  constructor(labels: Int32Array, numClasses: number, options: SamplerOptions, gen: Generator | null) {
    rejectUnknownKeys(options, SAMPLER_KEYS, "sampler");
    const o = { ...SAMPLER_DEFAULTS, ...options };
    if (o.shuffle && gen === null) throw new Error("sampler: shuffle needs a Generator");
    this.options = o;
    this.#gen = gen;
    const n = labels.length;
    const { batchSize: B, labelledPerBatch: k } = o;
    if (!Number.isInteger(B) || B < 1) throw new Error(`sampler: batchSize must be a positive integer, got ${B}`);
    if (!Number.isInteger(k) || k < 0 || k >= B)
      throw new Error(`sampler: labelledPerBatch must be an integer in [0, batchSize), got ${k}`);
    const labelled = Int32Array.from({ length: n }, (_, i) => i).filter((i) => (labels[i] as number) >= 0);
    this.#unlabelled = Int32Array.from({ length: n }, (_, i) => i).filter((i) => (labels[i] as number) < 0);
    if (k > 0) {
      if (labelled.length === 0) throw new Error("sampler: labelledPerBatch needs labelled examples, there are none");
      if (this.#unlabelled.length === 0) throw new Error("sampler: labelledPerBatch needs unlabelled examples, every example is labelled");
    } else if (o.balanceClasses && this.#unlabelled.length > 0) {
      throw new Error("sampler: balanceClasses on data with unlabelled examples needs labelledPerBatch");
    }
    const streamed = k > 0 || o.balanceClasses;
    this.#stream = !streamed
      ? null
      : o.balanceClasses
        ? new BalancedCycle(labelled, labels, numClasses, gen, o.shuffle)
        : new Cycle(labelled, gen, o.shuffle);
    this.#walk = k > 0 ? this.#unlabelled : Int32Array.from({ length: n }, (_, i) => i);
    this.#walkPerBatch = B - k;
    if (this.batchesPerEpoch === 0) throw new Error(`sampler: ${this.#walk.length} examples make no batch of ${B} with dropLast`);
  }

  get batchesPerEpoch(): number {
    const m = this.#walk.length / this.#walkPerBatch;
    return this.options.dropLast ? Math.floor(m) : Math.ceil(m);
  }

  /** The next epoch's batches, as dataset indices. */
  epoch(): Int32Array[] {
    const { shuffle, labelledPerBatch: k, balanceClasses } = this.options;
    const batches: Int32Array[] = [];
    const nb = this.batchesPerEpoch;
    const per = this.#walkPerBatch;
    if (balanceClasses && k === 0) {
      // every example labelled: the whole batch comes from the balanced stream
      const stream = this.#stream as BalancedCycle;
      for (let b = 0; b < nb; b++) {
        const size = Math.min(per, this.#walk.length - b * per);
        batches.push(Int32Array.from({ length: size }, () => stream.next()));
      }
      return batches;
    }
    const order = shuffle && this.#gen !== null ? this.#gen.permutation(this.#walk.length).map((j) => this.#walk[j] as number) : this.#walk;
    for (let b = 0; b < nb; b++) {
      const part = order.subarray(b * per, Math.min((b + 1) * per, order.length));
      if (k === 0) {
        batches.push(part.slice());
        continue;
      }
      const batch = new Int32Array(k + part.length);
      for (let j = 0; j < k; j++) batch[j] = (this.#stream as Cycle | BalancedCycle).next();
      batch.set(part, k);
      batches.push(batch);
    }
    return batches;
  }
}
