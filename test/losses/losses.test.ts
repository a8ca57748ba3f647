import assert from "node:assert/strict";
import {
  aggregation,
  bankExp,
  bankSetLoss,
  categorization,
  consistencyMse,
  instanceRecognition,
  llpLoss,
} from "../../src/losses/losses.js";
import { F, Generator, type Tensor, tensor } from "../../src/torch/index.js";
import { assertClose, tidyTest } from "../helpers.js";

const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
};

function setup(seed: number, b = 4, n = 12, d = 5) {
  const gen = new Generator(seed);
  const v = F.normalize(gen.randn([b, d], "float64"), 1);
  const V = F.normalize(gen.randn([n, d], "float64"), 1);
  const sims = v.mm(V.T); // [B, N]
  const s = Array.from({ length: b }, (_, i) => Array.from(sims.select(0, i).toArray() as Float64Array));
  return { v, V, s };
}

tidyTest("aggregation loss equals -log sum_{i in A} P(i|v) by hand", () => {
  const tau = 0.07;
  const { v, V, s } = setup(0);
  const bankY = [0, 1, 2, -1, 0, 1, 2, -1, 0, 1, 2, 0];
  const y = [0, 2, -1, 1];
  const index = [4, 3, 7, 0]; // row 3's own bank label is -1 (not in class 2): its own row is added
  const la = aggregation(bankExp(v, V, tau), tensor(bankY, [12], "int32"), tensor(y, [4], "int64"), tensor(index, [4], "int64"), 3);
  const expected = s.map((row, b) => {
    const logits = row.map((x) => x / tau);
    const inA = logits.filter((_, j) => ((y[b] as number) >= 0 && bankY[j] === y[b]) || j === index[b]);
    return lse(logits) - lse(inA);
  });
  assertClose(la, expected, { rtol: 1e-9 });
});

tidyTest("a point without a pseudo-label gets exactly the Instance Recognition loss", () => {
  const tau = 0.1;
  const { v, V, s } = setup(1);
  const idx = tensor([2, 5, 7, 11], [4], "int64");
  const E = bankExp(v, V, tau);
  const ir = instanceRecognition(E, idx);
  const la = aggregation(E, tensor(new Array(12).fill(-1), [12], "int32"), tensor([-1, -1, -1, -1], [4], "int64"), idx, 3);
  const expected = s.map((row, b) => lse(row.map((x) => x / tau)) - (row[[2, 5, 7, 11][b] as number] as number) / tau);
  assertClose(ir, expected, { rtol: 1e-9 });
  assertClose(la, expected, { rtol: 1e-9 });
});

tidyTest("categorization ignores y = -1 and llpLoss weights by confidence", () => {
  const logits = tensor([2, 0, 0, 0, 1, 0, 0, 0, 3], [3, 3], "float64");
  const y = tensor([0, -1, 2], [3], "int64");
  const lc = categorization(logits, y);
  const ce = (row: number[], k: number) => lse(row) - (row[k] as number);
  assertClose(lc, [ce([2, 0, 0], 0), 0, ce([0, 0, 3], 2)], { rtol: 1e-9 });
  const la = tensor([1, 2, 3], [3], "float64");
  const c = tensor([0.5, 0, 0.25], [3], "float64");
  // (0.5*(lc0+1) + 1*2 [own instance, weight 1] + 0.25*(lc2+3)) / 3
  const lcs = lc.toNumbers();
  assertClose(llpLoss(lc, la, c, y), [(0.5 * ((lcs[0] as number) + 1) + 2 + 0.25 * ((lcs[2] as number) + 3)) / 3], { rtol: 1e-9 });
});

tidyTest("llpLoss with shares (mixup) weights each example's Eq. 4 term by its share", () => {
  const lc = tensor([1, 2, 4], [3], "float64");
  const la = tensor([3, 5, 7], [3], "float64");
  const c = tensor([0.5, 1, 0.25], [3], "float64");
  const y = tensor([1, -1, 0], [3], "int64");
  const share = tensor([1, 0.5, 0.75], [3], "float64");
  // share * (c lc + w la), w = c for a label and 1 for an own instance (y = -1)
  const want = (1 * 0.5 * (1 + 3) + 0.5 * (1 * 2 + 5) + 0.75 * 0.25 * (4 + 7)) / 3;
  assertClose(llpLoss(lc, la, c, y, share), [want], { rtol: 1e-12 });
  assertClose(llpLoss(lc, la, c, y, tensor([1, 1, 1], [3], "float64")), llpLoss(lc, la, c, y).toNumbers(), { rtol: 1e-12 });
});

tidyTest("aggregation gradient matches finite differences", () => {
  const tau = 0.2;
  const gen = new Generator(5);
  const raw = gen.randn([3, 4], "float64").requiresGrad_();
  const V = F.normalize(gen.randn([9, 4], "float64"), 1);
  const bankY = tensor([0, 1, 0, 1, -1, 0, 1, 0, 1], [9], "int32");
  const y = tensor([0, 1, -1], [3], "int64");
  const idx = tensor([0, 4, 6], [3], "int64");
  const f = (x: typeof raw) => aggregation(bankExp(F.normalize(x, 1), V, tau), bankY, y, idx, 2).sum();
  f(raw).backward();
  const g = raw.grad?.toNumbers() ?? [];
  const base = Array.from(raw.detach().toArray() as Float64Array);
  const h = 1e-6;
  for (let k = 0; k < base.length; k++) {
    const plus = base.slice();
    plus[k] = (plus[k] as number) + h;
    const minus = base.slice();
    minus[k] = (minus[k] as number) - h;
    const fd = (f(tensor(Float64Array.from(plus), [3, 4])).item() - f(tensor(Float64Array.from(minus), [3, 4])).item()) / (2 * h);
    assertClose([g[k] as number], [fd], { rtol: 1e-5, atol: 1e-7, msg: `d/dx[${k}]` });
  }
  assert.ok(g.some((x) => x !== 0));
});

tidyTest("bankSetLoss: values and closed-form gradient equal the autograd aggregation and IR losses", () => {
  // float64, so the comparison is of formulas, not of rounding. Rows cover: own row inside its
  // class, own row outside it (bank label -1, or another class), no pseudo-label (IR), and a
  // class with no other bank rows.
  for (const [seed, tau] of [
    [3, 0.07],
    [4, 0.5],
    [5, 0.02], // below 0.025 the scores are shifted by -1/tau before exp
  ] as const) {
    const gen = new Generator(seed);
    const b = 6;
    const n = 15;
    const raw = gen.randn([b, 8], "float64");
    const V = F.normalize(gen.randn([n, 8], "float64"), 1);
    const bankY = tensor([0, 1, 2, -1, 0, 1, 2, -1, 0, 1, 2, 0, -1, 1, 0], [n], "int64");
    const y = tensor([0, 2, -1, 1, 3, 0], [b], "int64"); // class 3 has no bank rows
    const index = tensor([4, 3, 7, 0, 9, 14], [b], "int64"); // 4: in class 0; 3: label -1; 0: class 0 vs y 1
    const w = tensor([0.5, 1, 1, 0.25, 0.9, 0], [b], "float64");
    const ref = raw.clone().requiresGrad_();
    const la = aggregation(bankExp(F.normalize(ref, 1), V, tau), bankY, y, index, 4);
    la.mul(w).sum().backward();
    const ours = raw.clone().requiresGrad_();
    const r = bankSetLoss(F.normalize(ours, 1), V, bankY, y, index, tau, 4, w);
    r.objective.backward();
    assertClose(r.values, la.detach().toNumbers(), { rtol: 1e-10, msg: `values, tau ${tau}` });
    assertClose(ours.grad as typeof raw, (ref.grad as typeof raw).toNumbers(), { rtol: 1e-8, atol: 1e-12, msg: `gradient, tau ${tau}` });
    assert.ok((ours.grad as typeof raw).abs().sum().item() > 0);
    // all rows their own instance: exactly L_IR
    const none = tensor(new Array(n).fill(-1), [n], "int64");
    const ir = bankSetLoss(F.normalize(raw, 1), V, none, tensor(new Array(b).fill(-1), [b], "int64"), index, tau, 4, w);
    assertClose(ir.values, instanceRecognition(bankExp(F.normalize(raw, 1), V, tau), index).toNumbers(), { rtol: 1e-10 });
  }
});

tidyTest("bankSetLoss in float32 on a larger bank: float64's values and gradient, every class in use", () => {
  // the float32 kernel (its rows split across threads) against the same call in float64
  // 10 classes: the class sums by a dense product; 70: by a pass of adds per row
  for (const c of [10, 70]) bankSetLoss32(c);
});

function bankSetLoss32(c: number): void {
  const gen = new Generator(11 + c);
  const [b, n, d] = [37, 3001, 16];
  const v = F.normalize(gen.randn([b, d], "float64"), 1);
  const V = F.normalize(gen.randn([n, d], "float64"), 1);
  const bankY = gen.randint(-1, c, [n]);
  const y = gen.randint(-1, c, [b]);
  const index = gen.randint(0, n, [b]);
  const w = gen.rand([b], "float64");
  for (const tau of [0.07, 0.025]) {
    const want = bankSetLoss(v.clone().requiresGrad_(), V, bankY, y, index, tau, c, w);
    // float64 against the autograd statement of Eq. 3, for either way of summing the classes
    assertClose(want.values, aggregation(bankExp(v, V, tau), bankY, y, index, c).toNumbers(), { rtol: 1e-10, msg: `oracle, ${c} classes` });
    const v32 = v.to("float32").requiresGrad_();
    const got = bankSetLoss(v32, V.to("float32"), bankY, y, index, tau, c, w.to("float32"));
    got.objective.backward();
    const v64 = v.clone().requiresGrad_();
    bankSetLoss(v64, V, bankY, y, index, tau, c, w).objective.backward();
    assertClose(got.values, want.values.toNumbers(), { rtol: 1e-4, atol: 1e-5, msg: `values, tau ${tau}, ${c} classes` });
    const g = (v64.grad as Tensor).toNumbers();
    const scale = Math.max(...g.map(Math.abs));
    assertClose(v32.grad as Tensor, g, { rtol: 1e-3, atol: 1e-4 * scale, msg: `gradient, tau ${tau}, ${c} classes` });
  }
}

tidyTest("bankSetLoss rejects labels, indices and shapes out of range", () => {
  const gen = new Generator(1);
  const v = F.normalize(gen.randn([2, 3]), 1);
  const V = F.normalize(gen.randn([5, 3]), 1);
  const lab = tensor([0, 1, -1, 0, 1], [5], "int64");
  const w = tensor([1, 1], [2]);
  const call = (y: number[], idx: number[], bl = lab, C = 2) =>
    bankSetLoss(v, V, bl, tensor(y, [2], "int64"), tensor(idx, [2], "int64"), 0.1, C, w);
  assert.throws(() => call([0, 1], [0, 5]), /index out of range/);
  assert.throws(() => call([0, 2], [0, 1]), /y must lie in/);
  assert.throws(() => call([0, 1], [0, 1], lab, 1), /bankLabels must lie in/);
  assert.throws(() => call([0, 1], [0, 1], tensor([0, 1, 0], [3], "int64")), /bankLabels must be \[N\]/);
  assert.throws(() => bankSetLoss(v, V, lab, tensor([0, 1], [2], "int64"), tensor([0, 1], [2], "float32"), 0.1, 2, w), /integer|float/i);
});

tidyTest("consistencyMse: |softmax(student) - softmax(teacher)|^2 / C per example, no gradient to the teacher", () => {
  // row 0: p = (1/2, 1/2), q = (3/4, 1/4): (1/16 + 1/16) / 2 = 1/16; row 1: equal logits give 0
  const student = tensor([0, 0, 1, 2], [2, 2]).requiresGrad_();
  const teacher = tensor([Math.log(3), 0, 1, 2], [2, 2]).requiresGrad_();
  const l = consistencyMse(student, teacher);
  assertClose(l, [1 / 16, 0], { atol: 1e-7 });
  l.sum().backward();
  assert.equal(teacher.grad, null, "the teacher is a target");
  // d/dz0 of (p0 - 3/4)^2 + (p1 - 1/4)^2 over 2, p = softmax(z): p0 p1 = 1/4, dp0/dz0 = 1/4, dp1/dz0 = -1/4
  // = [2 (1/2 - 3/4)(1/4) + 2 (1/2 - 1/4)(-1/4)] / 2 = -1/8
  assertClose(student.grad as never, [-1 / 8, 1 / 8, 0, 0], { atol: 1e-7 });
});
