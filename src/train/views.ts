// The strong view of the two-view option (--train-view cutout): the batch as the loader gave it
// (the weak view) with a random square zeroed in every image (Cutout, DeVries & Taylor 2017).
// Inputs are normalised, so zero is the dataset's mean pixel. Pure: a mask from given uniforms.

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
