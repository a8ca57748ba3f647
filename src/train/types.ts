// What the training loop consumes and what it yields.

import type { Config } from "../config.js";
import type { Normalization } from "../data/augment.js";
import type { Shard } from "../data/shard.js";
import type { StepStats } from "../methods/method.js";
import type { Generator } from "../torch/random.js";
import type { Tensor } from "../torch/tensor.js";

/** One training batch. Every batch carries the dataset index: no memory bank without it. */
export interface Batch {
  index: Int32Array; // [B] rows of the training set
  x: Tensor; // [B, ...inputShape] float32, augmented and normalised
  label: Int32Array; // [B] label as given to training, -1 = unlabelled
  /** data-parallel training: the size of the whole batch this rank's rows are part of (else B) */
  globalSize?: number;
}

export interface EvalSet {
  n: number;
  labels: Int32Array; // [n] true labels
  inputs(indices: Int32Array): Promise<Tensor>; // un-augmented, normalised
}

export interface TrainData {
  n: number;
  inputShape: number[];
  /** the per-channel statistics the inputs were normalised with (pixels in [0, 1] = x std + mean); null: none */
  normalization: Normalization | null;
  numClasses: number;
  classNames: string[];
  /** [N] labels visible to training, -1 = unlabelled */
  labels: Int32Array;
  /** [N] true labels where known (benchmarks), only for monitors; never used for training */
  trueLabels: Int32Array | null;
  stepsPerEpoch: number;
  /** labelled points forced into each batch: the config's, or 0 where the unlabelled points cannot fill the rest */
  labelledPerBatch: number;
  /**
   * The batches of one epoch, augmented, drawn with gen. labelledOnly: sample only labelled
   * points (supervised baseline), still stepsPerEpoch batches. labelledPerBatch: force that many
   * labelled points into every batch (0 = one shuffled stream).
   */
  /** one epoch's batches, drawn from gen; skip: leave out its first batches (a resume inside the epoch) */
  epoch(gen: Generator, o: { labelledOnly: boolean; labelledPerBatch: number }, skip?: number, shard?: Shard | null): AsyncIterable<Batch>;
  /** Un-augmented, normalised inputs (bank initialisation, embedding). */
  inputs(indices: Int32Array): Promise<Tensor>;
  validation: EvalSet;
  test: EvalSet | null;
  /** Fraction of the last epoch's wall time spent waiting for data. */
  dataWaitFraction(): number;
}

/** What an epoch trains: LLP's two phases, or the one phase of a baseline method. */
/** An epoch's phase: a method's own name, or "ir" (the Instance Recognition epochs of llp, dmt and la). */
export type Phase = Config["method"] | "ir";

export interface StepEvent extends StepStats {
  type: "step";
  epoch: number;
  step: number;
  phase: Phase;
  "monitor/lr": number;
  /** data-parallel training: seconds this rank spent in collectives during the step */
  comm_s?: number;
}

export interface EpochEvent {
  type: "epoch";
  epoch: number;
  phase: Phase;
  "monitor/lr": number;
  "val/top1": number;
  "val/knnTop1": number;
  /** 1-nearest-neighbour top-1 from the labelled bank rows (Table 6's score) */
  "val/nnTop1": number;
  /**
   * accuracy of the stored pseudo-labels of unlabelled training points (true labels known); for a
   * method without stored labels (fixmatch), the epoch's mean of its steps' values
   */
  "monitor/pseudoLabelAccuracy": number;
  "monitor/confidence": number;
  "monitor/coverage": number;
  /** fixmatch: the epoch's mean share of unlabelled points above the threshold (else absent) */
  "monitor/mask"?: number;
  /** largest share of one class among pseudo-labels: near 1 = collapse */
  "monitor/largestClassShare": number;
  "monitor/dataWait": number;
  "loss/total": number;
  wall_s: number;
  epoch_s: number;
  /** data-parallel training: seconds of the epoch this rank spent in collectives */
  comm_s?: number;
}

export interface Summary {
  method: Config["method"];
  test_top1: number;
  test_top5: number;
  knn_top1: number;
  /** test 1-nearest-neighbour top-1 from the labelled bank rows (NaN without a bank) */
  nn_top1: number;
  val_top1: number;
  epochs: number;
  wall_s: number;
}

export type TrainEvent =
  | {
      type: "start";
      config: Config;
      n: number;
      labelled: number;
      stepsPerEpoch: number;
      resumedFrom: number | null;
      /** how the LR drops: "fixed at epochs 13" or "on validation plateaus" */
      schedule: string;
    }
  | StepEvent
  | EpochEvent
  | { type: "lrDrop"; epoch: number; lr: number }
  | { type: "notice"; message: string }
  | { type: "checkpoint"; epoch: number; path: string }
  | { type: "end"; summary: Summary }
  /** the run stopped on request (TrainOptions.signal) after `step` steps of `epoch` (0: before it); checkpoint: one of this point was written */
  | { type: "interrupted"; epoch: number; step: number; checkpoint: boolean };
