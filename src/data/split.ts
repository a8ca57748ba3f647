// The seeded split of a training set into validation, training pool, and the labelled part of
// the training pool, saved as split.json in the run folder.
//
// Order of the draws (all from one permutation of 0..N-1 made by the generator):
//  1. validation: drawn only from examples that have a label (benchmarks: every example; user
//     data with -1 marks: the labelled ones), stratified by class, and removed from training
//     entirely (not in the memory bank, labels never seen). It exists for decisions such as LR
//     plateaus; the test set is never used for those.
//  2. labelled: from the rest, the same number per class (`labelled` or `labelsPerClass`),
//     or, by default, every example that has a label.
//  3. train = labelled + a class-stratified draw of the remaining pool up to `subset`.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Generator } from "../torch/random.js";
import type { Dataset } from "./dataset.js";
import { DataError, rejectUnknownKeys, resolveAmount } from "./errors.js";
import { gather, SubsetDataset } from "./subset.js";

export interface SplitOptions {
  /**
   * Labelled examples: "p%" or a fraction of the training pool, or a count; the same number per
   * class (remainder to classes in seeded order). Default: every example that has a label.
   */
  labelled?: number | string;
  /** Exactly this many labelled examples per class (instead of `labelled`). Default: unset. */
  labelsPerClass?: number;
  /** Training set size: "q%" or fraction of the training pool, or a count; >= labelled. Default: "100%". */
  subset?: number | string;
  /**
   * Validation size: a count, or "p%" / fraction of the examples that have labels; 0 = none.
   * Default: the dataset's defaultValidation (Fashion-MNIST: 5000), else "10%".
   */
  validation?: number | string;
}
const SPLIT_KEYS = ["labelled", "labelsPerClass", "subset", "validation"] as const;
export const SPLIT_DEFAULTS = { subset: "100%", validation: "10%" } as const;

/** Indices into the dataset, each sorted ascending; labelled is a subset of train, validation disjoint from train. */
export interface Split {
  /** e.g. "fashion-mnist@550" or "fashion-mnist@550.16500" (labelled count, then train count when a subset). */
  name: string;
  dataset: string;
  n: number;
  numClasses: number;
  options: SplitOptions;
  train: Int32Array;
  labelled: Int32Array;
  validation: Int32Array;
}

type SplitSource = Pick<Dataset, "name" | "n" | "numClasses" | "classNames" | "labels" | "defaultValidation">;

export function makeSplit(ds: SplitSource, options: SplitOptions, gen: Generator): Split {
  rejectUnknownKeys(options, SPLIT_KEYS, "split");
  if (options.labelled !== undefined && options.labelsPerClass !== undefined) {
    throw new Error("split: give labelled or labelsPerClass, not both");
  }
  const { n, numClasses: C, labels } = ds;
  const perm = gen.permutation(n);
  const known = perm.filter((i) => (labels[i] as number) >= 0);
  if (known.length === 0) throw new Error(`split: no example of ${ds.name} has a label (every label is -1); training needs some`);

  // 1. validation
  const vCount = resolveAmount(
    options.validation ?? ds.defaultValidation ?? SPLIT_DEFAULTS.validation,
    known.length,
    "validation (--validation)",
  );
  const validation = stratifiedTake(known, (i) => labels[i] as number, C, vCount);
  const inVal = membership(n, validation);
  const pool = perm.filter((i) => inVal[i] === 0);
  const candidates = pool.filter((i) => (labels[i] as number) >= 0);

  // 2. labelled
  const byClass: number[][] = Array.from({ length: C }, () => []);
  for (const i of candidates) (byClass[labels[i] as number] as number[]).push(i);
  let perClass: number[] | null = null;
  if (options.labelsPerClass !== undefined) {
    const k = options.labelsPerClass;
    if (!Number.isInteger(k) || k < 1) throw new Error(`labelsPerClass (--labels-per-class) must be a positive integer, got ${k}`);
    perClass = new Array(C).fill(k);
  } else if (options.labelled !== undefined) {
    const m = resolveAmount(options.labelled, pool.length, "labelled (--labelled)");
    perClass = new Array(C).fill(Math.floor(m / C));
    const order = gen.permutation(C);
    for (let r = 0; r < m % C; r++) (perClass[order[r] as number] as number)++;
  }
  const labelledList: number[] = [];
  for (let c = 0; c < C; c++) {
    const have = byClass[c] as number[];
    const want = perClass === null ? have.length : (perClass[c] as number);
    if (have.length === 0) throw new Error(noExamples(ds, c, C));
    if (want === 0) {
      const m = (perClass as number[]).reduce((a, b) => a + b, 0);
      throw new Error(
        `split: class '${ds.classNames[c]}' has no labelled examples after the split: ${m} labelled for ${C} classes; label at least one per class`,
      );
    }
    if (want > have.length) {
      throw new Error(
        `split: class '${ds.classNames[c]}' has ${have.length} labelled examples in the training pool, ${want} asked for (labelsPerClass, --labels-per-class)`,
      );
    }
    labelledList.push(...have.slice(0, want));
  }
  const labelled = Int32Array.from(labelledList);

  // 3. train
  const tCount = resolveAmount(options.subset ?? SPLIT_DEFAULTS.subset, pool.length, "subset (--subset)");
  if (tCount < labelled.length) {
    throw new Error(`split: a subset (subset, --subset) of ${tCount} examples is smaller than the ${labelled.length} labelled ones`);
  }
  const isLabelled = membership(n, labelled);
  const rest = pool.filter((i) => isLabelled[i] === 0);
  const extra = stratifiedTake(rest, (i) => ((labels[i] as number) < 0 ? C : (labels[i] as number)), C + 1, tCount - labelled.length);
  const train = Int32Array.from([...labelled, ...extra]);

  const sorted = (a: Int32Array) => a.slice().sort();
  const subsetTag = train.length < pool.length ? `.${train.length}` : "";
  return {
    name: `${ds.name}@${labelled.length}${subsetTag}`,
    dataset: ds.name,
    n,
    numClasses: C,
    options: { ...options },
    train: sorted(train),
    labelled: sorted(labelled),
    validation: sorted(validation),
  };
}

/**
 * The split with the labels of more training examples made visible (an active-learning round:
 * `llp train --reveal next.csv` after `llp suggest`): each index must be in the training pool,
 * not already labelled, and have a label in the dataset (a benchmark's hidden one).
 */
export function revealLabels(split: Split, ds: Pick<Dataset, "labels" | "name">, indices: Int32Array, source: string): Split {
  const inTrain = membership(split.n, split.train);
  const inVal = membership(split.n, split.validation);
  const isLabelled = membership(split.n, split.labelled);
  const add = new Set<number>();
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= split.n)
      throw new DataError(source, `example ${i} is not an index of ${ds.name} (0..${split.n - 1})`);
    if (inVal[i]) throw new DataError(source, `example ${i} is in the validation set, not the training pool`);
    if (!inTrain[i]) throw new DataError(source, `example ${i} is not in the training pool (outside --subset)`);
    if ((ds.labels[i] as number) < 0) throw new DataError(source, `example ${i} has no label in ${ds.name} to reveal`);
    if (!isLabelled[i]) add.add(i);
  }
  const labelled = Int32Array.from([...split.labelled, ...add]).sort();
  // "name@labelled" or "name@labelled.train": the subset tag follows the last "@" (a dataset name may hold dots)
  const tail = split.name.slice(split.name.lastIndexOf("@") + 1);
  const subsetTag = tail.includes(".") ? tail.slice(tail.indexOf(".")) : "";
  return { ...split, name: `${ds.name}@${labelled.length}${subsetTag}`, labelled };
}

/**
 * The first k of `order` with each group's share proportional to its size (largest remainder,
 * ties to the lower group), in `order`'s order within each group.
 */
export function stratifiedTake(order: Int32Array, groupOf: (i: number) => number, groups: number, k: number): Int32Array {
  if (k === 0) return new Int32Array(0);
  const sizes = new Array(groups).fill(0);
  for (const i of order) sizes[groupOf(i)]++;
  const exact = sizes.map((s) => (s * k) / order.length);
  const quota = exact.map(Math.floor);
  const byRemainder = exact.map((e, g) => [e - Math.floor(e), g] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  let missing = k - quota.reduce((a, b) => a + b, 0);
  for (const [, g] of byRemainder) {
    if (missing === 0) break;
    if (quota[g] < sizes[g]) {
      quota[g]++;
      missing--;
    }
  }
  const out: number[] = [];
  for (const i of order) {
    const g = groupOf(i);
    if (quota[g] > 0) {
      out.push(i);
      quota[g]--;
    }
  }
  return Int32Array.from(out);
}

function membership(n: number, indices: Int32Array): Uint8Array {
  const m = new Uint8Array(n);
  for (const i of indices) m[i] = 1;
  return m;
}

/**
 * Datasets for training and validation. The training view holds the split's train examples
 * (batch index i = i-th of split.train, the memory bank's row), with labels -1 except for the
 * labelled split, and trueLabels when the base has every label (benchmarks) for evaluation.
 * The validation view has the true labels.
 */
export function splitDatasets(ds: Dataset, split: Split): { train: SubsetDataset; validation: SubsetDataset } {
  checkSplitFits(split, ds, "split");
  const isLabelled = membership(ds.n, split.labelled);
  const trainLabels = new Int32Array(split.train.length);
  for (let k = 0; k < split.train.length; k++) {
    const i = split.train[k] as number;
    trainLabels[k] = isLabelled[i] === 1 ? (ds.labels[i] as number) : -1;
  }
  const truth = ds.trueLabels ?? (ds.labels.every((y) => y >= 0) ? ds.labels : undefined);
  return {
    train: new SubsetDataset(ds, split.train, {
      name: split.name,
      labels: trainLabels,
      ...(truth ? { trueLabels: gather(truth, split.train) } : {}),
    }),
    validation: new SubsetDataset(ds, split.validation, {
      name: `${ds.name}[validation]`,
      labels: gather(ds.labels, split.validation),
    }),
  };
}

export const SPLIT_FILE = "split.json";

/** Writes runDir/split.json (atomically) and returns its path. */
export function writeSplit(runDir: string, split: Split): string {
  mkdirSync(runDir, { recursive: true });
  const file = join(runDir, SPLIT_FILE);
  const counts = { train: split.train.length, labelled: split.labelled.length, validation: split.validation.length };
  const body = {
    version: 1,
    name: split.name,
    dataset: split.dataset,
    n: split.n,
    numClasses: split.numClasses,
    options: split.options,
    counts,
    train: Array.from(split.train),
    labelled: Array.from(split.labelled),
    validation: Array.from(split.validation),
  };
  writeFileSync(`${file}.tmp`, `${JSON.stringify(body)}\n`);
  renameSync(`${file}.tmp`, file);
  return file;
}

/** Reads a split.json (or the one in a run folder); checks it against `ds` when given. */
export function readSplit(path: string, ds?: Pick<Dataset, "name" | "n" | "numClasses">): Split {
  let file = path;
  try {
    if (statSync(path).isDirectory()) file = join(path, SPLIT_FILE);
  } catch {
    throw new DataError(path, "no such split file or run folder");
  }
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new DataError(file, `not a readable split file (${(e as Error).message})`);
  }
  if (j.version !== 1) throw new DataError(file, `unsupported split version ${String(j.version)}`);
  const n = j.n;
  if (!Number.isInteger(n) || !Number.isInteger(j.numClasses) || typeof j.dataset !== "string") {
    throw new DataError(file, "missing dataset, n or numClasses");
  }
  const ints = (key: string): Int32Array => {
    const a = j[key];
    if (!Array.isArray(a) || a.some((v) => !Number.isInteger(v) || v < 0 || v >= (n as number))) {
      throw new DataError(file, `'${key}' must be a list of indices in [0, ${n})`);
    }
    return Int32Array.from(a as number[]);
  };
  const split: Split = {
    name: typeof j.name === "string" ? j.name : String(j.dataset),
    dataset: j.dataset,
    n: n as number,
    numClasses: j.numClasses as number,
    options: (j.options ?? {}) as SplitOptions,
    train: ints("train"),
    labelled: ints("labelled"),
    validation: ints("validation"),
  };
  const inTrain = membership(split.n, split.train);
  if (split.labelled.some((i) => inTrain[i] === 0)) throw new DataError(file, "a labelled index is not in train");
  if (split.validation.some((i) => inTrain[i] === 1)) throw new DataError(file, "validation and train overlap");
  if (ds !== undefined) checkSplitFits(split, ds, file);
  return split;
}

function checkSplitFits(split: Split, ds: Pick<Dataset, "name" | "n" | "numClasses">, where: string): void {
  if (split.n !== ds.n || split.numClasses !== ds.numClasses || split.dataset !== ds.name) {
    throw new DataError(
      where,
      `split was made for ${split.dataset} (n=${split.n}, ${split.numClasses} classes), not ${ds.name} (n=${ds.n}, ${ds.numClasses} classes)`,
    );
  }
}

/** Why class c has nothing to train on: absent from the labels altogether, or all in validation. */
function noExamples(ds: { labels: ArrayLike<number>; classNames: readonly string[] }, c: number, C: number): string {
  let total = 0;
  for (let i = 0; i < ds.labels.length; i++) if (ds.labels[i] === c) total++;
  const name = ds.classNames[c];
  if (total > 0)
    return `split: class '${name}' has no labelled examples left for training after the validation split (${total} labelled in all); take fewer for validation (validation, --validation) or label more of this class`;
  const numeric = ds.classNames.every((n, k) => n === String(k));
  const hint = numeric
    ? `: numeric labels are class indices 0..${C - 1} (the largest label, ${C - 1}, sets the class count), so each of them needs labelled examples; number the classes from 0 without gaps`
    : "";
  return `split: no example is labelled '${name}'${hint}`;
}
