// Module: named parameters, buffers and children; train/eval mode. Parameters and buffers
// are kept out of tidy scopes: they live until the module is disposed.
import type { OnnxGraph, Value } from "../onnx.js";
import { keep } from "../scope.js";
import type { Tensor } from "../tensor.js";

export abstract class Module {
  training = true;
  readonly #params = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();
  /** Parameters that weight decay must skip (batch-norm weights and biases, biases). */
  readonly noDecay = new Set<string>();

  abstract forward(x: Tensor): Tensor;

  /**
   * The eval-mode forward written into an ONNX graph: the input value -> the output value, with
   * this module's weights copied in as initializers named under `path` ("backbone.conv1.bn").
   * Layers without one cannot be exported.
   */
  onnx(_g: OnnxGraph, _x: Value, path: string): Value {
    throw new Error(`onnx export: ${this.constructor.name} (${path || "the network"}) has no ONNX form`);
  }

  protected registerParameter(name: string, t: Tensor, decay = true): Tensor {
    keep(t).requiresGrad_(true);
    this.#params.set(name, t);
    if (!decay) this.noDecay.add(name);
    return t;
  }
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, keep(t));
    return t;
  }
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  *namedChildren(): Generator<[string, Module]> {
    yield* this.#children;
  }
  /** This module and every module below it, depth first. */
  *modules(): Generator<Module> {
    yield this;
    for (const [, c] of this.#children) yield* c.modules();
  }
  /** All parameters, depth first, with dotted names ("layer1.0.conv1.weight"). */
  *namedParameters(prefix = ""): Generator<[string, Tensor, { decay: boolean }]> {
    for (const [n, p] of this.#params) yield [prefix + n, p, { decay: !this.noDecay.has(n) }];
    for (const [n, c] of this.#children) yield* c.namedParameters(`${prefix}${n}.`);
  }
  *namedBuffers(prefix = ""): Generator<[string, Tensor]> {
    for (const [n, b] of this.#buffers) yield [prefix + n, b];
    for (const [n, c] of this.#children) yield* c.namedBuffers(`${prefix}${n}.`);
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  /** Parameters and buffers by name (what a checkpoint saves). */
  stateDict(): Map<string, Tensor> {
    const m = new Map<string, Tensor>();
    for (const [n, p] of this.namedParameters()) m.set(n, p);
    for (const [n, b] of this.namedBuffers()) m.set(n, b);
    return m;
  }
  /** Copies tensors into this module's parameters and buffers; names and shapes must match. */
  loadStateDict(state: Map<string, Tensor>, strict = true): void {
    const own = this.stateDict();
    for (const [name, t] of own) {
      const src = state.get(name);
      if (src === undefined) {
        if (strict) throw new Error(`loadStateDict: missing "${name}"`);
        continue;
      }
      if (src.shape.join(",") !== t.shape.join(","))
        throw new Error(`loadStateDict: "${name}" has shape [${src.shape}], expected [${t.shape}]`);
      t.copy_(src);
    }
    if (strict) {
      const extra = [...state.keys()].filter((k) => !own.has(k));
      if (extra.length > 0) throw new Error(`loadStateDict: unexpected keys ${extra.join(", ")}`);
    }
  }
  train(mode = true): this {
    this.training = mode;
    for (const [, c] of this.#children) c.train(mode);
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /**
   * Every 4-D parameter (convolution weights) takes the NHWC layout in place, as PyTorch's
   * module.to(memory_format=torch.channels_last): fed NHWC inputs, convolutions then run oneDNN's
   * channels-last kernels and their outputs stay NHWC through batch norm, ReLU and pooling.
   * Values, gradients and saved checkpoints are the same; only the layout differs.
   */
  toChannelsLast(): this {
    for (const [, p] of this.#params) if (p.ndim === 4) p.channelsLast_();
    for (const [, c] of this.#children) c.toChannelsLast(); // each child's own override (a backbone converts its inputs)
    return this;
  }
  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.numel, 0);
  }
  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const [, p] of this.#params) p.dispose();
    for (const [, b] of this.#buffers) b.dispose();
    for (const [, c] of this.#children) c.dispose();
  }
}
