import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { DataError, type ImageFolderDataset, loadDataset, loadImageFolder } from "../../src/data/index.js";
import { liveTensors } from "../../src/torch/scope.js";
import { tempDir } from "./helpers.js";

/** A solid w x h image of one RGB colour, encoded as `format`. */
async function solid(file: string, w: number, h: number, rgb: [number, number, number], format: "png" | "jpeg" | "webp") {
  const raw = Buffer.alloc(w * h * 3);
  for (let p = 0; p < w * h; p++) raw.set(rgb, 3 * p);
  await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .toFormat(format, format === "png" ? {} : { quality: 100 })
    .toFile(file);
}

const root = tempDir();
const RED: [number, number, number] = [200, 10, 50];
const GREEN: [number, number, number] = [20, 180, 40];
const fixtures = (async () => {
  for (const d of ["cat", "dog", "unlabeled"]) mkdirSync(join(root, d));
  await solid(join(root, "cat", "a.png"), 8, 6, RED, "png");
  await solid(join(root, "cat", "b.JPG"), 8, 6, RED, "jpeg");
  await solid(join(root, "dog", "c.png"), 8, 6, GREEN, "png");
  await solid(join(root, "dog", "d.webp"), 8, 6, GREEN, "webp");
  await solid(join(root, "unlabeled", "e.png"), 8, 6, [0, 0, 255], "png");
  writeFileSync(join(root, "cat", "notes.txt"), "not an image");
})();

test("class folders + unlabeled/: labels, class names, lazy decoding to [3,H,W] uint8", async () => {
  await fixtures;
  const ds = (await loadDataset(root)) as ImageFolderDataset;
  assert.equal(ds.lazy, true);
  assert.deepEqual([ds.n, ds.shape, ds.classNames], [5, [3, 6, 8], ["cat", "dog"]]);
  assert.deepEqual(Array.from(ds.labels), [0, 0, 1, 1, -1]);
  assert.equal(ds.decoded, 0, "nothing is decoded at load");
  const raw = await ds.readRaw(Int32Array.from([2, 0]));
  // PNG is lossless: image 2 is GREEN, image 0 RED, channel planes of 48 pixels each
  assert.deepEqual([raw[0], raw[48], raw[96]], GREEN);
  assert.deepEqual([raw[144], raw[144 + 48], raw[144 + 96]], RED);
  assert.ok(raw.subarray(0, 48).every((v) => v === GREEN[0]));
  const jpeg = await ds.readRaw(Int32Array.from([1]));
  assert.ok(Math.abs((jpeg[0] as number) - RED[0]) <= 3, "JPEG decodes close to the colour");
  const before = liveTensors();
  const x = await ds.getBatchAsync(Int32Array.from([0, 1, 2, 3, 4]));
  assert.deepEqual(x.shape, [5, 3, 6, 8]);
  assert.ok(Math.abs((x.toArray()[0] as number) - 200 / 255) < 1e-6);
  x.dispose();
  assert.equal(liveTensors(), before);
});

test("fit: cover crops the centre, fill squeezes", async () => {
  const dir = tempDir();
  mkdirSync(join(dir, "a"));
  // 8 wide, 4 high: columns 0-1 black, 2-7 white
  const raw = Buffer.alloc(8 * 4 * 3, 255);
  for (let y = 0; y < 4; y++) raw.fill(0, y * 8 * 3, (y * 8 + 2) * 3);
  await sharp(raw, { raw: { width: 8, height: 4, channels: 3 } })
    .png()
    .toFile(join(dir, "a", "x.png"));
  const cover = await (await loadImageFolder(dir, { size: 4, color: "gray" })).readRaw(Int32Array.from([0]));
  assert.ok(
    cover.every((v) => v === 255),
    `centre crop is white: ${cover}`,
  );
  const fill = await (await loadImageFolder(dir, { size: 4, color: "gray", fit: "fill" })).readRaw(Int32Array.from([0]));
  assert.ok((fill[0] as number) < 128, `squeezed: the black columns remain: ${fill}`);
});

test("gray and resized: [1,4,4] and [3,3,5]", async () => {
  await fixtures;
  const ds = await loadImageFolder(root, { color: "gray", size: 4 });
  assert.deepEqual(ds.shape, [1, 4, 4]);
  const raw = await ds.readRaw(Int32Array.from([0]));
  assert.equal(raw.length, 16);
  // libvips' sRGB -> b-w is luminance in linear light, gamma-encoded again:
  // Y = 0.2126 R + 0.7152 G + 0.0722 B on linearised values; for RED that is 100
  const lin = (v: number) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
  const y = 0.2126 * lin(RED[0]) + 0.7152 * lin(RED[1]) + 0.0722 * lin(RED[2]);
  const gray = 255 * (y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055);
  assert.ok(Math.abs((raw[0] as number) - gray) <= 2, `gray value ${raw[0]}, expected about ${gray}`);
  const rect = await loadImageFolder(root, { size: [3, 5] });
  assert.deepEqual(rect.shape, [3, 3, 5]);
  assert.equal((await rect.readRaw(Int32Array.from([4]))).length, 45);
});

test("a labels CSV: path,label with empty = unlabelled", async () => {
  await fixtures;
  const csv = join(root, "labels.csv");
  writeFileSync(csv, "path,label\ncat/a.png,red\ndog/c.png,green\nunlabeled/e.png,\ncat/b.JPG,red\n");
  const ds = await loadImageFolder(root, { labels: csv });
  assert.deepEqual([ds.n, ds.classNames, Array.from(ds.labels)], [4, ["green", "red"], [1, 0, -1, 1]]);
  assert.deepEqual(Array.from((await ds.readRaw(Int32Array.from([1]))).subarray(0, 1)), [GREEN[0]]);
});

test("the LRU cache stays under its byte bound; hits skip decoding", async () => {
  await fixtures;
  const perImage = 3 * 6 * 8;
  const small = await loadImageFolder(root, { cacheBytes: 2 * perImage });
  for (let i = 0; i < 5; i++) await small.readRaw(Int32Array.from([i])); // one by one: a known LRU order
  assert.equal(small.decoded, 5);
  assert.ok(small.cachedBytes <= 2 * perImage);
  await small.readRaw(Int32Array.from([3, 4])); // the two most recent: cached
  assert.equal(small.decoded, 5);
  await small.readRaw(Int32Array.from([0]));
  assert.equal(small.decoded, 6);
  const none = await loadImageFolder(root, { cacheBytes: 0 });
  await none.readRaw(Int32Array.from([0, 0, 0]));
  assert.equal(none.cachedBytes, 0);
});

const errorFor = (file: string, pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof DataError, String(e));
  assert.equal(e.file, file);
  assert.match(e.message, pattern);
  return true;
};

test("mixed sizes without size, undecodable images, empty folders", async () => {
  const mixed = tempDir();
  mkdirSync(join(mixed, "a"));
  await solid(join(mixed, "a", "1.png"), 8, 6, RED, "png");
  await solid(join(mixed, "a", "2.png"), 7, 6, RED, "png");
  const ds = await loadImageFolder(mixed);
  await assert.rejects(
    ds.readRaw(Int32Array.from([0, 1])),
    errorFor(join(mixed, "a", "2.png"), /7x6 .* 8x6: mixed image sizes need one output size/),
  );
  assert.equal((await loadImageFolder(mixed, { size: 6 })).shape[1], 6);

  const broken = tempDir();
  mkdirSync(join(broken, "a"));
  await solid(join(broken, "a", "1.png"), 4, 4, RED, "png");
  writeFileSync(join(broken, "a", "2.png"), "this is not a png");
  const png = await sharp(Buffer.alloc(64 * 64 * 3, 90), { raw: { width: 64, height: 64, channels: 3 } })
    .jpeg()
    .toBuffer();
  writeFileSync(join(broken, "a", "3.jpg"), png.subarray(0, png.length - 100));
  const b = await loadImageFolder(broken, { size: 4 });
  await assert.rejects(b.readRaw(Int32Array.from([1])), errorFor(join(broken, "a", "2.png"), /cannot decode image/));
  await assert.rejects(b.readRaw(Int32Array.from([2])), errorFor(join(broken, "a", "3.jpg"), /cannot decode image/));

  const empty = tempDir();
  await assert.rejects(loadImageFolder(empty), errorFor(empty, /no images found/));
  mkdirSync(join(empty, "a"));
  await assert.rejects(loadImageFolder(empty), errorFor(join(empty, "a"), /folder contains no images/));
  await assert.rejects(loadImageFolder(join(empty, "missing")), /no such folder/);
  await assert.rejects(loadDataset(root, { labelColumn: 2 }), /unknown option 'labelColumn'/);
});
