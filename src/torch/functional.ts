// Stateless neural-network ops (the `F` of torch.nn.functional).

import { native } from "./native.js";
import type { Generator } from "./random.js";
import { Tensor } from "./tensor.js";

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === "number" ? [v, v] : v);

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}
/** x: [B,Cin,H,W], weight: [Cout,Cin/groups,kh,kw], bias: [Cout] -> [B,Cout,H',W'] */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  return new Tensor(
    native.Conv2d(
      x.handle,
      weight.handle,
      bias?.handle ?? null,
      pair(o.stride ?? 1),
      pair(o.padding ?? 0),
      pair(o.dilation ?? 1),
      o.groups ?? 1,
    ),
  );
}

/** x: [B,IN] @ weight[OUT,IN]^T + bias[OUT] -> [B,OUT] */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return new Tensor(native.Linear(x.handle, weight.handle, bias?.handle ?? null));
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  training: boolean;
  momentum?: number;
  eps?: number;
}
/** Batch norm over dim 1. In training mode the running statistics are updated in place. */
export function batchNorm(x: Tensor, o: BatchNormOptions): Tensor {
  return new Tensor(
    native.BatchNorm(
      x.handle,
      o.weight?.handle ?? null,
      o.bias?.handle ?? null,
      o.runningMean?.handle ?? null,
      o.runningVar?.handle ?? null,
      o.training,
      o.momentum ?? 0.1,
      o.eps ?? 1e-5,
    ),
  );
}

export function maxPool2d(x: Tensor, kernel: Pair, stride: Pair = kernel, padding: Pair = 0): Tensor {
  return new Tensor(native.MaxPool2d(x.handle, pair(kernel), pair(stride), pair(padding)));
}
export function avgPool2d(x: Tensor, kernel: Pair, stride: Pair = kernel, padding: Pair = 0): Tensor {
  return new Tensor(native.AvgPool2d(x.handle, pair(kernel), pair(stride), pair(padding)));
}
export function adaptiveAvgPool2d(x: Tensor, size: Pair): Tensor {
  return new Tensor(native.AdaptiveAvgPool2d(x.handle, pair(size)));
}
export function relu(x: Tensor): Tensor {
  return x.relu();
}
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return new Tensor(native.LeakyRelu(x.handle, slope));
}
export function softmax(x: Tensor, dim: number): Tensor {
  return new Tensor(native.Softmax(x.handle, dim));
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return new Tensor(native.LogSoftmax(x.handle, dim));
}

/**
 * Cross-entropy of logits [B,C] against integer targets [B].
 * With per-example weights w [B]: "mean" = sum_i w_i * l_i / B, "sum" = sum_i w_i * l_i.
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  weight: Tensor | null = null,
  reduction: "mean" | "sum" | "none" = "mean",
): Tensor {
  return new Tensor(native.CrossEntropy(logits.handle, target.handle, weight?.handle ?? null, reduction));
}

/** x / max(||x||_p, eps) along dim (L2 by default). */
export function normalize(x: Tensor, dim = 1, p = 2, eps = 1e-12): Tensor {
  return new Tensor(native.Normalize(x.handle, p, dim, eps));
}

/** Inverted dropout; the mask comes from the given generator. Identity when not training. */
export function dropout(x: Tensor, p: number, training: boolean, gen: Generator): Tensor {
  return new Tensor(native.Dropout(x.handle, p, training, gen.handle));
}

export function oneHot(labels: Tensor, numClasses: number): Tensor {
  return new Tensor(native.OneHot(labels.handle, numClasses));
}

/** Constant padding of the last dims: [left, right, top, bottom, ...]. */
export function pad(x: Tensor, padding: number[], value = 0): Tensor {
  return new Tensor(native.Pad(x.handle, padding, value));
}

/** Bilinear resize of [B,C,H,W] to [B,C,h,w] (align_corners = false). */
export function interpolate(x: Tensor, size: [number, number]): Tensor {
  return new Tensor(native.Interpolate(x.handle, size));
}

/**
 * Negative log-probability of a set of bank rows under the non-parametric softmax over the
 * whole bank, with its gradient in closed form (no autograd graph over the [B, N] scores).
 * For row i: A_i = { j : bankLabels_j = y_i >= 0 } plus index_i itself (y_i = -1: only itself),
 * loss_i = -log( sum_{j in A_i} exp(v_i.V_j/tau) / sum_j exp(v_i.V_j/tau) ),
 * gradV = d(sum_i weight_i loss_i)/dv. The bank is a constant. v: [B, D] (read, no grad);
 * bank: [N, D] unit rows; bankLabels: [N] int (-1 = none); y, index: [B] int; weight: [B]
 * -> loss [B], gradV [B, D]
 */
export function setNll(
  v: Tensor,
  bank: Tensor,
  bankLabels: Tensor,
  y: Tensor,
  index: Tensor,
  tau: number,
  numClasses: number,
  weight: Tensor,
): { loss: Tensor; gradV: Tensor } {
  const [loss, gradV] = native.SetNll(v.handle, bank.handle, bankLabels.handle, y.handle, index.handle, tau, numClasses, weight.handle);
  return { loss: new Tensor(loss), gradV: new Tensor(gradV) };
}

/** Sampling grid of one affine map per image. theta: [B, 2, 3]; size: [B, C, H, W] -> [B, H, W, 2] */
export function affineGrid(theta: Tensor, size: number[]): Tensor {
  return new Tensor(native.AffineGrid(theta.handle, size));
}

/** Bilinear sampling of x [B, C, H, W] at grid [B, H', W', 2] (in [-1, 1]; zeros outside) -> [B, C, H', W'] */
export function gridSample(x: Tensor, grid: Tensor): Tensor {
  return new Tensor(native.GridSample(x.handle, grid.handle));
}
