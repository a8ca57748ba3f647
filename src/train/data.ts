// From a config to what the loop consumes: load the dataset, make (or reread) the seeded split,
// normalisation statistics, and the per-epoch batch stream (src/data's DataLoader, prefetching).
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { type Config, optionName } from "../config.js";
import { type AugmentOptions, defaultAugment, type Normalization, normalizeBatch } from "../data/augment.js";
import type { Dataset, Storage } from "../data/dataset.js";
import { DataError } from "../data/errors.js";
import { findIdxPair } from "../data/idx.js";
import { isBuiltinDataset, type LoadOptions, loadDataset } from "../data/load.js";
import { DataLoader } from "../data/loader.js";
import { readNpy } from "../data/npy.js";
import type { Shard } from "../data/shard.js";
import { makeSplit, readSplit, revealLabels, type Split, splitDatasets, writeSplit } from "../data/split.js";
import { channelStats } from "../data/stats.js";
import { classSubset, SubsetDataset } from "../data/subset.js";
import { Generator } from "../torch/random.js";
import { type Tensor, tensor } from "../torch/tensor.js";
import type { Batch, EvalSet, TrainData } from "./types.js";

export interface PreparedData {
  data: TrainData;
  /** how the dataset stores examples: uint8 pixels (scaled by 1/255 when normalised) or float32 values */
  storage: Storage;
  split: Split;
  normalization: Normalization;
  augment: AugmentOptions | null;
}

/**
 * Loads the training set of cfg.data (and the test set), the split, and the batch stream.
 * o.normalization: normalise by these statistics instead of the training set's own (a trained
 * network reading another dataset: llp transfer).
 */
export async function prepareData(
  cfg: Config,
  runDir: string | null,
  o: { writeSplit?: boolean; normalization?: Normalization } = {},
): Promise<PreparedData> {
  const all = await loadDataset(cfg.data, dataOptions(cfg));
  const allTest = await loadTest(cfg, all);
  // --classes: both sets cut to those classes, relabelled alike
  const ds = cfg.classes ? classSubset(all, cfg.classes) : all;
  const test = allTest && cfg.classes ? classSubset(allTest, cfg.classes) : allTest;
  return prepareFrom(cfg, ds, test, runDir, o);
}

/**
 * The dataset a run trains on, as its split indexes it: cfg.data, cut to cfg.classes when given
 * (dataset indices then count the examples of those classes, in the data's order).
 */
export async function loadTrainingDataset(cfg: Config): Promise<Dataset> {
  const all = await loadDataset(cfg.data, dataOptions(cfg));
  return cfg.classes ? classSubset(all, cfg.classes) : all;
}

/** The source files of a dataset's examples (image folders, and class subsets of one), or null. */
export function datasetFiles(ds: Dataset): readonly string[] | null {
  if (ds instanceof SubsetDataset) {
    const base = datasetFiles(ds.base);
    return base ? Array.from(ds.sourceIndex, (i) => base[i] as string) : null;
  }
  return "files" in ds ? (ds as { files: readonly string[] }).files : null;
}

async function prepareFrom(
  cfg: Config,
  ds: Dataset,
  test: Dataset | null,
  runDir: string | null,
  o: { writeSplit?: boolean; normalization?: Normalization },
): Promise<PreparedData> {
  const splitFile = runDir ? join(runDir, "split.json") : null;
  let split: Split;
  if (splitFile && existsSync(splitFile)) split = readSplit(splitFile, ds);
  else {
    split = makeSplit(ds, splitOptions(cfg, ds), new Generator(cfg.seed));
    if (cfg.reveal) split = revealLabels(split, ds, await readIndices(cfg.reveal), cfg.reveal);
    if (runDir && o.writeSplit !== false) writeSplit(runDir, split);
  }
  const { train, validation } = splitDatasets(ds, split);
  const normalization =
    o.normalization ??
    (await channelStats(
      train,
      Int32Array.from({ length: train.n }, (_, i) => i),
    ));
  const augment = augmentFor(cfg.augment, ds.shape);
  return { data: toTrainData(train, validation, test, normalization, augment, cfg), storage: ds.storage, split, normalization, augment };
}

/** Dataset indices from a CSV with an "index" column (llp suggest's), a one-column CSV of integers, or a .npy of integers. */
export async function readIndices(file: string): Promise<Int32Array> {
  if (!existsSync(file)) throw new DataError(file, "no such file");
  if (extname(file).toLowerCase() === ".npy") {
    const a = await readNpy(file);
    return Int32Array.from(a.data as ArrayLike<number | bigint>, (v, r) => {
      const x = Number(v);
      if (!Number.isInteger(x) || x < 0 || x > 2 ** 31 - 1) throw new DataError(file, `row ${r}: ${v} is not an example index`);
      return x;
    });
  }
  const lines = readFileSync(file, "utf8")
    .split(/\r?\n/)
    .filter((l) => l.trim() !== "");
  const head = (lines[0] ?? "").split(",").map((h) => h.trim().replace(/^"|"$/g, ""));
  const col = head.indexOf("index");
  const body = col >= 0 ? lines.slice(1) : lines;
  const at = Math.max(col, 0);
  return Int32Array.from(
    body.map((l, r) => {
      const v = l.split(",")[at]?.trim() ?? "";
      if (!/^\d+$/.test(v)) throw new DataError(file, `row ${r + (col >= 0 ? 2 : 1)}: ${JSON.stringify(v)} is not an example index`);
      return Number(v);
    }),
  );
}

/** How to read cfg.data: --labels, and the options of its kind (--image-size, --color, --label-column). */
export function dataOptions(cfg: Pick<Config, "data" | "labels" | "imageSize" | "color" | "labelColumn">): LoadOptions {
  const spec = cfg.data;
  const o: LoadOptions = cfg.labels ? { labels: cfg.labels } : {};
  const isDir = existsSync(spec) && statSync(spec).isDirectory();
  if (cfg.labels && (isBuiltinDataset(spec) || (isDir && findIdxPair(spec, "train") !== null)))
    throw new Error(
      `${optionName("labels")}: ${spec} carries its own labels (a labels file is for .npy/CSV features, IDX image files and image folders)`,
    );
  if (isDir && findIdxPair(spec, "train") === null) {
    if (cfg.imageSize !== null) o.size = imageSize(cfg.imageSize);
    o.color = cfg.color;
  } else {
    if (cfg.imageSize !== null) throw new Error(`${optionName("imageSize")} applies to image folders; ${spec} is not one`);
    if (cfg.color !== "auto") throw new Error(`${optionName("color")} applies to image folders; ${spec} is not one`);
  }
  if (cfg.labelColumn !== null) {
    if (extname(spec).toLowerCase() !== ".csv")
      throw new Error(`${optionName("labelColumn")} applies to CSV features; ${spec} is not a .csv`);
    if (cfg.labels) throw new Error(`give ${optionName("labels")} or ${optionName("labelColumn")}, not both`);
    o.labelColumn = cfg.labelColumn;
  }
  return o;
}

/** --image-size N or HxW -> [H, W]. */
function imageSize(v: number | string): [number, number] {
  if (typeof v === "number") return [v, v];
  const [h, w] = v.split("x").map(Number) as [number, number];
  return [h, w];
}

/** --augment: "auto" is the usual one for images and none for feature vectors. */
export function augmentFor(choice: Config["augment"], shape: readonly number[]): AugmentOptions | null {
  if (choice === "none") return null;
  if (shape.length !== 3) {
    if (choice === "auto") return null;
    throw new Error(`${optionName("augment")} = ${choice} needs images [C,H,W], but the data are feature vectors [${shape.join(",")}]`);
  }
  if (choice === "pad-crop") return { kind: "padCrop" };
  if (choice === "resized-crop") return { kind: "resizedCropJitter" };
  return defaultAugment(shape);
}

/** "1%" of a fully labelled benchmark set means 1% of all its examples (600 of Fashion-MNIST's 60k). */
function splitOptions(cfg: Config, ds: Dataset) {
  const o: { labelled?: number; labelsPerClass?: number; subset: string; validation?: number | string } = {
    subset: cfg.subset,
  };
  if (cfg.validation !== null) o.validation = cfg.validation; // else the dataset's own size, or 10%
  if (cfg.labelsPerClass !== null) o.labelsPerClass = cfg.labelsPerClass;
  else if (cfg.labelled !== null) o.labelled = Math.round((Number.parseFloat(cfg.labelled) / 100) * ds.n);
  return o;
}

/**
 * The test set (--test, else the dataset's own test part), read as the training set's classes
 * and inputs: class folders and label names map to the training set's class indices (a class the
 * training set lacks is an error, not a relabelled guess), image folders are decoded at the
 * training images' size and colour, an IDX directory gives its test part, and examples of
 * another shape are refused before training starts.
 */
async function loadTest(cfg: Config, train: Dataset): Promise<Dataset | null> {
  const spec = cfg.test ?? cfg.data;
  const isDir = existsSync(spec) && statSync(spec).isDirectory();
  let ds: Dataset;
  if (isBuiltinDataset(spec)) {
    try {
      ds = await loadDataset(spec, { part: "test" });
    } catch (e) {
      if (cfg.test) throw e;
      return null;
    }
    if (ds.classNames.join("\n") !== train.classNames.join("\n"))
      throw new DataError(spec, `test classes (${ds.classNames.join(", ")}) are not the training classes (${train.classNames.join(", ")})`);
  } else {
    const o: LoadOptions = { classNames: train.classNames };
    if (isDir && findIdxPair(spec, "test") !== null) o.part = "test";
    // only the built-in set and IDX directories have a test part of their own
    else if (!cfg.test) return null;
    else if (isDir && findIdxPair(spec, "train") === null && train.shape.length === 3) {
      const [c, h, w] = train.shape as [number, number, number];
      o.size = [h, w];
      o.color = c === 1 ? "gray" : "rgb";
    }
    if (cfg.testLabels) o.labels = cfg.testLabels;
    // a CSV test set laid out like the training CSV keeps its labels in the same column
    else if (cfg.labelColumn !== null && extname(spec).toLowerCase() === ".csv") o.labelColumn = cfg.labelColumn;
    ds = await loadDataset(spec, o);
  }
  if (ds.shape.join("x") !== train.shape.join("x"))
    throw new DataError(spec, `test examples of shape [${ds.shape}] do not match the training examples [${train.shape}]`);
  return cfg.test ? labelledTest(ds, spec) : ds;
}

/** A test set scores every row against its label: one without a label is an error, not a miss. */
function labelledTest(ds: Dataset, spec: string): Dataset {
  let missing = 0;
  for (const y of ds.labels) if (y < 0) missing++;
  if (missing > 0)
    throw new DataError(
      spec,
      `${missing} of ${ds.n} test rows have no label; a .npy/CSV test set takes its labels from ${optionName("testLabels")}`,
    );
  return ds;
}

/** Un-augmented inputs of a dataset, scaled and normalised: float32 [B, ...shape]. */
export async function normalizedInputs(ds: Dataset, norm: Normalization, idx: Int32Array): Promise<Tensor> {
  return normalizedTensor(await ds.readRaw(idx), idx.length, ds.shape, norm);
}

/** Raw examples [B, ...shape] (uint8 or float32) -> normalised float32 tensor. */
export function normalizedTensor(raw: Uint8Array | Float32Array, b: number, shape: readonly number[], norm: Normalization): Tensor {
  return tensor(normalizeBatch(raw, b, shape, norm), [b, ...shape], "float32");
}

export function toTrainData(
  train: Dataset,
  validation: Dataset,
  test: Dataset | null,
  norm: Normalization,
  augment: AugmentOptions | null,
  cfg: Pick<Config, "batchSize" | "labelledPerBatch">,
): TrainData {
  const labelledPos = Int32Array.from(Array.from(train.labels).flatMap((y, i) => (y >= 0 ? [i] : [])));
  const labelledOnly = labelledPos.length > 0 ? new SubsetDataset(train, labelledPos) : null;
  // Batches in one epoch of the main stream (with labelledPerBatch: one pass over the
  // unlabelled points). The supervised baseline takes as many steps from the labelled points.
  const stepsFor = (labelledPerBatch: number) =>
    new DataLoader(train, { batchSize: cfg.batchSize, dropLast: true, shuffle: false, labelledPerBatch, prepareIn: "main" })
      .batchesPerEpoch;
  // Labelled oversampling needs unlabelled points to fill the rest of each batch: where there
  // are too few (or none), one shuffled stream of all points (the loop says so).
  const unlabelled = train.n - labelledPos.length;
  const lpb = unlabelled < cfg.batchSize - cfg.labelledPerBatch ? 0 : cfg.labelledPerBatch;
  // One full batch at least (the loader drops the last partial one): say which flag to change.
  const walk = lpb > 0 ? train.n - labelledPos.length : train.n;
  if (walk < cfg.batchSize - lpb)
    throw new Error(
      lpb > 0
        ? `${walk} unlabelled training examples fill no batch of ${cfg.batchSize} with ${lpb} labelled in each: give a smaller ${optionName("batchSize")} (or ${optionName("labelledPerBatch")})`
        : `${walk} training examples fill no batch of ${cfg.batchSize}: give a smaller ${optionName("batchSize")}`,
    );
  let waitFraction = 0;
  const read = (ds: Dataset, idx: Int32Array) => normalizedInputs(ds, norm, idx);

  async function* epoch(
    gen: Generator,
    o: { labelledOnly: boolean; labelledPerBatch: number },
    skip = 0,
    shard: Shard | null = null,
  ): AsyncIterable<Batch> {
    // A fresh loader each epoch, forked from the run's generator: its draws are fixed by the
    // generator's state at the epoch start, which the checkpoint saves (exact resume).
    const src = o.labelledOnly ? labelledOnly : train;
    const perBatch = o.labelledOnly || lpb === 0 ? 0 : o.labelledPerBatch; // [B] labelled rows forced into each batch
    if (src === null) throw new Error("training needs at least one labelled example");
    const loader = new DataLoader(
      src,
      {
        batchSize: cfg.batchSize,
        dropLast: !o.labelledOnly,
        labelledPerBatch: perBatch,
        augment,
        normalize: norm,
        shard,
      },
      gen,
    );
    const steps = stepsFor(lpb === 0 ? 0 : o.labelledPerBatch); // the main stream's count, labelledOnly too
    let n = 0;
    let toSkip = skip; // batches of this epoch already trained (a resume inside it)
    try {
      while (n < (o.labelledOnly ? steps : loader.batchesPerEpoch)) {
        const skipped = Math.min(toSkip, loader.batchesPerEpoch, o.labelledOnly ? steps - n : Number.POSITIVE_INFINITY);
        toSkip -= skipped;
        n += skipped;
        if (o.labelledOnly && n >= steps) break;
        for await (const b of loader.epoch(skipped)) {
          b.indexTensor.dispose();
          b.labelTensor.dispose();
          const index = o.labelledOnly ? Int32Array.from(b.index, (i) => labelledPos[i] as number) : b.index;
          yield { index, x: b.x, label: b.label, globalSize: b.globalSize };
          if (++n >= (o.labelledOnly ? steps : Number.POSITIVE_INFINITY)) break;
        }
        if (!o.labelledOnly) break;
      }
    } finally {
      waitFraction = loader.stats.waitFraction;
      await loader.close();
    }
  }

  const evalSet = (ds: Dataset): EvalSet => ({
    n: ds.n,
    labels: ds.trueLabels ?? ds.labels,
    inputs: (idx) => read(ds, idx),
  });
  return {
    n: train.n,
    inputShape: [...train.shape],
    normalization: norm,
    numClasses: train.numClasses,
    classNames: [...train.classNames],
    labels: train.labels,
    trueLabels: train.trueLabels ?? null,
    stepsPerEpoch: stepsFor(lpb),
    labelledPerBatch: lpb,
    epoch,
    inputs: (idx) => read(train, idx),
    validation: evalSet(validation),
    test: test ? evalSet(test) : null,
    dataWaitFraction: () => waitFraction,
  };
}
