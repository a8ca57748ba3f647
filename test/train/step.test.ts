// The training step on a tiny synthetic problem: every phase and view runs, stays finite,
// repeats exactly with the same seeds, leaks nothing, and writes only the batch's state.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Config, resolveConfig } from "../../src/config.js";
import { propagate } from "../../src/propagation/propagate.js";
import { F, Generator, liveTensors, noGrad, tensor, tidy } from "../../src/torch/index.js";
import type { WeightAverage } from "../../src/train/ema.js";
import { trainStep } from "../../src/train/step.js";
import type { Phase } from "../../src/train/types.js";
import { cutoutMask } from "../../src/train/views.js";
import { context, N, release } from "./step-context.js";

function run(
  view: Config["trainView"],
  phases: Phase[],
  mixup = 0,
  ema = 0,
  alignment: Config["alignment"] = "none",
  irView: Config["irView"] = "weak",
) {
  const ctx = context(resolveConfig({ trainView: view, propagation: "llp+classifier", mixup, ema, alignment, irView }));
  const data = new Generator(11);
  const stats = phases.map((phase, s) => {
    const index = Int32Array.from({ length: 16 }, (_, k) => (s * 16 + k * 5) % N);
    const x = data.randn([16, 1, 28, 28]);
    const label = Int32Array.from(index, (i) => ctx.labels.y[i] as number);
    const bankBefore = ctx.bank.V.clone();
    const st = trainStep(ctx, { index, x, label }, phase);
    x.dispose();
    // only the batch's bank rows move, and every row stays a unit vector
    const moved = tidy(() => ctx.bank.V.sub(bankBefore).abs().sum(1).gt(0).toArray() as Uint8Array);
    bankBefore.dispose();
    if (phase !== "supervised") assert.deepEqual([...moved.keys()].filter((i) => moved[i]).sort(), [...new Set(index)].sort());
    return st;
  });
  const norms = tidy(() => ctx.bank.V.square().sum(1).toNumbers());
  assert.ok(
    norms.every((n) => Math.abs(n - 1) < 1e-5),
    "bank rows stay unit-norm",
  );
  if (ctx.ema) assert.equal(ctx.ema.steps, phases.length, "one weight-average update per step");
  release(ctx);
  return stats;
}

for (const [view, mixup, ema, alignment, irView] of [
  ["weak", 0, 0, "none", "weak"],
  ["cutout", 0, 0, "none", "cutout"],
  ["weak", 0, 0.99, "none", "strong"],
  ["cutout", 0, 0, "none", "weak"],
  ["strong", 0, 0, "none", "weak"],
  ["weak", 1, 0, "none", "weak"],
  ["cutout", 0.4, 0, "none", "weak"],
  ["weak", 0, 0.99, "none", "weak"],
  ["cutout", 0, 0.999, "none", "weak"],
  ["cutout", 0, 0, "prior", "weak"],
] as const) {
  test(`trainStep (${view} view, IR ${irView} view, mixup ${mixup}, ema ${ema}, alignment ${alignment}): IR, LLP and supervised steps are finite, repeat exactly and leak nothing`, () => {
    const before = liveTensors();
    const phases: Phase[] = ["ir", "ir", "llp", "llp", "llp", "supervised"];
    const a = run(view, phases, mixup, ema, alignment, irView);
    const b = run(view, phases, mixup, ema, alignment, irView);
    assert.deepEqual(b, a, "same seeds, same statistics");
    for (const st of a) assert.ok(Number.isFinite(st.total) && st.total > 0, `finite positive loss ${st.total}`);
    assert.ok(a.slice(2, 5).every((st) => st.aggregation > 0 && Number.isFinite(st.categorization)));
    assert.ok((a[5]?.categorization ?? 0) > 0 && a[5]?.aggregation === 0, "supervised: cross-entropy only");
    assert.equal(liveTensors(), before, "no tensor outlives the steps");
  });
}

test("the strong views change what the losses see, not the IR phase", () => {
  const phases: Phase[] = ["ir", "llp", "llp"];
  const [weak, cut, strong] = (["weak", "cutout", "strong"] as const).map((v) => run(v, phases));
  assert.equal(cut?.[0]?.total, weak?.[0]?.total, "IR keeps one view");
  assert.notEqual(cut?.[2]?.total, weak?.[2]?.total);
  assert.notEqual(strong?.[2]?.total, cut?.[2]?.total);
});

test("--ir-view: IR's loss sees the other view, against a bank row first blended with the weak view's key", () => {
  const phases: Phase[] = ["ir", "ir", "llp"];
  const plain = run("weak", phases);
  const [cut, strong] = (["cutout", "strong"] as const).map((v) => run("weak", phases, 0, 0, "none", v));
  assert.notEqual(cut?.[0]?.instance, plain[0]?.instance);
  assert.notEqual(strong?.[0]?.instance, cut?.[0]?.instance);
  // oracle: the IR step writes normalise(m V_i + (1 - m) k_i) with k the weak view's embedding by
  // the network before this step's update, and its loss is the IR loss against that bank
  const ctx = context(resolveConfig({ irView: "cutout" }));
  const index = Int32Array.from({ length: 8 }, (_, k) => 5 + 11 * k);
  const x = new Generator(4).randn([8, 1, 28, 28]);
  const idx = tensor(index, [8], "int64");
  const cutGen = new Generator(0).setState(ctx.gen.getState()); // the draws the step's cutout will take
  const [want, wantLoss] = tidy(() => {
    const k = noGrad(() => ctx.net.heads(x).v); // [8, D] train-mode forward, as in the step
    const rows = F.normalize(ctx.bank.V.indexSelect(0, idx).mul(0.5).add(k.mul(0.5)), 1); // [8, D]
    const V = ctx.bank.V.clone().indexCopy_(0, idx, rows); // [N, D] the bank after the key write
    const mask = tensor(cutoutMask(8, 28, 28, 14, cutGen.uniforms(16)), [8, 1, 28, 28], "float32");
    const v = noGrad(() => ctx.net.heads(x.mul(mask)).v); // [8, D] the cut view's embedding
    const logP = F.logSoftmax(v.matmul(V.T).div(0.07), 1); // [8, N]
    const own = logP.gather(1, idx.reshape([8, 1])); // [8, 1] log P(i|v_i)
    return [rows.toNumbers(), -own.mean().item()] as const;
  });
  const st = trainStep(ctx, { index, x, label: Int32Array.from(index, (i) => ctx.labels.y[i] as number) }, "ir");
  const got = tidy(() => ctx.bank.V.indexSelect(0, idx).toNumbers());
  for (const [i, g] of got.entries()) assert.ok(Math.abs(g - (want[i] as number)) < 1e-5, `bank row value ${i}: ${g} vs ${want[i]}`);
  assert.ok(Math.abs(st.instance - wantLoss) < 1e-4, `IR loss ${st.instance} vs oracle ${wantLoss}`);
  for (const t of [x, idx]) t.dispose();
  release(ctx);
});

test("mixup changes what the LLP and supervised losses see, not the IR phase", () => {
  const phases: Phase[] = ["ir", "llp", "llp", "supervised"];
  const plain = run("weak", phases);
  const mixed = run("weak", phases, 1);
  assert.equal(mixed[0]?.total, plain[0]?.total, "IR keeps one unmixed view");
  assert.notEqual(mixed[1]?.total, plain[1]?.total);
  assert.notEqual(mixed[3]?.total, plain[3]?.total);
  // pseudo-labels come from the unmixed view: the first LLP step's monitors match
  assert.equal(mixed[1]?.confidence, plain[1]?.confidence);
});

test("--ema: IR steps are unchanged; LLP takes its weak view from the weight average", () => {
  const phases: Phase[] = ["ir", "ir", "llp", "llp", "supervised"];
  const plain = run("weak", phases);
  const avg = run("weak", phases, 0, 0.99);
  assert.deepEqual(avg.slice(0, 2), plain.slice(0, 2), "IR: the average only watches");
  assert.notEqual(avg[3]?.total, plain[3]?.total);
  // oracle: an LLP step writes the bank rows normalise(m V_i + (1 - m) v'_i), v' from the average
  // (eval mode, before this step's update), not from the network being trained
  const ctx = context(resolveConfig({ propagation: "llp+classifier", ema: 0.99 }));
  const ema = ctx.ema as WeightAverage;
  noGrad(() =>
    tidy(() =>
      ema.net.stateDict().forEach((t) => {
        t.add_(0.01);
      }),
    ),
  ); // the average differs from the network
  const index = Int32Array.from({ length: 8 }, (_, k) => 3 + 7 * k);
  const x = new Generator(4).randn([8, 1, 28, 28]);
  const idx = tensor(index, [8], "int64");
  const want = tidy(() => {
    const vT = noGrad(() => ema.net.heads(x).v);
    return F.normalize(ctx.bank.V.indexSelect(0, idx).mul(0.5).add(vT.mul(0.5)), 1).toNumbers();
  });
  trainStep(ctx, { index, x, label: Int32Array.from(index, (i) => ctx.labels.y[i] as number) }, "llp");
  const got = tidy(() => ctx.bank.V.indexSelect(0, idx).toNumbers());
  for (const [i, g] of got.entries()) assert.ok(Math.abs(g - (want[i] as number)) < 1e-5, `bank row value ${i}: ${g} vs ${want[i]}`);
  for (const t of [x, idx]) t.dispose();
  release(ctx); // ema is ctx.ema
});

test("--alignment prior: fresh pseudo-labels move away from the class the stored ones pile into", () => {
  const written = (alignment: Config["alignment"]) => {
    const ctx = context(resolveConfig({ propagation: "llp+classifier", alignment }));
    const unlabelled = Int32Array.from({ length: N }, (_, i) => i).filter((i) => !ctx.labels.isLabelled[i]);
    ctx.labels.write(unlabelled, new Int32Array(unlabelled.length), new Float32Array(unlabelled.length).fill(0.9)); // all class 0
    const index = Int32Array.from({ length: 16 }, (_, k) => 1 + 6 * k).filter((i) => !ctx.labels.isLabelled[i]);
    const x = new Generator(12).randn([index.length, 1, 28, 28]);
    trainStep(ctx, { index, x, label: new Int32Array(index.length).fill(-1) }, "llp");
    x.dispose();
    const zeros = Array.from(index).filter((i) => ctx.labels.y[i] === 0).length;
    release(ctx);
    return { zeros, n: index.length };
  };
  const plain = written("none");
  const aligned = written("prior");
  assert.ok(plain.zeros > 0, `without alignment some fresh labels are class 0 (${plain.zeros} of ${plain.n})`);
  assert.ok(aligned.zeros < plain.zeros, `aligned: ${aligned.zeros} class-0 labels, plain: ${plain.zeros}`);
});

test("--min-confidence: pseudo-labels below it train exactly as points with no label yet", () => {
  // stored labels: every unlabelled point class 0 at c = 0.5 (write = true), or none (-1, write = false)
  const losses = (minConfidence: number, write: boolean) => {
    const before = liveTensors();
    const ctx = context(resolveConfig({ propagation: "llp+classifier", minConfidence }));
    const unlabelled = Int32Array.from({ length: N }, (_, i) => i).filter((i) => !ctx.labels.isLabelled[i]);
    if (write) ctx.labels.write(unlabelled, new Int32Array(unlabelled.length), new Float32Array(unlabelled.length).fill(0.5));
    const index = Int32Array.from({ length: 16 }, (_, k) => (5 * k) % N); // labelled rows 0, 40, 80 among them
    const x = new Generator(13).randn([16, 1, 28, 28]);
    const st = trainStep(
      ctx,
      { index, x, label: Int32Array.from(index, (i) => (ctx.labels.isLabelled[i] ? (ctx.labels.y[i] as number) : -1)) },
      "llp",
    );
    x.dispose();
    release(ctx);
    assert.equal(liveTensors(), before, "no tensor outlives the step");
    return [st.total, st.categorization, st.aggregation];
  };
  const none = losses(0, false);
  assert.deepEqual(losses(0.6, true), none, "c = 0.5 < 0.6: as if never labelled");
  assert.deepEqual(losses(0.6, false), none, "the threshold leaves unvisited points alone");
  assert.notDeepEqual(losses(0.4, true), none, "c = 0.5 >= 0.4: the stored labels count");
  assert.notDeepEqual(losses(0, true), none, "off: the stored labels count");
});

test("--teacher: a student's LLP step trains on the stored labels exactly as 'stored' does, and writes none back", () => {
  const step = (teacher: string | null) => {
    const before = liveTensors();
    const ctx = context(resolveConfig({ propagation: "llp+classifier", teacher }));
    const unlabelled = Int32Array.from({ length: N }, (_, i) => i).filter((i) => !ctx.labels.isLabelled[i]);
    ctx.labels.write(
      unlabelled,
      Int32Array.from(unlabelled, (i) => i % 4),
      Float32Array.from(unlabelled, (i) => 0.4 + (i % 5) / 10),
    ); // the teacher's labels
    const [y0, c0] = [ctx.labels.y.slice(), ctx.labels.c.slice()];
    const index = Int32Array.from({ length: 16 }, (_, k) => (5 * k + 1) % N);
    const x = new Generator(14).randn([16, 1, 28, 28]);
    const bankBefore = ctx.bank.V.clone();
    const st = trainStep(
      ctx,
      { index, x, label: Int32Array.from(index, (i) => (ctx.labels.isLabelled[i] ? (ctx.labels.y[i] as number) : -1)) },
      "llp",
    );
    const moved = tidy(() => ctx.bank.V.sub(bankBefore).abs().sum(1).gt(0).toArray() as Uint8Array);
    const kept = ctx.labels.y.every((y, i) => y === y0[i]) && ctx.labels.c.every((c, i) => c === c0[i]);
    for (const t of [x, bankBefore]) t.dispose();
    release(ctx);
    assert.equal(liveTensors(), before, "no tensor outlives the step");
    return { losses: [st.total, st.categorization, st.aggregation, st.confidence], kept, moved: [...moved.keys()].filter((i) => moved[i]) };
  };
  const student = step("/runs/teacher");
  const stored = step(null);
  assert.deepEqual(student.losses, stored.losses, "the same targets, the same loss");
  assert.ok(student.kept, "the student's label state is frozen");
  assert.ok(!stored.kept, "the stored scheme writes this visit's labels back");
  assert.deepEqual(student.moved, stored.moved, "the bank still takes the batch's embeddings");
  assert.ok(student.moved.length > 0);
});

test("--ir-weight: an LLP step adds beta times the IR step's loss to Eq. 4, and changes the update", () => {
  // the same network, bank, labels and batch each time: the losses are taken before the update
  const step = (irWeight: number, phase: Phase) => {
    const before = liveTensors();
    const ctx = context(resolveConfig({ propagation: "llp+classifier", irWeight }));
    const index = Int32Array.from({ length: 16 }, (_, k) => (7 * k + 2) % N);
    const x = new Generator(15).randn([16, 1, 28, 28]);
    const label = Int32Array.from(index, (i) => (ctx.labels.isLabelled[i] ? (ctx.labels.y[i] as number) : -1));
    const st = trainStep(ctx, { index, x, label }, phase);
    const weights = tidy(() => ctx.net.parameters()[0]!.flatten().toNumbers());
    x.dispose();
    release(ctx);
    assert.equal(liveTensors(), before, "no tensor outlives the step");
    return { st, weights };
  };
  const plain = step(0, "llp");
  const ir = step(0, "ir");
  const both = step(0.5, "llp");
  assert.equal(plain.st.instance, 0, "off: no instance term");
  assert.equal(both.st.categorization, plain.st.categorization);
  assert.equal(both.st.aggregation, plain.st.aggregation);
  assert.ok(Math.abs(both.st.instance - ir.st.instance) < 1e-5, `L_IR ${both.st.instance} vs the IR step's ${ir.st.instance}`);
  const expected = plain.st.total + 0.5 * ir.st.instance;
  assert.ok(Math.abs(both.st.total - expected) < 1e-4, `total ${both.st.total} = Eq. 4 + 0.5 L_IR = ${expected}`);
  assert.notDeepEqual(both.weights, plain.weights, "the instance term moves the weights");
});

test("--propagation-query bank: the vote is taken for the bank row the visit writes, not for f(x)", () => {
  const step = (propagationQuery: Config["propagationQuery"], oracleQuery: Config["propagationQuery"]) => {
    const before = liveTensors();
    const ctx = context(resolveConfig({ propagation: "weighted-knn", propagationQuery }));
    const index = Int32Array.from({ length: 16 }, (_, k) => (3 * k + 1) % N); // rows 16 and 40 are labelled
    const x = new Generator(16).randn([16, 1, 28, 28]);
    const label = Int32Array.from(index, (i) => (ctx.labels.isLabelled[i] ? (ctx.labels.y[i] as number) : -1));
    // the oracle: Eqs. 5-6 by hand-picked query, from the state before the step (same batch, train mode)
    const want = tidy(() => {
      const v = noGrad(() => ctx.net.heads(x).v); // [16, D]
      const idx = tensor(index, [16], "int64");
      const bankRow = F.normalize(ctx.bank.V.indexSelect(0, idx).mul(0.5).add(v.mul(0.5)), 1); // m = 0.5
      const p = propagate(oracleQuery === "bank" ? bankRow : v, ctx.bank.V.indexSelect(0, ctx.labelledIdx), ctx.labelledY, {
        K: ctx.cfg.K,
        tau: ctx.cfg.tau,
        numClasses: 4,
        logRho: null,
      });
      return { y: Array.from(p.y.toArray() as BigInt64Array, Number), c: Array.from(p.c.toArray() as Float32Array) };
    });
    trainStep(ctx, { index, x, label }, "llp");
    const un = [...index.keys()].filter((k) => !ctx.labels.isLabelled[index[k] as number]);
    const got = {
      y: un.map((k) => ctx.labels.y[index[k] as number] as number),
      c: un.map((k) => ctx.labels.c[index[k] as number] as number),
    };
    const expected = { y: un.map((k) => want.y[k] as number), c: un.map((k) => want.c[k] as number) };
    x.dispose();
    release(ctx);
    assert.equal(liveTensors(), before, "no tensor outlives the step");
    return { got, expected };
  };
  for (const q of ["embedding", "bank"] as const) {
    const { got, expected } = step(q, q);
    assert.deepEqual(got.y, expected.y, `${q}: the labels written back`);
    for (const [k, c] of got.c.entries())
      assert.ok(Math.abs(c - (expected.c[k] as number)) < 1e-5, `${q}: confidence ${k}: ${c} vs ${expected.c[k]}`);
  }
  const other = step("bank", "embedding");
  assert.notDeepEqual(other.got.c, other.expected.c, "the two queries give different votes");
});
