// A dataset made of some examples of another, with its own labels: the training pool with only
// the labelled split's labels visible, or the validation split.
import type { Tensor } from "../torch/tensor.js";
import {
  checkIndices,
  checkLabels,
  type Dataset,
  type InMemoryDataset,
  isInMemory,
  type RawExamples,
  rawToTensor,
  type Storage,
} from "./dataset.js";
import { DataError } from "./errors.js";

export interface SubsetOptions {
  /** [M] labels of the subset's examples (-1 = unlabelled). Default: the base labels at `indices`. */
  labels?: Int32Array;
  /** [M] ground truth for evaluation. Default: the base trueLabels at `indices`, if any. */
  trueLabels?: Int32Array;
  /** Default: "<base name>[subset]". */
  name?: string;
  /** the subset's own classes (labels then index them); default: the base's */
  classNames?: readonly string[];
}

/** Example i of the subset is example sourceIndex[i] of the base. */
export class SubsetDataset implements Dataset {
  readonly name: string;
  readonly n: number;
  readonly shape: readonly number[];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly labels: Int32Array;
  readonly trueLabels?: Int32Array;
  readonly storage: Storage;
  readonly lazy: boolean;
  /** [M] index into the base dataset of each example. */
  readonly sourceIndex: Int32Array;

  constructor(
    readonly base: Dataset,
    indices: Int32Array,
    o: SubsetOptions = {},
  ) {
    checkIndices(indices, base.n, base.name);
    this.name = o.name ?? `${base.name}[subset]`;
    this.sourceIndex = indices;
    this.n = indices.length;
    this.shape = base.shape;
    this.classNames = o.classNames ?? base.classNames;
    this.numClasses = o.classNames ? o.classNames.length : base.numClasses;
    this.storage = base.storage;
    this.lazy = !isInMemory(base);
    this.labels = o.labels ?? gather(base.labels, indices);
    if (this.labels.length !== this.n) throw new RangeError(`subset: ${this.labels.length} labels for ${this.n} examples`);
    checkLabels(this.labels, this.numClasses, this.name);
    const truth = o.trueLabels ?? (base.trueLabels ? gather(base.trueLabels, indices) : undefined);
    if (truth !== undefined) this.trueLabels = truth;
  }

  #map(indices: Int32Array): Int32Array {
    checkIndices(indices, this.n, this.name);
    return gather(this.sourceIndex, indices);
  }
  readRaw(indices: Int32Array): Promise<RawExamples> {
    return this.base.readRaw(this.#map(indices));
  }
  getBatchAsync(indices: Int32Array): Promise<Tensor> {
    return this.base.getBatchAsync(this.#map(indices));
  }
  /** In-memory bases only. */
  readRawSync(indices: Int32Array): RawExamples {
    return this.#memoryBase().readRawSync(this.#map(indices));
  }
  /** In-memory bases only: float32 [B, ...shape]. */
  getBatch(indices: Int32Array): Tensor {
    return rawToTensor(this.readRawSync(indices), indices.length, this.shape);
  }
  #memoryBase(): InMemoryDataset {
    if (!isInMemory(this.base)) throw new Error(`${this.name}: examples are decoded lazily; use readRaw/getBatchAsync`);
    return this.base;
  }
}

export function gather(a: Int32Array, indices: Int32Array): Int32Array {
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = a[indices[i] as number] as number;
  return out;
}

/**
 * The examples of some classes of a dataset, relabelled 0..k-1 in the order given (a transfer
 * split: train on some classes, read out the others). Unlabelled rows are left out.
 */
export function classSubset(ds: Dataset, classes: readonly number[]): SubsetDataset {
  const bad = classes.find((c) => !Number.isInteger(c) || c < 0 || c >= ds.numClasses);
  if (bad !== undefined) throw new DataError(ds.name, `class ${bad} is not one of its ${ds.numClasses} classes (0..${ds.numClasses - 1})`);
  if (new Set(classes).size !== classes.length) throw new DataError(ds.name, `classes ${classes.join(",")} name one class twice`);
  if (classes.length < 2) throw new DataError(ds.name, "a class subset needs at least two classes");
  const to = new Map(classes.map((c, i) => [c, i]));
  const truth = ds.trueLabels ?? ds.labels;
  const rows = Int32Array.from(truth.keys()).filter((i) => to.has(truth[i] as number));
  const relabel = (a: Int32Array) => Int32Array.from(rows, (i) => to.get(a[i] as number) ?? -1);
  return new SubsetDataset(ds, rows, {
    labels: relabel(ds.labels),
    ...(ds.trueLabels ? { trueLabels: relabel(ds.trueLabels) } : {}),
    classNames: classes.map((c) => ds.classNames[c] ?? String(c)),
    name: `${ds.name}[classes ${classes.join(",")}]`,
  });
}
