import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DataError, MemoryDataset, makeSplit, readSplit, type Split, splitDatasets, writeSplit } from "../../src/data/index.js";
import { Generator } from "../../src/torch/random.js";
import { histogram, tempDir } from "./helpers.js";

/** n examples of one feature (= the index); class of i = i % C unless labels are given. */
function dataset(n: number, C: number, labels?: Int32Array, defaultValidation?: number): MemoryDataset {
  return new MemoryDataset({
    name: "toy",
    data: Float32Array.from({ length: n }, (_, i) => i),
    shape: [1],
    labels: labels ?? Int32Array.from({ length: n }, (_, i) => i % C),
    classNames: Array.from({ length: C }, (_, c) => `c${c}`),
    ...(defaultValidation !== undefined ? { defaultValidation } : {}),
  });
}
const classesOf = (ds: MemoryDataset, idx: Int32Array) =>
  histogram(
    Array.from(idx, (i) => ds.labels[i] as number),
    ds.numClasses,
  );
const isSorted = (a: Int32Array) => a.every((v, i) => i === 0 || (a[i - 1] as number) < v);

function checkInvariants(split: Split): void {
  const train = new Set(split.train);
  assert.ok(
    split.labelled.every((i) => train.has(i)),
    "labelled is part of train",
  );
  assert.ok(
    split.validation.every((i) => !train.has(i)),
    "validation is disjoint from train",
  );
  for (const a of [split.train, split.labelled, split.validation]) assert.ok(isSorted(a), "sorted, no repeats");
}

test("same seed, same split; another seed, another split", () => {
  const ds = dataset(1000, 10);
  const a = makeSplit(ds, { labelled: "10%", validation: 100 }, new Generator(7));
  const b = makeSplit(ds, { labelled: "10%", validation: 100 }, new Generator(7));
  const c = makeSplit(ds, { labelled: "10%", validation: 100 }, new Generator(8));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.labelled, c.labelled);
  checkInvariants(a);
});

test("class balance: validation stratified, labelled equal per class, train = pool", () => {
  const ds = dataset(1000, 10);
  const s = makeSplit(ds, { labelled: "10%", validation: 100 }, new Generator(0));
  assert.deepEqual(classesOf(ds, s.validation), new Array(10).fill(10));
  assert.deepEqual(classesOf(ds, s.labelled), new Array(10).fill(9)); // 10% of the 900-example pool
  assert.equal(s.train.length, 900);
  assert.equal(s.name, "toy@90");
  const k = makeSplit(ds, { labelsPerClass: 4, validation: 0 }, new Generator(0));
  assert.deepEqual(classesOf(ds, k.labelled), new Array(10).fill(4));
  assert.equal(k.validation.length, 0);
  // 25 labels over 10 classes: 2 or 3 each, the extra 5 to classes in seeded order
  const r = makeSplit(ds, { labelled: 25, validation: 0 }, new Generator(0));
  assert.deepEqual(classesOf(ds, r.labelled).sort(), [2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
});

test("imbalanced classes: validation proportional (largest remainder)", () => {
  // class 0: 600, class 1: 300, class 2: 100
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i < 900 ? 1 : 2));
  const ds = dataset(1000, 3, labels);
  const s = makeSplit(ds, { validation: "5%" }, new Generator(1));
  assert.deepEqual(classesOf(ds, s.validation), [30, 15, 5]);
  assert.deepEqual(classesOf(ds, s.labelled), [570, 285, 95], "default: every known label in the pool");
});

test("subset: q of the pool, labelled included, stratified rest", () => {
  const ds = dataset(1000, 10, undefined, 200);
  const s = makeSplit(ds, { labelled: "2%", subset: "30%" }, new Generator(3));
  assert.equal(s.validation.length, 200, "the dataset's defaultValidation");
  assert.equal(s.train.length, 240);
  assert.equal(s.labelled.length, 16);
  assert.deepEqual(classesOf(ds, s.train), new Array(10).fill(24));
  assert.equal(s.name, "toy@16.240");
  checkInvariants(s);
  assert.throws(
    () => makeSplit(ds, { labelled: "50%", subset: "30%" }, new Generator(3)),
    /a subset \(subset, --subset\) of 240 examples is smaller than the 400 labelled/,
  );
});

test("data that marks unlabelled points: validation from the labelled ones, the rest kept", () => {
  // 200 examples, the first 40 labelled (4 classes x 10), the rest -1
  const labels = Int32Array.from({ length: 200 }, (_, i) => (i < 40 ? i % 4 : -1));
  const ds = dataset(200, 4, labels);
  const s = makeSplit(ds, { validation: 8 }, new Generator(5));
  assert.ok(
    s.validation.every((i) => i < 40),
    "validation has labels",
  );
  assert.deepEqual(classesOf(ds, s.validation), [2, 2, 2, 2]);
  assert.deepEqual(classesOf(ds, s.labelled), [8, 8, 8, 8]);
  assert.equal(s.train.length, 192, "every unlabelled point trains");
  const d = splitDatasets(ds, s);
  assert.equal(d.train.trueLabels, undefined, "no ground truth for unlabelled points");
  assert.deepEqual(histogram(d.train.labels, 4), [8, 8, 8, 8]);
  assert.equal(d.train.labels.filter((y) => y < 0).length, 160);
});

test("training view hides unlabelled labels, keeps ground truth; validation view has labels", () => {
  const ds = dataset(100, 2);
  const s = makeSplit(ds, { labelsPerClass: 3, validation: 10 }, new Generator(0));
  const { train, validation } = splitDatasets(ds, s);
  assert.equal(train.n, 90);
  assert.deepEqual(histogram(train.labels, 2), [3, 3]);
  assert.deepEqual(
    Array.from(train.trueLabels ?? []),
    Array.from(s.train, (i) => i % 2),
  );
  assert.deepEqual(
    Array.from(validation.labels),
    Array.from(s.validation, (i) => i % 2),
  );
  // example k of the view is example split.train[k] of the base
  assert.deepEqual(Array.from(train.readRawSync(Int32Array.from([0, 89]))), [s.train[0], s.train[89]]);
});

test("errors: a class left without labels, too many per class, conflicting or unknown options", () => {
  const ds = dataset(100, 10);
  assert.throws(
    () => makeSplit(ds, { labelled: 5, validation: 0 }, new Generator(0)),
    /class 'c\d' has no labelled examples after the split: 5 labelled for 10 classes/,
  );
  // a class absent from the labels, and a class whose labelled points all went to validation
  const gapLabels = Int32Array.from({ length: 100 }, (_, i) => (i % 10 === 3 ? 4 : i % 10));
  const gap = dataset(100, 10, gapLabels);
  assert.throws(() => makeSplit(gap, { validation: 0 }, new Generator(0)), /no example is labelled 'c3'$/);
  const numeric = new MemoryDataset({
    name: "toy",
    data: Float32Array.from({ length: 100 }, (_, i) => i),
    shape: [1],
    labels: gapLabels,
    classNames: Array.from({ length: 10 }, (_, c) => String(c)),
  });
  assert.throws(
    () => makeSplit(numeric, { validation: 0 }, new Generator(0)),
    /no example is labelled '3': numeric labels are class indices 0..9 \(the largest label, 9, sets the class count\)/,
  );
  assert.throws(
    () => makeSplit(ds, { labelsPerClass: 11, validation: 0 }, new Generator(0)),
    /class 'c0' has 10 labelled examples in the training pool, 11 asked for/,
  );
  assert.throws(() => makeSplit(ds, { labelled: 10, labelsPerClass: 1 }, new Generator(0)), /not both/);
  assert.throws(() => makeSplit(ds, { labeled: 10 } as never, new Generator(0)), /unknown option 'labeled'/);
  assert.throws(() => makeSplit(ds, { validation: "200%" }, new Generator(0)), /more than 100%/);
  assert.throws(() => makeSplit(ds, { validation: 101 }, new Generator(0)), /only 100 are available/);
  const oneClassUnlabelled = Int32Array.from({ length: 100 }, (_, i) => (i % 10 === 3 ? -1 : i % 10));
  assert.throws(() => makeSplit(dataset(100, 10, oneClassUnlabelled), { validation: 0 }, new Generator(0)), /no example is labelled 'c3'/);
  // every label -1 (no classes at all): refused here, not a libtorch error after the IR epochs
  const none = new Int32Array(100).fill(-1);
  assert.throws(() => makeSplit(dataset(100, 0, none), { validation: 0 }, new Generator(0)), /no example of toy has a label/);
});

test("split.json: write, read back equal, checked against the dataset", () => {
  const ds = dataset(300, 3);
  const s = makeSplit(ds, { labelled: "5%", subset: "50%", validation: 30 }, new Generator(11));
  const run = join(tempDir(), "run");
  const file = writeSplit(run, s);
  assert.equal(file, join(run, "split.json"));
  assert.deepEqual(readSplit(run, ds), s);
  assert.deepEqual(readSplit(file), s);
  const j = JSON.parse(readFileSync(file, "utf8"));
  assert.deepEqual(j.counts, { train: s.train.length, labelled: s.labelled.length, validation: 30 });
  assert.throws(
    () => readSplit(run, dataset(301, 3)),
    (e: unknown) => e instanceof DataError && /made for toy \(n=300/.test(e.message),
  );
  const bad = join(tempDir(), "split.json");
  writeFileSync(bad, JSON.stringify({ ...j, validation: [j.train[0]] }));
  assert.throws(() => readSplit(bad), /validation and train overlap/);
  writeFileSync(bad, JSON.stringify({ ...j, train: [1, 2, 999] }));
  assert.throws(() => readSplit(bad), /'train' must be a list of indices in \[0, 300\)/);
  writeFileSync(bad, "{not json");
  assert.throws(
    () => readSplit(bad),
    (e: unknown) => e instanceof DataError && e.file === bad,
  );
});
