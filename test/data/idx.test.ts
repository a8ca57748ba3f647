import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { DataError, loadDataset, loadIdxPair, type MemoryDataset, parseIdx } from "../../src/data/index.js";
import { idxBytes, tempDir } from "./helpers.js";

const dir = tempDir();
// 4 images of 2x3, pixel value = 10 * image + position; labels 0,1,2,1
const pixels = Array.from({ length: 24 }, (_, i) => 10 * Math.floor(i / 6) + (i % 6));
const images = idxBytes([4, 2, 3], pixels);
const labels = idxBytes([4], [0, 1, 2, 1]);
const write = (name: string, bytes: Uint8Array): string => {
  const f = join(dir, name);
  writeFileSync(f, bytes);
  return f;
};
const rawImages = write("train-images-idx3-ubyte", images);
const rawLabels = write("train-labels-idx1-ubyte", labels);
const gzImages = write("t10k-images-idx3-ubyte.gz", gzipSync(images));
const gzLabels = write("t10k-labels-idx1-ubyte.gz", gzipSync(labels));

test("raw and gzipped IDX pairs load to the same dataset", async () => {
  for (const [im, lb] of [
    [rawImages, rawLabels],
    [gzImages, gzLabels],
  ] as const) {
    const ds = await loadIdxPair(im, lb, { name: "tiny" });
    assert.equal(ds.n, 4);
    assert.deepEqual(ds.shape, [1, 2, 3]);
    assert.deepEqual(Array.from(ds.labels), [0, 1, 2, 1]);
    assert.deepEqual(ds.classNames, ["0", "1", "2"]);
    assert.deepEqual(Array.from(ds.readRawSync(Int32Array.from([2]))), [20, 21, 22, 23, 24, 25]);
  }
});

test("an IDX directory is found by MNIST file names, train and test parts", async () => {
  const train = (await loadDataset(dir)) as MemoryDataset;
  const testPart = (await loadDataset(dir, { part: "test" })) as MemoryDataset;
  assert.equal(train.n, 4);
  assert.deepEqual(train.data, testPart.data);
  const file = (await loadDataset(rawImages, { labels: rawLabels })) as MemoryDataset;
  assert.equal(file.name, "train");
});

const rejects = async (p: Promise<unknown>, file: string, pattern: RegExp) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.equal(e.file, file);
    assert.match(e.message, pattern);
    return true;
  });

test("truncated data, trailing bytes, truncated header", () => {
  assert.throws(
    () => parseIdx(images.subarray(0, images.length - 1), "x"),
    /truncated: header says \[4,2,3\] = 24 bytes of data, found 23/,
  );
  assert.throws(() => parseIdx(Uint8Array.from([...images, 0]), "x"), /1 unexpected trailing bytes/);
  assert.throws(() => parseIdx(images.subarray(0, 9), "x"), /truncated IDX header/);
  assert.throws(() => parseIdx(Uint8Array.from([1, 2, 3, 4, 5]), "x"), /wrong magic number 0x01020304: not an IDX file/);
  assert.throws(() => parseIdx(idxBytes([2], [1, 2], 0xd01), "x"), /IDX type 0xd is not supported/);
});

test("corrupt and truncated gzip name the file", async () => {
  const gz = gzipSync(images);
  const cut = write("cut-images-idx3-ubyte.gz", gz.subarray(0, gz.length - 10));
  await rejects(loadIdxPair(cut, rawLabels), cut, /corrupt or truncated gzip data/);
  const junk = write("junk-images-idx3-ubyte.gz", Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
  await rejects(loadIdxPair(junk, rawLabels), junk, /corrupt or truncated gzip data/);
});

test("wrong magic numbers: labels given as images and the reverse", async () => {
  await rejects(loadIdxPair(rawLabels, rawLabels), rawLabels, /wrong magic number 0x00000801 \(expected 0x00000803/);
  await rejects(loadIdxPair(rawImages, rawImages), rawImages, /wrong magic number 0x00000803 \(expected 0x00000801/);
});

test("image and label counts differ; labels out of range", async () => {
  const three = write("three-labels", idxBytes([3], [0, 1, 2]));
  await rejects(loadIdxPair(rawImages, three), three, /3 labels but .* holds 4 images/);
  await rejects(loadIdxPair(rawImages, rawLabels, { classNames: ["a", "b"] }), rawLabels, /label 2 is out of range for 2 classes/);
});

test("a missing file, and half an IDX pair, are errors naming the file", async () => {
  const missing = join(dir, "nope-images-idx3-ubyte");
  await rejects(loadIdxPair(missing, rawLabels), missing, /cannot read/);
  const half = tempDir();
  writeFileSync(join(half, "train-images-idx3-ubyte"), images);
  await assert.rejects(loadDataset(half), /no matching labels file/);
});
