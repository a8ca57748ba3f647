// NumPy .npy files (format versions 1-3): a magic string, a header dict
// {'descr': '<f4', 'fortran_order': False, 'shape': (N, F)} and the values in C order.
import { readFile } from "node:fs/promises";
import { DataError } from "./errors.js";

export type NpyDtype = "float32" | "float64" | "uint8" | "int64" | "int32";
export type NpyData = Float32Array | Float64Array | Uint8Array | BigInt64Array | Int32Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const KINDS: Record<string, NpyDtype> = { f4: "float32", f8: "float64", u1: "uint8", i8: "int64", i4: "int32" };
const SIZES: Record<NpyDtype, number> = { float32: 4, float64: 8, uint8: 1, int64: 8, int32: 4 };
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

export function parseNpy(buf: Uint8Array, file: string): NpyArray {
  const { dtype, bigEndian, shape, offset } = parseNpyHeader(buf, file);
  if (dtype === "float16")
    throw new DataError(file, "float16 values: save them as float32 (x.astype('float32')); only llp propagate streams float16");
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = count * SIZES[dtype];
  const found = buf.length - offset;
  if (found < bytes) throw new DataError(file, `truncated: shape (${shape.join(", ")}) needs ${bytes} data bytes, found ${found}`);
  if (found > bytes) throw new DataError(file, `${found - bytes} unexpected trailing bytes after the data`);
  // Copy into a fresh, aligned buffer (the data offset need not be a multiple of the item size).
  const copy = buf.slice(offset, offset + bytes);
  if (bigEndian && SIZES[dtype] > 1) swapBytes(copy, SIZES[dtype]);
  return { dtype, shape, data: typed(dtype, copy.buffer) };
}

export async function readNpy(file: string): Promise<NpyArray> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw new DataError(file, `cannot read (${(e as Error).message})`);
  }
  return parseNpy(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), file);
}

/** A .npy header as read from the file's first bytes; `offset` is where the values start. */
export interface NpyHeader {
  dtype: NpyDtype | "float16";
  bigEndian: boolean;
  shape: number[];
  offset: number;
}

/** Parses the magic string and header of a .npy file from its first bytes (the whole header must be in buf). */
export function parseNpyHeader(buf: Uint8Array, file: string): NpyHeader {
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) throw new DataError(file, "not a .npy file (bad magic string)");
  const major = buf[6] as number;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new DataError(file, "truncated .npy header");
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw new DataError(file, `unsupported .npy format version ${major}`);
  }
  if (buf.length < start + headerLen) throw new DataError(file, "truncated .npy header");
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(buf.subarray(start, start + headerLen));
  const { dtype, bigEndian, fortran, shape } = parseHeader(header, file);
  if (fortran) {
    throw new DataError(file, "fortran_order is True: only C-order arrays are supported (save np.ascontiguousarray(x))");
  }
  return { dtype, bigEndian, shape, offset: start + headerLen };
}

/** The magic string, version 1.0 and header of a C-order .npy of `descr` ('<f4', '<i8', '|u1'...) and `shape`, padded to 64 bytes. */
export function npyHeader(descr: string, shape: number[]): Buffer {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  header += `${" ".repeat((64 - ((10 + header.length + 1) % 64)) % 64)}\n`;
  const pre = Buffer.alloc(10);
  pre.write("\x93NUMPY", 0, "latin1");
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, "latin1")]);
}

/** Bytes per value of each dtype a .npy header may name. */
export const NPY_ITEM_SIZE: Record<NpyHeader["dtype"], number> = { float16: 2, float32: 4, float64: 8, uint8: 1, int64: 8, int32: 4 };

function parseHeader(header: string, file: string) {
  const h = header.trim();
  if (!h.startsWith("{") || !h.endsWith("}")) throw new DataError(file, `malformed .npy header: ${h}`);
  const descr = /['"]descr['"]\s*:\s*['"]([<>|=])([a-zA-Z])(\d+)['"]/.exec(h);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(h);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(h);
  if (descr === null || fortran === null || shape === null) {
    throw new DataError(file, `malformed .npy header (needs descr, fortran_order and shape): ${h}`);
  }
  const key = `${(descr[2] as string).toLowerCase()}${descr[3]}`;
  const dtype: NpyHeader["dtype"] | undefined = key === "f2" ? "float16" : KINDS[key];
  if (dtype === undefined) {
    throw new DataError(
      file,
      `dtype '${descr[1]}${descr[2]}${descr[3]}' is not supported (float32, float64, uint8, int32, int64; float16 where streamed)`,
    );
  }
  const dims = (shape[1] as string)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ""));
      if (!Number.isInteger(v) || v < 0) throw new DataError(file, `malformed shape in .npy header: (${shape[1]})`);
      return v;
    });
  return { dtype, bigEndian: descr[1] === ">", fortran: fortran[1] === "True", shape: dims };
}

function typed(dtype: NpyDtype, b: ArrayBufferLike): NpyData {
  switch (dtype) {
    case "float32":
      return new Float32Array(b);
    case "float64":
      return new Float64Array(b);
    case "uint8":
      return new Uint8Array(b);
    case "int64":
      return new BigInt64Array(b);
    case "int32":
      return new Int32Array(b);
  }
}

function swapBytes(a: Uint8Array, size: number): void {
  for (let i = 0; i < a.length; i += size) {
    for (let j = 0; j < size / 2; j++) {
      const t = a[i + j] as number;
      a[i + j] = a[i + size - 1 - j] as number;
      a[i + size - 1 - j] = t;
    }
  }
}

/** Values as float32, rejecting NaN/Inf (reported with their flat position). */
export function npyToFloat32(a: NpyArray, file: string): Float32Array {
  const out = new Float32Array(a.data.length);
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i]);
    if (!Number.isFinite(v)) throw new DataError(file, `non-finite value ${v} at row ${Math.floor(i / rowSize(a))}`);
    out[i] = v;
    if (!Number.isFinite(out[i] as number))
      throw new DataError(file, `value ${v} at row ${Math.floor(i / rowSize(a))} is outside float32's range (about ±3.4e38)`);
  }
  return out;
}

/** Values as class labels (integers, -1 = unlabelled); floats must hold whole numbers. */
export function npyToLabels(a: NpyArray, file: string): Int32Array {
  if (!(a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1))) {
    throw new DataError(file, `labels must have shape (N,) or (N, 1), got (${a.shape.join(", ")})`);
  }
  const out = new Int32Array(a.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Number(a.data[i]);
    if (!Number.isInteger(v) || v < -1 || v > 2 ** 31 - 1) {
      throw new DataError(file, `label ${v} at row ${i} is not a class index (integers >= 0, or -1 for unlabelled)`);
    }
    out[i] = v;
  }
  return out;
}

const rowSize = (a: NpyArray): number => a.shape.slice(1).reduce((x, y) => x * y, 1) || 1;
