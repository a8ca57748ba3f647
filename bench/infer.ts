// `npm run bench:infer`: prediction latency of an exported model in onnxruntime-node beside
// llp's own (libtorch through the addon), same network, same weights, same threads, and the
// time `exportNetOnnx` takes. Both sides start from raw pixels in JavaScript and end with the
// class probabilities and the embedding in JavaScript arrays (what `llp predict` and llp/infer
// do per call): llp normalises, makes a tensor, runs heads() without gradients, softmaxes and
// copies out; onnxruntime gets the pixels (its graph normalises) and returns both outputs.
// Rounds alternate which side goes first; each round times `calls` calls per side; the report
// is the median over rounds of each side's median call, with the rounds' spread.
//
//   npm run bench:infer -- [--rounds 7] [--calls 200] [--threads 1] [--no-write]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { normalizeBatch } from "../src/data/augment.js";
import { exportNetOnnx } from "../src/export/onnx.js";
import { buildNet, type ModelName } from "../src/model/net.js";
import { F, Generator, setNumThreads, tensor, tidy, torchVersion } from "../src/torch/index.js";
import { noGrad } from "../src/torch/tensor.js";
import { median, r2 } from "./common.js";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "7" },
    calls: { type: "string", default: "200" },
    threads: { type: "string", default: "1" },
    "no-write": { type: "boolean", default: false },
  },
});
const rounds = Number(args.rounds);
const calls = Number(args.calls);
const threads = Number(args.threads);
const repo = new URL("../../", import.meta.url).pathname;
setNumThreads(threads);

interface Case {
  model: ModelName;
  inputShape: number[];
  batch: number;
}
// Fashion-MNIST's default network, and the paper's ResNet-18 on CIFAR-sized colour images
const CASES: Case[] = [
  { model: "small-cnn", inputShape: [1, 28, 28], batch: 1 },
  { model: "small-cnn", inputShape: [1, 28, 28], batch: 64 },
  { model: "resnet18", inputShape: [3, 32, 32], batch: 1 },
];
const norm = (c: number) => ({ mean: new Array(c).fill(0.3), std: new Array(c).fill(0.35) });

const loadBefore = loadavg()[0] as number;
const results = [];
for (const c of CASES) {
  const gen = new Generator(0);
  const net = buildNet({ model: c.model, inputShape: c.inputShape, numClasses: 10, embeddingDim: 128 }, gen).eval();
  const spec = {
    inputShape: c.inputShape,
    classNames: Array.from({ length: 10 }, (_, i) => String(i)),
    normalization: norm(c.inputShape[0] as number),
    method: "llp",
    model: c.model,
    weights: "random (latency does not depend on the values)",
    stored: "uint8" as const,
  };
  const t0 = performance.now();
  const bytes = exportNetOnnx(net, spec, "both", "bench");
  const exportMs = performance.now() - t0;
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const per = c.inputShape.reduce((a, b) => a * b, 1);
  const raw = Uint8Array.from({ length: c.batch * per }, (_, i) => (i * 131 + 7) % 256);

  const llpCall = async () =>
    noGrad(() =>
      tidy(() => {
        const x = tensor(normalizeBatch(raw, c.batch, c.inputShape, spec.normalization), [c.batch, ...c.inputShape], "float32");
        const { v, logits } = net.heads(x);
        return [F.softmax(logits, 1).toArray(), v.toArray()];
      }),
    );
  const ortCall = async () => {
    const out = await session.run({ input: new ort.Tensor("float32", Float32Array.from(raw), [c.batch, ...c.inputShape]) });
    const r = [Float32Array.from(out.probs?.data as Float32Array), Float32Array.from(out.embedding?.data as Float32Array)];
    for (const t of Object.values(out)) t.dispose();
    return r;
  };
  const sides: [string, () => Promise<unknown>][] = [
    ["llp", llpCall],
    ["onnxruntime-node", ortCall],
  ];
  const perRound = new Map(sides.map(([s]) => [s, [] as number[]]));
  for (const [, call] of sides) for (let i = 0; i < 20; i++) await call(); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [name, call] of r % 2 === 0 ? sides : [...sides].reverse()) {
      const ms: number[] = [];
      for (let i = 0; i < calls; i++) {
        const s = performance.now();
        await call();
        ms.push(performance.now() - s);
      }
      perRound.get(name)?.push(median(ms));
    }
  }
  await session.release();
  net.dispose();
  const med = (s: string) => median(perRound.get(s) ?? []);
  const row = {
    model: c.model,
    input: [c.batch, ...c.inputShape],
    export_ms: r2(exportMs),
    onnx_bytes: bytes.length,
    median_ms_per_call: { llp: Number(med("llp").toFixed(3)), "onnxruntime-node": Number(med("onnxruntime-node").toFixed(3)) },
    rounds_ms: Object.fromEntries([...perRound].map(([k, v]) => [k, v.map((x) => Number(x.toFixed(3)))])),
    ratio_onnxruntime_to_llp: r2(med("onnxruntime-node") / med("llp")),
  };
  console.error(
    `${c.model} [${row.input}]: llp ${row.median_ms_per_call.llp} ms, onnxruntime-node ${row.median_ms_per_call["onnxruntime-node"]} ms; export ${row.export_ms} ms`,
  );
  results.push(row);
}
const report = {
  machine: {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    torch: torchVersion(),
    onnxruntime: ort.env.versions.node,
    date: new Date().toISOString(),
    load_average: [r2(loadBefore), r2(loadavg()[0] as number)],
  },
  threads,
  rounds,
  calls,
  work: "raw pixels in JS -> class probabilities and embedding v in JS arrays, one call",
  command: `npm run bench:infer -- ${process.argv.slice(2).join(" ")}`.trim(),
  results,
};
console.log(JSON.stringify(report, null, 2));
if (!args["no-write"]) {
  // one entry per command (so per thread count): a rerun replaces its own entry
  const out = `${repo}bench/results/infer.json`;
  const doc = existsSync(out) ? (JSON.parse(readFileSync(out, "utf8")) as { runs?: (typeof report)[] }) : {};
  const runs = (doc.runs ?? []).filter((r) => r.command !== report.command);
  mkdirSync(`${repo}bench/results`, { recursive: true });
  writeFileSync(out, `${JSON.stringify({ runs: [...runs, report] }, null, 2)}\n`);
}
