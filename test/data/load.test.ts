import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { resolveAmount } from "../../src/data/errors.js";
import { DataError, loadDataset } from "../../src/data/index.js";
import { LruCache } from "../../src/data/lru.js";
import { tempDir } from "./helpers.js";

test("loadDataset: unknown specs and options that do not apply are errors", async () => {
  const dir = tempDir();
  const txt = join(dir, "x.txt");
  writeFileSync(txt, "1,2\n");
  await assert.rejects(
    loadDataset(join(dir, "missing")),
    (e: unknown) => e instanceof DataError && /not a built-in dataset/.test(e.message),
  );
  await assert.rejects(loadDataset(txt), /unknown dataset format/);
  await assert.rejects(loadDataset("fashion-mnist", { size: 32 }), /fashion-mnist: unknown option 'size'/);
  const csv = join(dir, "f.csv");
  writeFileSync(csv, "1,0\n2,1\n");
  await assert.rejects(loadDataset(csv, { color: "gray" }), /CSV features .*: unknown option 'color'/);
  const ds = await loadDataset(csv, { labelColumn: 1, name: "mine" });
  assert.deepEqual([ds.name, ds.n, ds.lazy], ["mine", 2, false]);
});

test("amounts: percentages, fractions and counts", () => {
  assert.equal(resolveAmount("1%", 55000, "x"), 550);
  assert.equal(resolveAmount(0.1, 900, "x"), 90);
  assert.equal(resolveAmount(250, 900, "x"), 250);
  assert.equal(resolveAmount(0, 900, "x"), 0);
  assert.throws(() => resolveAmount(2.5, 900, "x"), /expected a fraction/);
  assert.throws(() => resolveAmount("ten", 900, "x"), /expected a percentage/);
});

test("LRU cache evicts the least recently used beyond its byte bound", () => {
  const c = new LruCache<number, Uint8Array>(10);
  c.set(1, new Uint8Array(4));
  c.set(2, new Uint8Array(4));
  c.get(1); // 2 is now the oldest
  c.set(3, new Uint8Array(4));
  assert.deepEqual([c.get(1) !== undefined, c.get(2) !== undefined, c.get(3) !== undefined], [true, false, true]);
  assert.equal(c.bytes, 8);
  c.set(4, new Uint8Array(11)); // larger than the bound: not cached
  assert.equal(c.get(4), undefined);
});
