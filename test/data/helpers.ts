// Fixture writers and small helpers for the data tests. Fixtures go to a fresh temp folder.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";

/** A temp folder removed when the test file ends. */
export function tempDir(prefix = "llp-data-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** IDX bytes: magic 0x00000800 | ndim (unsigned bytes), big-endian dims, then data. */
export function idxBytes(dims: number[], data: ArrayLike<number>, magic = 0x800 | dims.length): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, magic);
  for (const [i, d] of dims.entries()) v.setUint32(4 + 4 * i, d);
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

/**
 * A feature matrix x [n, f] (float32) and its labels y [n] (int64, -1 = unlabelled) written as
 * dir/x.npy and dir/y.npy, the layout `--data x.npy --labels y.npy` reads; returns both paths.
 */
export function writeFeatureNpy(dir: string, x: Float32Array, f: number, y: ArrayLike<number>): { data: string; labels: string } {
  const n = y.length;
  const paths = { data: join(dir, "x.npy"), labels: join(dir, "y.npy") };
  writeFileSync(paths.data, npyBytes("<f4", [n, f], new Uint8Array(x.buffer, x.byteOffset, x.byteLength)));
  writeFileSync(paths.labels, npyBytes("<i8", [n], new Uint8Array(BigInt64Array.from(Array.from(y), BigInt).buffer)));
  return paths;
}

/** .npy (version 1) bytes with the given descr, shape and little-endian data bytes. */
export function npyBytes(descr: string, shape: number[], data: Uint8Array, fortran = false): Uint8Array {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? "True" : "False"}, 'shape': ${shapeStr}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = `${header}${" ".repeat(pad % 64)}\n`;
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

export const fromBase64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));
export const range = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);
export const histogram = (labels: ArrayLike<number>, numClasses: number): number[] => {
  const h = new Array(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) if ((labels[i] as number) >= 0) h[labels[i] as number]++;
  return h;
};

/**
 * n 8x8 grayscale images in 3 classes as an IDX folder (train-images/-labels), all labelled:
 * class k (= i % 3) lights rows 3k..3k+2 over a dim, position-dependent background.
 */
export function writeTinyImages(dir: string, n: number, o: { hard?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  // hard: the band barely brighter than a noisier background, so the classes overlap and no classifier is sure
  const [band, noise] = o.hard ? [70, 140] : [140, 50];
  const px = Uint8Array.from({ length: n * 64 }, (_, i) => {
    const [k, r] = [Math.floor(i / 64) % 3, Math.floor((i % 64) / 8)];
    return (Math.floor(r / 3) === k ? 40 + band : 40) + ((i * 37 + Math.floor(i / 64) * 101) % noise);
  });
  writeFileSync(join(dir, "train-images-idx3-ubyte"), idxBytes([n, 8, 8], px));
  writeFileSync(
    join(dir, "train-labels-idx1-ubyte"),
    idxBytes(
      [n],
      Uint8Array.from({ length: n }, (_, i) => i % 3),
    ),
  );
  return dir;
}
