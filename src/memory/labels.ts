// The label state: a pseudo-label y_i and a confidence c_i for every one of the N points.
// Labelled points hold their label with c = 1 forever; an unlabelled point holds -1 (it is its
// own instance) until propagation first labels it. One writer: write(), from the training step.
import { type Tensor, tensor } from "../torch/tensor.js";

export class LabelState {
  /** y: [N], -1 = no pseudo-label yet */
  readonly y: Int32Array;
  /** c: [N] in [0, 1] */
  readonly c: Float32Array;
  /** true for the M labelled points */
  readonly isLabelled: Uint8Array;
  /** [M] the rows of the labelled points, ascending (fixed at construction, like isLabelled) */
  readonly labelledRows: Int32Array;

  constructor(labels: Int32Array) {
    const n = labels.length;
    this.y = new Int32Array(n).fill(-1);
    this.c = new Float32Array(n);
    this.isLabelled = new Uint8Array(n);
    const rows: number[] = [];
    for (let i = 0; i < n; i++) {
      const l = labels[i] as number;
      if (l >= 0) {
        this.y[i] = l;
        this.c[i] = 1;
        this.isLabelled[i] = 1;
        rows.push(i);
      }
    }
    this.labelledRows = Int32Array.from(rows);
  }

  get n(): number {
    return this.y.length;
  }

  /** Stores fresh pseudo-labels for unlabelled points; labelled points are never changed. */
  write(index: ArrayLike<number>, y: ArrayLike<number>, c: ArrayLike<number>): void {
    for (let k = 0; k < index.length; k++) {
      const i = index[k] as number;
      if (this.isLabelled[i]) continue;
      this.y[i] = y[k] as number;
      this.c[i] = c[k] as number;
    }
  }

  /** Restores a saved state (checkpoint resume). */
  restore(y: Int32Array, c: Float32Array): void {
    if (y.length !== this.n || c.length !== this.n) throw new Error(`LabelState.restore: expected ${this.n} entries`);
    this.y.set(y);
    this.c.set(c);
  }

  /** Fraction of unlabelled points that have a pseudo-label. */
  coverage(): number {
    let have = 0;
    let total = 0;
    for (let i = 0; i < this.n; i++) {
      if (this.isLabelled[i]) continue;
      total++;
      if ((this.y[i] as number) >= 0) have++;
    }
    return total === 0 ? 1 : have / total;
  }
}

/** [M] int64 rows of the labelled points and [M] int64 their labels, as tensors. */
export function labelledTensors(labels: LabelState): { idx: Tensor; y: Tensor } {
  const rows = labels.labelledRows;
  return {
    idx: tensor(rows, [rows.length], "int64"),
    y: tensor(
      Int32Array.from(rows, (i) => labels.y[i] as number),
      [rows.length],
      "int64",
    ),
  };
}
