// Inputs for `llp predict`: image files (decoded with sharp to the run's input shape) or a
// .npy matrix of rows, normalised with the run's statistics.
import { existsSync, statSync } from "node:fs";
import { extname } from "node:path";
import type { Normalization } from "../data/augment.js";
import { DataError } from "../data/errors.js";
import { decodeImage, IMAGE_EXTENSIONS, listImages, type SharpFactory } from "../data/image-folder.js";
import { npyToFloat32, readNpy } from "../data/npy.js";
import type { Tensor } from "../torch/tensor.js";
import { normalizedTensor } from "../train/data.js";

export async function decodeInputs(inputs: string[], shape: number[], norm: Normalization): Promise<{ x: Tensor; names: string[] }> {
  let files = inputs;
  if (files.length === 1 && extname(files[0] as string).toLowerCase() === ".npy") {
    const file = files[0] as string;
    const a = await readNpy(file);
    const per = shape.reduce((p, q) => p * q, 1);
    const n = a.shape[0] ?? 0;
    if (a.shape.slice(1).reduce((p, q) => p * q, 1) !== per)
      throw new DataError(file, `rows of shape [${a.shape.slice(1)}] do not match the model's input [${shape}]`);
    const raw = a.data instanceof Uint8Array ? a.data : npyToFloat32(a, file);
    if (raw instanceof Float32Array && shape.length === 3) checkPixelScale(raw, norm, file);
    return {
      x: normalizedTensor(raw, n, shape, norm),
      names: Array.from({ length: n }, (_, i) => `${file}[${i}]`),
    };
  }
  if (shape.length !== 3) throw new Error(`this model takes feature vectors [${shape}]: pass a .npy of rows`);
  // a folder stands for the images in it (and in its subfolders), in path order
  const expanded: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) throw new DataError(f, "no such file or folder");
    if (statSync(f).isDirectory()) {
      const images = await listImages(f);
      if (images.length === 0) throw new DataError(f, `folder contains no images (${IMAGE_EXTENSIONS.join(", ")})`);
      expanded.push(...images);
    } else expanded.push(f);
  }
  files = expanded;
  const [c, h, w] = shape as [number, number, number];
  const { default: sharp } = await import("sharp");
  const raw = new Uint8Array(files.length * c * h * w);
  await Promise.all(
    files.map(async (file, b) => {
      if (!IMAGE_EXTENSIONS.includes(extname(file).toLowerCase()))
        throw new DataError(file, `not an image (${IMAGE_EXTENSIONS.join(", ")}) or a .npy`);
      raw.set(await decodeImage(sharp as unknown as SharpFactory, file, [c, h, w], "cover"), b * c * h * w);
    }),
  );
  return { x: normalizedTensor(raw, files.length, shape, norm), names: files };
}

/**
 * Image models trained on images see pixels in [0, 1] (uint8 is divided by 255). Float rows
 * of 0-255 pixels given to such a run are refused, not silently mispredicted.
 */
function checkPixelScale(raw: Float32Array, norm: Normalization, file: string): void {
  let max = Number.NEGATIVE_INFINITY;
  for (const x of raw) if (x > max) max = x;
  // statistics of [0, 1] pixels have means in [0, 1] and std <= 1; no 0-255 image stays under 20
  const unitScale = norm.mean.every((m) => m >= 0 && m <= 1) && norm.std.every((s) => s <= 1);
  if (max > 20 && unitScale)
    throw new DataError(file, `float pixels reach ${max}, but this run saw pixels in [0, 1]: divide by 255, or save uint8 pixels`);
}
