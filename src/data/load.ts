// One entry point from a dataset spec string to a Dataset:
//   "fashion-mnist"                 the built-in (Debian's dataset-fashion-mnist)
//   <dir> with *-images-idx3-ubyte  an IDX directory (MNIST naming, raw or .gz)
//   <file>-images-idx3-ubyte[.gz]   an IDX image file; labels: its label file
//   <dir>                           an image folder (class subfolders, or labels: a CSV)
//   <file>.npy / <file>.csv         a feature matrix; labels from labels: or labelColumn:
import { existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, extname, resolve } from "node:path";
import type { Dataset } from "./dataset.js";
import { DataError, rejectUnknownKeys } from "./errors.js";
import { loadFashionMnist } from "./fashion-mnist.js";
import { loadCsvFeatures, loadNpyFeatures } from "./features.js";
import { findIdxPair, loadIdxPair } from "./idx.js";
import { loadImageFolder } from "./image-folder.js";

export interface LoadOptions {
  /** Built-in and IDX directories: "train" or "test" (final evaluation only). Default: "train". */
  part?: "train" | "test";
  /** Labels file: .npy/.csv for features, IDX labels for an IDX image file, `path,label` CSV for an image folder. Default: none. */
  labels?: string;
  /** CSV features: column of the labels, by header name or 0-based index. Default: none. */
  labelColumn?: string | number;
  /** CSV files: first row is a header (true/false) or guess ("auto"). Default: "auto". */
  header?: boolean | "auto";
  /** Class names in index order. Default: from the data (folder names, label values, Fashion-MNIST's). */
  classNames?: readonly string[];
  /** Dataset name for run names and split files. Default: from the spec. */
  name?: string;
  /** Image folders: output size [H, W] or square side. Default: the images' own size. */
  size?: number | [number, number];
  /** Image folders: "rgb", "gray", or "auto" (gray when the first image has one channel). Default: "rgb". */
  color?: "rgb" | "gray" | "auto";
  /** Image folders: "cover" (centre crop), "contain" or "fill". Default: "cover". */
  fit?: "cover" | "contain" | "fill";
  /** Image folders: decoded-image cache in bytes. Default: 256 MiB. */
  cacheBytes?: number;
  /** Image folders: decodes queued at once. Default: 512. */
  parallel?: number;
  /** .npy/CSV features: no labels wanted (embedding, prediction); every row unlabelled when none are given. Default: false. */
  unlabelled?: boolean;
}

const FOR_IMAGES = ["size", "color", "fit", "labels", "classNames", "cacheBytes", "parallel", "name"];

/** A built-in dataset's name (matched before any file or folder of that name). */
export const isBuiltinDataset = (spec: string): boolean => spec.toLowerCase() === "fashion-mnist";

/** A data path as it reads from any working directory: absolute when it exists; built-in names and null as given. */
export function absoluteDataPath<T extends string | null>(p: T): T {
  return (p !== null && !isBuiltinDataset(p) && existsSync(p) ? resolve(p) : p) as T;
}

export async function loadDataset(spec: string, o: LoadOptions = {}): Promise<Dataset> {
  if (isBuiltinDataset(spec)) {
    rejectUnknownKeys(o, ["part"], "fashion-mnist");
    return loadFashionMnist({ part: o.part ?? "train" });
  }
  let isDir: boolean;
  try {
    isDir = (await stat(spec)).isDirectory();
  } catch {
    throw new DataError(spec, "no such file or folder, and not a built-in dataset (fashion-mnist)");
  }
  if (isDir) {
    const idx = findIdxPair(spec, o.part ?? "train");
    if (idx !== null) {
      rejectUnknownKeys(o, ["part", "classNames", "name"], `IDX directory ${spec}`);
      return loadIdxPair(idx.images, idx.labels, { name: o.name ?? basename(spec), ...(o.classNames ? { classNames: o.classNames } : {}) });
    }
    rejectUnknownKeys(o, FOR_IMAGES, `image folder ${spec}`);
    return loadImageFolder(spec, o);
  }
  const ext = extname(spec).toLowerCase();
  if (ext === ".npy") {
    rejectUnknownKeys(o, ["labels", "classNames", "name", "unlabelled"], `.npy features ${spec}`);
    return loadNpyFeatures(spec, o);
  }
  if (ext === ".csv") {
    rejectUnknownKeys(o, ["labels", "labelColumn", "header", "classNames", "name", "unlabelled"], `CSV features ${spec}`);
    return loadCsvFeatures(spec, o);
  }
  if (/-idx3-ubyte(\.gz)?$/.test(spec)) {
    rejectUnknownKeys(o, ["labels", "classNames", "name"], `IDX images ${spec}`);
    if (o.labels === undefined)
      throw new DataError(spec, "an IDX image file needs its labels file (labels, --labels ...-labels-idx1-ubyte)");
    return loadIdxPair(spec, o.labels, {
      name: o.name ?? basename(spec).replace(/-images-idx3-ubyte(\.gz)?$/, ""),
      ...(o.classNames ? { classNames: o.classNames } : {}),
    });
  }
  throw new DataError(spec, "unknown dataset format (expected a folder, .npy, .csv or an IDX -images-idx3-ubyte file)");
}
