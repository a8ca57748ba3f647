// Minimal .npy writer (format version 1.0, C order, little-endian) for embeddings and labels.
import { writeFileAtomic } from "../torch/safetensors.js";

type NpyData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export function npyBytes(data: NpyData, shape: number[]): Buffer {
  const descr = data instanceof Float32Array ? "<f4" : data instanceof Int32Array ? "<i4" : data instanceof Uint8Array ? "|u1" : "<i8";
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + header.length + 1;
  header += `${" ".repeat((64 - (total % 64)) % 64)}\n`;
  const pre = Buffer.alloc(10);
  pre.write("\x93NUMPY", 0, "latin1");
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, "latin1"), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export function writeNpy(path: string, data: NpyData, shape: number[]): void {
  writeFileAtomic(path, npyBytes(data, shape));
}
