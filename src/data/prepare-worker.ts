// Worker thread side of batch preparation: raw examples + uniforms in, normalised float32 out.
// Runs augment.ts only (pure typed-array code); the engine is never loaded here.
import { parentPort, workerData } from "node:worker_threads";
import { Augmenter, type AugmentOptions, type Normalization, normalizeBatch } from "./augment.js";
import type { RawExamples } from "./dataset.js";

export interface PrepareConfig {
  shape: number[];
  augment: AugmentOptions | null;
  normalize: Normalization | null;
}
export interface PrepareJob {
  id: number;
  raw: RawExamples;
  batch: number;
  u: Float64Array | null;
}
export type PrepareReply = { id: number; values: Float32Array; ms: number } | { id: number; error: string };

const port = parentPort;
if (port !== null) {
  const cfg = workerData as PrepareConfig;
  const augmenter = cfg.augment === null ? null : new Augmenter(cfg.shape, cfg.augment, cfg.normalize);
  port.on("message", (job: PrepareJob) => {
    try {
      const t0 = performance.now();
      const values =
        augmenter === null || job.u === null
          ? normalizeBatch(job.raw, job.batch, cfg.shape, cfg.normalize)
          : augmenter.apply(job.raw, job.batch, job.u);
      const reply: PrepareReply = { id: job.id, values, ms: performance.now() - t0 };
      port.postMessage(reply, [values.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: job.id, error: (e as Error).message } satisfies PrepareReply);
    }
  });
}
