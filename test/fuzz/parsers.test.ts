// Seeded fuzzing of every parser of untrusted bytes: IDX (raw and gzip), .npy, safetensors
// checkpoints, CSV feature files and image headers (sharp). Each corrupted input (truncated at
// every header boundary and at random lengths, random bytes overwritten, declared sizes made
// huge, shapes negative or overflowing) must parse cleanly or fail with an Error that names the
// file: never a crash, a hang, a tensor left behind or an allocation of the declared size.
// LLP_FUZZ_CASES sets the random cases per parser (default 150; `npm run fuzz` runs 5,000).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import sharp from "sharp";
import { loadCsvFeatures } from "../../src/data/features.js";
import { readIdx } from "../../src/data/idx.js";
import { decodeImage } from "../../src/data/image-folder.js";
import { npyToFloat32, parseNpy } from "../../src/data/npy.js";
import { dispose, liveTensors, type Tensor, tensor } from "../../src/torch/index.js";
import { deserialize, serialize } from "../../src/torch/safetensors.js";
import { idxBytes, npyBytes, tempDir } from "../data/helpers.js";
import { mulberry } from "../helpers.js";

const CASES = Number(process.env.LLP_FUZZ_CASES ?? 150);
const dir = tempDir("llp-fuzz-");
const MiB = 1024 * 1024;

/**
 * Corrupted copies of `base`: every truncation up to `header` + 8 bytes, then `n` seeded cases
 * of random truncation or 1-4 overwritten bytes (biased toward the header).
 */
function* corruptions(base: Uint8Array, header: number, n: number, seed: number): Generator<{ bytes: Uint8Array; what: string }> {
  for (let len = 0; len < Math.min(base.length, header + 8); len++) yield { bytes: base.slice(0, len), what: `truncated to ${len}` };
  const r = mulberry(seed);
  for (let k = 0; k < n; k++) {
    if (r() < 0.25) {
      const len = Math.floor(r() * base.length);
      yield { bytes: base.slice(0, len), what: `case ${k}: truncated to ${len}` };
      continue;
    }
    const b = base.slice();
    const flips = 1 + Math.floor(r() * 4);
    const at: number[] = [];
    for (let f = 0; f < flips; f++) {
      const i = Math.floor((r() < 0.7 ? Math.min(header + 8, b.length) : b.length) * r());
      b[i] = Math.floor(r() * 256);
      at.push(i);
    }
    yield { bytes: b, what: `case ${k}: bytes ${at.join(",")} overwritten` };
  }
}

/**
 * Runs one parse: it returns or throws an Error naming `name`; in bounded time and memory, leaving
 * no tensor behind. loaded: checks what a parse that succeeded returned.
 */
async function clean(name: string, what: string, parse: () => unknown, loaded?: (out: unknown) => void): Promise<void> {
  const tensors = liveTensors();
  const rss = process.memoryUsage().rss;
  const t0 = Date.now();
  try {
    const out = await parse();
    try {
      loaded?.(out);
    } finally {
      const made = out && typeof out === "object" && "tensors" in out ? [...(out as { tensors: Map<string, never> }).tensors.values()] : [];
      dispose(made);
    }
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof Error, `${what}: threw a non-Error ${String(e)}`);
    assert.ok(e.message.includes(name), `${what}: the error does not name ${name}: ${e.message}`);
  }
  assert.ok(Date.now() - t0 < 5000, `${what}: took ${Date.now() - t0} ms`);
  assert.ok(
    process.memoryUsage().rss - rss < 256 * MiB,
    `${what}: memory grew by ${((process.memoryUsage().rss - rss) / MiB).toFixed(0)} MiB`,
  );
  assert.equal(liveTensors(), tensors, `${what}: tensors left behind`);
}

const images = idxBytes(
  [5, 4, 4],
  Uint8Array.from({ length: 80 }, (_, i) => i * 3),
);
const labels = idxBytes([5], [0, 1, 2, 1, 0]);
const f32 = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);

test("IDX files, raw and gzip: every corruption parses or fails naming the file", async () => {
  const huge = images.slice();
  new DataView(huge.buffer).setUint32(4, 0xffffffff); // 4G images of 4x4
  const cases = [...corruptions(images, 16, CASES, 1), ...corruptions(labels, 8, CASES / 3, 2), { bytes: huge, what: "huge count" }];
  for (const [k, { bytes, what }] of cases.entries()) {
    const raw = join(dir, `f${k % 7}-idx3-ubyte`);
    writeFileSync(raw, bytes);
    await clean(raw, `raw ${what}`, () => readIdx(raw));
  }
  const gz = gzipSync(images);
  for (const [k, { bytes, what }] of [...corruptions(gz, 20, CASES, 3)].entries()) {
    const file = join(dir, `g${k % 7}-idx3-ubyte.gz`);
    writeFileSync(file, bytes);
    await clean(file, `gzip ${what}`, () => readIdx(file));
  }
});

test(".npy arrays (v1 and v2 headers, odd shapes and dtypes): every corruption parses or fails naming the file", async () => {
  const base = npyBytes("<f4", [3, 4], f32(Array.from({ length: 12 }, (_, i) => i / 3)));
  const text = (shape: string, descr = "<f4") => {
    const b = npyBytes(descr, [1], f32([0]));
    const h = new TextDecoder("latin1").decode(b.subarray(10, 10 + new DataView(b.buffer).getUint16(8, true)));
    const head = h.replace("(1,)", shape).padEnd(h.length, " ");
    const out = new Uint8Array(10 + head.length + 4);
    out.set(b.subarray(0, 8));
    new DataView(out.buffer).setUint16(8, head.length, true);
    out.set(new TextEncoder().encode(head), 10);
    out.set(f32([0]), 10 + head.length);
    return out;
  };
  const special = [
    "(-1,)",
    "(-3, -4)",
    "(4294967296, 4294967296)",
    "(1e9,)",
    "(99999999999999999999,)",
    "(1, -1)",
    "(1,,)",
    "()",
    "(0,)",
    "(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35)",
  ].map((s) => ({ bytes: text(s), what: `shape ${s}` }));
  const dtypes = ["<f16", "|O", ">f4", "<c8", "<U3", "<i2"].map((d) => ({ bytes: text("(1,)", d), what: `dtype ${d}` }));
  const v2 = base.slice();
  v2[6] = 2; // version 2 reads a 4-byte header length from bytes 8..11
  for (const [k, { bytes, what }] of [
    ...corruptions(base, 80, CASES, 4),
    ...special,
    ...dtypes,
    { bytes: v2, what: "v2 length" },
  ].entries()) {
    const name = `fuzz${k}.npy`;
    await clean(name, what, () => npyToFloat32(parseNpy(bytes, name), name));
  }
});

test("safetensors checkpoints: every corruption parses or fails naming the file, leaving no tensor behind", async () => {
  const t = [tensor([1, 2, 3, 4, 5, 6], [2, 3]), tensor([7, 8], [2], "int64"), tensor([1, 0, 1], [3], "uint8")];
  const base = new Uint8Array(
    serialize(
      new Map([
        ["a", t[0]],
        ["b", t[1]],
        ["c", t[2]],
      ] as [string, never][]),
      { format: "llp-checkpoint-1" },
      { checksum: true }, // as llp writes checkpoints: then no changed byte may load
    ),
  );
  dispose(t);
  const headerLen = Number(new DataView(base.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + headerLen)));
  const withHeader = (h: unknown, data = base.subarray(8 + headerLen)) => {
    const j = new TextEncoder().encode(JSON.stringify(h));
    const out = new Uint8Array(8 + j.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
    out.set(j, 8);
    out.set(data, 8 + j.length);
    return out;
  };
  const edits: [string, unknown][] = [
    ["negative shape", { ...header, a: { ...header.a, shape: [-2, -3] } }],
    ["fractional shape", { ...header, a: { ...header.a, shape: [1.5, 4] } }],
    ["huge shape", { ...header, a: { ...header.a, shape: [2 ** 40, 2 ** 40], data_offsets: [0, 2 ** 60] } }],
    ["string shape", { ...header, a: { ...header.a, shape: "2,3" } }],
    ["negative offsets", { ...header, a: { ...header.a, data_offsets: [-24, 0] } }],
    ["offsets past the data", { ...header, b: { ...header.b, data_offsets: [1e15, 1e15 + 16] } }],
    ["unknown dtype", { ...header, a: { ...header.a, dtype: "F128" } }],
    ["metadata not strings", { ...header, __metadata__: { format: 3 } }],
    ["a tensor entry that is a number", { ...header, c: 5 }],
    ["header an array", [1, 2]],
    ["header null", null],
  ];
  const huge = base.slice();
  new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
  const cases = [
    ...corruptions(base, headerLen + 8, CASES, 5),
    ...edits.map(([what, h]) => ({ bytes: withHeader(h), what })),
    { bytes: huge, what: "header length 2^63" },
  ];
  // what the file holds: a corrupt file that loads must load exactly this (the checksum sees to it)
  const whole = deserialize(base, "base");
  const want = [...whole.tensors].map(([k, t]) =>
    [k, t.dtype, t.shape.join("x"), Buffer.from(t.toArray().buffer).toString("hex")].join(" "),
  );
  dispose([...whole.tensors.values()]);
  for (const { bytes, what } of cases)
    await clean(
      "fuzz.safetensors",
      what,
      () => deserialize(bytes, "fuzz.safetensors", { requireChecksum: true }),
      (out) => {
        const got = [...(out as { tensors: Map<string, Tensor> }).tensors].map(([k, t]) =>
          [k, t.dtype, t.shape.join("x"), Buffer.from(t.toArray().buffer).toString("hex")].join(" "),
        );
        assert.deepEqual(got, want, `${what}: a corrupt checkpoint loaded other tensors than it holds`);
      },
    );
});

test("CSV feature files: every corruption parses or fails naming the file", async () => {
  const base = new TextEncoder().encode(
    `label,a,b,c\n${Array.from({ length: 12 }, (_, i) => `${i % 3},${i / 4},${(i * 7) % 5},"${i}"`).join("\n")}\n`,
  );
  for (const [k, { bytes, what }] of [...corruptions(base, 12, CASES, 6)].entries()) {
    const file = join(dir, `c${k % 5}.csv`);
    writeFileSync(file, bytes);
    await clean(file, what, () => loadCsvFeatures(file, { labelColumn: "label" }));
  }
});

test("image headers (PNG, JPEG): every corruption decodes or fails naming the file, without allocating the declared size", async () => {
  const px = Buffer.from(Array.from({ length: 64 }, (_, i) => i * 4));
  const png = new Uint8Array(
    await sharp(px, { raw: { width: 8, height: 8, channels: 1 } })
      .png()
      .toBuffer(),
  );
  const jpg = new Uint8Array(
    await sharp(px, { raw: { width: 8, height: 8, channels: 1 } })
      .jpeg()
      .toBuffer(),
  );
  const hugePng = png.slice();
  new DataView(hugePng.buffer).setUint32(16, 0x7fffffff); // IHDR width
  new DataView(hugePng.buffer).setUint32(20, 0x7fffffff); // and height
  const cases = [
    ...corruptions(png, 33, CASES / 2, 7),
    ...corruptions(jpg, 40, CASES / 2, 8),
    { bytes: hugePng, what: "PNG of 2^31 x 2^31" },
  ];
  for (const [k, { bytes, what }] of cases.entries()) {
    const file = join(dir, `i${k % 5}.${k < png.length + 8 ? "png" : "jpg"}`);
    writeFileSync(file, bytes);
    await clean(file, what, () => decodeImage(sharp, file, [1, 8, 8], "cover"));
  }
});
