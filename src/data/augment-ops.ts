// Pixel kernels of the augmentations in augment.ts, on [C,H,W] float32 planes in [0, 1].
// Each follows the torchvision function named in its comment.

/** torchvision's RandomResizedCrop tries 10 boxes, then falls back to a centre crop. */
export const ATTEMPTS = 10;
/** torchvision's rgb_to_grayscale weights. */
const GRAY = [0.2989, 0.587, 0.114];

/** Source index of padded position i (-1 = zero padding). */
export function padIndex(i: number, n: number, reflect: boolean): number {
  if (i >= 0 && i < n) return i;
  if (!reflect) return -1;
  return i < 0 ? -i : 2 * (n - 1) - i;
}

/** torchvision's RandomResizedCrop.get_params with our uniforms: [top, left, height, width]. */
export function cropBox(
  H: number,
  W: number,
  scale: [number, number],
  ratio: [number, number],
  u: Float64Array,
): [number, number, number, number] {
  const area = H * W;
  const [lr0, lr1] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let t = 0; t < ATTEMPTS; t++) {
    const target = area * (scale[0] + (u[4 * t] as number) * (scale[1] - scale[0]));
    const aspect = Math.exp(lr0 + (u[4 * t + 1] as number) * (lr1 - lr0));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      const top = Math.floor((u[4 * t + 2] as number) * (H - h + 1));
      const left = Math.floor((u[4 * t + 3] as number) * (W - w + 1));
      return [top, left, h, w];
    }
  }
  const inRatio = W / H;
  let w = W;
  let h = H;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return [Math.floor((H - h) / 2), Math.floor((W - w) / 2), h, w];
}

/** Bilinear taps for resizing `len` source pixels starting at `start` to `out` pixels (align_corners = false). */
export function linearTaps(len: number, out: number, start: number, i0: Int32Array, i1: Int32Array, frac: Float32Array): void {
  const s = len / out;
  for (let o = 0; o < out; o++) {
    const src = Math.max((o + 0.5) * s - 0.5, 0);
    const f = Math.floor(src);
    i0[o] = start + f;
    i1[o] = start + (f < len - 1 ? f + 1 : f);
    frac[o] = src - f;
  }
}

/** x = clamp(f * x + (1 - f) * level, 0, 1). */
export function blend(x: Float32Array, f: number, level: number): void {
  const b = (1 - f) * level;
  for (let i = 0; i < x.length; i++) {
    const v = f * (x[i] as number) + b;
    x[i] = Math.min(Math.max(v, 0), 1);
  }
}

/** x[c, p] = clamp(f * x[c, p] + (1 - f) * plane[p], 0, 1) for every channel c. */
export function blendPlane(x: Float32Array, f: number, plane: Float32Array): void {
  const hw = plane.length;
  for (let c = 0; c < x.length; c += hw) {
    for (let p = 0; p < hw; p++) {
      const v = f * (x[c + p] as number) + (1 - f) * (plane[p] as number);
      x[c + p] = Math.min(Math.max(v, 0), 1);
    }
  }
}

/** out[p] = luma of RGB pixel p. */
export function grayPlane(x: Float32Array, hw: number, out: Float32Array): Float32Array {
  const [wr, wg, wb] = GRAY as [number, number, number];
  for (let p = 0; p < hw; p++) out[p] = wr * (x[p] as number) + wg * (x[hw + p] as number) + wb * (x[2 * hw + p] as number);
  return out;
}

export function mean(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] as number;
  return s / a.length;
}

/** Rotates hue by `shift` turns (torchvision's adjust_hue via HSV). */
export function shiftHue(x: Float32Array, hw: number, shift: number): void {
  for (let p = 0; p < hw; p++) {
    const r = x[p] as number;
    const g = x[hw + p] as number;
    const b = x[2 * hw + p] as number;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const delta = max - min;
    if (delta === 0) continue; // gray pixel: hue undefined, unchanged
    let h: number;
    if (max === r) h = (g - b) / delta;
    else if (max === g) h = 2 + (b - r) / delta;
    else h = 4 + (r - g) / delta;
    h = h / 6 + shift;
    h -= Math.floor(h);
    const s = delta / max;
    const v = max;
    const h6 = h * 6;
    const i = Math.floor(h6) % 6;
    const f = h6 - Math.floor(h6);
    const pp = v * (1 - s);
    const q = v * (1 - s * f);
    const t = v * (1 - s * (1 - f));
    // sector i of the hue wheel: which of (v, t, pp, q) each channel takes
    x[p] = i === 0 || i === 5 ? v : i === 1 ? q : i === 4 ? t : pp;
    x[hw + p] = i === 1 || i === 2 ? v : i === 0 ? t : i === 3 ? q : pp;
    x[2 * hw + p] = i === 3 || i === 4 ? v : i === 2 ? t : i === 5 ? q : pp;
  }
}
