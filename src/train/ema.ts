// A weight average of the network, Mean Teacher's teacher: after every optimiser step,
//   theta' <- d_t theta' + (1 - d_t) theta,   d_t = min(d, 1 - 1 / (t + 1)),
// over parameters and batch-norm running statistics alike (Tarvainen & Valpola 2017; the ramp
// is their released code's: the first update copies the network, later ones average).
// The averaged copy is always in eval mode. update() is its only writer.
import type { LLPNet } from "../model/net.js";
import { keep, tidy } from "../torch/scope.js";
import { noGrad, type Tensor, tensor } from "../torch/tensor.js";

/** The decay used at update t (0-based): the mean teacher's ramp, capped at d. */
export function emaDecay(d: number, t: number): number {
  return Math.min(d, 1 - 1 / (t + 1));
}

export class WeightAverage {
  /** Updates applied so far (checkpointed: the ramp resumes where it stopped). */
  steps = 0;
  readonly #stepsT: Tensor = keep(tensor([0], [1], "float64")); // [1] steps, as a checkpoint keeps it
  constructor(
    readonly net: LLPNet, // same architecture as the trained network; owned here
    readonly decay: number,
  ) {
    net.eval();
  }

  /** The average's weights and update count for a checkpoint, under `prefix` (views of its own tensors). */
  stateDict(prefix: string): Map<string, Tensor> {
    this.#stepsT.fill_(this.steps);
    const m = new Map<string, Tensor>([[`${prefix}steps`, this.#stepsT]]);
    for (const [k, t] of this.net.stateDict()) m.set(`${prefix}net.${k}`, t);
    return m;
  }

  /** Restores stateDict(prefix) from a checkpoint's tensors; `what` names it in the error when absent. */
  loadStateDict(state: Map<string, Tensor>, prefix: string, path: string, what: string): void {
    const steps = state.get(`${prefix}steps`);
    if (!steps) throw new Error(`${path}: no ${what} in this checkpoint (saved by another method?)`);
    // checkpoints before the average owned its keys kept its weights as `${prefix}<name>`
    const nested = [...state.keys()].some((k) => k.startsWith(`${prefix}net.`));
    const inner = nested ? `${prefix}net.` : prefix;
    this.net.loadStateDict(
      new Map([...state].filter(([k]) => k.startsWith(inner) && k !== `${prefix}steps`).map(([k, t]) => [k.slice(inner.length), t])),
    );
    this.steps = steps.item();
  }

  /** Starts the average at the network's current weights. */
  reset(from: LLPNet): void {
    noGrad(() => this.net.loadStateDict(from.stateDict()));
    this.steps = 0;
  }

  /** theta' <- d_t theta' + (1 - d_t) theta for every parameter and buffer, by name. */
  update(from: LLPNet): void {
    const d = emaDecay(this.decay, this.steps);
    const src = from.stateDict();
    noGrad(() =>
      tidy(() => {
        for (const [name, t] of this.net.stateDict()) {
          const s = src.get(name);
          if (!s) throw new Error(`weight average: the network has no "${name}"`);
          t.mul_(d).add_(s.mul(1 - d));
        }
      }),
    );
    this.steps++;
  }

  dispose(): void {
    this.net.dispose();
    this.#stepsT.dispose();
  }
}
