// .npy files too large to hold in memory: a [N, D] matrix read block by block (float32, float16 or
// float64 values, converted to float32), and an array written block by block. Memory holds one
// block, whatever N is; the page cache does the rest, as a memory map would.
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { DataError } from "./errors.js";
import { NPY_ITEM_SIZE, type NpyHeader, npyHeader, parseNpyHeader } from "./npy.js";

/** float16 bits -> float32, by table (65,536 entries). */
let HALF: Float32Array | null = null;
function halfTable(): Float32Array {
  if (HALF) return HALF;
  HALF = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    HALF[h] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? Number.NaN : s * Number.POSITIVE_INFINITY) : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return HALF;
}

/** A [N, D] floating-point matrix in a .npy file, read in blocks of rows. */
export class NpyMatrixReader {
  readonly n: number;
  readonly d: number;
  readonly dtype: NpyHeader["dtype"];
  readonly #fd: number;
  readonly #offset: number;
  readonly #item: number;
  readonly #bigEndian: boolean;
  #scratch = new Uint8Array(0); // the file's bytes of the last block read
  #converted = new Float32Array(0); // the last block as float32, for dtypes read by conversion

  constructor(readonly file: string) {
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (e) {
      throw new DataError(file, `cannot read (${(e as Error).message})`);
    }
    try {
      const head = Buffer.alloc(65536 + 12);
      const got = readSync(fd, head, 0, head.length, 0);
      const h = parseNpyHeader(head.subarray(0, got), file);
      if (h.dtype !== "float32" && h.dtype !== "float16" && h.dtype !== "float64")
        throw new DataError(file, `embeddings must be float32, float16 or float64, got ${h.dtype}`);
      if (h.shape.length !== 2) throw new DataError(file, `embeddings must be a [N, D] matrix, got shape (${h.shape.join(", ")})`);
      const [n, d] = h.shape as [number, number];
      if (n === 0 || d === 0) throw new DataError(file, `empty matrix (shape (${n}, ${d}))`);
      const want = h.offset + n * d * NPY_ITEM_SIZE[h.dtype];
      const size = fstatSync(fd).size;
      if (size < want)
        throw new DataError(file, `truncated: shape (${n}, ${d}) needs ${want - h.offset} data bytes, found ${size - h.offset}`);
      if (size > want) throw new DataError(file, `${size - want} unexpected trailing bytes after the data`);
      this.n = n;
      this.d = d;
      this.dtype = h.dtype;
      this.#offset = h.offset;
      this.#item = NPY_ITEM_SIZE[h.dtype];
      this.#bigEndian = h.bigEndian;
      this.#fd = fd;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /**
   * Rows start..start+count-1 as float32 [count * D]; a NaN or Inf value is an error naming its row.
   * The array is the reader's own buffer, valid until the next read: fresh memory for every block
   * costs more in page faults than the read itself.
   */
  read(start: number, count: number): Float32Array {
    const d = this.d;
    const size = count * d * this.#item;
    if (this.#scratch.length < size) this.#scratch = new Uint8Array(size); // offset 0: aligned for the typed views below
    const bytes = this.#scratch.subarray(0, size);
    let done = 0;
    while (done < size) {
      const got = readSync(this.#fd, bytes, done, size - done, this.#offset + start * d * this.#item + done);
      if (got === 0) throw new DataError(this.file, `unexpected end of file at row ${start + Math.floor(done / (d * this.#item))}`);
      done += got;
    }
    let out: Float32Array;
    if (this.dtype === "float32" && !this.#bigEndian) out = new Float32Array(bytes.buffer, 0, count * d);
    else {
      if (this.#converted.length < count * d) this.#converted = new Float32Array(count * d);
      out = this.#converted.subarray(0, count * d);
      if (this.#bigEndian) {
        const view = new DataView(bytes.buffer, 0, size);
        const t = this.dtype === "float16" ? halfTable() : null;
        for (let i = 0; i < out.length; i++)
          out[i] = t ? (t[view.getUint16(2 * i)] as number) : this.dtype === "float32" ? view.getFloat32(4 * i) : view.getFloat64(8 * i);
      } else if (this.dtype === "float64") {
        const f64 = new Float64Array(bytes.buffer, 0, count * d);
        for (let i = 0; i < f64.length; i++) out[i] = f64[i] as number;
      } else {
        const t = halfTable();
        const h = new Uint16Array(bytes.buffer, 0, count * d);
        for (let i = 0; i < h.length; i++) out[i] = t[h[i] as number] as number;
      }
      if (this.dtype === "float64") {
        // a finite float64 beyond float32's range became Inf above; name it as what it was
        const f64 = this.#bigEndian ? null : new Float64Array(bytes.buffer, 0, count * d);
        for (let i = 0; i < out.length; i++) {
          const x = out[i] as number;
          if (x - x === 0) continue;
          const orig = f64 ? (f64[i] as number) : new DataView(bytes.buffer, 0, size).getFloat64(8 * i);
          if (Number.isFinite(orig))
            throw new DataError(this.file, `value ${orig} at row ${start + Math.floor(i / d)} is outside float32's range (about ±3.4e38)`);
        }
      }
    }
    // x - x is 0 for every finite x and NaN for NaN and ±Inf
    for (let i = 0; i < out.length; i++) {
      const x = out[i] as number;
      if (x - x !== 0) throw new DataError(this.file, `non-finite value ${x} at row ${start + Math.floor(i / d)}`);
    }
    return out;
  }

  /** The given rows (ascending or not) as float32 [rows.length * D]. */
  gather(rows: ArrayLike<number>): Float32Array {
    const out = new Float32Array(rows.length * this.d);
    for (let i = 0; i < rows.length; i++) out.set(this.read(rows[i] as number, 1), i * this.d);
    return out;
  }

  close(): void {
    closeSync(this.#fd);
  }
}

type Writable = Float32Array | Int32Array | BigInt64Array | Uint8Array;
const DESCR = { float32: "<f4", int32: "<i4", int64: "<i8", uint8: "|u1" } as const;

/** A .npy array written block by block: the header first (the shape is known), then the values in order. */
export class NpyWriter {
  readonly #fd: number;
  #written = 0;
  #closed = false;
  readonly #total: number;

  constructor(
    readonly file: string,
    readonly dtype: keyof typeof DESCR,
    readonly shape: number[],
  ) {
    this.#total = shape.reduce((a, b) => a * b, 1);
    this.#fd = openSync(file, "wx");
    writeSync(this.#fd, npyHeader(DESCR[dtype], shape));
  }

  /** Appends values (little-endian, as this machine stores them). */
  write(values: Writable): void {
    if (this.#written + values.length > this.#total) throw new Error(`${this.file}: more values than the shape (${this.shape}) holds`);
    writeSync(this.#fd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    this.#written += values.length;
  }

  /** Closes the file without checking that it is complete (the caller removes it); safe after close(). */
  abort(): void {
    if (!this.#closed) closeSync(this.#fd);
    this.#closed = true;
  }

  close(): void {
    this.#closed = true;
    closeSync(this.#fd);
    if (this.#written !== this.#total)
      throw new Error(`${this.file}: ${this.#written} values written, the shape (${this.shape}) holds ${this.#total}`);
  }
}
