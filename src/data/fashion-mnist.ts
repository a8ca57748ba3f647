// The built-in dataset: Fashion-MNIST (Xiao et al. 2017) as installed by Debian's
// dataset-fashion-mnist package. 60000 training and 10000 test images, 28x28 gray, 10 classes.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import type { MemoryDataset } from "./dataset.js";
import { DataError } from "./errors.js";
import { findIdxPair, loadIdxPair } from "./idx.js";

export const FASHION_MNIST_PACKAGE = "dataset-fashion-mnist";
export const FASHION_MNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist";
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);
/** Held-out validation carved from the 60000 training images: 5000, the usual 55000/5000 cut. */
export const FASHION_MNIST_VALIDATION = 5000;

/** The folder holding the four .gz files: asks dpkg where the package put them, else the default. */
export function fashionMnistDir(): string {
  try {
    const files = execFileSync("dpkg", ["-L", FASHION_MNIST_PACKAGE], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const hit = files.split("\n").find((f) => f.endsWith("/train-images-idx3-ubyte.gz"));
    if (hit !== undefined && existsSync(hit)) return dirname(hit);
  } catch {
    // no dpkg, or the package is not installed: try the default location
  }
  if (existsSync(FASHION_MNIST_DEFAULT_DIR)) return FASHION_MNIST_DEFAULT_DIR;
  throw new DataError(
    FASHION_MNIST_DEFAULT_DIR,
    `Fashion-MNIST not found: install Debian's ${FASHION_MNIST_PACKAGE} package ` +
      `(apt-get install ${FASHION_MNIST_PACKAGE}) or pass the folder of its IDX files as the dataset`,
  );
}

export interface FashionMnistOptions {
  /** "train" (60000) or "test" (10000, for final evaluation only). Default: "train". */
  part?: "train" | "test";
  /** Folder with the IDX files. Default: found with fashionMnistDir(). */
  dir?: string;
}

export async function loadFashionMnist(o: FashionMnistOptions = {}): Promise<MemoryDataset> {
  const part = o.part ?? "train";
  const dir = o.dir ?? fashionMnistDir();
  const files = findIdxPair(dir, part);
  if (files === null) {
    throw new DataError(
      dir,
      `no Fashion-MNIST ${part} files (expected ${part === "train" ? "train" : "t10k"}-{images-idx3,labels-idx1}-ubyte.gz; reinstall ${FASHION_MNIST_PACKAGE})`,
    );
  }
  return loadIdxPair(files.images, files.labels, {
    name: part === "train" ? "fashion-mnist" : "fashion-mnist-test",
    classNames: FASHION_MNIST_CLASSES,
    ...(part === "train" ? { defaultValidation: FASHION_MNIST_VALIDATION } : {}),
  });
}
