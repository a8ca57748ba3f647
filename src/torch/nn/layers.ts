// Standard layers: Conv2d, BatchNorm2d, Linear, ReLU, pooling, Flatten, Sequential.
import * as F from "../functional.js";
import { type OnnxGraph, ops, type Value } from "../onnx.js";
import type { Generator } from "../random.js";
import { empty, ones, type Tensor, zeros } from "../tensor.js";
import { biasUniform_, kaimingNormal_, kaimingUniform_ } from "./init.js";
import { Module } from "./module.js";

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  groups?: number;
  bias?: boolean;
  /** "default" = PyTorch's kaiming_uniform(a=sqrt 5); "kaiming" = He normal, fan_out (ResNet). */
  init?: "default" | "kaiming";
}
export class Conv2d extends Module {
  readonly weight: Tensor; // [Cout, Cin/groups, k, k]
  readonly bias: Tensor | null; // [Cout]
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    gen: Generator,
    readonly o: Conv2dOptions = {},
  ) {
    super();
    const groups = o.groups ?? 1;
    this.weight = this.registerParameter("weight", empty([outChannels, inChannels / groups, kernel, kernel]));
    if (o.init === "kaiming") kaimingNormal_(this.weight, gen, "fanOut");
    else kaimingUniform_(this.weight, gen);
    this.bias = null;
    if (o.bias ?? true) {
      this.bias = this.registerParameter("bias", empty([outChannels]), false);
      biasUniform_(this.bias, (inChannels / groups) * kernel * kernel, gen);
    }
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, { stride: this.o.stride ?? 1, padding: this.o.padding ?? 0, groups: this.o.groups ?? 1 });
  }
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    const s = this.o.stride ?? 1;
    const p = this.o.padding ?? 0;
    const k = this.kernel;
    const inputs = [x.name, g.param(`${path}.weight`, this.weight)];
    if (this.bias) inputs.push(g.param(`${path}.bias`, this.bias));
    const [b, , h, w] = x.shape as [number, number, number, number];
    const out = (n: number) => Math.floor((n + 2 * p - k) / s) + 1;
    return {
      name: g.op("Conv", inputs, { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p], group: this.o.groups ?? 1 }),
      shape: [b, this.outChannels, out(h), out(w)],
    };
  }
}

/** What computes a batch norm over the global batch of a process group (ProcessGroup). */
export interface BatchNormSync {
  syncBatchNorm(x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, momentum: number, eps: number): Tensor;
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor; // [C]
  readonly bias: Tensor; // [C]
  readonly runningMean: Tensor; // [C]
  readonly runningVar: Tensor; // [C]
  constructor(
    readonly channels: number,
    /** the running statistics' update rate; 0 leaves them as they are (keepingRunningStats) */
    public momentum = 0.1,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.registerParameter("weight", ones([channels]), false);
    this.bias = this.registerParameter("bias", zeros([channels]), false);
    this.runningMean = this.registerBuffer("running_mean", zeros([channels]));
    this.runningVar = this.registerBuffer("running_var", ones([channels]));
  }
  /**
   * In training, take the mean and variance of the global batch across a process group (PyTorch's
   * SyncBatchNorm; set by convertSyncBatchNorm in src/distributed/data-parallel.ts), or null: this
   * process's batch only.
   */
  sync: BatchNormSync | null = null;
  forward(x: Tensor): Tensor {
    if (this.training && this.sync)
      return this.sync.syncBatchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, this.momentum, this.eps);
    return F.batchNorm(x, {
      weight: this.weight,
      bias: this.bias,
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
    });
  }
  /** Inference form: the running statistics (x [B, C] or [B, C, H, W]). */
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    const inputs = [
      x.name,
      g.param(`${path}.weight`, this.weight),
      g.param(`${path}.bias`, this.bias),
      g.param(`${path}.running_mean`, this.runningMean),
      g.param(`${path}.running_var`, this.runningVar),
    ];
    return { name: g.op("BatchNormalization", inputs, { epsilon: { float: this.eps } }), shape: x.shape };
  }
}

/** BatchNorm over features [B, F] (same kernel as BatchNorm2d). */
export class BatchNorm1d extends BatchNorm2d {}

export class Linear extends Module {
  readonly weight: Tensor; // [OUT, IN]
  readonly bias: Tensor | null; // [OUT]
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    gen: Generator,
    bias = true,
  ) {
    super();
    this.weight = this.registerParameter("weight", kaimingUniform_(empty([outFeatures, inFeatures]), gen));
    this.bias = bias ? this.registerParameter("bias", biasUniform_(empty([outFeatures]), inFeatures, gen), false) : null;
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
  /** x [B, IN] -> x W^T + b */
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    const inputs = [x.name, g.param(`${path}.weight`, this.weight)];
    if (this.bias) inputs.push(g.param(`${path}.bias`, this.bias));
    return { name: g.op("Gemm", inputs, { transB: 1 }), shape: [x.shape[0] as number, this.outFeatures] };
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
  override onnx(g: OnnxGraph, x: Value): Value {
    return ops.relu(g, x);
  }
}
export class MaxPool2d extends Module {
  constructor(
    readonly kernel: number,
    readonly stride = kernel,
    readonly padding = 0,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernel, this.stride, this.padding);
  }
  override onnx(g: OnnxGraph, x: Value): Value {
    return ops.maxPool2d(g, x, this.kernel, this.stride, this.padding);
  }
}
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly size: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.size);
  }
  override onnx(g: OnnxGraph, x: Value): Value {
    return ops.adaptiveAvgPool2d(g, x, this.size);
  }
}
export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return x.flatten(1);
  }
  override onnx(g: OnnxGraph, x: Value): Value {
    return ops.flatten(g, x);
  }
}
export class Dropout extends Module {
  constructor(
    readonly p: number,
    readonly gen: Generator,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training, this.gen);
  }
  /** Identity at inference. */
  override onnx(_g: OnnxGraph, x: Value): Value {
    return x;
  }
}

export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => {
      this.registerModule(String(i), l);
    });
  }
  forward(x: Tensor): Tensor {
    // Each intermediate is freed as soon as the next layer has consumed it; autograd keeps
    // what backward needs alive natively.
    let h = x;
    for (const l of this.layers) {
      const next = l.forward(h);
      if (h !== x && next !== h) h.dispose();
      h = next;
    }
    return h;
  }
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    return this.layers.reduce((h, l, i) => l.onnx(g, h, `${path}.${i}`), x);
  }
}
