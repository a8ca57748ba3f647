// Backbones. Each maps an input batch to a feature vector [B, F] (F = featureDim).
import * as F from "../torch/functional.js";
import { BatchNorm1d, BatchNorm2d, Conv2d, Linear, Module, Sequential } from "../torch/nn/index.js";
import { type OnnxGraph, ops, type Value } from "../torch/onnx.js";
import type { Generator } from "../torch/random.js";
import type { Tensor } from "../torch/tensor.js";

export abstract class Backbone extends Module {
  abstract readonly featureDim: number;
  /** convolutions in the NHWC layout (toChannelsLast): inputs are converted on the way in */
  channelsLast = false;
  override toChannelsLast(): this {
    this.channelsLast = true;
    return super.toChannelsLast();
  }
  /** x as the first layer takes it: [B, C, H, W], NHWC in memory when the backbone is channels-last */
  protected input(x: Tensor): Tensor {
    return this.channelsLast && x.ndim === 4 ? x.channelsLast() : x;
  }
  /**
   * A compact descriptor of features h [B, F] for neighbour graphs (DLP): the features
   * themselves, or for a backbone that keeps a spatial grid, their average over it [B, channels].
   */
  descriptor(h: Tensor): Tensor {
    return h;
  }
}

/**
 * The layers applied in turn, each intermediate freed as soon as the next layer has read it (as
 * Python's refcounting frees them; autograd holds natively what backward needs). Keeping them to
 * the end of the step's scope instead makes every layer write to memory that is no longer in
 * cache: measured, small-cnn's forward took 31.5 ms against PyTorch's 21.5 ms that way.
 */
function chain(x: Tensor, ...layers: ((h: Tensor) => Tensor)[]): Tensor {
  let h = x;
  for (const layer of layers) {
    const next = layer(h);
    if (h !== x && next !== h) h.dispose();
    h = next;
  }
  return h;
}

/**
 * A pre-activation residual block's forward (He et al. 2016): a = ReLU(BN(x)); the body's layers
 * applied to a, plus the shortcut (a 1x1 conv of a, or x itself); intermediates freed as in chain.
 */
function preActResidual(x: Tensor, bn: BatchNorm2d, shortcut: Conv2d | null, body: ((h: Tensor) => Tensor)[]): Tensor {
  const a = chain(
    x,
    (h) => bn.forward(h),
    (h) => h.relu(),
  );
  const sc = shortcut ? shortcut.forward(a) : x;
  const out = chain(a, ...body);
  a.dispose();
  const y = out.add(sc);
  out.dispose();
  if (sc !== x) sc.dispose();
  return y;
}

const conv = (cin: number, cout: number, k: number, gen: Generator, stride = 1) =>
  new Conv2d(cin, cout, k, gen, { stride, padding: Math.floor(k / 2), bias: false, init: "kaiming" });

/** conv -> BN -> ReLU */
class ConvBNReLU extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(cin: number, cout: number, gen: Generator) {
    super();
    this.conv = this.registerModule("conv", conv(cin, cout, 3, gen));
    this.bn = this.registerModule("bn", new BatchNorm2d(cout));
  }
  forward(x: Tensor): Tensor {
    return chain(
      x,
      (h) => this.conv.forward(h),
      (h) => this.bn.forward(h),
      (h) => h.relu(),
    );
  }
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    return ops.relu(g, this.bn.onnx(g, this.conv.onnx(g, x, `${path}.conv`), `${path}.bn`));
  }
}

/**
 * The default for small grayscale images (28x28): five 3x3 conv-BN-ReLU layers with widths
 * w, 2w, 2w, 4w, 4w, max-pooling after the first and third, then the last map average-pooled
 * to a g x g grid and flattened (g = 7 keeps a 28x28 input's 7x7 layout as it is; g = 1 is
 * global average pooling, which loses where things are: see README, "pool grid").
 * x: [B, C, H, W] -> [B, 4w g^2]
 */
export class SmallCNN extends Backbone {
  readonly featureDim: number;
  readonly layers: ConvBNReLU[];
  readonly grid: number;
  constructor(inChannels: number, width: number, gen: Generator, grid = 7) {
    super();
    if (!Number.isInteger(grid) || grid < 1) throw new Error(`small-cnn: pool grid must be a positive integer, got ${grid}`);
    this.grid = grid;
    const w = [width, 2 * width, 2 * width, 4 * width, 4 * width];
    let cin = inChannels;
    this.layers = w.map((cout, i) => {
      const l = this.registerModule(`conv${i + 1}`, new ConvBNReLU(cin, cout, gen));
      cin = cout;
      return l;
    });
    this.featureDim = 4 * width * grid * grid;
  }
  /** [B, 4w g^2] -> [B, 4w]: the grid averaged away (the global average pooling of the networks DLP used) */
  override descriptor(h: Tensor): Tensor {
    return this.grid === 1 ? h : h.reshape([h.size(0), this.featureDim / (this.grid * this.grid), this.grid * this.grid]).mean(2);
  }
  forward(x: Tensor): Tensor {
    const steps: ((h: Tensor) => Tensor)[] = [(h) => this.input(h)];
    this.layers.forEach((l, i) => {
      steps.push((h) => l.forward(h));
      if (i === 0 || i === 2) steps.push((h) => F.maxPool2d(h, 2)); // 28 -> 14 -> 7
    });
    // a map already grid x grid (the 7x7 map of a 28x28 input at grid 7) is its own pooling
    steps.push((h) => (h.shape[2] === this.grid && h.shape[3] === this.grid ? h : F.adaptiveAvgPool2d(h, this.grid)));
    steps.push((h) => h.flatten(1)); // [B, 4w g^2]
    return chain(x, ...steps);
  }
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    let h = x;
    this.layers.forEach((l, i) => {
      h = l.onnx(g, h, `${path}.conv${i + 1}`);
      if (i === 0 || i === 2) h = ops.maxPool2d(g, h, 2);
    });
    return ops.flatten(g, ops.adaptiveAvgPool2d(g, h, this.grid));
  }
}

/** Pre-activation basic block (He et al. 2016, "Identity mappings"): BN-ReLU-conv x2. */
class PreActBlock extends Module {
  static readonly expansion = 1;
  readonly bn1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly shortcut: Conv2d | null;
  constructor(cin: number, planes: number, stride: number, gen: Generator) {
    super();
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(cin));
    this.conv1 = this.registerModule("conv1", conv(cin, planes, 3, gen, stride));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", conv(planes, planes, 3, gen));
    this.shortcut = stride !== 1 || cin !== planes ? this.registerModule("shortcut", conv(cin, planes, 1, gen, stride)) : null;
  }
  forward(x: Tensor): Tensor {
    return preActResidual(x, this.bn1, this.shortcut, [
      (h) => this.conv1.forward(h),
      (h) => this.bn2.forward(h),
      (h) => h.relu(),
      (h) => this.conv2.forward(h),
    ]);
  }
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    const a = ops.relu(g, this.bn1.onnx(g, x, `${path}.bn1`));
    const sc = this.shortcut ? this.shortcut.onnx(g, a, `${path}.shortcut`) : x;
    const h = this.conv1.onnx(g, a, `${path}.conv1`);
    const out = this.conv2.onnx(g, ops.relu(g, this.bn2.onnx(g, h, `${path}.bn2`)), `${path}.conv2`);
    return ops.add(g, out, sc);
  }
}

/** Pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3(stride), BN-ReLU-1x1 (x4). */
class PreActBottleneck extends Module {
  static readonly expansion = 4;
  readonly bns: BatchNorm2d[];
  readonly convs: Conv2d[];
  readonly shortcut: Conv2d | null;
  constructor(cin: number, planes: number, stride: number, gen: Generator) {
    super();
    const out = planes * 4;
    this.bns = [cin, planes, planes].map((c, i) => this.registerModule(`bn${i + 1}`, new BatchNorm2d(c)));
    this.convs = [
      this.registerModule("conv1", conv(cin, planes, 1, gen)),
      this.registerModule("conv2", conv(planes, planes, 3, gen, stride)),
      this.registerModule("conv3", conv(planes, out, 1, gen)),
    ];
    this.shortcut = stride !== 1 || cin !== out ? this.registerModule("shortcut", conv(cin, out, 1, gen, stride)) : null;
  }
  forward(x: Tensor): Tensor {
    const [bn1, bn2, bn3] = this.bns as [BatchNorm2d, BatchNorm2d, BatchNorm2d];
    const [c1, c2, c3] = this.convs as [Conv2d, Conv2d, Conv2d];
    return preActResidual(x, bn1, this.shortcut, [
      (h) => c1.forward(h),
      (h) => bn2.forward(h),
      (h) => h.relu(),
      (h) => c2.forward(h),
      (h) => bn3.forward(h),
      (h) => h.relu(),
      (h) => c3.forward(h),
    ]);
  }
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    const bn = (i: number, v: Value) => ops.relu(g, (this.bns[i] as BatchNorm2d).onnx(g, v, `${path}.bn${i + 1}`));
    const conv = (i: number, v: Value) => (this.convs[i] as Conv2d).onnx(g, v, `${path}.conv${i + 1}`);
    const a = bn(0, x);
    const sc = this.shortcut ? this.shortcut.onnx(g, a, `${path}.shortcut`) : x;
    return ops.add(g, conv(2, bn(2, conv(1, bn(1, conv(0, a))))), sc);
  }
}

/** A pre-activation ResNet's shape: stem width, then per stage its width (planes) and block count. */
export interface ResNetLayout {
  stem: number;
  widths: number[];
  blocks: number[];
  bottleneck: boolean;
}

/**
 * depth 18: basic blocks [2,2,2,2] at widths w, 2w, 4w, 8w (w = 64: CIFAR ResNet-18); depth 50:
 * bottlenecks [3,4,6,3]; "wrn-28": WRN-28-k (Zagoruyko & Komodakis 2016, the network of the
 * semi-supervised benchmarks: FixMatch, USB), a 16-wide stem then three stages of four basic blocks
 * at widths w, 2w, 4w (w = 16k; w = 32 is WRN-28-2).
 */
export function resnetLayout(kind: 18 | 50 | "wrn-28", width: number): ResNetLayout {
  if (kind === "wrn-28") return { stem: 16, widths: [width, 2 * width, 4 * width], blocks: [4, 4, 4], bottleneck: false };
  const widths = [width, 2 * width, 4 * width, 8 * width];
  return kind === 50
    ? { stem: width, widths, blocks: [3, 4, 6, 3], bottleneck: true }
    : { stem: width, widths, blocks: [2, 2, 2, 2], bottleneck: false };
}

/**
 * ResNet-v2 (pre-activation) with a stem for small images: a 3x3 stride-1 conv and no
 * max-pool (CIFAR-style), stages of blocks (the first of each stage but the first strides 2),
 * final BN-ReLU, GAP. x: [B,C,H,W] -> [B, F]
 */
export class PreActResNet extends Backbone {
  readonly featureDim: number;
  readonly stem: Conv2d;
  readonly blocks: Module[];
  readonly blockNames: string[] = [];
  readonly bnOut: BatchNorm2d;
  constructor(layout: ResNetLayout, inChannels: number, gen: Generator) {
    super();
    const { bottleneck } = layout;
    const exp = bottleneck ? 4 : 1;
    this.stem = this.registerModule("stem", conv(inChannels, layout.stem, 3, gen));
    this.blocks = [];
    let cin = layout.stem;
    layout.blocks.forEach((n, stage) => {
      const planes = layout.widths[stage] as number;
      for (let b = 0; b < n; b++) {
        const stride = b === 0 && stage > 0 ? 2 : 1;
        const block = bottleneck ? new PreActBottleneck(cin, planes, stride, gen) : new PreActBlock(cin, planes, stride, gen);
        this.blockNames.push(`layer${stage + 1}.${b}`);
        this.blocks.push(this.registerModule(`layer${stage + 1}.${b}`, block));
        cin = planes * exp;
      }
    });
    this.bnOut = this.registerModule("bn_out", new BatchNorm2d(cin));
    this.featureDim = cin;
  }
  forward(x: Tensor): Tensor {
    return chain(
      x,
      (h) => this.input(h),
      (h) => this.stem.forward(h),
      ...this.blocks.map((b) => (h: Tensor) => b.forward(h)),
      (h) => this.bnOut.forward(h),
      (h) => h.relu(),
      (h) => F.adaptiveAvgPool2d(h, 1),
      (h) => h.flatten(1),
    );
  }
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    let h = this.stem.onnx(g, x, `${path}.stem`);
    this.blocks.forEach((b, i) => {
      h = b.onnx(g, h, `${path}.${this.blockNames[i]}`);
    });
    return ops.flatten(g, ops.adaptiveAvgPool2d(g, ops.relu(g, this.bnOut.onnx(g, h, `${path}.bn_out`)), 1));
  }
}

/** For feature vectors: Linear-BN-ReLU x layers. x: [B, IN] -> [B, hidden] */
export class MLP extends Backbone {
  readonly featureDim: number;
  readonly net: Sequential;
  constructor(inFeatures: number, hidden: number, layers: number, gen: Generator) {
    super();
    const mods: Module[] = [];
    let cin = inFeatures;
    for (let i = 0; i < layers; i++) {
      mods.push(new Linear(cin, hidden, gen, false), new BatchNorm1d(hidden), new ReLUModule());
      cin = hidden;
    }
    this.net = this.registerModule("net", new Sequential(...mods));
    this.featureDim = hidden;
  }
  forward(x: Tensor): Tensor {
    return this.net.forward(x.flatten(1));
  }
  override onnx(g: OnnxGraph, x: Value, path: string): Value {
    return this.net.onnx(g, x.shape.length > 2 ? ops.flatten(g, x) : x, `${path}.net`);
  }
}

class ReLUModule extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
  override onnx(g: OnnxGraph, x: Value): Value {
    return ops.relu(g, x);
  }
}
