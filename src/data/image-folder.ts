// Image folders, decoded lazily with sharp so a folder may be larger than memory:
//   root/<class>/*.png|jpg|jpeg|webp   labelled by folder (classes sorted by name)
//   root/unlabeled/ (or unlabelled/)   label -1
//   root/*.png (no subfolders)          every image unlabelled (to embed or predict)
// or, with `labels`, a CSV of `path,label` rows (path relative to root; empty label = -1).
// Decoded examples ([C,H,W] uint8) live in a byte-bounded LRU cache; decoding runs in parallel
// on libuv's thread pool, at most `parallel` images queued at a time.
import { readdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { Tensor } from "../torch/tensor.js";
import { parseLabels, readCsv } from "./csv.js";
import { checkIndices, type Dataset, exampleSize, rawToTensor, type Storage } from "./dataset.js";
import { DataError } from "./errors.js";
import { decodeImage, IMAGE_EXTENSIONS, isImage, listImages, type SharpFactory } from "./image-decode.js";
import { LruCache, Semaphore } from "./lru.js";

export { decodeImage, IMAGE_EXTENSIONS, listImages, type SharpFactory };

const UNLABELLED_DIRS = ["unlabeled", "unlabelled"];

export interface ImageFolderOptions {
  /** Output size, [H, W] or one number for square. Default: the images' own size (all must match). */
  size?: number | [number, number];
  /** Channels: "rgb" (3), "gray" (1), or "auto": gray when the first image has one channel (two with alpha). Default: "rgb". */
  color?: "rgb" | "gray" | "auto";
  /**
   * How `size` is reached: "cover" scales the shorter side to fit and crops the centre,
   * "contain" letterboxes on black, "fill" stretches. Default: "cover".
   */
  fit?: "cover" | "contain" | "fill";
  /** A CSV of `path,label` rows (paths relative to root) instead of class folders. Default: none. */
  labels?: string;
  /** Class names in index order. Default: sorted folder names, or from the labels CSV. */
  classNames?: readonly string[];
  /** Bytes of decoded images kept in the LRU cache; 0 disables it. Default: 256 MiB. */
  cacheBytes?: number;
  /**
   * Decodes queued at once. sharp runs them on libuv's thread pool (UV_THREADPOOL_SIZE threads,
   * 4 by default), which works through the queue while JavaScript is busy training, so the
   * queue should hold the prefetched batches. Default: 512.
   */
  parallel?: number;
  /** Dataset name. Default: the folder's name. */
  name?: string;
}

export const IMAGE_FOLDER_DEFAULTS = {
  color: "rgb",
  fit: "cover",
  cacheBytes: 256 * 2 ** 20,
  parallel: 512,
} as const;

export class ImageFolderDataset implements Dataset {
  readonly name: string;
  readonly n: number;
  readonly shape: readonly number[];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly labels: Int32Array;
  readonly storage: Storage = "uint8";
  readonly lazy = true as const;
  /** Absolute path of each example. */
  readonly files: readonly string[];
  /** Images decoded so far (cache misses). */
  decoded = 0;
  readonly #sharp: SharpFactory;
  readonly #resize: { fit: "cover" | "contain" | "fill" } | null;
  readonly #cache: LruCache<number, Uint8Array>;
  readonly #inflight = new Map<number, Promise<Uint8Array>>();
  readonly #sem: Semaphore;
  readonly #size: number;

  constructor(
    init: { name: string; files: string[]; labels: Int32Array; classNames: string[]; shape: [number, number, number] },
    o: { fit: "cover" | "contain" | "fill" | null; cacheBytes: number; parallel: number },
    sharp: SharpFactory,
  ) {
    this.name = init.name;
    this.files = init.files;
    this.n = init.files.length;
    this.labels = init.labels;
    this.classNames = Object.freeze([...init.classNames]);
    this.numClasses = init.classNames.length;
    this.shape = Object.freeze([...init.shape]);
    this.#size = exampleSize(init.shape);
    this.#resize = o.fit === null ? null : { fit: o.fit };
    this.#cache = new LruCache(o.cacheBytes);
    this.#sem = new Semaphore(o.parallel);
    this.#sharp = sharp;
  }

  /** Bytes held by the decode cache. */
  get cachedBytes(): number {
    return this.#cache.bytes;
  }

  /** One decoded example, [C,H,W] uint8. */
  example(i: number): Promise<Uint8Array> {
    const hit = this.#cache.get(i);
    if (hit !== undefined) return Promise.resolve(hit);
    let p = this.#inflight.get(i);
    if (p === undefined) {
      p = this.#sem
        .run(() => this.#decode(i))
        .then((px) => {
          this.#cache.set(i, px);
          return px;
        })
        .finally(() => this.#inflight.delete(i));
      this.#inflight.set(i, p);
    }
    return p;
  }

  async readRaw(indices: Int32Array): Promise<Uint8Array> {
    checkIndices(indices, this.n, this.name);
    const d = this.#size;
    const out = new Uint8Array(indices.length * d);
    await Promise.all(Array.from(indices, (i, b) => this.example(i).then((px) => out.set(px, b * d))));
    return out;
  }

  async getBatchAsync(indices: Int32Array): Promise<Tensor> {
    return rawToTensor(await this.readRaw(indices), indices.length, this.shape);
  }

  async #decode(i: number): Promise<Uint8Array> {
    const file = this.files[i] as string;
    const [, h, w] = this.shape as [number, number, number];
    const out = await decodeImage(this.#sharp, file, this.shape as [number, number, number], this.#resize?.fit ?? null, (info) =>
      info.width !== w || info.height !== h
        ? `image is ${info.width}x${info.height} but ${this.files[0]} is ${w}x${h}: mixed image sizes need one output size (the size option; llp train --image-size)`
        : null,
    );
    this.decoded++;
    return out;
  }
}

/** Scans an image folder (or reads its labels CSV) and returns a lazily decoded dataset. */
export async function loadImageFolder(root: string, o: ImageFolderOptions = {}): Promise<ImageFolderDataset> {
  const dir = resolve(root);
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(dir);
  } catch {
    throw new DataError(root, "no such folder");
  }
  if (!st.isDirectory()) throw new DataError(root, "not a folder");
  const { files, labels, classNames } = o.labels === undefined ? await scanClassFolders(dir, o) : await readLabelsCsv(dir, o.labels, o);
  if (files.length === 0) {
    throw new DataError(root, `no images found (expected root/<class>/*${IMAGE_EXTENSIONS.join("|")} or root/unlabeled/)`);
  }
  const { default: sharp } = await import("sharp");
  const color = o.color ?? IMAGE_FOLDER_DEFAULTS.color;
  let h: number;
  let w: number;
  let meta: { width?: number | undefined; height?: number | undefined; channels?: number | undefined } = {};
  if (o.size === undefined || color === "auto") {
    const first = files[0] as string;
    try {
      meta = await sharp(first).metadata();
    } catch (e) {
      throw new DataError(first, `cannot decode image (${(e as Error).message})`);
    }
  }
  const channels = color === "gray" || (color === "auto" && (meta.channels ?? 3) <= 2) ? 1 : 3;
  if (o.size !== undefined) {
    [h, w] = typeof o.size === "number" ? [o.size, o.size] : o.size;
    if (![h, w].every((v) => Number.isInteger(v) && v > 0)) throw new Error(`image folder: size must be positive integers, got ${o.size}`);
  } else {
    if (meta.width === undefined || meta.height === undefined) throw new DataError(files[0] as string, "image has no size");
    [h, w] = [meta.height, meta.width];
  }
  const parallel = o.parallel ?? IMAGE_FOLDER_DEFAULTS.parallel;
  if (!Number.isInteger(parallel) || parallel < 1) throw new Error(`image folder: parallel must be a positive integer, got ${parallel}`);
  return new ImageFolderDataset(
    { name: o.name ?? basename(dir), files, labels, classNames, shape: [channels, h, w] },
    {
      fit: o.size === undefined ? null : (o.fit ?? IMAGE_FOLDER_DEFAULTS.fit),
      cacheBytes: o.cacheBytes ?? IMAGE_FOLDER_DEFAULTS.cacheBytes,
      parallel,
    },
    sharp as unknown as SharpFactory,
  );
}

async function scanClassFolders(dir: string, o: ImageFolderOptions) {
  const subdirs = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort();
  const classDirs = subdirs.filter((d) => !UNLABELLED_DIRS.includes(d.toLowerCase()));
  const classNames = o.classNames ? [...o.classNames] : classDirs;
  if (subdirs.length === 0) {
    // a flat folder of images (to embed or predict): every image unlabelled, in path order
    const files = await listImages(dir);
    return { files, labels: new Int32Array(files.length).fill(-1), classNames };
  }
  for (const d of classDirs) {
    if (!classNames.includes(d)) throw new DataError(join(dir, d), `folder is not one of the classes ${classNames.join(", ")}`);
  }
  const files: string[] = [];
  const labels: number[] = [];
  for (const d of subdirs) {
    const c = classNames.indexOf(d);
    const images = await listImages(join(dir, d));
    if (images.length === 0) throw new DataError(join(dir, d), "folder contains no images");
    for (const f of images) {
      files.push(f);
      labels.push(c); // -1 for the unlabelled folder
    }
  }
  return { files, labels: Int32Array.from(labels), classNames };
}

async function readLabelsCsv(dir: string, csv: string, o: ImageFolderOptions) {
  const t = await readCsv(csv, "auto");
  if ((t.rows[0] ?? []).length < 2) throw new DataError(csv, "expected two columns: path,label");
  const files = t.rows.map((r, i) => {
    const p = (r[0] as string).trim();
    if (!isImage(p)) throw new DataError(csv, `line ${t.lines[i]}: '${p}' is not a ${IMAGE_EXTENSIONS.join("|")} file`);
    return resolve(dir, p);
  });
  const { labels, classNames } = parseLabels(
    t.rows.map((r) => r[1] as string),
    (i) => `line ${t.lines[i]}`,
    csv,
    o.classNames,
  );
  return { files, labels, classNames };
}
