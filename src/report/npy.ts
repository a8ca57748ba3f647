// Minimal .npy writer (format version 1.0, C order, little-endian) for embeddings and labels.
import { npyHeader } from "../data/npy.js";
import { writeFileAtomic } from "../torch/safetensors.js";

type NpyData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export function npyBytes(data: NpyData, shape: number[]): Buffer {
  const descr = data instanceof Float32Array ? "<f4" : data instanceof Int32Array ? "<i4" : data instanceof Uint8Array ? "|u1" : "<i8";
  return Buffer.concat([npyHeader(descr, shape), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export function writeNpy(path: string, data: NpyData, shape: number[]): void {
  writeFileAtomic(path, npyBytes(data, shape));
}
