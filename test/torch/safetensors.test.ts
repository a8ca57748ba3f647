import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deserialize, loadFile, saveFile, serialize, type Tensor, tensor } from "../../src/torch/index.js";
import { tidyTest } from "../helpers.js";

const sample = (): Map<string, Tensor> =>
  new Map([
    ["f32", tensor(new Float32Array([1.5, -2, 3, 4e-8]), [2, 2])],
    ["f64", tensor(new Float64Array([Math.PI, -1e300]), [2])],
    ["i64", tensor(new BigInt64Array([2n ** 60n, -5n, 0n]), [3, 1])],
    ["i32", tensor(new Int32Array([-7, 2 ** 31 - 1]), [2])],
    ["u8", tensor(new Uint8Array([0, 255, 9]), [3])],
    ["bool", tensor(new Uint8Array([1, 0, 1, 1]), [2, 2], "bool")],
    ["scalar", tensor([5], [])],
    ["empty", tensor([], [0, 3])],
  ]);

function assertSame(got: Map<string, Tensor>, want: Map<string, Tensor>): void {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [name, t] of want) {
    const g = got.get(name) as Tensor;
    assert.equal(g.dtype, t.dtype, name);
    assert.deepEqual(g.shape, t.shape, name);
    assert.deepEqual(Array.from(g.toArray() as ArrayLike<unknown>), Array.from(t.toArray() as ArrayLike<unknown>), name);
  }
}

/** A safetensors file as the reference (Rust/Python) writer lays it out, built byte by byte. */
function pythonStyleFile(): Uint8Array {
  // The reference writer orders data by dtype alignment then name, so offsets need not follow
  // name order; its JSON has no spaces and is padded with spaces to a multiple of 8 bytes.
  const header =
    '{"__metadata__":{"format":"pt"},' +
    '"idx":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},' +
    '"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},' +
    '"mask":{"dtype":"BOOL","shape":[3],"data_offsets":[32,35]}}';
  const padded = header + " ".repeat((8 - (header.length % 8)) % 8);
  const data = new Uint8Array(35);
  const dv = new DataView(data.buffer);
  dv.setBigInt64(0, 3n, true);
  dv.setBigInt64(8, -1n, true);
  [0.5, -1, 2, 1e-3].forEach((v, i) => {
    dv.setFloat32(16 + 4 * i, v, true);
  });
  data.set([1, 0, 1], 32);
  const out = new Uint8Array(8 + padded.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded.length), true);
  out.set(new TextEncoder().encode(padded), 8);
  out.set(data, 8 + padded.length);
  return out;
}

tidyTest("serialize/deserialize round-trips every dtype, shape and metadata", () => {
  const tensors = sample();
  const buf = serialize(tensors, { format: "pt", step: "12" });
  const back = deserialize(buf);
  assertSame(back.tensors, tensors);
  assert.deepEqual(back.metadata, { format: "pt", step: "12" });
  for (const t of back.tensors.values()) t.dispose();
});

tidyTest("serialized layout follows the format: u64 LE header length, JSON header, 8-byte aligned data", () => {
  const buf = serialize(
    new Map([
      ["b", tensor([1, 2])],
      ["a", tensor([3], [1], "int64")],
    ]),
  );
  const n = Number(buf.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0);
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  assert.deepEqual(header, {
    a: { dtype: "I64", shape: [1], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
  });
  assert.equal(buf.length, 8 + n + 16);
  assert.equal(buf.readBigInt64LE(8 + n), 3n);
  assert.equal(buf.readFloatLE(8 + n + 12), 2);
  assert.equal("__metadata__" in header, false);
});

tidyTest("reads a file laid out by the reference (Python) writer", () => {
  const { tensors, metadata } = deserialize(pythonStyleFile());
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual([...tensors.keys()], ["idx", "weight", "mask"]);
  const idx = tensors.get("idx") as Tensor;
  assert.equal(idx.dtype, "int64");
  assert.deepEqual(Array.from(idx.toArray() as BigInt64Array), [3n, -1n]);
  const w = tensors.get("weight") as Tensor;
  assert.deepEqual(w.shape, [2, 2]);
  assert.deepEqual(w.toNumbers(), [0.5, -1, 2, Math.fround(1e-3)]);
  const mask = tensors.get("mask") as Tensor;
  assert.equal(mask.dtype, "bool");
  assert.deepEqual(mask.toNumbers(), [1, 0, 1]);
  for (const t of tensors.values()) t.dispose();
});

tidyTest("deserialize accepts a view into a larger buffer", () => {
  const file = pythonStyleFile();
  const big = new Uint8Array(file.length + 13);
  big.set(file, 5);
  const { tensors } = deserialize(big.subarray(5, 5 + file.length));
  assert.deepEqual((tensors.get("weight") as Tensor).toNumbers(), [0.5, -1, 2, Math.fround(1e-3)]);
  for (const t of tensors.values()) t.dispose();
});

tidyTest("corrupt inputs throw errors that say what is wrong", () => {
  const good = pythonStyleFile();
  const withHeader = (json: string, dataBytes = 64) => {
    const h = new TextEncoder().encode(json);
    const out = new Uint8Array(8 + h.length + dataBytes);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    return out;
  };
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(3), /shorter than its 8-byte header length/],
    [good.subarray(0, 40), /header length \d+ exceeds file size 40/],
    [withHeader("{not json"), /header is not JSON/],
    [withHeader("null"), /header is not a JSON object/],
    [withHeader('{"x":3}'), /"x" is not a tensor entry/],
    [withHeader('{"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}'), /"x" has unsupported dtype F16/],
    [withHeader('{"x":{"dtype":"F32","data_offsets":[0,4]}}'), /"x" lacks shape or data_offsets/],
    [withHeader('{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}'), /byte range 0..8 does not match shape \[3\] of F32/],
    [withHeader('{"x":{"dtype":"F32","shape":[4],"data_offsets":[60,76]}}'), /byte range 60..76 is outside the data \(64 bytes\)/],
  ];
  for (const [bytes, msg] of cases)
    assert.throws(
      () => deserialize(bytes, "ckpt.safetensors"),
      (e: Error) => {
        assert.match(e.message, /^ckpt.safetensors: not a valid safetensors file/);
        assert.match(e.message, msg);
        return true;
      },
    );
});

tidyTest("saveFile writes atomically (no temporary left) and loadFile reads it back", () => {
  const dir = mkdtempSync(join(tmpdir(), "llp-st-"));
  try {
    const path = join(dir, "state.safetensors");
    const tensors = sample();
    saveFile(path, tensors, { note: "x" });
    assert.deepEqual(readdirSync(dir), ["state.safetensors"]);
    const back = loadFile(path);
    assertSame(back.tensors, tensors);
    assert.deepEqual(back.metadata, { note: "x" });
    for (const t of back.tensors.values()) t.dispose();
    assert.throws(() => loadFile(join(dir, "missing.safetensors")), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
