// What `llp predict` and llp/infer take: image files and folders (decoded with sharp to the
// model's [C, H, W]) or one .npy of rows, read into raw examples: uint8 pixels 0-255 as decoded,
// or float32 rows as stored. No tensors here (llp/infer runs without libtorch).
import { existsSync, statSync } from "node:fs";
import { extname } from "node:path";
import { DataError } from "./errors.js";
import { decodeImage, IMAGE_EXTENSIONS, listImages, type SharpFactory } from "./image-decode.js";
import { npyToFloat32, readNpy } from "./npy.js";

/** Per-channel (images) or per-feature statistics the network's inputs were normalised with. */
export interface InputStats {
  mean: number[];
  std: number[];
}

export interface RawInputs {
  /** n examples of the model's shape, row after row: uint8 pixels 0-255, or float32 values */
  raw: Uint8Array | Float32Array;
  n: number;
  /** one name per example: the file, or "file.npy[i]" */
  names: string[];
}

/** Reads `inputs` (one .npy of rows, or image files and folders, searched recursively in path order) for a model taking `shape`. */
export async function readInputs(inputs: string[], shape: readonly number[], stats: InputStats): Promise<RawInputs> {
  if (inputs.length === 1 && extname(inputs[0] as string).toLowerCase() === ".npy") {
    const file = inputs[0] as string;
    const a = await readNpy(file);
    const per = shape.reduce((p, q) => p * q, 1);
    const n = a.shape[0] ?? 0;
    if (a.shape.slice(1).reduce((p, q) => p * q, 1) !== per)
      throw new DataError(file, `rows of shape [${a.shape.slice(1)}] do not match the model's input [${shape}]`);
    const raw = a.data instanceof Uint8Array ? a.data : npyToFloat32(a, file);
    if (raw instanceof Float32Array && shape.length === 3) checkPixelScale(raw, stats, file);
    return { raw, n, names: Array.from({ length: n }, (_, i) => `${file}[${i}]`) };
  }
  if (shape.length !== 3) throw new Error(`this model takes feature vectors [${shape}]: pass a .npy of rows`);
  // a folder stands for the images in it (and in its subfolders), in path order
  const files: string[] = [];
  for (const f of inputs) {
    if (!existsSync(f)) throw new DataError(f, "no such file or folder");
    if (statSync(f).isDirectory()) {
      const images = await listImages(f);
      if (images.length === 0) throw new DataError(f, `folder contains no images (${IMAGE_EXTENSIONS.join(", ")})`);
      files.push(...images);
    } else files.push(f);
  }
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
  return { raw, n: files.length, names: files };
}

/**
 * Image models trained on images see pixels in [0, 1] (uint8 is divided by 255). Float rows
 * of 0-255 pixels given to such a run are refused, not silently mispredicted.
 */
function checkPixelScale(raw: Float32Array, stats: InputStats, file: string): void {
  let max = Number.NEGATIVE_INFINITY;
  for (const x of raw) if (x > max) max = x;
  // statistics of [0, 1] pixels have means in [0, 1] and std <= 1; no 0-255 image stays under 20
  const unitScale = stats.mean.every((m) => m >= 0 && m <= 1) && stats.std.every((s) => s <= 1);
  if (max > 20 && unitScale)
    throw new DataError(file, `float pixels reach ${max}, but this run saw pixels in [0, 1]: divide by 255, or save uint8 pixels`);
}
