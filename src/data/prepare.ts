// Where a batch's CPU work (augmentation, scaling, normalisation) runs: on the main thread, or on
// a worker thread so that it overlaps the (synchronous) training step like decoding does.
// Both give the same values: a batch is a pure function of (raw examples, uniforms).
import { Worker } from "node:worker_threads";
import { Augmenter, type AugmentOptions, type Normalization, normalizeBatch } from "./augment.js";
import type { RawExamples } from "./dataset.js";
import type { PrepareConfig, PrepareJob, PrepareReply } from "./prepare-worker.js";

export interface Preparer {
  /** Uniforms each example consumes (0 without augmentation). */
  readonly drawsPerExample: number;
  /** raw [B, ...shape] + uniforms -> normalised float32 [B, ...shape], and the ms it took. */
  prepare(raw: RawExamples, batch: number, u: Float64Array | null): Promise<{ values: Float32Array; ms: number }>;
  close(): Promise<void>;
}

export function makePreparer(
  where: "worker" | "main",
  shape: readonly number[],
  augment: AugmentOptions | null,
  normalize: Normalization | null,
): Preparer {
  // Built here first in either case: bad options fail at construction, on the caller's stack.
  const augmenter = augment === null ? null : new Augmenter(shape, augment, normalize);
  if (augmenter === null) normalizeBatch(new Float32Array(0), 0, shape, normalize);
  return where === "main"
    ? new MainThreadPreparer(shape, augmenter, normalize)
    : new WorkerPreparer({ shape: [...shape], augment, normalize }, augmenter?.drawsPerExample ?? 0);
}

class MainThreadPreparer implements Preparer {
  readonly drawsPerExample: number;
  constructor(
    readonly shape: readonly number[],
    readonly augmenter: Augmenter | null,
    readonly normalize: Normalization | null,
  ) {
    this.drawsPerExample = augmenter?.drawsPerExample ?? 0;
  }
  async prepare(raw: RawExamples, batch: number, u: Float64Array | null) {
    const t0 = performance.now();
    const values =
      this.augmenter === null || u === null ? normalizeBatch(raw, batch, this.shape, this.normalize) : this.augmenter.apply(raw, batch, u);
    return { values, ms: performance.now() - t0 };
  }
  async close() {}
}

/**
 * One worker thread per loader, started on first use and stopped after IDLE_MS without work
 * (loaders made per epoch and never closed leave no threads behind). It keeps the process
 * alive only while it has work.
 */
const IDLE_MS = 2000;

class WorkerPreparer implements Preparer {
  #worker: Worker | null = null;
  #jobs = new Map<number, { resolve: (r: { values: Float32Array; ms: number }) => void; reject: (e: Error) => void }>();
  #next = 0;
  #idle: NodeJS.Timeout | null = null;
  constructor(
    readonly config: PrepareConfig,
    readonly drawsPerExample: number,
  ) {}

  #start(): Worker {
    const w = new Worker(new URL("./prepare-worker.js", import.meta.url), { workerData: this.config });
    w.on("message", (m: PrepareReply) => {
      const job = this.#jobs.get(m.id);
      this.#jobs.delete(m.id);
      if (this.#jobs.size === 0 && this.#worker === w) this.#rest(w);
      if ("error" in m) job?.reject(new Error(`batch preparation: ${m.error}`));
      else job?.resolve({ values: m.values, ms: m.ms });
    });
    const fail = (e: Error) => {
      if (this.#worker !== w) return;
      for (const job of this.#jobs.values()) job.reject(new Error(`batch preparation worker failed: ${e.message}`));
      this.#jobs.clear();
      this.#worker = null;
    };
    w.on("error", fail);
    w.on("exit", (code) => fail(new Error(`exited with code ${code}`)));
    return w;
  }

  /** No work left: let the process exit, and stop the thread if nothing comes for a while. */
  #rest(w: Worker): void {
    w.unref();
    this.#idle = setTimeout(() => void this.close(), IDLE_MS);
    this.#idle.unref();
  }

  prepare(raw: RawExamples, batch: number, u: Float64Array | null) {
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.#idle = null;
    this.#worker ??= this.#start();
    const w = this.#worker;
    const id = this.#next++;
    const job: PrepareJob = { id, raw, batch, u };
    return new Promise<{ values: Float32Array; ms: number }>((resolve, reject) => {
      if (this.#jobs.size === 0) w.ref();
      this.#jobs.set(id, { resolve, reject });
      w.postMessage(job); // raw and u are copied: the dataset may still own them
    });
  }

  /** Stops the thread; batches still in it are rejected (and dropped by the loader). */
  async close() {
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.#idle = null;
    const w = this.#worker;
    if (w === null) return;
    this.#worker = null;
    for (const job of this.#jobs.values()) job.reject(new Error("batch preparation: loader closed"));
    this.#jobs.clear();
    w.ref(); // an unreferenced worker's exit would not keep the process waiting for it
    await w.terminate();
  }
}
