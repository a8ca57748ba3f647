// The Tensor type: a thin, typed wrapper over one native libtorch tensor.
import { arrayFor, type DType, dtypeOf, type TypedArray, toTyped } from "./dtype.js";
import { type Handle, native } from "./native.js";
import { type Tracked, track } from "./scope.js";

export type Scalar = number;
export type TensorOrScalar = Tensor | number;
type Dims = number | number[];

const arg = (x: TensorOrScalar): Handle | number => (typeof x === "number" ? x : x.handle);

export class Tensor implements Tracked {
  scope: Set<Tracked> | null = null;
  #handle: Handle | null;
  #shape: number[] | null = null;
  #dtype: DType | null = null;

  /** Wraps a native handle; registers with the open scope. Not for users: use the factories. */
  constructor(handle: Handle) {
    this.#handle = handle;
    track(this);
  }

  get handle(): Handle {
    if (this.#handle === null) throw new Error("Tensor was used after dispose()");
    return this.#handle;
  }
  get isDisposed(): boolean {
    return this.#handle === null;
  }
  dispose(): void {
    if (this.#handle === null) return;
    native.Free(this.#handle);
    this.#handle = null;
    this.scope?.delete(this);
    this.scope = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  get shape(): number[] {
    if (this.#shape === null) this.#shape = native.Shape(this.handle) as number[];
    return this.#shape.slice();
  }
  get dtype(): DType {
    if (this.#dtype === null) {
      const [shape, dtype] = native.Meta(this.handle) as [number[], DType, boolean];
      this.#shape = shape;
      this.#dtype = dtype;
    }
    return this.#dtype;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  size(dim: number): number {
    const s = this.shape;
    return s[dim < 0 ? s.length + dim : dim] as number;
  }
  get requiresGrad(): boolean {
    return (native.Meta(this.handle) as [number[], DType, boolean])[2];
  }
  /** Marks a leaf tensor as a parameter to differentiate (in place). */
  requiresGrad_(flag = true): this {
    native.RequiresGrad_(this.handle, flag);
    return this;
  }
  /** This tensor's gradient (a new Tensor sharing its storage), or null before backward. */
  get grad(): Tensor | null {
    const h = native.Grad(this.handle) as Handle | null;
    return h === null ? null : new Tensor(h);
  }
  backward(grad?: Tensor): void {
    native.Backward(this.handle, grad?.handle ?? null);
  }

  // --- export ---
  toArray(): TypedArray {
    return arrayFor(this.dtype, native.ToBuffer(this.handle) as ArrayBuffer);
  }
  /** Elements as plain numbers (int64 converted with Number()). */
  toNumbers(): number[] {
    const a = this.toArray();
    return a instanceof BigInt64Array ? Array.from(a, Number) : Array.from(a as ArrayLike<number>);
  }
  item(): number {
    const v = native.Item(this.handle) as number | boolean;
    return typeof v === "boolean" ? Number(v) : v;
  }
  toString(): string {
    return native.ToString(this.handle) as string;
  }

  // --- conversion and layout ---
  to(dtype: DType): Tensor {
    return new Tensor(native.To(this.handle, dtype));
  }
  float(): Tensor {
    return this.to("float32");
  }
  long(): Tensor {
    return this.to("int64");
  }
  clone(): Tensor {
    return new Tensor(native.Clone(this.handle));
  }
  detach(): Tensor {
    return new Tensor(native.Detach(this.handle));
  }
  contiguous(): Tensor {
    return new Tensor(native.Contiguous(this.handle));
  }
  /** NHWC memory layout for 4-D tensors (same logical shape). */
  channelsLast(): Tensor {
    return new Tensor(native.ChannelsLast(this.handle));
  }
  /** In place: this tensor (a parameter: every reference to it) takes the NHWC layout. 4-D only. */
  channelsLast_(): this {
    if (this.ndim !== 4) throw new Error(`channelsLast_: needs a 4-D tensor, got [${this.shape}]`);
    native.ToChannelsLast_(this.handle);
    return this;
  }
  /** Whether ATen's kernels read this tensor as NHWC (its strides say so; for one channel, isChannelsLast holds either way). */
  get suggestsChannelsLast(): boolean {
    return native.SuggestsChannelsLast(this.handle) as boolean;
  }
  get isChannelsLast(): boolean {
    return native.IsChannelsLast(this.handle) as boolean;
  }
  get isContiguous(): boolean {
    return native.IsContiguous(this.handle) as boolean;
  }

  // --- elementwise ---
  add(o: TensorOrScalar): Tensor {
    return this.#bin("add", o);
  }
  sub(o: TensorOrScalar): Tensor {
    return this.#bin("sub", o);
  }
  mul(o: TensorOrScalar): Tensor {
    return this.#bin("mul", o);
  }
  div(o: TensorOrScalar): Tensor {
    return this.#bin("div", o);
  }
  pow(o: TensorOrScalar): Tensor {
    return this.#bin("pow", o);
  }
  remainder(o: TensorOrScalar): Tensor {
    return this.#bin("remainder", o);
  }
  maximum(o: TensorOrScalar): Tensor {
    return this.#bin("maximum", o);
  }
  minimum(o: TensorOrScalar): Tensor {
    return this.#bin("minimum", o);
  }
  eq(o: TensorOrScalar): Tensor {
    return this.#bin("eq", o);
  }
  ne(o: TensorOrScalar): Tensor {
    return this.#bin("ne", o);
  }
  lt(o: TensorOrScalar): Tensor {
    return this.#bin("lt", o);
  }
  le(o: TensorOrScalar): Tensor {
    return this.#bin("le", o);
  }
  gt(o: TensorOrScalar): Tensor {
    return this.#bin("gt", o);
  }
  ge(o: TensorOrScalar): Tensor {
    return this.#bin("ge", o);
  }
  logicalAnd(o: Tensor): Tensor {
    return this.#bin("logicalAnd", o);
  }
  logicalOr(o: Tensor): Tensor {
    return this.#bin("logicalOr", o);
  }
  /** this + alpha * other */
  addScaled(other: Tensor, alpha: number): Tensor {
    return new Tensor(native.AddScaled(this.handle, other.handle, alpha));
  }
  neg(): Tensor {
    return this.#un("neg");
  }
  exp(): Tensor {
    return this.#un("exp");
  }
  log(): Tensor {
    return this.#un("log");
  }
  log1p(): Tensor {
    return this.#un("log1p");
  }
  sqrt(): Tensor {
    return this.#un("sqrt");
  }
  rsqrt(): Tensor {
    return this.#un("rsqrt");
  }
  abs(): Tensor {
    return this.#un("abs");
  }
  square(): Tensor {
    return this.#un("square");
  }
  relu(): Tensor {
    return this.#un("relu");
  }
  sigmoid(): Tensor {
    return this.#un("sigmoid");
  }
  tanh(): Tensor {
    return this.#un("tanh");
  }
  floor(): Tensor {
    return this.#un("floor");
  }
  ceil(): Tensor {
    return this.#un("ceil");
  }
  round(): Tensor {
    return this.#un("round");
  }
  sign(): Tensor {
    return this.#un("sign");
  }
  reciprocal(): Tensor {
    return this.#un("reciprocal");
  }
  logicalNot(): Tensor {
    return this.#un("logicalNot");
  }
  isfinite(): Tensor {
    return this.#un("isfinite");
  }
  isnan(): Tensor {
    return this.#un("isnan");
  }
  clamp(min: number | null, max: number | null = null): Tensor {
    return new Tensor(native.Clamp(this.handle, min, max));
  }

  // --- in place (never recorded by autograd: for state such as the memory bank) ---
  add_(o: TensorOrScalar): this {
    native.InplaceOp("add", this.handle, arg(o));
    return this;
  }
  sub_(o: TensorOrScalar): this {
    native.InplaceOp("sub", this.handle, arg(o));
    return this;
  }
  mul_(o: TensorOrScalar): this {
    native.InplaceOp("mul", this.handle, arg(o));
    return this;
  }
  div_(o: TensorOrScalar): this {
    native.InplaceOp("div", this.handle, arg(o));
    return this;
  }
  copy_(src: Tensor): this {
    native.CopyInto(this.handle, src.handle);
    return this;
  }
  fill_(v: number): this {
    native.Fill(this.handle, v);
    return this;
  }
  zero_(): this {
    return this.fill_(0);
  }
  /** this[index along dim] = src, in place. */
  indexCopy_(dim: number, index: Tensor, src: Tensor): this {
    native.IndexCopy_(this.handle, dim, index.handle, src.handle);
    return this;
  }
  /** this[index along dim] += src, in place. */
  indexAdd_(dim: number, index: Tensor, src: Tensor): this {
    native.IndexAdd_(this.handle, dim, index.handle, src.handle);
    return this;
  }
  indexFill_(dim: number, index: Tensor, value: number): this {
    native.IndexFill_(this.handle, dim, index.handle, value);
    return this;
  }

  // --- reductions (dims null = all) ---
  sum(dims: Dims | null = null, keepdim = false): Tensor {
    return this.#red("sum", dims, keepdim);
  }
  mean(dims: Dims | null = null, keepdim = false): Tensor {
    return this.#red("mean", dims, keepdim);
  }
  prod(dim: number | null = null, keepdim = false): Tensor {
    return this.#red("prod", dim, keepdim);
  }
  /** Maximum values (amax); use maxDim for values and indices. */
  max(dims: Dims | null = null, keepdim = false): Tensor {
    return this.#red("amax", dims, keepdim);
  }
  min(dims: Dims | null = null, keepdim = false): Tensor {
    return this.#red("amin", dims, keepdim);
  }
  maxDim(dim: number, keepdim = false): [values: Tensor, indices: Tensor] {
    const [v, i] = native.MaxDim(this.handle, dim, keepdim) as [Handle, Handle];
    return [new Tensor(v), new Tensor(i)];
  }
  argmax(dim: number | null = null, keepdim = false): Tensor {
    return this.#red("argmax", dim, keepdim);
  }
  argmin(dim: number | null = null, keepdim = false): Tensor {
    return this.#red("argmin", dim, keepdim);
  }
  logsumexp(dims: Dims | null = null, keepdim = false): Tensor {
    return this.#red("logsumexp", dims, keepdim);
  }
  /** Population variance (unbiased = false). */
  var(dims: Dims | null = null, keepdim = false): Tensor {
    return this.#red("var", dims, keepdim);
  }
  std(dims: Dims | null = null, keepdim = false): Tensor {
    return this.#red("std", dims, keepdim);
  }
  any(dim: number | null = null, keepdim = false): Tensor {
    return this.#red("any", dim, keepdim);
  }
  all(dim: number | null = null, keepdim = false): Tensor {
    return this.#red("all", dim, keepdim);
  }
  cumsum(dim: number): Tensor {
    return new Tensor(native.Cumsum(this.handle, dim));
  }

  // --- linear algebra ---
  matmul(o: Tensor): Tensor {
    return new Tensor(native.Matmul(this.handle, o.handle));
  }
  mm(o: Tensor): Tensor {
    return new Tensor(native.Mm(this.handle, o.handle));
  }
  bmm(o: Tensor): Tensor {
    return new Tensor(native.Bmm(this.handle, o.handle));
  }

  // --- shape ---
  reshape(shape: number[]): Tensor {
    return new Tensor(native.Reshape(this.handle, shape));
  }
  view(shape: number[]): Tensor {
    return this.reshape(shape);
  }
  permute(dims: number[]): Tensor {
    return new Tensor(native.Permute(this.handle, dims));
  }
  transpose(a: number, b: number): Tensor {
    return new Tensor(native.Transpose(this.handle, a, b));
  }
  get T(): Tensor {
    return this.transpose(0, 1);
  }
  flatten(start = 0, end = -1): Tensor {
    return new Tensor(native.Flatten(this.handle, start, end));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.Unsqueeze(this.handle, dim));
  }
  squeeze(dim: number): Tensor {
    return new Tensor(native.Squeeze(this.handle, dim));
  }
  expand(shape: number[]): Tensor {
    return new Tensor(native.Expand(this.handle, shape));
  }
  flip(dims: number[]): Tensor {
    return new Tensor(native.Flip(this.handle, dims));
  }
  /** A view of elements start..end (exclusive) along dim, every step-th. */
  slice(dim: number, start: number, end: number, step = 1): Tensor {
    return new Tensor(native.Slice(this.handle, dim, start, end, step));
  }
  select(dim: number, index: number): Tensor {
    return new Tensor(native.Select(this.handle, dim, index));
  }

  // --- indexing ---
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.Gather(this.handle, dim, index.handle));
  }
  scatter(dim: number, index: Tensor, src: TensorOrScalar): Tensor {
    return new Tensor(native.Scatter(this.handle, dim, index.handle, arg(src)));
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(native.ScatterAdd(this.handle, dim, index.handle, src.handle));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.IndexSelect(this.handle, dim, index.handle));
  }
  maskedSelect(mask: Tensor): Tensor {
    return new Tensor(native.MaskedSelect(this.handle, mask.handle));
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return new Tensor(native.MaskedFill(this.handle, mask.handle, value));
  }
  /** Indices of nonzero elements of a 1-D tensor. */
  nonzero(): Tensor {
    return new Tensor(native.Nonzero(this.handle));
  }
  topk(k: number, dim = -1, largest = true): [values: Tensor, indices: Tensor] {
    const [v, i] = native.Topk(this.handle, k, dim, largest) as [Handle, Handle];
    return [new Tensor(v), new Tensor(i)];
  }
  sort(dim = -1, descending = false): [values: Tensor, indices: Tensor] {
    const [v, i] = native.Sort(this.handle, dim, descending) as [Handle, Handle];
    return [new Tensor(v), new Tensor(i)];
  }

  #bin(op: string, o: TensorOrScalar): Tensor {
    return new Tensor(native.BinaryOp(op, this.handle, arg(o)));
  }
  #un(op: string): Tensor {
    return new Tensor(native.UnaryOp(op, this.handle));
  }
  #red(op: string, dims: Dims | null, keepdim: boolean): Tensor {
    return new Tensor(native.Reduce(op, this.handle, dims, keepdim));
  }
}

// --- factories ---
export interface TensorOptions {
  dtype?: DType;
}

/** A tensor from a typed array or numbers. Shape defaults to 1-D. Data is copied. */
export function tensor(data: TypedArray | ArrayLike<number> | ArrayLike<bigint>, shape?: number[], dtype?: DType): Tensor {
  const isTyped = ArrayBuffer.isView(data);
  const dt: DType = dtype ?? (isTyped ? dtypeOf(data as TypedArray) : "float32");
  const sh = shape ?? [data.length];
  if (isTyped && !(data instanceof Uint8Array && dt === "bool") && dtypeOf(data as TypedArray) !== dt) {
    // A typed array of another dtype: copy it as it is, convert natively, free the copy.
    const raw = native.FromBuffer(data, sh, dtypeOf(data as TypedArray)) as Handle;
    try {
      return new Tensor(native.To(raw, dt));
    } finally {
      native.Free(raw);
    }
  }
  const typed = isTyped ? (data as TypedArray) : toTyped(Array.from(data as ArrayLike<number>), dt);
  return new Tensor(native.FromBuffer(typed, sh, dt));
}
export function scalar(v: number, dtype: DType = "float32"): Tensor {
  return new Tensor(native.ScalarTensor(v, dtype));
}
export function zeros(shape: number[], dtype: DType = "float32"): Tensor {
  return new Tensor(native.Zeros(shape, dtype));
}
export function ones(shape: number[], dtype: DType = "float32"): Tensor {
  return new Tensor(native.Ones(shape, dtype));
}
export function full(shape: number[], value: number, dtype: DType = "float32"): Tensor {
  return new Tensor(native.Full(shape, value, dtype));
}
export function empty(shape: number[], dtype: DType = "float32"): Tensor {
  return new Tensor(native.Empty(shape, dtype));
}
export function eye(n: number, dtype: DType = "float32"): Tensor {
  return new Tensor(native.Eye(n, dtype));
}
/** arange(end) or arange(start, end, step). Default dtype int64, like PyTorch for integers. */
export function arange(startOrEnd: number, end?: number, step = 1, dtype: DType = "int64"): Tensor {
  const [s, e] = end === undefined ? [0, startOrEnd] : [startOrEnd, end];
  return new Tensor(native.Arange(s, e, step, dtype));
}
export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, t.dtype);
}
export function cat(ts: Tensor[], dim = 0): Tensor {
  return new Tensor(
    native.Cat(
      ts.map((t) => t.handle),
      dim,
    ),
  );
}
export function stack(ts: Tensor[], dim = 0): Tensor {
  return new Tensor(
    native.Stack(
      ts.map((t) => t.handle),
      dim,
    ),
  );
}
/** cond ? a : b elementwise. */
export function where(cond: Tensor, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  return new Tensor(native.Where(cond.handle, arg(a), arg(b)));
}
export function allClose(a: Tensor, b: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
  return native.AllClose(a.handle, b.handle, rtol, atol) as boolean;
}
export function bincount(t: Tensor, minlength = 0): Tensor {
  return new Tensor(native.Bincount(t.handle, minlength));
}

/**
 * Merges one block of keys into a running top-k of scores (q . k_j) / tau - bias_j, in place
 * (native/topk_core.cc through native/ops_topk.cc). queries: [Q, D], keys: [B, D] float32 contiguous; bias: [B] or null;
 * offset: index of keys' first row in the whole key set; values: [Q, k] float32 and indices:
 * [Q, k] int64, rows best first, (-inf, -1) where empty. Ties go to the lower key index. Memory:
 * one [qTile, kTile] tile of scores per thread, whatever Q and B are.
 */
export function topkDotMerge_(
  queries: Tensor,
  keys: Tensor,
  values: Tensor,
  indices: Tensor,
  o: { tau: number; bias: Tensor | null; offset: number; qTile: number; kTile: number },
): void {
  native.TopkDotMerge_(
    queries.handle,
    keys.handle,
    o.tau,
    o.bias?.handle ?? null,
    o.offset,
    values.handle,
    indices.handle,
    o.qTile,
    o.kTile,
  );
}

/** Runs fn with autograd recording off (restored afterwards, also on throw). */
export function noGrad<R>(fn: () => R): R {
  const prev = native.SetGradEnabled(false) as boolean;
  try {
    return fn();
  } finally {
    native.SetGradEnabled(prev);
  }
}
export function isGradEnabled(): boolean {
  return native.IsGradEnabled() as boolean;
}
