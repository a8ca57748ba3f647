// The memory bank V (N x D): a running average of each point's embedding (Wu et al. 2018).
// One writer: update(), called from the training step only.
import * as F from "../torch/functional.js";
import type { Generator } from "../torch/random.js";
import { keep, tidy } from "../torch/scope.js";
import { noGrad, type Tensor } from "../torch/tensor.js";

export class MemoryBank {
  /** V: [N, D], every row unit-norm. Read it freely; write only through update(). */
  readonly V: Tensor;
  constructor(
    readonly n: number,
    readonly d: number,
    gen: Generator,
    /** m in v_i <- normalise(m v_i + (1 - m) f(x_i)); paper/original code: 0.5 */
    readonly momentum = 0.5,
  ) {
    // Random unit vectors until init() or the first visit (lemniscate's choice).
    this.V = keep(tidy(() => F.normalize(gen.randn([n, d]), 1)));
  }

  /** v_i <- normalise(m v_i + (1-m) v) for i in index. index: [B] int64, v: [B, D] */
  update(index: Tensor, v: Tensor): void {
    noGrad(() => tidy(() => this.V.indexCopy_(0, index, this.blend(index, v))));
  }

  /** What update(index, v) would write, without writing it: [B, D], no gradient. */
  blend(index: Tensor, v: Tensor): Tensor {
    if (v.ndim !== 2 || v.size(1) !== this.d || index.numel !== v.size(0))
      throw new Error(`MemoryBank: index [${index.shape}] and v [${v.shape}] must be [B] and [B, ${this.d}]`);
    return noGrad(() =>
      tidy(() => {
        const old = this.V.indexSelect(0, index); // [B, D]
        return F.normalize(old.mul(this.momentum).add(v.detach().mul(1 - this.momentum)), 1);
      }),
    );
  }

  /** Overwrites rows (bank initialisation from a full forward pass, checkpoint load). */
  set(index: Tensor, v: Tensor): void {
    noGrad(() => tidy(() => this.V.indexCopy_(0, index, F.normalize(v.detach(), 1))));
  }

  dispose(): void {
    this.V.dispose();
  }
}
