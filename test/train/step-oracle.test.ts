// Value oracles for the training step, computed without the code under test: losses, monitors,
// pseudo-labels (Eq. 8 and its variants) and bank rows in plain JS (float64) from the network's
// outputs, and the parameter update from autograd through plain tensor ops (log-softmax and masks
// over the whole bank, not the closed-form bank loss the step runs) and SGD by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Config, resolveConfig } from "../../src/config.js";
import { cutoutMask } from "../../src/data/views.js";
import type { FixMatch } from "../../src/methods/fixmatch.js";
import type { MeanTeacher } from "../../src/methods/mean-teacher.js";
import { type PseudoLabel, thresholdLabels } from "../../src/methods/pseudo-label.js";
import { cat, F, Generator, keep, liveTensors, noGrad, type Tensor, tensor, tidy } from "../../src/torch/index.js";
import type { Phase } from "../../src/train/types.js";
import { context, N, release, step } from "./step-context.js";

const [C, TAU, LR, WD] = [4, 0.07, 0.03, 1e-4]; // the context's classes and optimiser
/** 12 distinct rows: labelled 0, 8, 16, 40, 64; unlabelled with a stored pseudo-label 3, 21, 30;
 * unlabelled never visited 13, 47, 55, 77 */
const INDEX = [0, 3, 8, 13, 16, 21, 30, 40, 47, 55, 64, 77];
const SUPERVISED_INDEX = [0, 8, 16, 24, 32, 40, 48, 56];

type Rows = number[][];
const rows = (t: Tensor): Rows => {
  const [r, c] = t.shape as [number, number];
  const a = t.toArray() as Float32Array;
  return Array.from({ length: r }, (_, i) => Array.from(a.subarray(i * c, (i + 1) * c)));
};
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);
const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
};
const meanOf = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const argmax = (p: number[]) => p.reduce((best, x, j) => (x > (p[best] as number) ? j : best), 0);
const softmax = (z: number[]) => {
  const l = lse(z);
  return z.map((x) => Math.exp(x - l));
};

/** Eq. 8 (density) or Eqs. 5-6 (logRho null) for one embedding, by sorting every labelled score. */
function vote(v: number[], V: Rows, labelledRows: number[], labelledY: number[], logRho: number[] | null, k: number): number[] {
  const scores = labelledRows.map((j, m) => ({ m, s: dot(V[j] as number[], v) / TAU - (logRho ? (logRho[m] as number) : 0) }));
  scores.sort((a, b) => b.s - a.s);
  const top = scores.slice(0, k);
  const w = new Array<number>(C).fill(0);
  for (const { m, s } of top) w[labelledY[m] as number] += Math.exp(s - (top[0] as { s: number }).s);
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

interface Fixture {
  ctx: ReturnType<typeof context>;
  x: Tensor; // [B, 1, 28, 28]
  index: Int32Array;
  logRho: number[];
}

/** The context with stored pseudo-labels on some unlabelled rows, a density, true labels i % 4. */
function fixture(cfg: Partial<Config>, index: number[]): Fixture {
  const ctx = context(resolveConfig({ trainView: "weak", ...cfg }));
  ctx.data.trueLabels = Int32Array.from({ length: N }, (_, i) => i % C);
  const x = keep(new Generator(21).randn([index.length, 1, 28, 28]));
  if (ctx.cfg.method !== "llp") return { ctx, x, index: Int32Array.from(index), logRho: [] };
  const unl = Int32Array.from({ length: N }, (_, i) => i).filter((i) => !ctx.labels.isLabelled[i] && i % 3 === 0);
  ctx.labels.write(
    unl,
    Int32Array.from(unl, (i) => (i * 7) % C),
    Float32Array.from(unl, (i) => 0.3 + (i % 7) / 10),
  );
  const logRho = Array.from(ctx.labels.labelledRows, (_, m) => Math.log(0.5 + (m % 5) / 4));
  ctx.logRho = keep(tensor(logRho, [logRho.length], "float32"));
  return { ctx, x, index: Int32Array.from(index), logRho };
}

function free(f: Fixture): void {
  f.x.dispose();
  release(f.ctx); // the method frees its density too
}

/** The step's targets for each example and the plain-JS Eq. 4 terms. */
interface Oracle {
  yT: number[]; // -1 = own instance
  cT: number[];
  ce: number[]; // L_C per example (0 for own instances)
  la: number[]; // L_A (= L_IR for own instances)
  total: number;
  written: { y: number[]; c: number[] }; // label state of the batch's rows after the step
  bank: Rows; // the batch's bank rows after the step
  confidence: number;
  pseudoLabelAccuracy: number;
}

/**
 * What an LLP step must compute. vLoss/logitsLoss: the view the losses see; vWeak/logitsWeak:
 * the view propagation and the bank take (the same rows without a strong view).
 */
function llpOracle(f: Fixture, vLoss: Rows, logitsLoss: Rows, vWeak: Rows, logitsWeak: Rows): Oracle {
  const { ctx, index } = f;
  const cfg = ctx.cfg;
  const V = rows(ctx.bank.V);
  const labelledRows = Array.from(ctx.labels.labelledRows);
  const labelledY = labelledRows.map((j) => ctx.labels.y[j] as number);
  const yBank = Array.from(ctx.labels.y);
  const fresh = Array.from(index, (i, k) => {
    const density = vote(vWeak[k] as number[], V, labelledRows, labelledY, f.logRho, cfg.K);
    const knn = vote(vWeak[k] as number[], V, labelledRows, labelledY, null, cfg.K);
    const head = softmax(logitsWeak[k] as number[]);
    const p = {
      llp: density,
      "weighted-knn": knn,
      classifier: head,
      "llp+classifier": density.map((x, j) => (x + (head[j] as number)) / 2),
    }[cfg.propagation === "auto" ? "llp+classifier" : cfg.propagation]; // auto: images here
    const y = argmax(p);
    return { y, c: p[y] as number, labelled: ctx.labels.isLabelled[i] === 1 };
  });
  const yT: number[] = [];
  const cT: number[] = [];
  const ce: number[] = [];
  const la: number[] = [];
  index.forEach((i, k) => {
    const fromStore = cfg.labelScheme === "stored" || ctx.labels.isLabelled[i];
    const y = fromStore ? (ctx.labels.y[i] as number) : (fresh[k]?.y as number);
    const c = fromStore ? (ctx.labels.c[i] as number) : (fresh[k]?.c as number);
    const s = V.map((row) => dot(row, vLoss[k] as number[]) / TAU); // log P(j|v) + log Z
    const inA = s.filter((_, j) => j === i || (y >= 0 && yBank[j] === y));
    yT.push(y);
    cT.push(c);
    la.push(lse(s) - lse(inA));
    ce.push(y >= 0 ? lse(logitsLoss[k] as number[]) - ((logitsLoss[k] as number[])[y] as number) : 0);
  });
  const perExample = la.map((l, k) => ((yT[k] as number) >= 0 ? (cT[k] as number) * ((ce[k] as number) + l) : l));
  const unl = [...index.keys()].filter((k) => !fresh[k]?.labelled);
  return {
    yT,
    cT,
    ce,
    la,
    total: meanOf(perExample),
    written: {
      y: Array.from(index, (i, k) => (fresh[k]?.labelled ? (ctx.labels.y[i] as number) : (fresh[k]?.y as number))),
      c: Array.from(index, (_, k) => (fresh[k]?.labelled ? 1 : (fresh[k]?.c as number))),
    },
    bank: bankAfter(V, index, vWeak),
    confidence: meanOf(unl.map((k) => cT[k] as number)),
    pseudoLabelAccuracy: meanOf(unl.map((k) => (fresh[k]?.y === (index[k] as number) % C ? 1 : 0))),
  };
}

/** normalise(0.5 V_i + 0.5 v) for the batch's rows (m = 0.5). */
function bankAfter(V: Rows, index: Int32Array, v: Rows): Rows {
  return Array.from(index, (i, k) => {
    const r = (V[i] as number[]).map((x, d) => 0.5 * x + 0.5 * ((v[k] as number[])[d] as number));
    const n = Math.sqrt(dot(r, r));
    return r.map((x) => x / n);
  });
}

/** The network's outputs for x before the step (train mode, as the step's own forward). */
function outputs(f: Fixture, x: Tensor): { v: Rows; logits: Rows } {
  return tidy(() => {
    const o = noGrad(() => f.ctx.net.heads(x));
    return { v: rows(o.v), logits: rows(o.logits) };
  });
}

/**
 * The parameters one SGD step (lr 0.03, momentum 0.9 from a zero buffer, weight decay 1e-4 on the
 * weights) must give, from the gradient of `loss` taken by autograd before the step.
 */
function expectedUpdate(f: Fixture, x: Tensor, loss: (v: Tensor, logits: Tensor) => Tensor): Map<string, number[]> {
  const params = [...f.ctx.net.namedParameters()];
  f.ctx.opt.zeroGrad();
  tidy(() => {
    const { v, logits } = f.ctx.net.heads(x);
    loss(v, logits).backward();
  });
  // a parameter outside the loss's graph has no gradient and is left alone (PyTorch's rule)
  const want = new Map(
    params.map(([n, p, o]) => {
      const w = p.toArray() as Float32Array;
      const g = tidy(() => p.grad?.toArray() as Float32Array | undefined);
      return [n, Array.from(w, (wi, i) => (g ? wi - LR * ((g[i] as number) + (o.decay ? WD * wi : 0)) : wi))];
    }),
  );
  f.ctx.opt.zeroGrad();
  return want;
}

function assertUpdate(f: Fixture, before: Map<string, number[]>, want: Map<string, number[]>): void {
  for (const [n, p] of f.ctx.net.namedParameters()) {
    const got = Array.from(p.toArray() as Float32Array);
    const old = before.get(n) as number[];
    const exp = want.get(n) as number[];
    const scale = Math.max(...exp.map((e, i) => Math.abs(e - (old[i] as number))));
    for (const [i, g] of got.entries())
      assert.ok(Math.abs(g - (exp[i] as number)) <= 2e-3 * scale + 1e-7, `${n}[${i}]: ${g} vs ${exp[i]} (step scale ${scale})`);
  }
}

const snapshot = (f: Fixture) => new Map([...f.ctx.net.namedParameters()].map(([n, p]) => [n, Array.from(p.toArray() as Float32Array)]));

/** Eq. 4's objective written with plain ops: mean of c (L_C + L_A), L_IR for own instances. */
function eq4(V: Tensor, o: Oracle, index: Int32Array, yBank: Int32Array) {
  return (v: Tensor, logits: Tensor) => {
    const b = index.length;
    const logP = F.logSoftmax(v.mm(V.T).div(TAU), 1); // [B, N]
    const maskA = new Float32Array(b * N).fill(-1e4); // log-domain mask of A
    const onehot = new Float32Array(b * C);
    index.forEach((i, k) => {
      const y = o.yT[k] as number;
      for (let j = 0; j < N; j++) if (j === i || (y >= 0 && yBank[j] === y)) maskA[k * N + j] = 0;
      if (y >= 0) onehot[k * C + y] = 1;
    });
    const la = logP
      .add(tensor(maskA, [b, N]))
      .logsumexp(1)
      .neg(); // [B]
    const ce = F.logSoftmax(logits, 1)
      .mul(tensor(onehot, [b, C]))
      .sum(1)
      .neg(); // [B]
    const wC = tensor(
      o.cT.map((c, k) => ((o.yT[k] as number) >= 0 ? c : 0)),
      [b],
    );
    const wA = tensor(
      o.cT.map((c, k) => ((o.yT[k] as number) >= 0 ? c : 1)),
      [b],
    );
    return ce.mul(wC).add(la.mul(wA)).mean();
  };
}

function runStep(f: Fixture, x: Tensor, phase: Phase) {
  const label = Int32Array.from(f.index, (i) => f.ctx.data.labels[i] as number);
  const s = step(f.ctx, { index: f.index, x, label }, phase);
  const st = {
    total: s["loss/total"],
    categorization: s["loss/categorization"],
    aggregation: s["loss/aggregation"],
    instance: s["loss/instance"],
    confidence: s["monitor/confidence"],
    pseudoLabelAccuracy: s["monitor/pseudoLabelAccuracy"],
  };
  const mask = s["monitor/mask"];
  if (f.ctx.cfg.method !== "llp") return { st, mask, bank: [] as Rows, y: [] as number[], c: [] as number[] };
  const bank = tidy(() => rows(f.ctx.bank.V.indexSelect(0, tensor(f.index, [f.index.length], "int64"))));
  return {
    st,
    mask,
    bank,
    y: Array.from(f.index, (i) => f.ctx.labels.y[i] as number),
    c: Array.from(f.index, (i) => f.ctx.labels.c[i] as number),
  };
}

const near = (got: number, want: number, what: string, tol = 1e-4) =>
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${what}: ${got} vs oracle ${want}`);
const nearRows = (got: Rows, want: Rows, what: string) => {
  for (const [k, r] of got.entries())
    for (const [d, g] of r.entries()) near(g, (want[k] as number[])[d] as number, `${what} row ${k}[${d}]`, 1e-5);
};

for (const propagation of ["llp", "weighted-knn", "classifier", "llp+classifier"] as const)
  for (const labelScheme of ["stored", "fresh"] as const)
    test(`LLP step (${propagation}, ${labelScheme}): Eq. 4's terms, the labels written back, the bank rows and the monitors equal a plain-JS oracle`, () => {
      const before = liveTensors();
      const f = fixture({ propagation, labelScheme }, INDEX);
      const out = outputs(f, f.x);
      const o = llpOracle(f, out.v, out.logits, out.v, out.logits);
      // the fixture exercises every kind of target
      assert.ok(o.yT.some((y, k) => y >= 0 && (o.cT[k] as number) < 1) && o.yT.includes(-1) === (labelScheme === "stored"));
      const got = runStep(f, f.x, "llp");
      near(got.st.total, o.total, "loss/total");
      near(got.st.categorization, meanOf(o.ce), "loss/categorization");
      near(got.st.aggregation, meanOf(o.la), "loss/aggregation");
      near(got.st.confidence, o.confidence, "monitor/confidence", 1e-5);
      near(got.st.pseudoLabelAccuracy, o.pseudoLabelAccuracy, "monitor/pseudoLabelAccuracy", 1e-9);
      assert.deepEqual(got.y, o.written.y, "pseudo-labels written back");
      got.c.forEach((c, k) => {
        near(c, o.written.c[k] as number, `confidence written back, row ${f.index[k]}`, 1e-5);
      });
      nearRows(got.bank, o.bank, "bank");
      free(f);
      assert.equal(liveTensors(), before, "no tensor outlives the step");
    });

test("LLP step: the parameter update is one SGD step on Eq. 4 differentiated by autograd through plain ops", () => {
  const before = liveTensors();
  const f = fixture({ propagation: "llp" }, INDEX);
  const out = outputs(f, f.x);
  const o = llpOracle(f, out.v, out.logits, out.v, out.logits);
  const V = keep(f.ctx.bank.V.clone());
  const yBank = f.ctx.labels.y.slice();
  const want = expectedUpdate(f, f.x, eq4(V, o, f.index, yBank));
  const old = snapshot(f);
  runStep(f, f.x, "llp");
  assertUpdate(f, old, want);
  V.dispose();
  free(f);
  assert.equal(liveTensors(), before);
});

test("LLP step with --train-view cutout: the losses see the cut images, propagation and the bank the uncut ones", () => {
  const before = liveTensors();
  const f = fixture({ propagation: "llp", trainView: "cutout" }, INDEX);
  const b = INDEX.length;
  const cutGen = new Generator(0).setState(f.ctx.gen.getState()); // the draws the step's cutout takes
  const cut = keep(tidy(() => f.x.mul(tensor(cutoutMask(b, 28, 28, 14, cutGen.uniforms(2 * b)), [b, 1, 28, 28], "float32"))));
  const weak = outputs(f, f.x);
  const seen = outputs(f, cut);
  const o = llpOracle(f, seen.v, seen.logits, weak.v, weak.logits);
  const V = keep(f.ctx.bank.V.clone());
  const want = expectedUpdate(f, cut, eq4(V, o, f.index, f.ctx.labels.y.slice()));
  const old = snapshot(f);
  const got = runStep(f, f.x, "llp");
  near(got.st.total, o.total, "loss/total");
  near(got.st.aggregation, meanOf(o.la), "loss/aggregation");
  assert.deepEqual(got.y, o.written.y, "pseudo-labels from the uncut view");
  nearRows(got.bank, o.bank, "bank (uncut view)");
  assertUpdate(f, old, want);
  for (const t of [V, cut]) t.dispose();
  free(f);
  assert.equal(liveTensors(), before);
});

test("IR step: L_IR = -log P(i|v_i) over the whole bank, the bank rows, the update; labels untouched", () => {
  const before = liveTensors();
  const f = fixture({}, INDEX);
  const out = outputs(f, f.x);
  const V = rows(f.ctx.bank.V);
  const ir = Array.from(f.index, (i, k) => {
    const s = V.map((row) => dot(row, out.v[k] as number[]) / TAU);
    return lse(s) - (s[i] as number);
  });
  const Vt = keep(f.ctx.bank.V.clone());
  const idx = keep(tensor(f.index, [f.index.length], "int64"));
  // the classifier head is outside L_IR's graph: it takes no update, not even weight decay
  const want = expectedUpdate(f, f.x, (v) => F.logSoftmax(v.mm(Vt.T).div(TAU), 1).gather(1, idx.unsqueeze(1)).neg().mean());
  const [y0, c0] = [f.ctx.labels.y.slice(), f.ctx.labels.c.slice()];
  const old = snapshot(f);
  const got = runStep(f, f.x, "ir");
  near(got.st.instance, meanOf(ir), "loss/instance");
  near(got.st.total, meanOf(ir), "loss/total");
  nearRows(got.bank, bankAfter(V, f.index, out.v), "bank");
  assertUpdate(f, old, want);
  assert.deepEqual([f.ctx.labels.y, f.ctx.labels.c], [y0, c0], "IR writes no label");
  for (const t of [Vt, idx]) t.dispose();
  free(f);
  assert.equal(liveTensors(), before);
});

test("supervised step: mean cross-entropy of the labelled batch, and the update", () => {
  const before = liveTensors();
  const f = fixture({ method: "supervised" }, SUPERVISED_INDEX);
  const out = outputs(f, f.x);
  const y = Array.from(f.index, (i) => f.ctx.data.labels[i] as number);
  const ce = out.logits.map((z, k) => lse(z) - (z[y[k] as number] as number));
  const onehot = tensor(
    y.flatMap((c) => Array.from({ length: C }, (_, j) => (j === c ? 1 : 0))),
    [y.length, C],
  );
  const want = expectedUpdate(f, f.x, (_v, logits) => F.logSoftmax(logits, 1).mul(onehot).sum(1).neg().mean());
  onehot.dispose();
  const old = snapshot(f);
  const got = runStep(f, f.x, "supervised");
  near(got.st.total, meanOf(ce), "loss/total");
  near(got.st.categorization, meanOf(ce), "loss/categorization");
  assert.equal(got.st.aggregation, 0);
  assertUpdate(f, old, want);
  free(f);
  assert.equal(liveTensors(), before);
});

test("Mean Teacher step: CE on the labelled points + w(epoch) x softmax MSE to the EMA teacher, the update, and the teacher after two steps", () => {
  const before = liveTensors();
  const f = fixture({ method: "mean-teacher" }, INDEX);
  const mt = f.ctx.method as MeanTeacher;
  f.ctx.method.beginEpoch(2, "mean-teacher");
  const w = 10 * Math.exp(-5 * 0.6 * 0.6); // consistency 10 (the default), ramp-up 5 epochs, epoch 2
  assert.equal(mt.consistencyWeight(2), w);
  const teacherRows = (x: Tensor) => tidy(() => rows(noGrad(() => mt.teacher.net.heads(x).logits)));
  const oracle = () => {
    const out = outputs(f, f.x);
    const q = teacherRows(f.x).map(softmax); // the teacher's targets, eval mode
    const label = Array.from(f.index, (i) => f.ctx.data.labels[i] as number);
    const ce = out.logits.map((z, k) => ((label[k] as number) >= 0 ? lse(z) - (z[label[k] as number] as number) : 0));
    const cons = out.logits.map((z, k) => softmax(z).reduce((a, p, j) => a + (p - ((q[k] as number[])[j] as number)) ** 2, 0) / C);
    return { ce: meanOf(ce), cons: meanOf(cons), q, label };
  };
  const o = oracle();
  const qT = keep(tensor(o.q.flat(), [INDEX.length, C]));
  const onehot = keep(
    tensor(
      o.label.flatMap((y) => Array.from({ length: C }, (_, j) => (j === y ? 1 : 0))),
      [INDEX.length, C],
    ),
  );
  const want = expectedUpdate(f, f.x, (_v, logits) => {
    const ce = F.logSoftmax(logits, 1).mul(onehot).sum(1).neg().mean();
    const cons = F.softmax(logits, 1).sub(qT).square().sum(1).div(C).mean();
    return ce.add(cons.mul(w));
  });
  const old = snapshot(f);
  const got = runStep(f, f.x, "mean-teacher");
  near(got.st.categorization, o.ce, "loss/categorization");
  near(got.st.total, o.ce + w * o.cons, "loss/total");
  assertUpdate(f, old, want);
  // the first update copies the student (d_0 = 0); the second averages with d_1 = min(0.97, 1 - 1/2) = 0.5
  const student = () => new Map([...f.ctx.net.stateDict()].map(([n, t]) => [n, Array.from(t.toArray() as Float32Array)]));
  const teacher = () => new Map([...mt.teacher.net.stateDict()].map(([n, t]) => [n, Array.from(t.toArray() as Float32Array)]));
  assert.deepEqual(teacher(), student(), "after one step the teacher is the student");
  const t1 = teacher();
  runStep(f, f.x, "mean-teacher");
  const s2 = student();
  for (const [n, t] of teacher())
    for (const [i, g] of t.entries())
      near(g, 0.5 * ((t1.get(n) as number[])[i] as number) + 0.5 * ((s2.get(n) as number[])[i] as number), `${n}[${i}]`, 1e-5);
  for (const t of [qT, onehot]) t.dispose();
  free(f);
  assert.equal(liveTensors(), before);
});

test("thresholdLabels: argmax and its probability, -1 below the threshold (hand arithmetic)", () => {
  const probs = Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.25, 0.25, 0.3, 0.3, 0.4]); // 3 points, C = 3
  const got = thresholdLabels(probs, 3, 0.45);
  assert.deepEqual(Array.from(got.y), [1, 0, -1]);
  assert.deepEqual(Array.from(got.c), [0.7, 0.5, 0.4].map(Math.fround));
  assert.deepEqual(Array.from(thresholdLabels(probs, 3, 0).y), [1, 0, 2], "threshold 0 keeps every argmax (S4L)");
  assert.deepEqual(Array.from(thresholdLabels(probs, 3, 0.5).y), [1, 0, -1], "a confidence equal to the threshold is kept");
});

test("pseudo-label: label() keeps the eval-mode classifier's argmax above the threshold; the fine-tune step is the mean CE on labels and kept pseudo-labels", async () => {
  const before = liveTensors();
  const f = fixture({ method: "pseudo-label", threshold: 0.3, pseudoLabelWarmup: 2 }, INDEX);
  const pl = f.ctx.method as PseudoLabel;
  const pool = keep(new Generator(8).randn([N, 1, 28, 28]));
  f.ctx.data.inputs = async (idx: Int32Array) => {
    const at = tensor(idx, [idx.length], "int64");
    const x = pool.indexSelect(0, at);
    at.dispose();
    return x;
  };
  assert.equal(pl.phase(1), "supervised");
  assert.equal(pl.phase(2), "pseudo-label");
  assert.deepEqual([pl.scheduleEpoch(1), pl.scheduleEpoch(2)], [null, 0]);
  // the oracle: eval-mode probabilities of every point, labelled points untouched
  f.ctx.net.eval();
  const probs = tidy(() => rows(noGrad(() => F.softmax(f.ctx.net.heads(pool).logits, 1))));
  f.ctx.net.train();
  await pl.beginEpoch(1); // still the warm-up: nothing labelled
  assert.ok(Array.from(pl.labels.y).every((y, i) => (pl.labels.isLabelled[i] ? y >= 0 : y === -1)));
  await pl.beginEpoch(2);
  assert.ok(f.ctx.net.training, "labelling leaves the network in train mode");
  let kept = 0;
  for (let i = 0; i < N; i++) {
    if (pl.labels.isLabelled[i]) {
      assert.equal(pl.labels.y[i], f.ctx.data.labels[i]);
      continue;
    }
    const p = probs[i] as number[];
    const want = (p[argmax(p)] as number) >= 0.3 ? argmax(p) : -1;
    assert.equal(pl.labels.y[i], want, `point ${i}`);
    near(pl.labels.c[i] as number, p[argmax(p)] as number, `c[${i}]`, 1e-5);
    if (want >= 0) kept++;
  }
  assert.ok(kept > 0 && kept < N - 12, `the threshold keeps some and drops some (${kept})`);
  // the fine-tune step
  const yT = Array.from(f.index, (i) => pl.labels.y[i] as number);
  const out = outputs(f, f.x);
  const ce = out.logits.map((z, k) => ((yT[k] as number) >= 0 ? lse(z) - (z[yT[k] as number] as number) : 0));
  const onehot = keep(
    tensor(
      yT.flatMap((y) => Array.from({ length: C }, (_, j) => (j === y ? 1 : 0))),
      [INDEX.length, C],
    ),
  );
  const targets = yT.filter((y) => y >= 0).length; // the mean is over the points with a target
  assert.ok(targets > 0 && targets < INDEX.length, `some of the batch sits out (${targets} of ${INDEX.length})`);
  const want = expectedUpdate(f, f.x, (_v, logits) => F.logSoftmax(logits, 1).mul(onehot).sum().neg().div(targets));
  const old = snapshot(f);
  const got = runStep(f, f.x, "pseudo-label");
  near(got.st.total, ce.reduce((a, b) => a + b, 0) / targets, "loss/total");
  assertUpdate(f, old, want);
  const unlKept = Array.from(f.index).filter((i) => !pl.labels.isLabelled[i] && (pl.labels.y[i] as number) >= 0);
  near(got.st.confidence, meanOf(unlKept.map((i) => pl.labels.c[i] as number)), "monitor/confidence");
  near(got.st.pseudoLabelAccuracy, meanOf(unlKept.map((i) => (pl.labels.y[i] === i % C ? 1 : 0))), "monitor/pseudoLabelAccuracy");
  for (const t of [onehot, pool]) t.dispose();
  free(f);
  assert.equal(liveTensors(), before);
});

test("FixMatch step: CE on the labelled weak views + lambda_u x the masked CE of strong views toward confident weak argmaxes, one forward, the update", () => {
  const before = liveTensors();
  const lambdaU = 0.7;
  const f = fixture({ method: "fixmatch", trainView: "cutout", threshold: 0.3, unlabelledWeight: lambdaU }, INDEX);
  const b = INDEX.length;
  const cutGen = new Generator(0).setState(f.ctx.gen.getState()); // the draws the step's strong view takes
  const strong = keep(tidy(() => f.x.mul(tensor(cutoutMask(b, 28, 28, 14, cutGen.uniforms(2 * b)), [b, 1, 28, 28], "float32"))));
  const label = Array.from(f.index, (i) => f.ctx.data.labels[i] as number);
  const unl = [...label.keys()].filter((k) => (label[k] as number) < 0);
  const lab = [...label.keys()].filter((k) => (label[k] as number) >= 0);
  // one forward of [weak batch; strong unlabelled] (batch norm sees them together)
  const both = keep(tidy(() => cat([f.x, strong.indexSelect(0, tensor(unl, [unl.length], "int64"))])));
  const logits = tidy(() => rows(noGrad(() => f.ctx.net.heads(both).logits)));
  const weak = logits.slice(0, b);
  const str = logits.slice(b);
  const ls = meanOf(lab.map((k) => lse(weak[k] as number[]) - ((weak[k] as number[])[label[k] as number] as number)));
  const q = unl.map((k) => softmax(weak[k] as number[]));
  const mask = q.map((p) => ((p[argmax(p)] as number) >= 0.3 ? 1 : 0));
  const target = q.map(argmax);
  assert.ok(
    mask.some((m) => m === 1) && mask.some((m) => m === 0),
    `the threshold keeps some and drops some (${q.map((p) => Math.max(...p))})`,
  );
  const lu = meanOf(
    unl.map((_, j) => (mask[j] as number) * (lse(str[j] as number[]) - ((str[j] as number[])[target[j] as number] as number))),
  );
  // the gradient: through the weak labelled rows and the strong rows, none through q
  const oneHot = (ys: number[]) => ys.flatMap((y) => Array.from({ length: C }, (_, j) => (j === y ? 1 : 0)));
  const labelled = keep(tensor(oneHot(label.map((y) => (y >= 0 ? y : -1))), [b, C]));
  const targets = keep(
    tensor(
      oneHot(target).map((x, i) => x * (mask[Math.floor(i / C)] as number)),
      [unl.length, C],
    ),
  );
  const want = expectedUpdate(f, both, (_v, z) => {
    const lp = F.logSoftmax(z, 1);
    const sup = lp.slice(0, 0, b).mul(labelled).sum().neg().div(lab.length);
    const uns = lp
      .slice(0, b, b + unl.length)
      .mul(targets)
      .sum()
      .neg()
      .div(unl.length);
    return sup.add(uns.mul(lambdaU));
  });
  const old = snapshot(f);
  const got = runStep(f, f.x, "fixmatch");
  near(got.st.categorization, ls, "loss/categorization (L_s)");
  near(got.st.total, ls + lambdaU * lu, "loss/total");
  near(got.st.confidence, meanOf(q.map((p) => p[argmax(p)] as number)), "monitor/confidence");
  const keptAt = unl.filter((_, j) => mask[j] === 1);
  near(got.st.pseudoLabelAccuracy, meanOf(keptAt.map((k) => (target[unl.indexOf(k)] === (f.index[k] as number) % C ? 1 : 0))), "accuracy");
  assertUpdate(f, old, want);
  assert.equal(got.mask, mask.filter((m) => m === 1).length / unl.length, "monitor/mask");
  // the evaluated weight average: its first update copies the student
  const fm = f.ctx.method as FixMatch;
  assert.equal(f.ctx.method.evalNet(), fm.average.net);
  for (const [n, t] of fm.average.net.stateDict())
    assert.deepEqual(Array.from(t.toArray() as Float32Array), Array.from(f.ctx.net.stateDict().get(n)?.toArray() as Float32Array), n);
  // a batch of labelled points only: L_s alone, no strong forward
  const labIdx = Int32Array.from([0, 8, 16, 24]);
  const xl = keep(new Generator(4).randn([4, 1, 28, 28]));
  const zl = tidy(() => rows(noGrad(() => f.ctx.net.heads(xl).logits)));
  const yl = Array.from(labIdx, (i) => f.ctx.data.labels[i] as number);
  const sl = step(f.ctx, { index: labIdx, x: xl, label: Int32Array.from(yl) }, "fixmatch");
  near(sl["loss/total"], meanOf(zl.map((z, k) => lse(z) - (z[yl[k] as number] as number))), "labelled-only loss");
  xl.dispose();
  for (const t of [strong, both, labelled, targets]) t.dispose();
  free(f);
  assert.equal(liveTensors(), before);
});
