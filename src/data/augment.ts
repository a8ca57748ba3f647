// Seeded augmentation of image batches on typed arrays, fused with the uint8 -> [0, 1] scaling
// and the per-channel normalisation: raw [B,C,H,W] in, normalised float32 [B,C,H,W] out.
// All randomness comes in as one Float64Array of uniforms (drawsPerExample per image) drawn
// from the run's generator, so a batch is a pure function of (pixels, uniforms).
import type { Generator } from "../torch/random.js";
import { ATTEMPTS, blend, blendPlane, cropBox, grayPlane, linearTaps, mean, padIndex, shiftHue } from "./augment-ops.js";
import type { RawExamples } from "./dataset.js";
import { rejectUnknownKeys } from "./errors.js";

/** Random crop of a padded image plus horizontal flip: for small gray images (Fashion-MNIST). */
export interface PadCropOptions {
  kind: "padCrop";
  /** Pixels of padding on each side before cropping back to H x W. Default: 4 (CIFAR's RandomCrop(32, padding=4)). */
  pad?: number;
  /** "zero" pads with black, "reflect" mirrors the border (without repeating it). Default: "zero". */
  padMode?: "zero" | "reflect";
  /** Horizontal flip with probability 1/2. Default: true. */
  flip?: boolean;
}

/**
 * The augmentation of instance recognition (Wu et al. 2018) that LA/LLP reuse for ImageNet:
 * RandomResizedCrop(scale 0.2-1), RandomGrayscale(0.2), ColorJitter(0.4, 0.4, 0.4, 0.4),
 * RandomHorizontalFlip (moco's main_moco.py, "MoCo v1's aug: the same as InstDisc").
 * The crop is resized back to the input size, bilinear.
 */
export interface ResizedCropJitterOptions {
  kind: "resizedCropJitter";
  /** Crop area as a fraction of the image. Default: [0.2, 1]. */
  scale?: [number, number];
  /** Crop aspect ratio w/h, drawn log-uniformly. Default: [3/4, 4/3]. */
  ratio?: [number, number];
  /** Probability of converting to grayscale. Default: 0.2. */
  grayscale?: number;
  /** Brightness factor drawn from [1 - b, 1 + b]. Default: 0.4. */
  brightness?: number;
  /** Contrast factor drawn from [1 - c, 1 + c]. Default: 0.4. */
  contrast?: number;
  /** Saturation factor drawn from [1 - s, 1 + s]. Default: 0.4. */
  saturation?: number;
  /** Hue shift drawn from [-h, h] (fraction of the colour wheel, h <= 0.5); 0 = off. Default: 0.4. */
  hue?: number;
  /** Horizontal flip with probability 1/2. Default: true. */
  flip?: boolean;
}

export type AugmentOptions = PadCropOptions | ResizedCropJitterOptions;

/** Per-channel statistics of [0, 1]-scaled inputs: x -> (x - mean[c]) / std[c]. */
export interface Normalization {
  mean: number[];
  std: number[];
}

export const PAD_CROP_DEFAULTS: Required<Omit<PadCropOptions, "kind">> = { pad: 4, padMode: "zero", flip: true };
export const RESIZED_CROP_JITTER_DEFAULTS: Required<Omit<ResizedCropJitterOptions, "kind">> = {
  scale: [0.2, 1],
  ratio: [3 / 4, 4 / 3],
  grayscale: 0.2,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  hue: 0.4,
  flip: true,
};

/** The usual augmentation for an image shape: padCrop for 1 channel, resizedCropJitter for 3. */
export function defaultAugment(shape: readonly number[]): AugmentOptions {
  return shape[0] === 1 ? { kind: "padCrop" } : { kind: "resizedCropJitter" };
}

type Resolved = Required<PadCropOptions> | Required<ResizedCropJitterOptions>;

function resolve(o: AugmentOptions, shape: readonly number[]): Resolved {
  if (shape.length !== 3) throw new Error(`augment: needs image examples [C,H,W], got [${shape.join(",")}]`);
  const [c, h, w] = shape as [number, number, number];
  if (c !== 1 && c !== 3) throw new Error(`augment: images must have 1 or 3 channels, got ${c}`);
  if (o.kind === "padCrop") {
    rejectUnknownKeys(o, ["kind", ...Object.keys(PAD_CROP_DEFAULTS)], "augment padCrop");
    const r = { ...PAD_CROP_DEFAULTS, ...o } as Required<PadCropOptions>;
    if (!Number.isInteger(r.pad) || r.pad < 0) throw new Error(`augment: pad must be a non-negative integer, got ${r.pad}`);
    if (r.padMode !== "zero" && r.padMode !== "reflect") throw new Error(`augment: padMode must be "zero" or "reflect", got ${r.padMode}`);
    if (r.padMode === "reflect" && r.pad >= Math.min(h, w))
      throw new Error(`augment: reflect pad ${r.pad} must be smaller than the image (${h}x${w})`);
    return r;
  }
  if (o.kind === "resizedCropJitter") {
    rejectUnknownKeys(o, ["kind", ...Object.keys(RESIZED_CROP_JITTER_DEFAULTS)], "augment resizedCropJitter");
    const r = { ...RESIZED_CROP_JITTER_DEFAULTS, ...o } as Required<ResizedCropJitterOptions>;
    const [s0, s1] = r.scale;
    const [r0, r1] = r.ratio;
    if (!(s0 > 0 && s0 <= s1 && s1 <= 1)) throw new Error(`augment: scale must satisfy 0 < min <= max <= 1, got [${r.scale}]`);
    if (!(r0 > 0 && r0 <= r1)) throw new Error(`augment: ratio must satisfy 0 < min <= max, got [${r.ratio}]`);
    for (const k of ["grayscale", "brightness", "contrast", "saturation"] as const) {
      if (!(r[k] >= 0) || (k === "grayscale" && r[k] > 1)) throw new Error(`augment: ${k} out of range: ${r[k]}`);
    }
    if (!(r.hue >= 0 && r.hue <= 0.5)) throw new Error(`augment: hue must be in [0, 0.5], got ${r.hue}`);
    return r;
  }
  throw new Error(`augment: unknown kind '${(o as { kind: unknown }).kind}' (padCrop or resizedCropJitter)`);
}

/** Applies one augmentation recipe (and normalisation) to batches of one image shape. */
export class Augmenter {
  readonly options: Resolved;
  /** Uniforms consumed per example. */
  readonly drawsPerExample: number;
  readonly #c: number;
  readonly #h: number;
  readonly #w: number;
  readonly #norm: Normalization;
  readonly #work: Float32Array;
  readonly #gray: Float32Array;
  readonly #rows: Int32Array;
  readonly #rows1: Int32Array;
  readonly #rowFrac: Float32Array;
  readonly #cols: Int32Array;
  readonly #cols1: Int32Array;
  readonly #colFrac: Float32Array;

  constructor(
    readonly shape: readonly number[],
    options: AugmentOptions,
    normalize: Normalization | null = null,
  ) {
    this.options = resolve(options, shape);
    [this.#c, this.#h, this.#w] = shape as [number, number, number];
    this.#norm = checkNormalization(normalize, this.#c);
    this.drawsPerExample = this.options.kind === "padCrop" ? 3 : 4 * ATTEMPTS + 10;
    this.#work = new Float32Array(this.#c * this.#h * this.#w);
    this.#gray = new Float32Array(this.#h * this.#w);
    [this.#rows, this.#rows1, this.#rowFrac] = [new Int32Array(this.#h), new Int32Array(this.#h), new Float32Array(this.#h)];
    [this.#cols, this.#cols1, this.#colFrac] = [new Int32Array(this.#w), new Int32Array(this.#w), new Float32Array(this.#w)];
  }

  /** Draws this batch's uniforms from gen and applies the augmentation. */
  augment(raw: RawExamples, batch: number, gen: Generator): Float32Array {
    return this.apply(raw, batch, gen.uniforms(batch * this.drawsPerExample));
  }

  /** raw [B,C,H,W] (uint8 scaled by 1/255, or float32 in [0, 1]) -> normalised float32 [B,C,H,W]. */
  apply(raw: RawExamples, batch: number, u: Float64Array): Float32Array {
    const d = this.#c * this.#h * this.#w;
    if (raw.length !== batch * d) throw new RangeError(`augment: ${raw.length} values are not ${batch} images of [${this.shape}]`);
    if (u.length < batch * this.drawsPerExample)
      throw new RangeError(`augment: ${u.length} uniforms, need ${batch * this.drawsPerExample}`);
    const out = new Float32Array(batch * d);
    const scale = raw instanceof Uint8Array ? 1 / 255 : 1;
    for (let b = 0; b < batch; b++) {
      const src = raw.subarray(b * d, (b + 1) * d);
      const dst = out.subarray(b * d, (b + 1) * d);
      const ub = u.subarray(b * this.drawsPerExample, (b + 1) * this.drawsPerExample);
      if (this.options.kind === "padCrop") this.#padCrop(src, dst, scale, ub, this.options);
      else this.#resizedCropJitter(src, dst, scale, ub, this.options);
    }
    return out;
  }

  #padCrop(src: RawExamples, dst: Float32Array, scale: number, u: Float64Array, o: Required<PadCropOptions>): void {
    const [C, H, W] = [this.#c, this.#h, this.#w];
    const p = o.pad;
    const dy = Math.floor((u[0] as number) * (2 * p + 1));
    const dx = Math.floor((u[1] as number) * (2 * p + 1));
    const flip = o.flip && (u[2] as number) < 0.5;
    const reflect = o.padMode === "reflect";
    const rows = this.#rows;
    const cols = this.#cols;
    for (let y = 0; y < H; y++) rows[y] = padIndex(y + dy - p, H, reflect);
    for (let x = 0; x < W; x++) cols[x] = padIndex((flip ? W - 1 - x : x) + dx - p, W, reflect);
    for (let c = 0; c < C; c++) {
      const a = scale / (this.#norm.std[c] as number);
      const z = (0 - (this.#norm.mean[c] as number)) / (this.#norm.std[c] as number); // value of a zero pixel
      const plane = c * H * W;
      for (let y = 0; y < H; y++) {
        const sy = rows[y] as number;
        const o0 = plane + y * W;
        if (sy < 0) {
          dst.fill(z, o0, o0 + W);
          continue;
        }
        const s0 = plane + sy * W;
        for (let x = 0; x < W; x++) {
          const sx = cols[x] as number;
          dst[o0 + x] = sx < 0 ? z : (src[s0 + sx] as number) * a + z;
        }
      }
    }
  }

  #resizedCropJitter(src: RawExamples, dst: Float32Array, scale: number, u: Float64Array, o: Required<ResizedCropJitterOptions>): void {
    const [C, H, W] = [this.#c, this.#h, this.#w];
    const [top, left, ch, cw] = cropBox(H, W, o.scale, o.ratio, u);
    let k = 4 * ATTEMPTS;
    const flip = (u[k++] as number) < 0.5 && o.flip;
    const gray = (u[k++] as number) < o.grayscale;
    const factor = (spread: number, v: number) => Math.max(0, 1 - spread) + v * (1 + spread - Math.max(0, 1 - spread));
    const bright = factor(o.brightness, u[k++] as number);
    const contrast = factor(o.contrast, u[k++] as number);
    const sat = factor(o.saturation, u[k++] as number);
    const hue = (2 * (u[k++] as number) - 1) * o.hue;
    const order = [0, 1, 2, 3].sort((i, j) => (u[k + i] as number) - (u[k + j] as number)); // torchvision: randperm(4)

    // bilinear resize of the (flipped) crop to H x W, align_corners = false, into x in [0, 1]
    const x = this.#work;
    const [y0s, y1s, wy] = [this.#rows, this.#rows1, this.#rowFrac];
    const [x0s, x1s, wx] = [this.#cols, this.#cols1, this.#colFrac];
    linearTaps(ch, H, top, y0s, y1s, wy);
    linearTaps(cw, W, left, x0s, x1s, wx);
    if (flip) {
      x0s.reverse();
      x1s.reverse();
      wx.reverse();
    }
    const hw = H * W;
    for (let c = 0; c < C; c++) {
      const plane = c * hw;
      for (let oy = 0; oy < H; oy++) {
        const r0 = plane + (y0s[oy] as number) * W;
        const r1 = plane + (y1s[oy] as number) * W;
        const fy = wy[oy] as number;
        const o0 = plane + oy * W;
        for (let ox = 0; ox < W; ox++) {
          const a0 = x0s[ox] as number;
          const a1 = x1s[ox] as number;
          const fx = wx[ox] as number;
          const top_ = (src[r0 + a0] as number) * (1 - fx) + (src[r0 + a1] as number) * fx;
          const bot = (src[r1 + a0] as number) * (1 - fx) + (src[r1 + a1] as number) * fx;
          x[o0 + ox] = (top_ * (1 - fy) + bot * fy) * scale;
        }
      }
    }
    const g = this.#gray;
    if (gray && C === 3) {
      grayPlane(x, hw, g);
      x.set(g, 0);
      x.set(g, hw);
      x.set(g, 2 * hw);
    }
    for (const t of order) {
      if (t === 0 && o.brightness > 0) blend(x, bright, 0);
      else if (t === 1 && o.contrast > 0) blend(x, contrast, C === 3 ? mean(grayPlane(x, hw, g)) : mean(x));
      else if (t === 2 && o.saturation > 0 && C === 3) blendPlane(x, sat, grayPlane(x, hw, g));
      else if (t === 3 && o.hue > 0 && C === 3) shiftHue(x, hw, hue);
    }
    for (let c = 0; c < C; c++) {
      const m = this.#norm.mean[c] as number;
      const s = this.#norm.std[c] as number;
      for (let i = c * hw; i < (c + 1) * hw; i++) dst[i] = ((x[i] as number) - m) / s;
    }
  }
}

/** Scaling to [0, 1] and normalisation without augmentation: raw [B, ...shape] -> float32. */
export function normalizeBatch(raw: RawExamples, batch: number, shape: readonly number[], normalize: Normalization | null): Float32Array {
  const channels = shape[0] ?? 1;
  const inner = shape.slice(1).reduce((a, b) => a * b, 1);
  const norm = checkNormalization(normalize, channels);
  const scale = raw instanceof Uint8Array ? 1 / 255 : 1;
  const out = new Float32Array(raw.length);
  const d = channels * inner;
  if (raw.length !== batch * d) throw new RangeError(`normalize: ${raw.length} values are not ${batch} examples of [${shape}]`);
  for (let c = 0; c < channels; c++) {
    const a = scale / (norm.std[c] as number);
    const z = (0 - (norm.mean[c] as number)) / (norm.std[c] as number);
    for (let b = 0; b < batch; b++) {
      const o0 = b * d + c * inner;
      for (let i = o0; i < o0 + inner; i++) out[i] = (raw[i] as number) * a + z;
    }
  }
  return out;
}

function checkNormalization(n: Normalization | null, channels: number): Normalization {
  if (n === null) return { mean: new Array(channels).fill(0), std: new Array(channels).fill(1) };
  if (n.mean.length !== channels || n.std.length !== channels) {
    throw new Error(`normalize: mean/std have ${n.mean.length}/${n.std.length} entries, the data has ${channels} channels`);
  }
  if (n.std.some((s) => !(s > 0))) throw new Error(`normalize: std must be positive, got [${n.std}]`);
  return n;
}
