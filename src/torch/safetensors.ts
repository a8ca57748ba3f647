// safetensors (https://github.com/huggingface/safetensors) reader and writer:
// u64 little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the tensors' bytes back to back (offsets relative to the end of the header).
import { createHash } from "node:crypto";
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { type DType, itemSize } from "./dtype.js";
import { type Tensor, tensor } from "./tensor.js";

const toST: Record<DType, string> = { float32: "F32", float64: "F64", int64: "I64", int32: "I32", uint8: "U8", bool: "BOOL" };
const fromST: Record<string, DType> = Object.fromEntries(Object.entries(toST).map(([k, v]) => [v, k as DType]));

export type Metadata = Record<string, string>;

/**
 * SHA-256 of a file's header entries with the metadata `meta` (its checksum left out) and its
 * data bytes: what `sha256` in the metadata of a checksummed file holds.
 */
function checksumOf(header: Record<string, unknown>, meta: Metadata, data: Uint8Array[]): string {
  const { __metadata__: _m, ...entries } = header;
  const h = createHash("sha256").update(JSON.stringify({ __metadata__: meta, ...entries }));
  for (const d of data) h.update(d);
  return h.digest("hex");
}

/**
 * Serialises named tensors (sorted by name, as the reference implementation does). With
 * `checksum`, the metadata also holds `sha256` of the rest (verified by deserialize).
 */
export function serialize(tensors: Map<string, Tensor>, metadata: Metadata = {}, o: { checksum?: boolean } = {}): Buffer {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0 || o.checksum) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name) as Tensor;
    const a = t.toArray();
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    header[name] = { dtype: toST[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  if (o.checksum) header.__metadata__ = { ...metadata, sha256: checksumOf(header, metadata, chunks) };
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // align the data to 8 bytes
  const head = Buffer.from(json, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(head.byteLength));
  return Buffer.concat([len, head, ...chunks]);
}

/** Parses a safetensors buffer into new tensors. Throws on any inconsistency; requireChecksum: also when it has no checksum. */
export function deserialize(
  buf: Uint8Array,
  source = "safetensors data",
  o: { requireChecksum?: boolean } = {},
): { tensors: Map<string, Tensor>; metadata: Metadata } {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a valid safetensors file (${why})`);
  };
  if (buf.byteLength < 8) fail("shorter than its 8-byte header length");
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > buf.byteLength - 8) fail(`header length ${n} exceeds file size ${buf.byteLength}`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Metadata>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString("utf8"));
  } catch (e) {
    return fail(`header is not JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) fail("header is not a JSON object");
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  // every entry is checked before any tensor is made, so a bad file allocates nothing
  let metadata: Metadata = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (entry === null || typeof entry !== "object" || Object.values(entry).some((v) => typeof v !== "string"))
        fail("__metadata__ is not an object of strings");
      metadata = entry as Metadata;
      continue;
    }
    if (entry === null || typeof entry !== "object") fail(`"${name}" is not a tensor entry`);
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const dtype = fromST[e.dtype];
    if (dtype === undefined) fail(`"${name}" has unsupported dtype ${e.dtype}`);
    const [begin, end] = Array.isArray(e.data_offsets) ? e.data_offsets : [];
    if (!Array.isArray(e.shape) || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end))
      fail(`"${name}" lacks shape or data_offsets`);
    if (!e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`"${name}" has shape [${e.shape}], not sizes >= 0`);
    const numel = e.shape.reduce((a, b) => a * b, 1);
    if ((end as number) - (begin as number) !== numel * itemSize[dtype as DType])
      fail(`"${name}" byte range ${begin}..${end} does not match shape [${e.shape}] of ${e.dtype}`);
    if ((begin as number) < 0 || (end as number) > dataLen)
      fail(`"${name}" byte range ${begin}..${end} is outside the data (${dataLen} bytes)`);
    entries.push({ name, dtype: dtype as DType, shape: e.shape, begin: begin as number, end: end as number });
  }
  if (metadata.sha256 === undefined && o.requireChecksum) fail("it has no checksum");
  if (metadata.sha256 !== undefined) {
    const { sha256, ...rest } = metadata;
    if (checksumOf(header as Record<string, unknown>, rest, [buf.subarray(dataStart)]) !== sha256)
      fail("its checksum does not match its contents: the file is corrupt");
  }
  const tensors = new Map<string, Tensor>();
  try {
    for (const { name, dtype, shape, begin, end } of entries) {
      const bytes = new Uint8Array(end - begin);
      bytes.set(buf.subarray(dataStart + begin, dataStart + end));
      tensors.set(name, fromBytes(bytes, shape, dtype));
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  return { tensors, metadata };
}

function fromBytes(bytes: Uint8Array, shape: number[], dtype: DType): Tensor {
  const b = bytes.buffer;
  switch (dtype) {
    case "float32":
      return tensor(new Float32Array(b), shape);
    case "float64":
      return tensor(new Float64Array(b), shape);
    case "int64":
      return tensor(new BigInt64Array(b), shape);
    case "int32":
      return tensor(new Int32Array(b), shape);
    case "uint8":
      return tensor(bytes, shape, "uint8");
    case "bool":
      return tensor(bytes, shape, "bool");
  }
}

/** Writes atomically (writeFileAtomic); `checksum` and `keepPrevious` as there and in serialize. */
export function saveFile(
  path: string,
  tensors: Map<string, Tensor>,
  metadata: Metadata = {},
  o: { checksum?: boolean; keepPrevious?: string } = {},
): void {
  writeFileAtomic(path, serialize(tensors, metadata, o), o);
}

export function loadFile(path: string, o: { requireChecksum?: boolean } = {}): { tensors: Map<string, Tensor>; metadata: Metadata } {
  return deserialize(readFileSync(path), path, o);
}

/**
 * Writes atomically: a temporary file in the same folder, written in full and fsynced, then
 * renamed over `path` (and the folder fsynced). A failed write (a full disk) removes the
 * temporary file and leaves `path` as it was. keepPrevious: the file `path` held is first
 * renamed there, so the last two versions survive.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, o: { keepPrevious?: string } = {}): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  try {
    const fd = openSync(tmp, "w");
    try {
      for (let at = 0; at < bytes.byteLength; ) at += writeSync(fd, bytes, at, bytes.byteLength - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (o.keepPrevious && existsSync(path)) renameSync(path, o.keepPrevious);
  renameSync(tmp, path);
  try {
    const d = openSync(dirname(path), "r");
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    // a folder that cannot be opened for fsync (some filesystems): the rename stands
  }
}
