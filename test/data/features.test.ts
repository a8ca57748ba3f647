import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DataError, loadDataset, type MemoryDataset, parseNpy } from "../../src/data/index.js";
import { fromBase64, npyBytes, tempDir } from "./helpers.js";

// Written by numpy 2.4 (the oracle for the parser), e.g. for F4:
//   python3 -c "import numpy as np,io,base64; f=io.BytesIO(); np.save(f, np.array([[1.5,-2,3],[4,5,6.25]],dtype='<f4')); print(base64.b64encode(f.getvalue()).decode())"
const NP = {
  // [[1.5,-2,3],[4,5,6.25]] float32
  f4: "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAAwAAAQEAAAIBAAACgQAAAyEA=",
  // [[0.1,0.2],[0.3,0.4],[0.5,0.6]] float64
  f8: "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqamZmZmZm5P5qZmZmZmck/MzMzMzMz0z+amZmZmZnZPwAAAAAAAOA/MzMzMzMz4z8=",
  // np.arange(8, dtype=uint8).reshape(2,2,2) * 30
  u1: "k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAHjxaeJa00g==",
  // [2,-1,0] int64
  i8: "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoCAAAAAAAAAP//////////AAAAAAAAAAA=",
  // [[1.5,-2]] big-endian float32
  f4be: "k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/wAAAwAAAAA==",
  // np.asfortranarray(np.arange(6, dtype='<f4').reshape(2,3))
  fortran:
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABAQAAAgD8AAIBAAAAAQAAAoEA=",
};

const dir = tempDir();
const write = (name: string, bytes: Uint8Array | string): string => {
  const f = join(dir, name);
  writeFileSync(f, bytes);
  return f;
};
const errorFor = (file: string, pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof DataError, String(e));
  assert.equal(e.file, file);
  assert.match(e.message, pattern);
  return true;
};

test(".npy written by numpy: every supported dtype, shape and values", () => {
  const f4 = parseNpy(fromBase64(NP.f4), "f4");
  assert.deepEqual([f4.dtype, f4.shape], ["float32", [2, 3]]);
  assert.deepEqual(Array.from(f4.data as Float32Array), [1.5, -2, 3, 4, 5, 6.25]);
  const f8 = parseNpy(fromBase64(NP.f8), "f8");
  assert.deepEqual([f8.dtype, f8.shape, (f8.data as Float64Array)[4]], ["float64", [3, 2], 0.5]);
  const u1 = parseNpy(fromBase64(NP.u1), "u1");
  assert.deepEqual([u1.dtype, u1.shape, Array.from(u1.data as Uint8Array)], ["uint8", [2, 2, 2], [0, 30, 60, 90, 120, 150, 180, 210]]);
  const i8 = parseNpy(fromBase64(NP.i8), "i8");
  assert.deepEqual([i8.dtype, i8.shape, Array.from(i8.data as BigInt64Array)], ["int64", [3], [2n, -1n, 0n]]);
  const be = parseNpy(fromBase64(NP.f4be), "be");
  assert.deepEqual(Array.from(be.data as Float32Array), [1.5, -2]);
});

test("fortran_order, truncation, bad magic, unsupported dtype", () => {
  assert.throws(() => parseNpy(fromBase64(NP.fortran), "F.npy"), errorFor("F.npy", /fortran_order is True/));
  const f4 = fromBase64(NP.f4);
  assert.throws(
    () => parseNpy(f4.subarray(0, f4.length - 3), "t.npy"),
    errorFor("t.npy", /truncated: shape \(2, 3\) needs 24 data bytes, found 21/),
  );
  assert.throws(() => parseNpy(f4.subarray(0, 40), "h.npy"), /truncated .npy header/);
  assert.throws(() => parseNpy(new TextEncoder().encode("hello world!"), "m.npy"), /not a .npy file/);
  assert.throws(() => parseNpy(npyBytes("<c8", [1], new Uint8Array(8)), "c.npy"), /dtype '<c8' is not supported/);
});

test(".npy features with .npy labels (-1 = unlabelled), float64 -> float32", async () => {
  const x = write("x.npy", fromBase64(NP.f8));
  const y = write("y.npy", fromBase64(NP.i8));
  const ds = (await loadDataset(x, { labels: y })) as MemoryDataset;
  assert.deepEqual([ds.n, ds.shape, ds.storage, ds.name], [3, [2], "float32", "x"]);
  assert.deepEqual(Array.from(ds.labels), [2, -1, 0]);
  assert.deepEqual(ds.classNames, ["0", "1", "2"]);
  assert.ok(Math.abs((ds.data[5] as number) - 0.6) < 1e-7);
});

test("uint8 .npy (N,H,W) is pixels: shape [1,H,W], scaled by 1/255 per batch", async () => {
  const x = write("img.npy", fromBase64(NP.u1));
  const y = write("img-labels.csv", "label\n1\n0\n");
  const ds = (await loadDataset(x, { labels: y })) as MemoryDataset;
  assert.deepEqual([ds.shape, ds.storage], [[1, 2, 2], "uint8"]);
  const t = ds.getBatch(Int32Array.from([1]));
  assert.deepEqual(
    Array.from(t.toArray() as Float32Array),
    [120, 150, 180, 210].map((v) => Math.fround(v / 255)),
  );
  t.dispose();
});

test("NaN, +/-Inf and out-of-range values in a feature matrix; label counts and values", async () => {
  const nan = write("nan.npy", npyBytes("<f4", [2, 1], new Uint8Array(Float32Array.from([1, Number.NaN]).buffer)));
  const y2 = write("y2.npy", npyBytes("<i8", [2], new Uint8Array(BigInt64Array.from([0n, 1n]).buffer)));
  await assert.rejects(loadDataset(nan, { labels: y2 }), errorFor(nan, /non-finite value NaN at row 1/));
  // +/-Inf in float32 and float64 files, and a float64 value float32 cannot hold
  const inf32 = write("inf32.npy", npyBytes("<f4", [2, 2], new Uint8Array(Float32Array.from([1, 2, 3, Number.POSITIVE_INFINITY]).buffer)));
  await assert.rejects(loadDataset(inf32, { labels: y2 }), errorFor(inf32, /non-finite value Infinity at row 1/));
  const ninf64 = write("ninf64.npy", npyBytes("<f8", [2, 1], new Uint8Array(Float64Array.from([Number.NEGATIVE_INFINITY, 0]).buffer)));
  await assert.rejects(loadDataset(ninf64, { labels: y2 }), errorFor(ninf64, /non-finite value -Infinity at row 0/));
  const big = write("big.npy", npyBytes("<f8", [2, 1], new Uint8Array(Float64Array.from([0, 1e39]).buffer)));
  await assert.rejects(loadDataset(big, { labels: y2 }), errorFor(big, /value 1e\+39 at row 1 is outside float32's range/));
  const x = write("x3.npy", fromBase64(NP.f8));
  await assert.rejects(loadDataset(x, { labels: y2 }), errorFor(y2, /2 labels but .*x3.npy has 3 examples/));
  const frac = write("frac.npy", npyBytes("<f8", [3], new Uint8Array(Float64Array.from([0, 1.5, 1]).buffer)));
  await assert.rejects(loadDataset(x, { labels: frac }), errorFor(frac, /label 1.5 at row 1 is not a class index/));
  const neg = write("neg.npy", npyBytes("<i8", [3], new Uint8Array(BigInt64Array.from([0n, -2n, 1n]).buffer)));
  await assert.rejects(loadDataset(x, { labels: neg }), errorFor(neg, /label -2 at row 1/));
  await assert.rejects(loadDataset(x), errorFor(x, /no labels/));
});

test("CSV features: header, label column by name or index, class names, empty = unlabelled", async () => {
  const f = write("f.csv", "a,b,species\n1,2,cat\n3,4,\n5,6,dog\n7,8,cat\n");
  const ds = (await loadDataset(f, { labelColumn: "species" })) as MemoryDataset;
  assert.deepEqual([ds.n, ds.shape], [4, [2]]);
  assert.deepEqual(Array.from(ds.data), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(ds.classNames, ["cat", "dog"]);
  assert.deepEqual(Array.from(ds.labels), [0, -1, 1, 0]);
  const g = write("g.csv", "2,0.5,1\n1,0.25,-1\n0,1e3,0\n");
  const ds2 = (await loadDataset(g, { labelColumn: 0 })) as MemoryDataset;
  assert.deepEqual(Array.from(ds2.labels), [2, 1, 0]);
  assert.deepEqual(Array.from(ds2.data), [0.5, 1, 0.25, -1, 1000, 0]);
  const labels = write("g-labels.csv", "label\n1\n\n0\n");
  const ds3 = (await loadDataset(g, { labels, header: false })) as MemoryDataset;
  assert.deepEqual([ds3.shape, Array.from(ds3.labels)], [[3], [1, -1, 0]]);
});

test("bad CSV: non-numeric, Inf, ragged rows, non-integer labels, missing column", async () => {
  const text = write("t.csv", "x,y\n1,0\nabc,1\n");
  await assert.rejects(loadDataset(text, { labelColumn: "y" }), errorFor(text, /line 3, column 1: 'abc' is not a finite number/));
  const inf = write("inf.csv", "1,0\nInfinity,1\n");
  await assert.rejects(loadDataset(inf, { labelColumn: 1 }), errorFor(inf, /line 2, column 1: 'Infinity' is not a finite number/));
  const ragged = write("r.csv", "1,0\n2\n");
  await assert.rejects(loadDataset(ragged, { labelColumn: 1 }), errorFor(ragged, /line 2 has 1 fields, line 1 has 2/));
  const frac = write("frac.csv", "1,0\n2,2.5\n");
  await assert.rejects(loadDataset(frac, { labelColumn: 1 }), errorFor(frac, /line 2: label '2.5' is not an integer/));
  const neg = write("neg.csv", "1,0\n2,-3\n");
  await assert.rejects(loadDataset(neg, { labelColumn: 1 }), errorFor(neg, /label -3 is negative/));
  await assert.rejects(loadDataset(text, { labelColumn: "z" }), errorFor(text, /no column named 'z'/));
  const empty = write("empty.csv", "\n\n");
  await assert.rejects(loadDataset(empty, { labelColumn: 0 }), errorFor(empty, /empty CSV file/));
});

test("values finite in float64 but not in float32 are refused (they would train on Inf)", async () => {
  const big = write("big.npy", npyBytes("<f8", [2, 1], new Uint8Array(Float64Array.from([1, 1e39]).buffer)));
  const y2 = write("y2b.npy", npyBytes("<i8", [2], new Uint8Array(BigInt64Array.from([0n, 1n]).buffer)));
  await assert.rejects(loadDataset(big, { labels: y2 }), errorFor(big, /value 1e\+39 at row 1 is outside float32's range/));
  const csv = write("big.csv", "1,0\n-1e39,1\n");
  await assert.rejects(loadDataset(csv, { labelColumn: 1 }), errorFor(csv, /line 2, column 1: '-1e39' is not a finite number/));
});

test("blank lines at the end of a labels CSV are unlabelled rows (labelled first, the rest blank)", async () => {
  const g = write("g5.csv", "0.5,1\n0.25,2\n1,3\n4,5\n");
  const lab = write("g5-labels.csv", "label\ncat\ndog\n\n\n");
  const ds = (await loadDataset(g, { labels: lab, header: false })) as MemoryDataset;
  assert.deepEqual(
    [ds.classNames, Array.from(ds.labels)],
    [
      ["cat", "dog"],
      [0, 1, -1, -1],
    ],
  );
  // more blank lines than rows are still the file's end, not extra examples
  const many = write("g5-many.csv", "cat\ndog\n\n\n\n\n\n");
  const ds2 = (await loadDataset(g, { labels: many, header: false })) as MemoryDataset;
  assert.deepEqual(Array.from(ds2.labels), [0, 1, -1, -1]);
  // but too few lines in all is still an error
  const short = write("g5-short.csv", "cat\ndog\n\n");
  await assert.rejects(loadDataset(g, { labels: short, header: false }), errorFor(short, /3 labels but .*g5.csv has 4 examples/));
});
