// The strong view of the two-view option (--train-view cutout): the batch as the loader gave it
// (the weak view) with a random square zeroed in every image (Cutout, DeVries & Taylor 2017).
// Inputs are normalised, so zero is the dataset's mean pixel. Also the strong view's affine warp
// (--train-view strong) and mixup's shares (--mixup). The mask, warp and share functions are
// pure (results from given uniforms); the tensor views below draw those uniforms from the run's
// generator and build the batch a step's losses see.

import { affineGrid, gridSample } from "../torch/functional.js";
import type { Generator } from "../torch/random.js";
import { tidy } from "../torch/scope.js";
import { type Tensor, tensor } from "../torch/tensor.js";

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

/** Which view the losses of a step see: the batch as loaded (weak), Cutout, or warp + Cutout. */
export type ViewKind = "weak" | "cutout" | "strong";

/**
 * A configured view with "auto" made concrete: cutout on images [C,H,W] (fixmatch: its strong
 * view), weak on feature vectors.
 */
export function resolveView(kind: ViewKind | "auto", inputShape: number[], method?: string): ViewKind {
  if (kind !== "auto") return kind;
  if (inputShape.length !== 3) return "weak";
  return method === "fixmatch" ? "strong" : "cutout";
}

/** x [B, C, H, W] as the losses of a step see it under `kind`; draws from gen (weak: x itself, no draw). */
export function makeView(kind: ViewKind, x: Tensor, gen: Generator): Tensor {
  if (kind === "weak") return x;
  if (x.ndim !== 4) throw new Error(`the ${kind} view needs images [B,C,H,W], got [${x.shape}]`);
  return tidy(() => (kind === "cutout" ? cutout(x, gen) : strongView(x, gen))); // its masks and grids are freed
}

/** x [B, C, H, W] with a random square of half the image side zeroed in every image. */
function cutout(x: Tensor, gen: Generator): Tensor {
  const [b, , h, w] = x.shape as [number, number, number, number];
  const size = Math.max(1, Math.round(Math.min(h, w) / 2));
  return x.mul(tensor(cutoutMask(b, h, w, size, gen.uniforms(2 * b)), [b, 1, h, w], "float32"));
}

/** x [B, C, H, W] warped by a random affine map per image (zeros, the mean pixel, outside), then Cutout. */
function strongView(x: Tensor, gen: Generator): Tensor {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const theta = tensor(affineThetas(b, gen.uniforms(5 * b), STRONG_AFFINE), [b, 2, 3], "float32");
  return cutout(gridSample(x, affineGrid(theta, [b, c, h, w])), gen);
}

/** Mixup's draw for a batch: each image's own share and its partner. */
export interface Mix {
  lam: Tensor; // [B] each image's own share, in [0.5, 1]
  rest: Tensor; // [B] 1 - lam, its partner's share
  perm: Tensor; // [B] int64 the partner of each image
}

/** Mixup's draw for a batch of b: shares from Beta(alpha, alpha) folded to [0.5, 1], partners a permutation. */
export function drawMix(b: number, alpha: number, gen: Generator): Mix {
  const shares = mixupShares(
    b,
    alpha,
    uniformStream((n) => gen.uniforms(n), 4 * b),
  );
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
