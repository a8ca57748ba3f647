// Data pipeline benchmark: decode throughput of a generated image folder, batch preparation
// cost, and the prefetch wait fraction of a simulated training loop.
//   npx tsc -p tsconfig.json && LLP_THREADS=1 node dist/bench/data.js [--images 2000] [--out bench/results/data.json]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import sharp from "sharp";
import { DataLoader, type Dataset, type LoaderOptions, loadFashionMnist, loadImageFolder } from "../src/data/index.js";
import { Generator } from "../src/torch/random.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};
const N_IMAGES = Number(flag("images", "2000"));
const OUT = flag("out", "bench/results/data.json");
const CLASSES = 10;
const SIZE = 32;

/** A textured 32x32 RGB image (gradients plus seeded noise), so PNG has something to compress. */
function pixels(i: number): Buffer {
  const b = Buffer.alloc(SIZE * SIZE * 3);
  let s = (i * 2654435761) >>> 0;
  for (let p = 0; p < SIZE * SIZE; p++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const y = Math.floor(p / SIZE);
    const x = p % SIZE;
    b[3 * p] = (x * 8 + i) & 255;
    b[3 * p + 1] = (y * 8 + 3 * i) & 255;
    b[3 * p + 2] = s >>> 24;
  }
  return b;
}

async function makeFolder(root: string): Promise<void> {
  for (let c = 0; c < CLASSES; c++) mkdirSync(join(root, `class${c}`));
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < N_IMAGES; i++) {
    const file = join(root, `class${i % CLASSES}`, `${i}.png`);
    jobs.push(
      sharp(pixels(i), { raw: { width: SIZE, height: SIZE, channels: 3 } })
        .png()
        .toFile(file),
    );
    if (jobs.length === 64) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/**
 * A simulated training step of ms on the main thread: "busy" spins a core (a CPU libtorch step),
 * "sleep" blocks without using a core (a step waiting on a GPU).
 */
function step(ms: number, kind: "busy" | "sleep"): void {
  if (kind === "sleep") {
    Atomics.wait(sleeper, 0, 0, ms);
    return;
  }
  const until = performance.now() + ms;
  while (performance.now() < until);
}

async function simulate(ds: Dataset, o: LoaderOptions, stepMs: number, kind: "busy" | "sleep") {
  const loader = new DataLoader(ds, o, new Generator(0));
  for await (const b of loader.epoch()) {
    step(stepMs, kind);
    b.dispose();
  }
  await loader.close();
  const s = loader.stats;
  return {
    step: `${stepMs} ms ${kind}`,
    prepareIn: o.prepareIn ?? "worker",
    batches: s.batches,
    waitFraction: round(s.waitFraction, 4),
    waitMsPerBatch: round(s.waitMs / s.batches, 2),
    prepareMsPerBatch: round(s.prepareMs / s.batches, 2),
  };
}

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

async function main() {
  const root = mkdtempSync(join(tmpdir(), "llp-bench-data-"));
  const results: Record<string, unknown> = {};
  try {
    let t = performance.now();
    await makeFolder(root);
    const makeS = (performance.now() - t) / 1000;

    // 1. cold decode throughput: no cache, batches of 128 read one after another
    const cold = await loadImageFolder(root, { cacheBytes: 0 });
    const all = Int32Array.from({ length: cold.n }, (_, i) => i);
    t = performance.now();
    for (let s = 0; s < cold.n; s += 128) await cold.readRaw(all.subarray(s, Math.min(s + 128, cold.n)));
    const decodeS = (performance.now() - t) / 1000;
    // the same, with every read queued at once
    const burst = await loadImageFolder(root, { cacheBytes: 0, parallel: 4096 });
    t = performance.now();
    await burst.readRaw(all);
    const burstS = (performance.now() - t) / 1000;
    results.decode = {
      images: cold.n,
      size: `${SIZE}x${SIZE} RGB PNG`,
      generateSeconds: round(makeS, 2),
      imagesPerSecondBatched: Math.round(cold.n / decodeS),
      imagesPerSecondAllQueued: Math.round(cold.n / burstS),
      uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE) || 4,
    };

    // 2. prefetch on the image folder: resizedCropJitter, batch 128, a simulated step
    const folder = await loadImageFolder(root, { cacheBytes: 0 });
    const rgb: LoaderOptions = { batchSize: 128, augment: { kind: "resizedCropJitter" }, prefetch: 2 };
    const loops: unknown[] = [];
    for (const [ms, kind] of [
      [0, "busy"],
      [100, "busy"],
      [100, "sleep"],
      [250, "sleep"],
    ] as const)
      loops.push(await simulate(folder, rgb, ms, kind));
    results.imageFolderLoop = loops;

    // 3. Fashion-MNIST in memory: padCrop + normalisation, batch 128
    const fm = await loadFashionMnist();
    const gray: LoaderOptions = { batchSize: 128, augment: { kind: "padCrop" }, normalize: { mean: [0.286], std: [0.353] } };
    const sub = new DataLoader(fm, gray, new Generator(0)); // as fast as it goes: no step
    t = performance.now();
    let n = 0;
    for await (const b of sub.epoch()) {
      n += b.size;
      b.dispose();
    }
    const fmS = (performance.now() - t) / 1000;
    await sub.close();
    results.fashionMnistEpoch = {
      examples: n,
      seconds: round(fmS, 2),
      examplesPerSecond: Math.round(n / fmS),
      prepareMsPerBatch: round(sub.stats.prepareMs / sub.stats.batches, 2),
    };
    results.fashionMnistLoop = [
      await simulate(fm, { ...gray, prepareIn: "main" }, 20, "busy"),
      await simulate(fm, gray, 20, "busy"),
      await simulate(fm, { ...gray, prepareIn: "main" }, 20, "sleep"),
      await simulate(fm, gray, 20, "sleep"),
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const report = {
    command: `LLP_THREADS=${process.env.LLP_THREADS ?? ""} node dist/bench/data.js ${args.join(" ")}`.trim(),
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      loadAverage1m: round(loadavg()[0] as number, 2),
      node: process.version,
      sharp: sharp.versions.sharp,
      libvips: sharp.versions.vips,
    },
    note:
      "waitFraction = time the loop spent inside next() / wall time of the epoch. The simulated step either spins the main " +
      "thread (a CPU libtorch step, competing for the same cores) or blocks it without using a core (a GPU step). Decoding " +
      "runs on libuv threads, augmentation on a worker thread (prepareIn: worker) or between steps (main).",
    ...results,
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
