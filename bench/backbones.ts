// `npm run bench:backbones`: which backbones fit a full 1% LLP run on Fashion-MNIST in a time
// budget. For each network (llp's own, channels-last as training builds them) it times the
// network's part of an LLP step on 28x28x1 batches of 128: the no-grad pass on the weak view, the
// pass on the loss's view, the backward and SGD, median over steps after a warm-up. The projection
// adds the bank loss's time per step (measured here, at N = 55,000) and counts the default run's
// steps: 1 Instance Recognition epoch (one pass, no weak view) and 16 LLP epochs of 566 steps,
// plus the bank fill and one validation pass (5,000 images) per epoch, forward only.
//
//   npm run bench:backbones -- [--threads N] [--steps 6] [--nets small-cnn:32,resnet18:16,...] [--no-write]
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { bankSetLoss } from "../src/losses/losses.js";
import { buildNet, type ModelName } from "../src/model/net.js";
import {
  allocatorTuned,
  F,
  Generator,
  keep,
  noGrad,
  SGD,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
  torchVersion,
} from "../src/torch/index.js";
import { machineInfo, median, r2 } from "./common.js";

const { values: args } = parseArgs({
  options: {
    threads: { type: "string", default: String(availableParallelism()) },
    steps: { type: "string", default: "6" },
    nets: { type: "string", default: "small-cnn:32,resnet18:16,resnet18:24,resnet18:32,wrn-28:16,wrn-28:32" },
    "budget-min": { type: "string", default: "90" },
    "no-write": { type: "boolean", default: false },
  },
});
const threads = Number(args.threads);
const steps = Number(args.steps);
const repo = fileURLToPath(new URL("../..", import.meta.url));
const B = 128;
const N = 55000;
const LLP_EPOCHS = 16;
const STEPS_PER_EPOCH = 566;
const VALIDATION = 5000;

const seconds = (t0: number) => (performance.now() - t0) / 1000;

function timeNet(model: ModelName, width: number) {
  const gen = new Generator(0);
  const net = buildNet({ model, inputShape: [1, 28, 28], numClasses: 10, embeddingDim: 128, width }, gen);
  const opt = SGD.forModule(net, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const x = keep(gen.randn([B, 1, 28, 28]));
  const y = keep(gen.randint(0, 10, [B]));
  const llp: number[] = [];
  const ir: number[] = [];
  const fwd: number[] = [];
  for (let i = 0; i < steps + 2; i++) {
    let t0 = performance.now();
    tidy(() => {
      noGrad(() => net.heads(x).v.sum().item()); // the weak view's pass
      const { v, logits } = net.heads(x);
      opt.zeroGrad();
      F.crossEntropy(logits, y).add(v.sum().mul(0)).backward();
      opt.step();
    });
    if (i >= 2) llp.push(seconds(t0));
    t0 = performance.now();
    tidy(() => {
      const { v, logits } = net.heads(x);
      opt.zeroGrad();
      v.sum().add(logits.sum()).mul(0).backward();
      opt.step();
    });
    if (i >= 2) ir.push(seconds(t0));
    net.eval();
    t0 = performance.now();
    noGrad(() => tidy(() => net.heads(x).v.sum().item()));
    if (i >= 2) fwd.push(seconds(t0));
    net.train();
  }
  const params = net.numParameters();
  for (const t of [x, y]) t.dispose();
  net.dispose();
  opt.dispose();
  return { llp_step_s: median(llp), ir_step_s: median(ir), eval_batch_s: median(fwd), params };
}

/** The bank loss of one step at N = 55,000 (closed form, values and gradient). */
function timeBank(): number {
  const gen = new Generator(1);
  const V = keep(F.normalize(gen.randn([N, 128]), 1));
  const labels = keep(
    tensor(
      Int32Array.from({ length: N }, (_, i) => i % 10),
      [N],
      "int32",
    ),
  );
  const v = keep(F.normalize(gen.randn([B, 128]), 1).requiresGrad_());
  const y = keep(gen.randint(0, 10, [B]));
  const idx = keep(gen.randint(0, N, [B]));
  const w = keep(gen.rand([B]));
  const ts: number[] = [];
  for (let i = 0; i < 12; i++) {
    const t0 = performance.now();
    tidy(() => bankSetLoss(v, V, labels, y, idx, 0.07, 10, w).values.sum().item());
    if (i >= 2) ts.push(seconds(t0));
  }
  for (const t of [V, labels, v, y, idx, w] as Tensor[]) t.dispose();
  return median(ts);
}

async function main(): Promise<void> {
  setNumThreads(threads);
  if (!allocatorTuned()) throw new Error("llp's allocator setting is off (a MALLOC_* variable is set): unset it to benchmark");
  const loadBefore = loadavg()[0] as number;
  const bank = timeBank();
  const budget = Number(args["budget-min"]);
  const results = [];
  for (const spec of (args.nets as string).split(",")) {
    const [model, w] = spec.split(":") as [ModelName, string];
    const t = timeNet(model, Number(w));
    const evalBatches = Math.ceil(VALIDATION / B) * (LLP_EPOCHS + 1) + Math.ceil(N / B);
    const runS =
      STEPS_PER_EPOCH * (t.ir_step_s + bank) + LLP_EPOCHS * STEPS_PER_EPOCH * (t.llp_step_s + bank) + evalBatches * t.eval_batch_s;
    const row = {
      net: `${model} width ${w}`,
      params: t.params,
      llp_step_s: r2(t.llp_step_s * 1000) / 1000,
      ir_step_s: r2(t.ir_step_s * 1000) / 1000,
      eval_batch_s: r2(t.eval_batch_s * 1000) / 1000,
      projected_run_min: r2(runS / 60),
      fits_budget: runS / 60 <= budget,
    };
    results.push(row);
    console.error(JSON.stringify(row));
  }
  const report = {
    machine: machineInfo(loadBefore, { torch: torchVersion() }),
    command: `npm run bench:backbones -- ${process.argv.slice(2).join(" ")}`.trim(),
    threads,
    steps_timed: steps,
    bank_loss_s: r2(bank * 1000) / 1000,
    projection: `1 IR epoch + ${LLP_EPOCHS} LLP epochs of ${STEPS_PER_EPOCH} steps (batch ${B}), bank loss at N = ${N}, a bank fill and ${LLP_EPOCHS + 1} validation passes of ${VALIDATION}; not counted: data loading (it runs beside the step), views, propagation, write-back and the density refresh (about 5 s an epoch on small-cnn, bench:epoch), so a run takes a few minutes more`,
    budget_min: budget,
    results,
  };
  if (!args["no-write"]) {
    const out = `${repo}bench/results/backbones.json`;
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    console.error(`wrote ${out}`);
  }
}

await main();
