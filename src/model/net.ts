// f(x) -> (v, logits): one backbone, two heads (paper Sec. 3 and 4, "an additional fully
// connected layer added alongside the standard softmax categorization layer").

import { optionName } from "../config.js";
import * as F from "../torch/functional.js";
import { BatchNorm2d, Linear, Module } from "../torch/nn/index.js";
import { type OnnxGraph, ops, type Value } from "../torch/onnx.js";
import type { Generator } from "../torch/random.js";
import type { Tensor } from "../torch/tensor.js";
import { type Backbone, MLP, PreActResNet, resnetLayout, SmallCNN } from "./backbones.js";

/**
 * Runs fn with the batch-norm layers' running statistics held where they are: extra forward
 * passes in training mode (VAT's perturbed inputs) normalise by their batch's statistics but do
 * not move the running ones (the released VAT code's update_batch_stats=False; USB's freeze_bn).
 * Done by a zero update rate, not by restoring a copy: an in-place restore would invalidate
 * the autograd graph of the forward passes before it.
 */
export function keepingRunningStats<R>(m: Module, fn: () => R): R {
  const layers = [...m.modules()].filter((x): x is BatchNorm2d => x instanceof BatchNorm2d);
  const rates = layers.map((l) => l.momentum);
  for (const l of layers) l.momentum = 0;
  try {
    return fn();
  } finally {
    layers.forEach((l, i) => {
      l.momentum = rates[i] as number;
    });
  }
}

export type ModelName = "small-cnn" | "resnet18" | "resnet50" | "wrn-28" | "mlp";

export interface NetOutput {
  v: Tensor; // [B, D] L2-normalised embedding
  logits: Tensor; // [B, C]
}

export class LLPNet extends Module {
  readonly backbone: Backbone;
  readonly embed: Linear; // features -> D
  readonly classifier: Linear; // features -> C
  constructor(backbone: Backbone, embeddingDim: number, numClasses: number, gen: Generator) {
    super();
    this.backbone = this.registerModule("backbone", backbone);
    this.embed = this.registerModule("embed", new Linear(backbone.featureDim, embeddingDim, gen));
    this.classifier = this.registerModule("classifier", new Linear(backbone.featureDim, numClasses, gen));
  }
  /** Backbone features [B, F]. */
  forward(x: Tensor): Tensor {
    return this.backbone.forward(x);
  }
  /** x: [B, ...] -> v [B, D] (unit norm), logits [B, C] */
  heads(x: Tensor): NetOutput {
    const h = this.backbone.forward(x);
    return { v: F.normalize(this.embed.forward(h), 1), logits: this.classifier.forward(h) };
  }
  override onnx(g: OnnxGraph, x: Value, path = ""): Value {
    return this.backbone.onnx(g, x, `${path}backbone`);
  }
  /** heads() written into an ONNX graph: the values of v [B, D] and logits [B, C]. */
  onnxHeads(g: OnnxGraph, x: Value): { v: Value; logits: Value } {
    const h = this.onnx(g, x);
    return { v: ops.normalize(g, this.embed.onnx(g, h, "embed")), logits: this.classifier.onnx(g, h, "classifier") };
  }
}

export interface ModelSpec {
  model: ModelName;
  /** Input shape without the batch dim: [C, H, W] for images, [F] for features. */
  inputShape: number[];
  numClasses: number;
  embeddingDim: number;
  /** Base width: small-cnn's w (default 32), the ResNet's first-stage width (default 64), WRN-28's 16k (default 32: WRN-28-2). */
  width?: number;
  /** small-cnn only: the last feature map is average-pooled to a grid x grid layout (default 7). */
  poolGrid?: number;
  /**
   * Convolutional backbones: weights and activations in the NHWC layout (default true; measured
   * faster through oneDNN on this CPU, docs/performance.md). Values are the same either way.
   */
  channelsLast?: boolean;
}

/** The network for "auto": small-cnn on images [C,H,W], an MLP on feature vectors. */
export function resolveModel(model: ModelName | "auto", inputShape: number[]): ModelName {
  if (model !== "auto") return model;
  return inputShape.length === 3 ? "small-cnn" : "mlp";
}

/** Why `model` cannot take inputs of this shape, or null when it can. */
export function modelMismatch(model: ModelName, inputShape: number[]): string | null {
  if (model === "mlp" || inputShape.length === 3) return null;
  return `${optionName("model")} = ${model} needs image inputs [C,H,W], but the data are [${inputShape}]${inputShape.length === 1 ? ` feature vectors: set ${optionName("model")} = mlp, or leave it at auto` : ""}`;
}

export function buildNet(spec: ModelSpec, gen: Generator): LLPNet {
  const [c = 1] = spec.inputShape;
  let backbone: Backbone;
  if (spec.poolGrid !== undefined && spec.model !== "small-cnn")
    throw new Error(`${spec.model}: ${optionName("poolGrid")} is a small-cnn option`);
  switch (spec.model) {
    case "small-cnn":
      if (spec.inputShape.length !== 3) throw new Error(modelMismatch("small-cnn", spec.inputShape) as string);
      backbone = new SmallCNN(c, spec.width ?? 32, gen, spec.poolGrid ?? 7);
      break;
    case "resnet18":
    case "resnet50":
    case "wrn-28": {
      if (spec.inputShape.length !== 3) throw new Error(modelMismatch(spec.model, spec.inputShape) as string);
      const layout =
        spec.model === "wrn-28"
          ? resnetLayout("wrn-28", spec.width ?? 32)
          : resnetLayout(spec.model === "resnet18" ? 18 : 50, spec.width ?? 64);
      backbone = new PreActResNet(layout, c, gen);
      break;
    }
    case "mlp": {
      const f = spec.inputShape.reduce((a, b) => a * b, 1);
      backbone = new MLP(f, spec.width ?? 512, 2, gen);
      break;
    }
  }
  if (spec.channelsLast !== false && !(backbone instanceof MLP)) backbone.toChannelsLast();
  return new LLPNet(backbone, spec.embeddingDim, spec.numClasses, gen);
}
