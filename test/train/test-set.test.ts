// --test is read as the training set's classes and inputs: a test folder's classes map to the
// training classes by name (not by their sorted position in the test folder), a class or shape
// the training set does not have is an error before training, and an IDX directory gives its
// test part. The oracle is the fixture itself: which folder each test image sits in.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { type Config, resolveConfig } from "../../src/config.js";
import { writeNpy } from "../../src/report/npy.js";
import { prepareData } from "../../src/train/data.js";
import { idxBytes, tempDir } from "../data/helpers.js";

const root = tempDir("llp-testset-");
const CLASSES = ["cat", "dog", "fox"];

async function folder(dir: string, classes: string[], perClass: number, side: number): Promise<void> {
  for (const [c, name] of classes.entries()) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let k = 0; k < perClass; k++) {
      const raw = Buffer.alloc(side * side * 3, 40 + 60 * c + k);
      await sharp(raw, { raw: { width: side, height: side, channels: 3 } })
        .png()
        .toFile(join(dir, name, `${k}.png`));
    }
  }
}

const fixtures = (async () => {
  await folder(join(root, "train"), CLASSES, 4, 8);
  await folder(join(root, "dogfox"), ["dog", "fox"], 2, 8); // two of the three classes
  await folder(join(root, "wolf"), ["cat", "wolf"], 1, 8); // a class training never saw
  await folder(join(root, "big"), CLASSES, 1, 12); // another size: decoded at the training size
})();

const cfgFor = (extra: Record<string, unknown>) =>
  resolveConfig({ data: join(root, "train"), validation: 3, batchSize: 4, threads: 1, ...extra });

test("a test folder with some of the classes keeps the training class indices", async () => {
  await fixtures;
  const { data } = await prepareData(cfgFor({ test: join(root, "dogfox") }), null);
  assert.ok(data.test);
  // dog = 1, fox = 2 in training; sorted within the test folder they would be 0 and 1
  assert.deepEqual(Array.from(data.test.labels), [1, 1, 2, 2]);
});

test("a test folder of another image size is decoded at the training size", async () => {
  await fixtures;
  const { data } = await prepareData(cfgFor({ test: join(root, "big") }), null);
  assert.ok(data.test);
  assert.deepEqual(Array.from(data.test.labels), [0, 1, 2]);
  const x = await data.test.inputs(Int32Array.from([0, 1, 2]));
  assert.deepEqual(x.shape, [3, ...data.inputShape]);
  x.dispose();
});

test("a test class the training set lacks is refused, not scored as another class", async () => {
  await fixtures;
  await assert.rejects(prepareData(cfgFor({ test: join(root, "wolf") }), null), /wolf: folder is not one of the classes cat, dog, fox/);
});

test("feature test sets: another width or a label beyond the training classes is refused before training", async () => {
  const d = 4;
  const n = 30;
  const x = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i));
  writeNpy(join(root, "x.npy"), x, [n, d]);
  writeNpy(
    join(root, "y.npy"),
    Int32Array.from({ length: n }, (_, i) => i % 3),
    [n],
  );
  writeNpy(join(root, "xt5.npy"), new Float32Array(6 * 5), [6, 5]);
  writeNpy(join(root, "xt.npy"), new Float32Array(6 * d), [6, d]);
  writeNpy(join(root, "yt4.npy"), Int32Array.from([0, 1, 2, 3, 0, 1]), [6]);
  writeNpy(join(root, "yt.npy"), Int32Array.from([0, 1, 2, 2, 0, 1]), [6]);
  const base = {
    data: join(root, "x.npy"),
    labels: join(root, "y.npy"),
    model: "mlp",
    validation: 3,
    batchSize: 4,
    threads: 1,
  } satisfies Partial<Config>;
  await assert.rejects(
    prepareData(resolveConfig({ ...base, test: join(root, "xt5.npy"), testLabels: join(root, "yt.npy") }), null),
    /xt5\.npy: test examples of shape \[5\] do not match the training examples \[4\]/,
  );
  await assert.rejects(
    prepareData(resolveConfig({ ...base, test: join(root, "xt.npy"), testLabels: join(root, "yt4.npy") }), null),
    /yt4\.npy: label 3 is out of range for 3 classes/,
  );
  const { data } = await prepareData(resolveConfig({ ...base, test: join(root, "xt.npy"), testLabels: join(root, "yt.npy") }), null);
  assert.deepEqual(Array.from(data.test?.labels ?? []), [0, 1, 2, 2, 0, 1]);
});

test("an IDX directory as --test gives its test part, not its training part", async () => {
  const dir = join(root, "idx");
  mkdirSync(dir);
  const write = (prefix: string, n: number) => {
    const y = Array.from({ length: n }, (_, i) => i % 2);
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idxBytes([n, 4, 4], new Uint8Array(n * 16).fill(7)));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idxBytes([n], y));
  };
  write("train", 20);
  write("t10k", 6);
  const { data } = await prepareData(resolveConfig({ data: dir, test: dir, validation: 2, batchSize: 4, threads: 1 }), null);
  assert.equal(data.test?.n, 6);
});
