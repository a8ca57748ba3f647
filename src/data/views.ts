// The strong view of the two-view option (--train-view cutout): the batch as the loader gave it
// (the weak view) with a random square zeroed in every image (Cutout, DeVries & Taylor 2017).
// Inputs are normalised, so zero is the dataset's mean pixel. Also the strong view's affine warp
// (--train-view strong) and mixup's shares (--mixup). The mask, warp and share functions are
// pure (results from given uniforms); the tensor views below draw those uniforms from the run's
// generator and build the batch a step's losses see.

import { affineGrid, gridSample } from "../torch/functional.js";
import { tidy } from "../torch/scope.js";
import { type Tensor, tensor, where } from "../torch/tensor.js";
import type { Normalization } from "./augment.js";
import { type Draws, isRowDraws, perRow, pickRows } from "./shard.js";

/**
 * [B, 1, H, W] float32 mask, 0 inside each image's square, 1 elsewhere. The square has side
 * `size`, its centre uniform over the image, clipped at the borders (so near an edge less is
 * cut). u: 2 uniforms per image (centre row, centre column).
 */
export function cutoutMask(b: number, h: number, w: number, size: number, u: Float64Array): Float32Array {
  if (u.length < 2 * b) throw new RangeError(`cutoutMask: ${u.length} uniforms, need ${2 * b}`);
  if (!Number.isInteger(size) || size < 1) throw new Error(`cutoutMask: size must be a positive integer, got ${size}`);
  const mask = new Float32Array(b * h * w).fill(1);
  const half = Math.floor(size / 2);
  for (let k = 0; k < b; k++) {
    const top = Math.floor((u[2 * k] as number) * h) - half; // unclipped square corner
    const left = Math.floor((u[2 * k + 1] as number) * w) - half;
    const [x0, x1] = [Math.max(0, left), Math.min(w, left + size)];
    const plane = k * h * w;
    for (let y = Math.max(0, top); y < Math.min(h, top + size); y++) mask.fill(0, plane + y * w + x0, plane + y * w + x1);
  }
  return mask;
}

/** Ranges of the strong view's random affine warp (--train-view strong), each drawn uniformly. */
export interface AffineRange {
  rotate: number; // degrees, in [-rotate, rotate]
  shear: number; // horizontal shear factor, in [-shear, shear]
  scale: [number, number]; // zoom factor of the sampling grid (> 1 shows less of the image)
  translate: number; // shift of each axis, as a fraction of the half-side, in [-translate, translate]
}

/**
 * The strong view's warp, after RandAugment's geometric ops at their larger magnitudes
 * (Cubuk et al. 2020: rotate up to 30 degrees, shear up to 0.3, translate up to about 30%).
 */
export const STRONG_AFFINE: AffineRange = { rotate: 30, shear: 0.3, scale: [0.85, 1.15], translate: 0.25 };

/**
 * [B, 2, 3] float32 affine maps for F.affineGrid, one per image: theta = [k R(a) S(s) | t]
 * (R rotation, S horizontal shear, k scale, t translation), mapping output to input coordinates
 * in [-1, 1]. u: 5 uniforms per image (angle, shear, scale, tx, ty). Pure.
 */
export function affineThetas(b: number, u: Float64Array, r: AffineRange): Float32Array {
  if (u.length < 5 * b) throw new RangeError(`affineThetas: ${u.length} uniforms, need ${5 * b}`);
  const sym = (x: number, m: number) => (2 * x - 1) * m; // uniform in [-m, m]
  const out = new Float32Array(6 * b);
  for (let k = 0; k < b; k++) {
    const [ua, us, uk, ux, uy] = Array.from(u.subarray(5 * k, 5 * k + 5)) as [number, number, number, number, number];
    const a = (sym(ua, r.rotate) * Math.PI) / 180;
    const s = sym(us, r.shear);
    const z = r.scale[0] + uk * (r.scale[1] - r.scale[0]);
    const [c, n] = [Math.cos(a), Math.sin(a)];
    // k R S = k [[c, -n], [n, c]] [[1, s], [0, 1]] = k [[c, c s - n], [n, n s + c]]
    out.set([z * c, z * (c * s - n), sym(ux, r.translate), z * n, z * (n * s + c), sym(uy, r.translate)], 6 * k);
  }
  return out;
}

/**
 * One draw from Gamma(shape, 1) (Marsaglia & Tsang 2000; shape < 1 by the boost
 * Gamma(a) = Gamma(a + 1) U^(1/a)). next: uniforms in [0, 1). Pure given next.
 */
export function gammaDraw(shape: number, next: () => number): number {
  if (!(shape > 0)) throw new RangeError(`gammaDraw: shape must be positive, got ${shape}`);
  if (shape < 1) return gammaDraw(shape + 1, next) * (1 - next()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    // a standard normal by Box-Muller (1 - u lies in (0, 1], so the log is finite)
    const x = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = 1 - next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** One draw from Beta(a, b) as G_a / (G_a + G_b). next: uniforms in [0, 1). */
export function betaDraw(a: number, b: number, next: () => number): number {
  const x = gammaDraw(a, next);
  const y = gammaDraw(b, next);
  return x + y > 0 ? x / (x + y) : 0.5;
}

/**
 * Mixup's shares (--mixup alpha): for each of b images, lambda ~ Beta(alpha, alpha) folded to
 * max(lambda, 1 - lambda) (as MixMatch does), so every mixed image stays mostly its own: its
 * bank row and stored label remain the main target. Returns [b] float32 in [0.5, 1].
 */
export function mixupShares(b: number, alpha: number, next: () => number): Float32Array {
  const out = new Float32Array(b);
  for (let k = 0; k < b; k++) {
    const l = betaDraw(alpha, alpha, next);
    out[k] = Math.max(l, 1 - l);
  }
  return out;
}

/** A stream of uniforms for the pure draws above, read from `fill` in blocks of `block`. */
export function uniformStream(fill: (n: number) => Float64Array, block = 256): () => number {
  let buf: Float64Array = new Float64Array(0);
  let at = 0;
  return () => {
    if (at >= buf.length) {
      buf = fill(block);
      at = 0;
    }
    return buf[at++] as number;
  };
}

/**
 * Which view the losses of a step see: the batch as loaded (weak), Cutout, warp + Cutout, or
 * RandAugment + Cutout (FixMatch's strong view).
 */
export type ViewKind = "weak" | "cutout" | "strong" | "randaugment";

/** Methods that train on one view only (Instance Recognition and Local Aggregation): their "auto" is weak. */
export const ONE_VIEW_METHODS: readonly string[] = ["ir-knn", "la"];

/**
 * A configured view with "auto" made concrete: cutout on images [C,H,W] (fixmatch: its
 * RandAugment strong view; ir-knn and la: weak), weak on feature vectors.
 */
export function resolveView(kind: ViewKind | "auto", inputShape: number[], method?: string): ViewKind {
  if (kind !== "auto") return kind;
  if (inputShape.length !== 3 || (method !== undefined && ONE_VIEW_METHODS.includes(method))) return "weak";
  return method === "fixmatch" ? "randaugment" : "cutout";
}

/**
 * x [B, C, H, W] (normalised by `norm`) as the losses of a step see it under `kind`; draws from
 * gen (weak: x itself, no draw). RandAugment's photometric ops work on pixels in [0, 1], so it
 * needs the normalisation (null: the inputs are pixels in [0, 1] already).
 */
export function makeView(kind: ViewKind, x: Tensor, gen: Draws, norm: Normalization | null = null): Tensor {
  if (kind === "weak") return x;
  if (x.ndim !== 4) throw new Error(`the ${kind} view needs images [B,C,H,W], got [${x.shape}]`);
  return tidy(() => {
    // its masks and grids are freed
    if (kind === "cutout") return cutout(x, gen);
    if (kind === "strong") return strongView(x, gen);
    return cutout(randAugment(x, gen, norm), gen);
  });
}

/** x [B, C, H, W] with a random square of half the image side zeroed in every image. */
function cutout(x: Tensor, gen: Draws): Tensor {
  const [b, , h, w] = x.shape as [number, number, number, number];
  const size = Math.max(1, Math.round(Math.min(h, w) / 2));
  return x.mul(tensor(cutoutMask(b, h, w, size, perRow(gen, 2, b)), [b, 1, h, w], "float32"));
}

/** x [B, C, H, W] warped by a random affine map per image (zeros, the mean pixel, outside), then Cutout. */
function strongView(x: Tensor, gen: Draws): Tensor {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const theta = tensor(affineThetas(b, perRow(gen, 5, b), STRONG_AFFINE), [b, 2, 3], "float32");
  return cutout(gridSample(x, affineGrid(theta, [b, c, h, w])), gen);
}

/** Mixup's draw for a batch: each image's own share and its partner. */
export interface Mix {
  lam: Tensor; // [B] each image's own share, in [0.5, 1]
  rest: Tensor; // [B] 1 - lam, its partner's share
  perm: Tensor; // [B] int64 the partner of each image
}

/** Mixup's draw for a batch of b: shares from Beta(alpha, alpha) folded to [0.5, 1], partners a permutation. */
export function drawMix(b: number, alpha: number, gen: Draws): Mix {
  // a rank's rows (RowDraws) take their shares of the whole batch's draw
  const whole = isRowDraws(gen) ? gen.whole : gen;
  const B = isRowDraws(gen) ? gen.globalSize : b;
  const all = mixupShares(
    B,
    alpha,
    uniformStream((n) => whole.uniforms(n), 4 * B),
  );
  const shares = isRowDraws(gen) ? pickRows(all, gen.rows) : all;
  const lam = tensor(shares, [b], "float32");
  return { lam, rest: lam.neg().add(1), perm: gen.randperm(b) };
}

/** own, partner [B, ...] -> lam_k own_k + (1 - lam_k) partner_k, the shares broadcast over the rest. */
export function blend(own: Tensor, partner: Tensor, mix: Mix): Tensor {
  const shape = [own.shape[0] as number, ...own.shape.slice(1).map(() => 1)]; // [B, 1, ...]
  return own.mul(mix.lam.reshape(shape)).add(partner.mul(mix.rest.reshape(shape)));
}

/** x [B, ...] mixed: lam_k x_k + (1 - lam_k) x_perm(k). */
export function mixImages(x: Tensor, mix: Mix): Tensor {
  return blend(x, x.indexSelect(0, mix.perm), mix);
}

// RandAugment as FixMatch uses it (Cubuk et al. 2020; Sohn et al. 2020, Table 12): each image
// takes N = 2 ops drawn uniformly from the pool, each at a magnitude drawn uniformly from its
// range, then Cutout. Ranges are FixMatch's: brightness, colour and contrast factors in
// [0.05, 0.95], posterize to 4-8 bits, solarize above a threshold in [0, 1], rotate +-30
// degrees, shear +-0.3, translate +-30% of the side. Equalize and sharpness are left out.
// Geometric ops warp the normalised image (the mean pixel fills what comes in; on a non-square
// image a rotation or shear is taken in [-1, 1] coordinates, so it stretches with the aspect);
// photometric ops act on pixels in [0, 1] (x std + mean: images stored as bytes), clipped after
// each op.

export const RA_OPS = [
  "identity",
  "autoContrast",
  "brightness",
  "color",
  "contrast",
  "posterize",
  "solarize",
  "rotate",
  "shearX",
  "shearY",
  "translateX",
  "translateY",
] as const;
export type RAOp = (typeof RA_OPS)[number];
const GEOMETRIC = new Set<RAOp>(["rotate", "shearX", "shearY", "translateX", "translateY"]);
export const RA_N = 2;

/** Each image's RA_N ops and magnitudes in [0, 1) from 2 RA_N uniforms per image (op, magnitude, op, ...). Pure. */
export function randAugmentPlan(b: number, u: Float64Array): { op: RAOp[][]; m: number[][] } {
  if (u.length < 2 * RA_N * b) throw new RangeError(`randAugmentPlan: ${u.length} uniforms, need ${2 * RA_N * b}`);
  const op: RAOp[][] = Array.from({ length: RA_N }, () => []);
  const m: number[][] = Array.from({ length: RA_N }, () => []);
  for (let k = 0; k < b; k++)
    for (let s = 0; s < RA_N; s++) {
      const uo = u[2 * RA_N * k + 2 * s] as number;
      (op[s] as RAOp[]).push(RA_OPS[Math.min(RA_OPS.length - 1, Math.floor(uo * RA_OPS.length))] as RAOp);
      (m[s] as number[]).push(u[2 * RA_N * k + 2 * s + 1] as number);
    }
  return { op, m };
}

/** A factor in [0.05, 0.95] from a magnitude in [0, 1) (FixMatch's enhance range). */
export const enhanceFactor = (m: number): number => 0.05 + 0.9 * m;
/** Bits kept by posterize: 4..8. */
export const posterizeBits = (m: number): number => 4 + Math.min(4, Math.floor(m * 5));

/**
 * [B, 2, 3] affine maps of one RandAugment stage: the image's geometric op, identity for the
 * others. Coordinates in [-1, 1] (output to input), so a shift of 30% of the side is 0.6. Pure.
 */
export function raThetas(op: RAOp[], m: number[]): Float32Array {
  const out = new Float32Array(6 * op.length);
  op.forEach((o, k) => {
    const sym = 2 * (m[k] as number) - 1; // in [-1, 1)
    let t = [1, 0, 0, 0, 1, 0];
    if (o === "rotate") {
      const a = (sym * 30 * Math.PI) / 180;
      t = [Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a), 0];
    } else if (o === "shearX") t = [1, sym * 0.3, 0, 0, 1, 0];
    else if (o === "shearY") t = [1, 0, 0, sym * 0.3, 1, 0];
    else if (o === "translateX") t = [1, 0, sym * 0.6, 0, 1, 0];
    else if (o === "translateY") t = [1, 0, 0, 0, 1, sym * 0.6];
    out.set(t, 6 * k);
  });
  return out;
}

/**
 * One photometric op on pixels r [B, C, H, W] in [0, 1], every image at its own magnitude m
 * (only the rows that chose this op keep the result). Gray = ITU-R 601 luma (the channel itself
 * for one channel), as PIL's ImageEnhance uses.
 */
export function photometric(o: RAOp, r: Tensor, m: number[]): Tensor {
  const [b, c] = r.shape as [number, number];
  const per = (f: (x: number) => number) => tensor(m.map(f), [b, 1, 1, 1], "float32"); // [B, 1, 1, 1]
  const gray = () => (c === 3 ? r.mul(tensor([0.299, 0.587, 0.114], [1, 3, 1, 1], "float32")).sum([1], true) : r.mean([1], true)); // [B, 1, H, W]
  const blend = (base: Tensor, f: Tensor) => base.add(r.sub(base).mul(f)); // base + f (r - base)
  switch (o) {
    case "autoContrast": {
      const lo = r.min([2, 3], true); // [B, C, 1, 1]
      const span = r.max([2, 3], true).sub(lo);
      return where(span.gt(0), r.sub(lo).div(span.clamp(1e-12, null)), r);
    }
    case "brightness":
      return r.mul(per(enhanceFactor));
    case "color":
      return blend(gray(), per(enhanceFactor));
    case "contrast":
      return blend(gray().mean([1, 2, 3], true), per(enhanceFactor));
    case "posterize": {
      const step = per((x) => 2 ** (8 - posterizeBits(x))); // levels of 1/255 dropped
      return r.mul(255).round().div(step).floor().mul(step).div(255);
    }
    case "solarize":
      return where(r.ge(per((x) => x)), r.neg().add(1), r);
    default:
      return r;
  }
}

/** x [B, C, H, W] normalised by norm, through RA_N RandAugment stages; returns the same normalisation. */
function randAugment(x: Tensor, gen: Draws, norm: Normalization | null): Tensor {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const mean = tensor(norm ? norm.mean : new Array(c).fill(0), [1, c, 1, 1], "float32");
  const std = tensor(norm ? norm.std : new Array(c).fill(1), [1, c, 1, 1], "float32");
  const plan = randAugmentPlan(b, perRow(gen, 2 * RA_N, b));
  let out = x;
  for (let s = 0; s < RA_N; s++) {
    const op = plan.op[s] as RAOp[];
    const m = plan.m[s] as number[];
    if (op.some((o) => GEOMETRIC.has(o))) out = gridSample(out, affineGrid(tensor(raThetas(op, m), [b, 2, 3], "float32"), [b, c, h, w]));
    const photo = [...new Set(op)].filter((o) => !GEOMETRIC.has(o) && o !== "identity");
    if (photo.length === 0) continue;
    const r = out.mul(std).add(mean); // pixels in [0, 1]
    let acc = r;
    for (const o of photo) {
      const pick = tensor(
        op.map((x) => (x === o ? 1 : 0)),
        [b, 1, 1, 1],
        "float32",
      );
      acc = where(pick.gt(0), photometric(o, r, m).clamp(0, 1), acc);
    }
    out = acc.sub(mean).div(std);
  }
  return out;
}
