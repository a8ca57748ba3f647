import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryBank } from "../../src/memory/bank.js";
import { LabelState } from "../../src/memory/labels.js";
import { F, Generator, liveTensors, tensor, tidy } from "../../src/torch/index.js";
import { assertClose } from "../helpers.js";

test("bank update: m-weighted mix, renormalised, only the given rows change", () => {
  const before = liveTensors();
  const gen = new Generator(0);
  const bank = new MemoryBank(6, 3, gen, 0.5);
  tidy(() => {
    const old = bank.V.clone();
    const v = F.normalize(tensor([1, 0, 0, 0, 1, 0], [2, 3]), 1);
    const blended = bank.blend(tensor([1, 4], [2], "int64"), v); // what update() will write
    assertClose(bank.V, old.toArray() as Float32Array, { rtol: 0, atol: 0 }); // blend writes nothing
    bank.update(tensor([1, 4], [2], "int64"), v);
    const rows = (t: typeof old, i: number) => Array.from(t.select(0, i).toArray() as Float32Array);
    for (const [k, i] of [
      [0, 1],
      [1, 4],
    ] as const) {
      const o = rows(old, i);
      const nv = rows(v, k);
      const mix = o.map((x, j) => 0.5 * x + 0.5 * (nv[j] as number));
      const norm = Math.hypot(...mix);
      assertClose(
        bank.V.select(0, i),
        mix.map((x) => x / norm),
        { rtol: 1e-5 },
      );
    }
    for (const i of [0, 2, 3, 5]) assertClose(bank.V.select(0, i), rows(old, i), { rtol: 0, atol: 0 });
    assertClose(bank.V.indexSelect(0, tensor([1, 4], [2], "int64")), blended.toArray() as Float32Array, { rtol: 0, atol: 0 });
    assertClose(bank.V.square().sum(1), [1, 1, 1, 1, 1, 1], { rtol: 1e-5 });
  });
  assert.throws(() => tidy(() => bank.update(tensor([0], [1], "int64"), tensor([1, 0], [1, 2]))), /\[1\].*\[1,2\]/);
  bank.dispose();
  assert.equal(liveTensors(), before);
});

test("label state: labelled points keep their label with c = 1", () => {
  const s = new LabelState(Int32Array.from([2, -1, 0, -1]));
  assert.deepEqual(Array.from(s.y), [2, -1, 0, -1]);
  assert.deepEqual(Array.from(s.c), [1, 0, 1, 0]);
  s.write([0, 1, 3], [1, 1, 2], [0.3, 0.6, 0.9]);
  assert.deepEqual(Array.from(s.y), [2, 1, 0, 2]);
  assertClose(s.c, [1, 0.6, 1, 0.9]);
  assert.equal(s.coverage(), 1);
});
