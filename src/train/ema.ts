// A weight average of the network, Mean Teacher's teacher: after every optimiser step,
//   theta' <- d_t theta' + (1 - d_t) theta,   d_t = min(d, 1 - 1 / (t + 1)),
// over parameters and batch-norm running statistics alike (Tarvainen & Valpola 2017; the ramp
// is their released code's: the first update copies the network, later ones average).
// The averaged copy is always in eval mode. update() is its only writer.
import type { LLPNet } from "../model/net.js";
import { tidy } from "../torch/scope.js";
import { noGrad } from "../torch/tensor.js";

/** The decay used at update t (0-based): the mean teacher's ramp, capped at d. */
export function emaDecay(d: number, t: number): number {
  return Math.min(d, 1 - 1 / (t + 1));
}

export class WeightAverage {
  /** Updates applied so far (checkpointed: the ramp resumes where it stopped). */
  steps = 0;
  constructor(
    readonly net: LLPNet, // same architecture as the trained network; owned here
    readonly decay: number,
  ) {
    net.eval();
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
  }
}
