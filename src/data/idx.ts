// IDX files (the MNIST family's format), raw or gzipped.
// Layout: two zero bytes, a type byte (0x08 = unsigned byte), the number of dims, each dim as a
// big-endian uint32, then the values in C order. Images are 0x00000803 [N,H,W], labels 0x00000801 [N].
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { MemoryDataset } from "./dataset.js";
import { DataError } from "./errors.js";

const gunzipAsync = promisify(gunzip);

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxArray {
  magic: number;
  dims: number[];
  data: Uint8Array;
}

/** Reads a file, gunzipping it when it starts with the gzip magic bytes (whatever its name). */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw new DataError(file, `cannot read (${(e as Error).message})`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = await gunzipAsync(buf);
    } catch (e) {
      throw new DataError(file, `corrupt or truncated gzip data (${(e as Error).message})`);
    }
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Parses an unsigned-byte IDX array and checks its length against its header. */
export function parseIdx(buf: Uint8Array, file: string): IdxArray {
  if (buf.length < 4) throw new DataError(file, `too short for an IDX header (${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  const ndim = buf[3] as number;
  if (buf[0] !== 0 || buf[1] !== 0 || ndim < 1 || ndim > 4) {
    throw new DataError(file, `wrong magic number 0x${hex(magic)}: not an IDX file`);
  }
  if (buf[2] !== 0x08) {
    throw new DataError(file, `IDX type 0x${(buf[2] as number).toString(16)} is not supported (only 0x08, unsigned bytes)`);
  }
  const header = 4 + 4 * ndim;
  if (buf.length < header) throw new DataError(file, `truncated IDX header (${buf.length} bytes, need ${header})`);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d));
  const expected = dims.reduce((a, b) => a * b, 1);
  const found = buf.length - header;
  if (found < expected) {
    throw new DataError(file, `truncated: header says [${dims.join(",")}] = ${expected} bytes of data, found ${found}`);
  }
  if (found > expected) {
    throw new DataError(file, `${found - expected} unexpected trailing bytes after [${dims.join(",")}] values`);
  }
  return { magic, dims, data: buf.subarray(header) };
}

export async function readIdx(file: string): Promise<IdxArray> {
  return parseIdx(await readMaybeGzip(file), file);
}

export interface IdxPairOptions {
  /** Dataset name for runs and split files. Default: "idx". */
  name?: string;
  /** Class names; their count is C. Default: "0".."max label". */
  classNames?: readonly string[];
  /** Validation size this dataset suggests (see Dataset.defaultValidation). Default: none. */
  defaultValidation?: number;
}

/** An image IDX file [N,H,W] and its label IDX file [N] as one dataset of shape [1,H,W]. */
export async function loadIdxPair(imagesFile: string, labelsFile: string, o: IdxPairOptions = {}): Promise<MemoryDataset> {
  const [images, labels] = await Promise.all([readIdx(imagesFile), readIdx(labelsFile)]);
  if (images.magic !== IDX_IMAGES_MAGIC) {
    throw new DataError(imagesFile, `wrong magic number 0x${hex(images.magic)} (expected 0x${hex(IDX_IMAGES_MAGIC)}, images [N,H,W])`);
  }
  if (labels.magic !== IDX_LABELS_MAGIC) {
    throw new DataError(labelsFile, `wrong magic number 0x${hex(labels.magic)} (expected 0x${hex(IDX_LABELS_MAGIC)}, labels [N])`);
  }
  const [n, h, w] = images.dims as [number, number, number];
  if (labels.dims[0] !== n) {
    throw new DataError(labelsFile, `${labels.dims[0]} labels but ${imagesFile} holds ${n} images`);
  }
  const y = Int32Array.from(labels.data);
  let maxLabel = -1;
  for (const v of y) maxLabel = Math.max(maxLabel, v);
  const classNames = o.classNames ?? Array.from({ length: maxLabel + 1 }, (_, c) => String(c));
  if (maxLabel >= classNames.length) {
    throw new DataError(labelsFile, `label ${maxLabel} is out of range for ${classNames.length} classes`);
  }
  return new MemoryDataset({
    name: o.name ?? "idx",
    data: images.data,
    shape: [1, h, w],
    labels: y,
    classNames,
    ...(o.defaultValidation !== undefined ? { defaultValidation: o.defaultValidation } : {}),
    source: imagesFile,
  });
}

/**
 * The {images, labels} files of one part in an IDX directory, MNIST naming:
 * `<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]`, prefix "train" for the
 * training part and "t10k" or "test" for the test part. Null when the directory has none; an
 * error when only one of the two is there.
 */
export function findIdxPair(dir: string, part: "train" | "test"): { images: string; labels: string } | null {
  const prefixes = part === "train" ? ["train"] : ["t10k", "test"];
  for (const p of prefixes) {
    for (const gz of ["", ".gz"]) {
      const images = join(dir, `${p}-images-idx3-ubyte${gz}`);
      const labels = join(dir, `${p}-labels-idx1-ubyte${gz}`);
      const hasImages = existsSync(images);
      const hasLabels = existsSync(labels);
      if (hasImages && hasLabels) return { images, labels };
      if (hasImages) throw new DataError(images, `no matching labels file ${labels}`);
      if (hasLabels) throw new DataError(labels, `no matching images file ${images}`);
    }
  }
  return null;
}

const hex = (v: number): string => v.toString(16).padStart(8, "0");
