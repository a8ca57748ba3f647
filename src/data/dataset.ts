// The dataset contract: N examples of one shape, labels with -1 for unlabelled, and inputs
// fetched by index. Images stay uint8 in memory (or on disk) and become float32 in [0, 1]
// one batch at a time.
import { type Tensor, tensor } from "../torch/tensor.js";
import { DataError } from "./errors.js";

/** How examples are stored: uint8 pixels (scaled by 1/255 on the way out) or float32 features. */
export type Storage = "uint8" | "float32";
/** Examples [B, ...shape] flattened in C order, as stored. */
export type RawExamples = Uint8Array | Float32Array;

export interface Dataset {
  /** Short name used in run names and split files, e.g. "fashion-mnist". */
  readonly name: string;
  /** N, the number of examples. */
  readonly n: number;
  /** Shape of one example: [C,H,W] for images, [F] for feature vectors. */
  readonly shape: readonly number[];
  /** C, the number of classes. */
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** [N] class index in [0, C) or -1 for unlabelled. The only labels training may read. */
  readonly labels: Int32Array;
  /** [N] ground truth where known (benchmarks), for evaluation only; never for training. */
  readonly trueLabels?: Int32Array;
  readonly storage: Storage;
  /** True when examples are decoded on demand (image folders): only the async reads exist. */
  readonly lazy: boolean;
  /** Validation size this dataset suggests for splits (Fashion-MNIST: 5000), if any. */
  readonly defaultValidation?: number;
  /** Examples at `indices` as stored: [B, ...shape] flat. */
  readRaw(indices: Int32Array): Promise<RawExamples>;
  /** Inputs at `indices`: float32 [B, ...shape], images scaled to [0, 1]. Caller disposes. */
  getBatchAsync(indices: Int32Array): Promise<Tensor>;
}

/** A dataset held in memory: batches are also available synchronously. */
export interface InMemoryDataset extends Dataset {
  readonly lazy: false;
  readRawSync(indices: Int32Array): RawExamples;
  /** float32 [B, ...shape], images scaled to [0, 1]. Caller disposes. */
  getBatch(indices: Int32Array): Tensor;
}

export function isInMemory(ds: Dataset): ds is InMemoryDataset {
  return !ds.lazy && typeof (ds as Partial<InMemoryDataset>).getBatch === "function";
}

/** Number of values in one example. */
export function exampleSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** raw [B, ...shape] -> float32 Tensor [B, ...shape]; uint8 is scaled to [0, 1]. */
export function rawToTensor(raw: RawExamples, batch: number, shape: readonly number[]): Tensor {
  let values: Float32Array;
  if (raw instanceof Uint8Array) {
    values = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) values[i] = (raw[i] as number) / 255;
  } else {
    values = raw;
  }
  return tensor(values, [batch, ...shape], "float32");
}

/** Checks labels are integers in [-1, C); `where` names the file for the error. */
export function checkLabels(labels: ArrayLike<number>, numClasses: number, where: string): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number;
    if (!Number.isInteger(y) || y < -1 || y >= numClasses) {
      throw new DataError(where, `label ${y} at row ${i} is out of range (expected -1 or 0..${numClasses - 1})`);
    }
  }
}

export function checkIndices(indices: Int32Array, n: number, name: string): void {
  for (const i of indices) {
    if (i < 0 || i >= n) throw new RangeError(`${name}: index ${i} out of range [0, ${n})`);
  }
}

export interface MemoryDatasetInit {
  name: string;
  /** [N, ...shape] flat, C order. */
  data: RawExamples;
  shape: readonly number[];
  labels: Int32Array;
  classNames: readonly string[];
  trueLabels?: Int32Array;
  defaultValidation?: number;
  /** File named in errors. */
  source?: string;
}

/** Examples in one typed array. */
export class MemoryDataset implements InMemoryDataset {
  readonly name: string;
  readonly n: number;
  readonly shape: readonly number[];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly labels: Int32Array;
  readonly trueLabels?: Int32Array;
  readonly storage: Storage;
  readonly lazy = false as const;
  readonly defaultValidation?: number;
  readonly data: RawExamples;
  readonly #size: number;

  constructor(init: MemoryDatasetInit) {
    const where = init.source ?? init.name;
    this.name = init.name;
    this.shape = Object.freeze([...init.shape]);
    this.#size = exampleSize(init.shape);
    this.n = init.labels.length;
    if (init.data.length !== this.n * this.#size) {
      throw new DataError(where, `${init.data.length} values do not make ${this.n} examples of shape [${init.shape.join(",")}]`);
    }
    this.data = init.data;
    this.storage = init.data instanceof Uint8Array ? "uint8" : "float32";
    this.classNames = Object.freeze([...init.classNames]);
    this.numClasses = init.classNames.length;
    checkLabels(init.labels, this.numClasses, where);
    this.labels = init.labels;
    if (init.trueLabels !== undefined) {
      if (init.trueLabels.length !== this.n) throw new DataError(where, "trueLabels length differs from labels");
      this.trueLabels = init.trueLabels;
    }
    if (init.defaultValidation !== undefined) this.defaultValidation = init.defaultValidation;
  }

  readRawSync(indices: Int32Array): RawExamples {
    checkIndices(indices, this.n, this.name);
    const d = this.#size;
    const out = this.data instanceof Uint8Array ? new Uint8Array(indices.length * d) : new Float32Array(indices.length * d);
    for (let b = 0; b < indices.length; b++) {
      const i = indices[b] as number;
      out.set(this.data.subarray(i * d, (i + 1) * d), b * d);
    }
    return out;
  }
  async readRaw(indices: Int32Array): Promise<RawExamples> {
    return this.readRawSync(indices);
  }
  getBatch(indices: Int32Array): Tensor {
    return rawToTensor(this.readRawSync(indices), indices.length, this.shape);
  }
  async getBatchAsync(indices: Int32Array): Promise<Tensor> {
    return this.getBatch(indices);
  }
}
