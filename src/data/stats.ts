// Per-channel mean and std of the training inputs (scaled to [0, 1]), for normalisation.

import type { Normalization } from "./augment.js";
import type { Dataset } from "./dataset.js";

export interface StatsOptions {
  /** Examples read at most (evenly spaced over `indices`; lazy folders decode each). Default: 20000. */
  maxExamples?: number;
  /** Examples per read. Default: 256. */
  chunk?: number;
}

/**
 * mean[c] and population std[c] over the examples at `indices` (a channel is the first dim of the
 * example shape: image channels, or each feature of [F] vectors). A zero std becomes 1.
 */
export async function channelStats(ds: Dataset, indices: Int32Array, o: StatsOptions = {}): Promise<Normalization> {
  const maxExamples = o.maxExamples ?? 20000;
  const chunk = o.chunk ?? 256;
  if (indices.length === 0) throw new Error("channelStats: no examples");
  const take = Math.min(indices.length, maxExamples);
  const picked = Int32Array.from({ length: take }, (_, k) => indices[Math.floor((k * indices.length) / take)] as number);
  const channels = ds.shape[0] ?? 1;
  const inner = ds.shape.slice(1).reduce((a, b) => a * b, 1);
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  const scale = ds.storage === "uint8" ? 1 / 255 : 1;
  for (let s = 0; s < take; s += chunk) {
    const idx = picked.subarray(s, Math.min(s + chunk, take));
    const raw = await ds.readRaw(idx);
    for (let b = 0; b < idx.length; b++) {
      for (let c = 0; c < channels; c++) {
        let a = 0;
        let a2 = 0;
        const o0 = (b * channels + c) * inner;
        for (let i = o0; i < o0 + inner; i++) {
          const v = (raw[i] as number) * scale;
          a += v;
          a2 += v * v;
        }
        sum[c] = (sum[c] as number) + a;
        sq[c] = (sq[c] as number) + a2;
      }
    }
  }
  const count = take * inner;
  const mean = Array.from(sum, (v) => v / count);
  const std = Array.from(sq, (v, c) => {
    const s = Math.sqrt(Math.max(v / count - (mean[c] as number) ** 2, 0));
    return s > 1e-12 ? s : 1;
  });
  return { mean, std };
}
