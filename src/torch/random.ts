// Seeded randomness. One Generator is created from the run's seed and passed to everything
// random: split, shuffle, augmentation, initialisation, dropout. There is no global RNG.
import type { DType } from "./dtype.js";
import { type Handle, native } from "./native.js";
import { Tensor } from "./tensor.js";

export class Generator {
  readonly handle: Handle;
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    this.handle = native.NewGenerator(seed) as Handle;
  }
  manualSeed(seed: number): this {
    native.GeneratorSeed(this.handle, seed);
    return this;
  }
  /** The full Philox/MT state, for checkpoints. */
  getState(): Uint8Array {
    return new Uint8Array(native.GeneratorGetState(this.handle) as Uint8Array);
  }
  setState(state: Uint8Array): this {
    native.GeneratorSetState(this.handle, state);
    return this;
  }
  /** A new generator seeded from this one (independent stream for a sub-task). */
  fork(): Generator {
    return new Generator(this.int(0, 2 ** 31 - 1));
  }

  randn(shape: number[], dtype: DType = "float32"): Tensor {
    return new Tensor(native.Randn(shape, this.handle, dtype));
  }
  rand(shape: number[], dtype: DType = "float32"): Tensor {
    return new Tensor(native.Rand(shape, this.handle, dtype));
  }
  /** Integers uniform in [low, high). */
  randint(low: number, high: number, shape: number[], dtype: DType = "int64"): Tensor {
    return new Tensor(native.Randint(low, high, shape, this.handle, dtype));
  }
  randperm(n: number): Tensor {
    return new Tensor(native.Randperm(n, this.handle));
  }
  normal_(t: Tensor, mean = 0, std = 1): Tensor {
    native.Normal_(t.handle, mean, std, this.handle);
    return t;
  }
  uniform_(t: Tensor, from = 0, to = 1): Tensor {
    native.Uniform_(t.handle, from, to, this.handle);
    return t;
  }
  bernoulli(probs: Tensor): Tensor {
    return new Tensor(native.Bernoulli(probs.handle, this.handle));
  }
  multinomial(probs: Tensor, n: number, replacement = false): Tensor {
    return new Tensor(native.Multinomial(probs.handle, n, replacement, this.handle));
  }

  // Plain-JS draws (no tensor to dispose) for small decisions.
  /** One integer uniform in [low, high). */
  int(low: number, high: number): number {
    const t = this.randint(low, high, [1]);
    const v = t.item();
    t.dispose();
    return v;
  }
  /** n floats uniform in [0, 1). */
  uniforms(n: number): Float64Array {
    const t = this.rand([n], "float64");
    const a = t.toArray() as Float64Array;
    t.dispose();
    return a;
  }
  /** A permutation of 0..n-1 as an Int32Array. */
  permutation(n: number): Int32Array {
    const t = this.randperm(n);
    const i = t.to("int32");
    const a = i.toArray() as Int32Array;
    t.dispose();
    i.dispose();
    return a;
  }
}
