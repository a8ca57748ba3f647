// A linear readout of frozen features: a fresh linear classifier fitted by SGD on features
// computed once (no augmentation), the protocol by which unsupervised features are scored
// (Wu et al. 2018; the LLP paper's Table 4: "SGD, lr 0.01, dropped on plateau"). The learning
// rate drops x0.1 after `patience` epochs without a new best held-out top-1 (without held-out
// points: without a new lowest training loss), and the fit stops after `maxDrops` drops or
// `maxEpochs`. The weights returned are the last ones.

import { categorization } from "../losses/losses.js";
import type { LLPNet } from "../model/net.js";
import { linear } from "../torch/functional.js";
import { Linear } from "../torch/nn/layers.js";
import { SGD } from "../torch/optim.js";
import type { Generator } from "../torch/random.js";
import { dispose, keep, tidy } from "../torch/scope.js";
import { cat, noGrad, type Tensor, tensor } from "../torch/tensor.js";
import { lrAfterDrops, plateauStep } from "./schedule.js";

export interface ReadoutOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
  batchSize: number;
  maxEpochs: number;
  patience: number;
  maxDrops: number;
}

export const READOUT_DEFAULTS: ReadoutOptions = {
  lr: 0.01, // the paper's Table 4 protocol
  momentum: 0.9,
  weightDecay: 0,
  batchSize: 128,
  maxEpochs: 100,
  patience: 5,
  maxDrops: 3,
};

export interface Readout {
  weight: Tensor; // [C, F] (kept: the caller disposes)
  bias: Tensor; // [C]
  epochs: number;
  /** top-1 of the fitted readout on its training features and on the held-out ones (NaN without) */
  trainTop1: number;
  heldOutTop1: number;
}

/** Top-1 of x W^T + b against y (NaN for no rows). x: [M, F], y: [M] int64, weight: [C, F], bias: [C] */
export function linearTop1(x: Tensor, y: Tensor, weight: Tensor, bias: Tensor | null): number {
  if (x.size(0) === 0) return Number.NaN;
  return noGrad(() => tidy(() => linear(x, weight, bias).argmax(1).eq(y).float().mean().item()));
}

const top1 = (x: Tensor, y: Tensor, layer: Linear) => linearTop1(x, y, layer.weight, layer.bias);

/**
 * Fits a linear classifier on features X [M, F] with labels y [M] (int64, 0..C-1); heldOut, if
 * given and not empty, decides the learning-rate drops. Minibatch order from gen.
 */
export function fitReadout(
  X: Tensor,
  y: Tensor,
  heldOut: { X: Tensor; y: Tensor } | null,
  numClasses: number,
  gen: Generator,
  options: Partial<ReadoutOptions> = {},
): Readout {
  const o = { ...READOUT_DEFAULTS, ...options };
  const m = X.size(0);
  if (m === 0) throw new Error("linear readout: no labelled points to fit it on");
  const layer = new Linear(X.size(1), numClasses, gen);
  const opt = SGD.forModule(layer, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
  const useHeldOut = heldOut !== null && heldOut.X.size(0) > 0;
  let plateau = { best: Number.NEGATIVE_INFINITY, sinceBest: 0, drops: 0, stop: false };
  let epochs = 0;
  try {
    for (; epochs < o.maxEpochs && !plateau.stop; epochs++) {
      opt.lr = lrAfterDrops(o.lr, plateau.drops, 0.1);
      const order = gen.permutation(m);
      let lossSum = 0;
      for (let s = 0; s < m; s += o.batchSize) {
        lossSum += tidy(() => {
          const rows = tensor(order.subarray(s, Math.min(m, s + o.batchSize)), [Math.min(o.batchSize, m - s)], "int64");
          const loss = categorization(layer.forward(X.indexSelect(0, rows)), y.indexSelect(0, rows)).mean(); // [b] -> []
          opt.zeroGrad();
          loss.backward();
          opt.step();
          return loss.item() * rows.numel;
        });
      }
      const score = useHeldOut ? top1(heldOut.X, heldOut.y, layer) : -lossSum / m;
      plateau = plateauStep(plateau, score, { patience: o.patience, maxDrops: o.maxDrops, minDelta: useHeldOut ? 0 : 1e-4 }).state;
    }
    const trainTop1 = top1(X, y, layer);
    const heldOutTop1 = useHeldOut ? top1(heldOut.X, heldOut.y, layer) : Number.NaN;
    const [weight, bias] = tidy(() => [layer.weight.detach().clone(), (layer.bias as Tensor).detach().clone()]);
    return { weight: keep(weight as Tensor), bias: keep(bias as Tensor), epochs, trainTop1, heldOutTop1 };
  } finally {
    opt.dispose();
    layer.dispose();
  }
}

/**
 * The backbone features [n, F] of rows of a set, or `map` of them per batch (eval mode, no
 * augmentation; kept: the caller disposes).
 */
export async function backboneFeatures(
  net: LLPNet,
  src: { inputs(indices: Int32Array): Promise<Tensor> },
  rows: Int32Array,
  map: (h: Tensor) => Tensor = (h) => h,
  batchSize = 512,
): Promise<Tensor> {
  const wasTraining = net.training;
  net.eval();
  const parts: Tensor[] = [];
  try {
    for (let s = 0; s < rows.length; s += batchSize) {
      const x = await src.inputs(rows.subarray(s, Math.min(rows.length, s + batchSize)));
      try {
        parts.push(keep(noGrad(() => tidy(() => map(net.forward(x).reshape([x.size(0), -1]))))));
      } finally {
        x.dispose();
      }
    }
    if (parts.length === 0) return keep(tensor(new Float32Array(0), [0, net.backbone.featureDim]));
    return keep(tidy(() => cat(parts, 0)));
  } finally {
    dispose(parts);
    net.train(wasTraining);
  }
}

/**
 * Fits a readout on the network's frozen backbone features of labelled training rows (held out:
 * the validation set) and installs it as the network's classifier head, so evaluation, predict
 * and export score the readout. Returns its fit.
 */
export async function installReadout(
  net: LLPNet,
  train: { rows: Int32Array; labels: Int32Array; inputs(indices: Int32Array): Promise<Tensor> },
  heldOut: { n: number; labels: Int32Array; inputs(indices: Int32Array): Promise<Tensor> } | null,
  numClasses: number,
  gen: Generator,
  options: Partial<ReadoutOptions> = {},
): Promise<Omit<Readout, "weight" | "bias">> {
  const made: Tensor[] = []; // freed however the fit ends
  const mine = (t: Tensor) => {
    made.push(t);
    return t;
  };
  try {
    const X = mine(await backboneFeatures(net, train, train.rows));
    const y = mine(tensor(train.labels, [train.labels.length], "int64"));
    const held =
      heldOut && heldOut.n > 0
        ? {
            X: mine(
              await backboneFeatures(
                net,
                heldOut,
                Int32Array.from({ length: heldOut.n }, (_, i) => i),
              ),
            ),
            y: mine(tensor(heldOut.labels, [heldOut.n], "int64")),
          }
        : null;
    const r = fitReadout(X, y, held, numClasses, gen, options);
    made.push(r.weight, r.bias);
    noGrad(() => {
      net.classifier.weight.copy_(r.weight);
      net.classifier.bias?.copy_(r.bias);
    });
    return { epochs: r.epochs, trainTop1: r.trainTop1, heldOutTop1: r.heldOutTop1 };
  } finally {
    dispose(made);
  }
}

/**
 * The readout of ir-knn and la: fitted on the labelled training points' frozen features (the
 * validation set decides its drops) and installed as the network's classifier head.
 */
export async function readoutOnLabelled(
  net: LLPNet,
  data: {
    labels: Int32Array;
    numClasses: number;
    validation: { n: number; labels: Int32Array; inputs(i: Int32Array): Promise<Tensor> };
    inputs(i: Int32Array): Promise<Tensor>;
  },
  gen: Generator,
): Promise<Omit<Readout, "weight" | "bias">> {
  const rows = Int32Array.from(data.labels.keys()).filter((i) => (data.labels[i] as number) >= 0);
  const labels = Int32Array.from(rows, (i) => data.labels[i] as number);
  return installReadout(net, { rows, labels, inputs: (idx) => data.inputs(idx) }, data.validation, data.numClasses, gen);
}
