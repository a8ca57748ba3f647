import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { BatchSampler, DataError, DataLoader, loadImageFolder, MemoryDataset } from "../../src/data/index.js";
import { Generator } from "../../src/torch/random.js";
import { liveTensors } from "../../src/torch/scope.js";
import { histogram, tempDir } from "./helpers.js";

/** n gray 4x4 images, every pixel of image i = i mod 256; labels default to i mod C. */
function images(n: number, C: number, labels?: Int32Array): MemoryDataset {
  return new MemoryDataset({
    name: "img",
    data: Uint8Array.from({ length: n * 16 }, (_, k) => Math.floor(k / 16) % 256),
    shape: [1, 4, 4],
    labels: labels ?? Int32Array.from({ length: n }, (_, i) => i % C),
    classNames: Array.from({ length: C }, (_, c) => String(c)),
  });
}
const sorted = (a: Iterable<number>) => Array.from(a).sort((x, y) => x - y);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test("sampler: a shuffled epoch visits every index once; dropLast; in order without shuffle", () => {
  const labels = Int32Array.from({ length: 10 }, (_, i) => i % 2);
  const s = new BatchSampler(labels, 2, { batchSize: 4 }, new Generator(0));
  const e = s.epoch();
  assert.deepEqual(
    e.map((b) => b.length),
    [4, 4, 2],
  );
  assert.deepEqual(sorted(e.flatMap((b) => Array.from(b))), range(10));
  assert.notDeepEqual(Array.from(e[0] as Int32Array), [0, 1, 2, 3]);
  const d = new BatchSampler(labels, 2, { batchSize: 4, dropLast: true }, new Generator(0));
  assert.equal(d.batchesPerEpoch, 2);
  const inOrder = new BatchSampler(labels, 2, { batchSize: 4, shuffle: false }, null);
  assert.deepEqual(
    inOrder.epoch().map((b) => Array.from(b)),
    [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ],
  );
  const a1 = new BatchSampler(labels, 2, { batchSize: 4 }, new Generator(5)).epoch();
  const a2 = new BatchSampler(labels, 2, { batchSize: 4 }, new Generator(5)).epoch();
  assert.deepEqual(a1, a2);
});

test("sampler: labelledPerBatch puts k labelled in every batch, each unlabelled once per epoch", () => {
  // 6 labelled (0..5: classes 0,1,2,0,1,2), 20 unlabelled
  const labels = Int32Array.from({ length: 26 }, (_, i) => (i < 6 ? i % 3 : -1));
  const s = new BatchSampler(labels, 3, { batchSize: 8, labelledPerBatch: 3 }, new Generator(1));
  assert.equal(s.batchesPerEpoch, 4); // ceil(20 / 5)
  const e = s.epoch();
  for (const b of e) assert.equal(Array.from(b).filter((i) => (labels[i] as number) >= 0).length, 3);
  assert.deepEqual(
    sorted(e.flatMap((b) => Array.from(b).filter((i) => i >= 6))),
    range(20).map((i) => i + 6),
  );
  // 12 labelled draws = two full passes of the 6 labelled examples
  assert.deepEqual(
    histogram(
      e.flatMap((b) => Array.from(b.subarray(0, 3))),
      26,
    ).slice(0, 6),
    [2, 2, 2, 2, 2, 2],
  );
  assert.throws(() => new BatchSampler(labels, 3, { batchSize: 8, labelledPerBatch: 8 }, new Generator(1)), /labelledPerBatch must be/);
  assert.throws(() => new BatchSampler(labels, 3, { batchSize: 8, balanceClasses: true }, new Generator(1)), /needs labelledPerBatch/);
  assert.throws(() => new BatchSampler(labels, 3, { batchsize: 8 } as never, new Generator(1)), /unknown option 'batchsize'/);
});

test("sampler: balanceClasses takes classes in turns", () => {
  // classes 90% / 9% / 1% of 100 examples, all labelled
  const labels = Int32Array.from({ length: 100 }, (_, i) => (i < 90 ? 0 : i < 99 ? 1 : 2));
  const s = new BatchSampler(labels, 3, { batchSize: 30, balanceClasses: true }, new Generator(2));
  for (const b of s.epoch()) {
    const h = histogram(
      Array.from(b, (i) => labels[i] as number),
      3,
    );
    assert.ok(Math.max(...h) - Math.min(...h) <= 1, `balanced batch ${h}`);
  }
});

test("loader: batches carry index, label (-1) and x; int64 tensors agree; no leaks", async () => {
  const labels = Int32Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? i % 3 : -1));
  const ds = images(50, 3, labels);
  const before = liveTensors();
  const loader = new DataLoader(ds, { batchSize: 16, labelledPerBatch: 4, prefetch: 2 }, new Generator(0));
  let seen = 0;
  for await (const b of loader.epoch()) {
    assert.deepEqual(b.x.shape, [b.size, 1, 4, 4]);
    assert.deepEqual(
      Array.from(b.label),
      Array.from(b.index, (i) => labels[i] as number),
    );
    assert.deepEqual(b.indexTensor.toNumbers(), Array.from(b.index));
    assert.deepEqual(b.labelTensor.toNumbers(), Array.from(b.label));
    assert.equal(b.labelTensor.dtype, "int64");
    const x = b.x.toArray() as Float32Array;
    for (let k = 0; k < b.size; k++) assert.equal(x[16 * k], Math.fround((b.index[k] as number) / 255)); // pixel = index
    seen += b.size;
    b.dispose();
  }
  // 40 unlabelled, 12 per batch -> 4 batches (12, 12, 12, 4), each with 4 labelled
  assert.equal(seen, 40 + 4 * 4);
  assert.equal(loader.stats.batches, 4);
  assert.ok(loader.stats.waitFraction >= 0 && loader.stats.waitFraction <= 1);
  assert.equal(liveTensors(), before);
});

test("loader: breaking out early frees the batches prepared ahead", async () => {
  const ds = images(64, 2);
  const before = liveTensors();
  const loader = new DataLoader(ds, { batchSize: 8, prefetch: 3, augment: { kind: "padCrop" } }, new Generator(0));
  for await (const b of loader.epoch()) {
    b.dispose();
    break;
  }
  await loader.close(); // with batches still in the worker: must not hang
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(liveTensors(), before);
});

test("loader: same seed, same augmented batches; normalisation applied", async () => {
  const ds = images(40, 2);
  const run = async (seed: number, prepareIn: "worker" | "main" = "worker") => {
    const loader = new DataLoader(
      ds,
      { batchSize: 16, augment: { kind: "padCrop", pad: 1 }, normalize: { mean: [0.5], std: [0.25] }, prepareIn },
      new Generator(seed),
    );
    const out: number[][] = [];
    for await (const b of loader.epoch()) {
      out.push([...Array.from(b.index), ...Array.from(b.x.toArray() as Float32Array)]);
      b.dispose();
    }
    await loader.close();
    return out;
  };
  const a = await run(3);
  assert.deepEqual(a, await run(3));
  assert.deepEqual(a, await run(3, "main"), "the worker thread and the main thread agree");
  assert.notDeepEqual(a, await run(4));
  // zero padding becomes (0 - 0.5) / 0.25 = -2 after normalisation; all values in [-2, 2]
  assert.ok(a.flatMap((r) => r.slice(16)).every((v) => v >= -2 && v <= 2));
});

test("loader over a lazy image folder, with a simulated training step", async () => {
  const dir = tempDir();
  for (const c of ["a", "b"]) {
    mkdirSync(join(dir, c));
    for (let i = 0; i < 12; i++) {
      await sharp(Buffer.alloc(8 * 8 * 3, 20 * i), { raw: { width: 8, height: 8, channels: 3 } })
        .png()
        .toFile(join(dir, c, `${i}.png`));
    }
  }
  const ds = await loadImageFolder(dir);
  const loader = new DataLoader(ds, { batchSize: 8, augment: { kind: "resizedCropJitter" } }, new Generator(0));
  const before = liveTensors();
  let n = 0;
  for await (const b of loader.epoch()) {
    const until = performance.now() + 5;
    while (performance.now() < until); // the "step"
    assert.deepEqual(b.x.shape, [8, 3, 8, 8]);
    n += b.size;
    b.dispose();
  }
  assert.equal(n, 24);
  assert.equal(ds.decoded, 24);
  assert.equal(liveTensors(), before);
  assert.ok(loader.stats.totalMs >= 15);
});

test("loader: an image that does not decode fails the epoch with the file's name, nothing leaks", async () => {
  const dir = tempDir();
  mkdirSync(join(dir, "a"));
  for (let i = 0; i < 6; i++) {
    await sharp(Buffer.alloc(4 * 4 * 3, 9), { raw: { width: 4, height: 4, channels: 3 } })
      .png()
      .toFile(join(dir, "a", `${i}.png`));
  }
  writeFileSync(join(dir, "a", "3.png"), "broken");
  const ds = await loadImageFolder(dir);
  const loader = new DataLoader(ds, { batchSize: 2, shuffle: false, prefetch: 1 });
  const before = liveTensors();
  const seen: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const b of loader.epoch()) {
        seen.push(...b.index);
        b.dispose();
      }
    })(),
    (e: unknown) => e instanceof DataError && e.file === join(dir, "a", "3.png"),
  );
  assert.deepEqual(seen, [0, 1]);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(liveTensors(), before);
});
