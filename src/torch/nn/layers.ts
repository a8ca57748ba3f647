// Standard layers: Conv2d, BatchNorm2d, Linear, ReLU, pooling, Flatten, Sequential.
import * as F from "../functional.js";
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
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor; // [C]
  readonly bias: Tensor; // [C]
  readonly runningMean: Tensor; // [C]
  readonly runningVar: Tensor; // [C]
  constructor(
    readonly channels: number,
    readonly momentum = 0.1,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.registerParameter("weight", ones([channels]), false);
    this.bias = this.registerParameter("bias", zeros([channels]), false);
    this.runningMean = this.registerBuffer("running_mean", zeros([channels]));
    this.runningVar = this.registerBuffer("running_var", ones([channels]));
  }
  forward(x: Tensor): Tensor {
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
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
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
}
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly size: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.size);
  }
}
export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return x.flatten(1);
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
}
