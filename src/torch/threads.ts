import { availableParallelism } from "node:os";
import { native } from "./native.js";

/** Intra-op threads used by libtorch's kernels. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be a positive integer, got ${n}`);
  native.SetNumThreads(n);
}
export function getNumThreads(): number {
  return native.GetNumThreads() as number;
}
export function defaultThreads(): number {
  const env = Number(process.env.LLP_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}
/** Whether the addon raised glibc's mmap/trim thresholds at load (see native/addon.cc). */
export function allocatorTuned(): boolean {
  return native.AllocatorTuned() as boolean;
}
/** Bytes glibc's malloc currently serves from mmapped blocks (mallinfo2().hblkhd). */
export function mmappedBytes(): number {
  return native.MmappedBytes() as number;
}
export function torchVersion(): string {
  return native.Version() as string;
}
