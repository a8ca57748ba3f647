// Image files decoded to the [C, H, W] uint8 pixels a network takes (sharp), and image files
// found in folders. No tensors here: the ONNX inference entry (src/infer) shares this with the
// training data layer without loading libtorch.
import { readdir } from "node:fs/promises";
import { extname, join } from "node:path";
import type { Sharp, SharpOptions } from "sharp";
import { DataError } from "./errors.js";

export const IMAGE_EXTENSIONS: readonly string[] = [".png", ".jpg", ".jpeg", ".webp"];

export type SharpFactory = (input: string, options?: SharpOptions) => Sharp;

/**
 * Decodes one image file to [C,H,W] uint8 (C = 1 gray or 3 sRGB), resized to H x W with `fit`
 * (null = no resize: the image must already be H x W). Errors name the file.
 */
export async function decodeImage(
  sharp: SharpFactory,
  file: string,
  shape: [number, number, number],
  fit: "cover" | "contain" | "fill" | null,
  checkSize?: (info: { width: number; height: number }) => string | null,
): Promise<Uint8Array> {
  const [c, h, w] = shape;
  let img = sharp(file, { failOn: "warning" });
  if (fit !== null) img = img.resize(w, h, { fit, position: "centre", background: "#000000" });
  img = img.removeAlpha();
  img = c === 1 ? img.greyscale() : img.toColourspace("srgb");
  let data: Buffer;
  let info: { width: number; height: number; channels: number };
  try {
    ({ data, info } = await img.raw().toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw new DataError(file, `cannot decode image (${(e as Error).message})`);
  }
  const bad =
    checkSize?.(info) ?? (info.width !== w || info.height !== h ? `decoded to ${info.width}x${info.height}, expected ${w}x${h}` : null);
  if (bad !== null) throw new DataError(file, bad);
  if (info.channels !== c) throw new DataError(file, `decoded to ${info.channels} channels, expected ${c}`);
  // HWC -> CHW
  const out = new Uint8Array(c * h * w);
  const hw = h * w;
  for (let p = 0; p < hw; p++) for (let k = 0; k < c; k++) out[k * hw + p] = data[p * c + k] as number;
  return out;
}

export const isImage = (f: string): boolean => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase());

/** Image files under dir, recursively, sorted by path. */
export async function listImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listImages(p)));
    else if (isImage(e.name)) out.push(p);
  }
  return out.sort();
}
