// Deep Co-Training's parts against hand arithmetic: the Jensen-Shannon term and the cross-entropy
// between two predictions; FGSM against central finite differences of the loss it ascends; one
// step's loss terms in plain JS from the two networks' outputs, both networks' updates against
// autograd through plain ops with SGD by hand, and the running statistics moved by the clean
// passes alone (the same order of batch-norm updates as the step).
import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveConfig } from "../../src/config.js";
import { categorization } from "../../src/losses/losses.js";
import { crossEntropyBetween, DCT_LAMBDA_COT, DCT_LAMBDA_DIF, type DeepCoTraining, fgsm, jensenShannon } from "../../src/methods/dct.js";
import { buildNet, keepingRunningStats, type LLPNet } from "../../src/model/net.js";
import { F, Generator, keep, liveTensors, noGrad, SGD, type Tensor, tensor, tidy } from "../../src/torch/index.js";
import { sigmoidRampup } from "../../src/train/schedule.js";
import { context, release, SPEC, step } from "../train/step-context.js";

const near = (a: number, b: number, what: string, tol = 1e-5) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
const H = (p: number[]) => -p.reduce((s, x) => s + (x > 0 ? x * Math.log(x) : 0), 0);
const softmax = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};
const rows = (t: Tensor): number[][] => {
  const [r, c] = t.shape as [number, number];
  const a = t.toNumbers();
  return Array.from({ length: r }, (_, i) => a.slice(i * c, (i + 1) * c));
};
const jsByHand = (z1: number[], z2: number[]) => {
  const [p, q] = [softmax(z1), softmax(z2)];
  return H(p.map((x, j) => (x + (q[j] as number)) / 2)) - (H(p) + H(q)) / 2;
};
const ceByHand = (zp: number[], zq: number[]) => {
  const [p, q] = [softmax(zp), softmax(zq)];
  return -p.reduce((s, x, j) => s + x * Math.log(q[j] as number), 0);
};

test("jensenShannon and crossEntropyBetween match their formulas; JS is 0 for equal predictions and near ln 2 for disjoint ones", () => {
  const before = liveTensors();
  tidy(() => {
    // p1 = (1/2, 1/2), p2 = (3/4, 1/4): m = (5/8, 3/8)
    const z1 = [0, 0];
    const z2 = [Math.log(3), 0];
    const js = jensenShannon(tensor(z1, [1, 2]), tensor(z2, [1, 2])).toNumbers()[0] as number;
    const m = [5 / 8, 3 / 8];
    near(js, H(m) - (Math.log(2) + H([3 / 4, 1 / 4])) / 2, "JS((1/2,1/2),(3/4,1/4))");
    const a = [
      [0.3, -1.2, 2.0],
      [1.5, 0.1, -0.4],
    ];
    const b = [
      [-0.7, 0.9, 0.2],
      [1.5, 0.1, -0.4],
    ];
    const ta = tensor(a.flat(), [2, 3]);
    const tb = tensor(b.flat(), [2, 3]);
    const got = jensenShannon(ta, tb).toNumbers();
    near(got[0] as number, jsByHand(a[0] as number[], b[0] as number[]), "JS row 0");
    near(got[1] as number, 0, "JS of equal rows", 1e-6);
    const disjoint = jensenShannon(tensor([40, 0], [1, 2]), tensor([0, 40], [1, 2])).toNumbers()[0] as number;
    near(disjoint, Math.log(2), "JS of disjoint predictions", 1e-5);
    const ce = crossEntropyBetween(ta, tb).toNumbers();
    for (let i = 0; i < 2; i++) near(ce[i] as number, ceByHand(a[i] as number[], b[i] as number[]), `H(p, q) row ${i}`);
  });
  assert.equal(liveTensors(), before);
});

test("fgsm moves every input element by eps along the sign of the loss's gradient (finite differences), in eval mode, leaving the network as it was", () => {
  const before = liveTensors();
  const net = buildNet(SPEC, new Generator(4));
  net.train();
  const x = keep(new Generator(8).randn([3, 1, 28, 28]));
  const target = keep(tensor([0, 2, 1], [3], "int64"));
  const buffers = () => tidy(() => [...net.namedBuffers()].map(([, b]) => b.toNumbers()));
  const held = buffers();
  const eps = 0.05;
  const adv = fgsm(net, x, target, eps);
  assert.equal(net.training, true, "training mode restored");
  assert.deepEqual(buffers(), held, "running statistics untouched (the attack runs in eval mode)");
  const xs = x.toNumbers();
  const as = adv.toNumbers();
  const step = as.map((v, i) => v - (xs[i] as number));
  assert.ok(
    step.every((d) => Math.abs(Math.abs(d) - eps) < 1e-6 || Math.abs(d) < 1e-6),
    "each element moves by eps or not at all",
  );
  // the summed CE in eval mode, as a function of one input element
  net.eval();
  const loss = (i: number, h: number) =>
    tidy(() => {
      const v = Float32Array.from(xs);
      v[i] = (v[i] as number) + h;
      return noGrad(() =>
        categorization(net.heads(tensor(v, x.shape)).logits, target)
          .sum()
          .item(),
      );
    });
  let checked = 0;
  for (let i = 0; i < xs.length && checked < 12; i += 7) {
    const fd = (loss(i, 1e-2) - loss(i, -1e-2)) / 2e-2;
    if (Math.abs(fd) < 2e-3) continue; // too flat to read a sign from float32 differences
    assert.equal(Math.sign(step[i] as number), Math.sign(fd), `element ${i}: step ${step[i]}, finite difference ${fd}`);
    checked++;
  }
  assert.ok(checked >= 6, `only ${checked} elements had a readable gradient`);
  // and the loss rises
  const total = (t: Tensor) => tidy(() => noGrad(() => categorization(net.heads(t).logits, target).sum().item()));
  assert.ok(total(adv) > total(x), "the adversarial batch costs more");
  for (const t of [x, target, adv]) t.dispose();
  net.dispose();
  assert.equal(liveTensors(), before);
});

test("one dct step: L_sup + lambda_cot L_cot + lambda_dif L_dif by hand, both networks' updates from autograd on plain ops, running statistics from the clean passes only", () => {
  const before = liveTensors();
  const ctx = context(resolveConfig({ method: "dct", trainView: "weak" }));
  const dct = ctx.method as DeepCoTraining;
  const nets = [ctx.net, dct.second] as const;
  const [first, second] = nets;
  const params = (n: LLPNet) => tidy(() => new Map([...n.namedParameters()].map(([k, t]) => [k, t.toNumbers()])));
  const buffers = (n: LLPNet) => tidy(() => [...n.namedBuffers()].map(([, t]) => t.toNumbers()));
  const zeroGrads = (n: LLPNet) => {
    const o = SGD.forModule(n, { lr: 0, momentum: 0, weightDecay: 0 });
    o.zeroGrad();
    o.dispose();
  };
  assert.notDeepEqual([...params(first).values()], [...params(second).values()], "the two views start from different initialisations");
  const index = Int32Array.from([0, 3, 8, 13, 16, 21, 30, 40]); // labelled: 0, 8, 16, 40
  const label = Int32Array.from(index, (i) => ctx.data.labels[i] as number);
  const b = index.length;
  const x = keep(new Generator(21).randn([b, 1, 28, 28]));
  const epoch = 2;
  dct.beginEpoch(epoch);
  const r = sigmoidRampup(epoch, ctx.cfg.consistencyRampup);
  const [wCot, wDif] = [DCT_LAMBDA_COT * r, DCT_LAMBDA_DIF * r];
  const saved = nets.map((n) => new Map([...n.stateDict()].map(([k, t]) => [k, keep(t.clone())])));
  const restore = () =>
    noGrad(() => {
      for (const [i, n] of nets.entries()) n.loadStateDict(saved[i] as Map<string, Tensor>);
    });
  // the step's order: the clean passes move the running statistics, then the attacks read them
  const clean = tidy(() => nets.map((n) => rows(n.heads(x).logits)));
  const statsAfterClean = nets.map(buffers);
  const own = (rs: number[][]) => rs.map((z, k) => ((label[k] as number) >= 0 ? (label[k] as number) : z.indexOf(Math.max(...z))));
  const g1 = tidy(() => fgsm(first, x, tensor(own(clean[0] as number[][]), [b], "int64"), ctx.cfg.dctEpsilon));
  const g2 = tidy(() => fgsm(second, x, tensor(own(clean[1] as number[][]), [b], "int64"), ctx.cfg.dctEpsilon));
  // values in plain JS
  const [r1, r2] = clean as [number[][], number[][]];
  const a = tidy(() => rows(keepingRunningStats(second, () => second.heads(g1).logits)));
  const c = tidy(() => rows(keepingRunningStats(first, () => first.heads(g2).logits)));
  const lab = [...label.keys()].filter((k) => (label[k] as number) >= 0);
  const unl = [...label.keys()].filter((k) => (label[k] as number) < 0);
  const ce = (z: number[], y: number) => -Math.log(softmax(z)[y] as number);
  const mean = (xs: number[]) => xs.reduce((t, v) => t + v, 0) / xs.length;
  const o = {
    sup: mean(lab.map((k) => ce(r1[k] as number[], label[k] as number))) + mean(lab.map((k) => ce(r2[k] as number[], label[k] as number))),
    cot: mean(unl.map((k) => jsByHand(r1[k] as number[], r2[k] as number[]))),
    dif: mean(r1.map((z, k) => ceByHand(z, a[k] as number[]) + ceByHand(r2[k] as number[], c[k] as number[]))),
  };
  // the update: autograd through plain ops (log-softmax, masks), the adversarial inputs fixed, SGD by hand
  for (const n of nets) zeroGrads(n);
  tidy(() => {
    const onehot = tensor(
      Array.from(label).flatMap((y) => [0, 1, 2, 3].map((j) => (j === y ? 1 : 0))),
      [b, 4],
    );
    const unlabelled = tensor(
      Array.from(label, (y) => (y < 0 ? 1 : 0)),
      [b],
    );
    const z1 = first.heads(x).logits;
    const z2 = second.heads(x).logits;
    const sup = (z: Tensor) => F.logSoftmax(z, 1).mul(onehot).sum().neg().div(lab.length);
    const ent = (p: Tensor) => p.mul(p.log()).sum(1).neg(); // [B]
    const [p1, p2] = [F.softmax(z1, 1), F.softmax(z2, 1)];
    const js = ent(p1.add(p2).div(2)).sub(ent(p1).add(ent(p2)).div(2));
    const cot = js.mul(unlabelled).sum().div(unl.length);
    const z2g1 = keepingRunningStats(second, () => second.heads(g1).logits);
    const z1g2 = keepingRunningStats(first, () => first.heads(g2).logits);
    const dif = p1
      .mul(F.logSoftmax(z2g1, 1))
      .sum(1)
      .add(p2.mul(F.logSoftmax(z1g2, 1)).sum(1))
      .neg()
      .mean();
    sup(z1).add(sup(z2)).add(cot.mul(wCot)).add(dif.mul(wDif)).backward();
  });
  const LR = ctx.cfg.lr;
  const WD = ctx.cfg.weightDecay;
  const want = nets.map((n) =>
    tidy(
      () =>
        new Map(
          [...n.namedParameters()].map(([k, p, { decay }]) => {
            const w = p.toNumbers();
            const g = p.grad?.toNumbers();
            return [k, w.map((wi, i) => (g ? wi - LR * ((g[i] as number) + (decay ? WD * wi : 0)) : wi))];
          }),
        ),
    ),
  );
  const old = nets.map(params);
  for (const n of nets) zeroGrads(n);
  restore();
  for (const m of saved) for (const t of m.values()) t.dispose();
  const st = step(ctx, { index, x, label }, "dct");
  near(st["loss/categorization"], o.sup, "L_sup");
  near(st["loss/consistency"] as number, o.cot, "L_cot");
  near(st["loss/difference"] as number, o.dif, "L_dif");
  near(st["monitor/consistencyWeight"] as number, wCot, "lambda_cot(epoch)");
  near(st["loss/total"], o.sup + wCot * o.cot + wDif * o.dif, "loss/total");
  for (const [j, n] of nets.entries()) {
    const got = params(n);
    for (const [k, w] of (want[j] as Map<string, number[]>).entries()) {
      const prev = (old[j] as Map<string, number[]>).get(k) as number[];
      const scale = Math.max(...w.map((e, i) => Math.abs(e - (prev[i] as number))));
      if (!k.startsWith("embed")) assert.ok(scale > 0, `network ${j + 1}: ${k} has a gradient`); // the embedding head is unused
      for (const [i, g] of (got.get(k) as number[]).entries())
        assert.ok(Math.abs(g - (w[i] as number)) <= 2e-3 * scale + 1e-7, `network ${j + 1}: ${k}[${i}]: ${g} vs ${w[i]} (step ${scale})`);
    }
    assert.deepEqual(buffers(n), statsAfterClean[j], `network ${j + 1}: running statistics moved by the clean pass only`);
  }
  for (const t of [x, g1, g2]) t.dispose();
  release(ctx);
  assert.equal(liveTensors(), before);
});
