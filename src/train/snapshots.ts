// Embedding snapshots for the run report's per-epoch pictures (the paper's Fig. 2: the
// aggregation metric over training, MDS of a few classes at several epochs). With
// `snapshots` = S > 0, a seeded sample of S training points is fixed at the start
// (snapshots/index.npy: rows of the training pool) and at every epoch's end their embeddings v
// under the network the method evaluates with are written to snapshots/epoch-E.npy ([S, D]).
// Embedding runs in eval mode and draws nothing from the run's generator, so a run with
// snapshots trains exactly as one without.
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readNpy } from "../data/npy.js";
import { embedAll } from "../eval/metrics.js";
import type { LLPNet } from "../model/net.js";
import { writeNpy } from "../report/npy.js";
import { Generator } from "../torch/random.js";
import type { TrainData } from "./types.js";

export const snapshotDir = (runDir: string) => join(runDir, "snapshots");

/** S distinct rows of an N-point pool, sorted, drawn from the seed (not the run's generator). */
export function snapshotSample(n: number, count: number, seed: number): Int32Array {
  const u = new Generator(seed + 104729).uniforms(n);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (u[a] as number) - (u[b] as number));
  return Int32Array.from(order.slice(0, Math.min(count, n))).sort();
}

/** Writes snapshots/index.npy (once) and returns the sample. */
export function beginSnapshots(runDir: string, data: TrainData, count: number, seed: number): Int32Array {
  const sample = snapshotSample(data.n, count, seed);
  mkdirSync(snapshotDir(runDir), { recursive: true });
  writeNpy(join(snapshotDir(runDir), "index.npy"), sample, [sample.length]);
  return sample;
}

/** The sample's embeddings at the end of `epoch` -> snapshots/epoch-E.npy. */
export async function writeSnapshot(runDir: string, net: LLPNet, data: TrainData, sample: Int32Array, epoch: number): Promise<void> {
  const { v, logits } = await embedAll(net, {
    n: sample.length,
    inputs: (idx) => data.inputs(Int32Array.from(idx, (i) => sample[i] as number)),
  });
  try {
    writeNpy(join(snapshotDir(runDir), `epoch-${String(epoch).padStart(3, "0")}.npy`), v.toArray() as Float32Array, v.shape);
  } finally {
    v.dispose();
    logits.dispose();
  }
}

/** A run's snapshots: the sampled rows and each epoch's embeddings [S, D], in epoch order. */
export async function readSnapshots(
  runDir: string,
): Promise<{ index: Int32Array; epochs: { epoch: number; v: Float32Array; dim: number }[] } | null> {
  const dir = snapshotDir(runDir);
  if (!existsSync(join(dir, "index.npy"))) return null;
  const idx = await readNpy(join(dir, "index.npy"));
  const index = Int32Array.from(idx.data as ArrayLike<number>);
  const epochs = [];
  for (const f of readdirSync(dir)) {
    const m = /^epoch-(\d+)\.npy$/.exec(f);
    if (!m) continue;
    const a = await readNpy(join(dir, f));
    epochs.push({ epoch: Number(m[1]), v: a.data as Float32Array, dim: a.shape[1] as number });
  }
  return { index, epochs: epochs.sort((a, b) => a.epoch - b.epoch) };
}
