// SGD with momentum and weight decay, parameter groups, settable learning rate, saveable state.
import { native } from "./native.js";
import type { Module } from "./nn/module.js";
import { keep } from "./scope.js";
import { type Tensor, zeros } from "./tensor.js";

export interface ParamGroup {
  params: Tensor[];
  /** Names, parallel to params (for state dicts). */
  names: string[];
  weightDecay: number;
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly groups: ParamGroup[];
  /** One momentum buffer per parameter, parallel to each group's params. */
  readonly #buffers: Tensor[][];

  constructor(groups: ParamGroup[], o: SGDOptions) {
    if (!(o.lr >= 0)) throw new RangeError(`lr must be >= 0, got ${o.lr}`);
    this.lr = o.lr;
    this.momentum = o.momentum ?? 0;
    this.dampening = o.dampening ?? 0;
    this.nesterov = o.nesterov ?? false;
    this.groups = groups;
    this.#buffers = groups.map((g) => g.params.map((p) => keep(zeros(p.shape, p.dtype))));
  }

  /**
   * Two groups from a module: weights with decay, and batch-norm parameters and biases
   * without (their names are in each module's noDecay set).
   */
  static forModule(model: Module, o: SGDOptions): SGD {
    const decay: ParamGroup = { params: [], names: [], weightDecay: o.weightDecay ?? 0 };
    const noDecay: ParamGroup = { params: [], names: [], weightDecay: 0 };
    for (const [name, p, { decay: d }] of model.namedParameters()) {
      const g = d ? decay : noDecay;
      g.params.push(p);
      g.names.push(name);
    }
    return new SGD([decay, noDecay], o);
  }

  /** One update of every parameter that has a gradient (one native call per group). */
  step(): void {
    this.groups.forEach((g, i) => {
      native.SgdStep(
        g.params.map((p) => p.handle),
        (this.#buffers[i] as Tensor[]).map((b) => b.handle),
        this.lr,
        this.momentum,
        this.dampening,
        g.weightDecay,
        this.nesterov,
      );
    });
  }
  zeroGrad(): void {
    for (const g of this.groups) native.ZeroGrad(g.params.map((p) => p.handle));
  }
  /** Momentum buffers by parameter name ("momentum.<name>"), for checkpoints. */
  stateDict(): Map<string, Tensor> {
    const m = new Map<string, Tensor>();
    this.groups.forEach((g, i) => {
      g.names.forEach((n, j) => {
        m.set(`momentum.${n}`, (this.#buffers[i] as Tensor[])[j] as Tensor);
      });
    });
    return m;
  }
  loadStateDict(state: Map<string, Tensor>): void {
    for (const [key, buf] of this.stateDict()) {
      const src = state.get(key);
      if (src === undefined) throw new Error(`SGD.loadStateDict: missing "${key}"`);
      buf.copy_(src);
    }
  }
  dispose(): void {
    for (const bs of this.#buffers) for (const b of bs) b.dispose();
  }
}
