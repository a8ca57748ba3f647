// Adapter from a Dataset (src/data) plus a split to what the loop consumes (TrainData).
// Sampling: one shuffled stream per epoch from the run's generator (original code); options
// for labelled-only batches (supervised baseline) and a fixed number of labelled points per
// batch. Augmentation and normalisation are applied per batch.
import type { Dataset } from "../data/dataset.js";
import type { Generator } from "../torch/random.js";
import { tidy } from "../torch/scope.js";
import type { Tensor } from "../torch/tensor.js";
import type { Batch, EvalSet, TrainData } from "./types.js";

/** Batch transform: x [B,...] in [0,1] -> augmented, normalised x. Must not keep x. */
export type BatchTransform = (x: Tensor, gen: Generator) => Tensor;

export interface SplitRows {
  train: Int32Array; // rows of the dataset used for training (labelled + unlabelled)
  labelled: Int32Array; // subset of train whose labels training may see
  validation: Int32Array; // held out, labels used only for LR decisions
}

export interface AdapterOptions {
  batchSize: number;
  augment: BatchTransform; // training batches
  normalize: BatchTransform; // evaluation / bank initialisation (deterministic)
}

export function toTrainData(ds: Dataset, split: SplitRows, test: Dataset | null, o: AdapterOptions): TrainData {
  const rows = split.train; // position p in the training set -> dataset row
  const n = rows.length;
  const isLab = new Set(split.labelled);
  const labels = Int32Array.from(rows, (r) => (isLab.has(r) ? (ds.labels[r] as number) : -1));
  const truth = ds.trueLabels ?? ds.labels;
  const trueLabels = Int32Array.from(rows, (r) => truth[r] as number);
  const knownTruth = Array.from(trueLabels).every((y) => y >= 0);
  const labelledPos = Int32Array.from(Array.from(labels).flatMap((y, p) => (y >= 0 ? [p] : [])));
  const unlabelledPos = Int32Array.from(Array.from(labels).flatMap((y, p) => (y < 0 ? [p] : [])));
  const stepsPerEpoch = Math.floor(n / o.batchSize);
  let waited = 0;
  let total = 0;

  const load = async (positions: Int32Array, tf: BatchTransform, gen: Generator | null): Promise<Tensor> => {
    const x = await ds.getBatchAsync(Int32Array.from(positions, (p) => rows[p] as number));
    return tidy(() => tf(x, gen as Generator));
  };

  async function* epoch(gen: Generator, eo: { labelledOnly: boolean; labelledPerBatch: number }): AsyncIterable<Batch> {
    const t0 = performance.now();
    waited = 0;
    const plan = planEpoch(gen, eo, labelledPos, unlabelledPos, n, o.batchSize, stepsPerEpoch);
    const make = async (pos: Int32Array): Promise<Batch> => ({
      index: pos,
      x: await load(pos, o.augment, gen),
      label: Int32Array.from(pos, (p) => labels[p] as number),
    });
    // Prefetch: the next batch is prepared while the consumer trains on the current one.
    let next = plan.length > 0 ? make(plan[0] as Int32Array) : null;
    for (let s = 0; s < plan.length; s++) {
      const tw = performance.now();
      const batch = await (next as Promise<Batch>);
      waited += performance.now() - tw;
      next = s + 1 < plan.length ? make(plan[s + 1] as Int32Array) : null;
      yield batch;
    }
    total = performance.now() - t0;
  }

  const evalSet = (src: Dataset, rws: Int32Array): EvalSet => ({
    n: rws.length,
    labels: Int32Array.from(rws, (r) => (src.trueLabels ?? src.labels)[r] as number),
    inputs: async (idx) => {
      const x = await src.getBatchAsync(Int32Array.from(idx, (i) => rws[i] as number));
      return tidy(() => o.normalize(x, null as unknown as Generator));
    },
  });

  return {
    n,
    inputShape: [...ds.shape],
    numClasses: ds.numClasses,
    classNames: [...ds.classNames],
    labels,
    trueLabels: knownTruth ? trueLabels : null,
    stepsPerEpoch,
    epoch,
    inputs: (idx) => load(idx, o.normalize, null),
    validation: evalSet(ds, split.validation),
    test: test
      ? evalSet(
          test,
          Int32Array.from({ length: test.n }, (_, i) => i),
        )
      : null,
    dataWaitFraction: () => (total > 0 ? waited / total : 0),
  };
}

/** The epoch's batches (positions in the training set), drawn with gen. */
function planEpoch(
  gen: Generator,
  eo: { labelledOnly: boolean; labelledPerBatch: number },
  labelled: Int32Array,
  unlabelled: Int32Array,
  n: number,
  batch: number,
  steps: number,
): Int32Array[] {
  const out: Int32Array[] = [];
  if (eo.labelledOnly || eo.labelledPerBatch > 0) {
    if (labelled.length === 0) throw new Error("no labelled points to sample");
    const perBatchL = eo.labelledOnly ? batch : eo.labelledPerBatch;
    const cycleL = cycler(gen, labelled);
    const cycleU = cycler(gen, unlabelled.length > 0 ? unlabelled : labelled);
    for (let s = 0; s < steps; s++) {
      const b = new Int32Array(batch);
      for (let k = 0; k < batch; k++) b[k] = k < perBatchL ? cycleL() : cycleU();
      out.push(b);
    }
    return out;
  }
  const perm = gen.permutation(n);
  for (let s = 0; s < steps; s++) out.push(perm.slice(s * batch, (s + 1) * batch));
  return out;
}

/** Endless reshuffled passes over `pool`. */
function cycler(gen: Generator, pool: Int32Array): () => number {
  let perm = gen.permutation(pool.length);
  let k = 0;
  return () => {
    if (k === perm.length) {
      perm = gen.permutation(pool.length);
      k = 0;
    }
    return pool[perm[k++] as number] as number;
  };
}
