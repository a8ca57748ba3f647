import assert from "node:assert/strict";
import { test } from "node:test";
import {
  FASHION_MNIST_CLASSES,
  fashionMnistDir,
  loadDataset,
  loadFashionMnist,
  type MemoryDataset,
  makeSplit,
} from "../../src/data/index.js";
import { Generator } from "../../src/torch/random.js";
import { liveTensors } from "../../src/torch/scope.js";
import { histogram } from "./helpers.js";

// Oracle numbers computed independently of this code, from the installed files, with:
//   python3 -c "import gzip; b=gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz').read()[16:]; print(sum(b), sum(b[:784]))"
//   (same for t10k-images; labels: gzip.open(...labels...).read()[8:], counted per value)
const TRAIN_PIXEL_SUM = 3431114169;
const TRAIN_FIRST_IMAGE_SUM = 76247;
const TRAIN_FIRST_LABELS = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5];
const TEST_PIXEL_SUM = 573469082;
const TEST_FIRST_LABELS = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7];

const trainP = loadFashionMnist();

function pixelSum(ds: MemoryDataset): number {
  let s = 0;
  for (const v of ds.data) s += v;
  return s;
}

test("the package's files are found (dpkg -L, else the default folder)", () => {
  assert.match(fashionMnistDir(), /fashion-mnist$/);
});

test("train: 60000 images [1,28,28], 6000 per class, pixel checksum", async () => {
  const ds = await trainP;
  assert.equal(ds.n, 60000);
  assert.deepEqual(ds.shape, [1, 28, 28]);
  assert.equal(ds.storage, "uint8");
  assert.deepEqual(ds.classNames, FASHION_MNIST_CLASSES);
  assert.equal(ds.classNames[0], "T-shirt/top");
  assert.equal(ds.classNames[9], "Ankle boot");
  assert.deepEqual(histogram(ds.labels, 10), new Array(10).fill(6000));
  assert.equal(pixelSum(ds), TRAIN_PIXEL_SUM);
  assert.equal(
    (ds.data as Uint8Array).subarray(0, 784).reduce((a, b) => a + b, 0),
    TRAIN_FIRST_IMAGE_SUM,
  );
  assert.deepEqual(Array.from(ds.labels.subarray(0, 10)), TRAIN_FIRST_LABELS);
  assert.equal(ds.defaultValidation, 5000);
});

test("test part: 10000 images, 1000 per class, pixel checksum", async () => {
  const ds = (await loadDataset("fashion-mnist", { part: "test" })) as MemoryDataset;
  assert.equal(ds.n, 10000);
  assert.equal(ds.name, "fashion-mnist-test");
  assert.deepEqual(histogram(ds.labels, 10), new Array(10).fill(1000));
  assert.equal(pixelSum(ds), TEST_PIXEL_SUM);
  assert.deepEqual(Array.from(ds.labels.subarray(0, 10)), TEST_FIRST_LABELS);
});

test("getBatch: float32 [B,1,28,28] = bytes / 255, no leaked tensors", async () => {
  const ds = await trainP;
  const before = liveTensors();
  const x = ds.getBatch(Int32Array.from([0, 59999]));
  assert.deepEqual(x.shape, [2, 1, 28, 28]);
  assert.equal(x.dtype, "float32");
  const v = x.toArray() as Float32Array;
  let s = 0;
  for (let i = 0; i < 784; i++) s += v[i] as number;
  assert.ok(Math.abs(s - TRAIN_FIRST_IMAGE_SUM / 255) < 1e-3);
  assert.ok(v.every((p) => p >= 0 && p <= 1));
  x.dispose();
  assert.equal(liveTensors(), before);
});

test("default split: 5000 validation (500 per class), 1% labelled = 55 per class of 55000", async () => {
  const ds = await trainP;
  const split = makeSplit(ds, { labelled: "1%" }, new Generator(0));
  assert.equal(split.validation.length, 5000);
  assert.deepEqual(
    histogram(
      Array.from(split.validation, (i) => ds.labels[i] as number),
      10,
    ),
    new Array(10).fill(500),
  );
  assert.equal(split.train.length, 55000);
  assert.equal(split.labelled.length, 550);
  assert.deepEqual(
    histogram(
      Array.from(split.labelled, (i) => ds.labels[i] as number),
      10,
    ),
    new Array(10).fill(55),
  );
  assert.equal(split.name, "fashion-mnist@550");
});
