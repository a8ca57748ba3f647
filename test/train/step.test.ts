// The training step on a tiny synthetic problem: every phase and view runs, stays finite,
// repeats exactly with the same seeds, leaks nothing, and writes only the batch's state.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Config, resolveConfig } from "../../src/config.js";
import { Generator, liveTensors, tidy } from "../../src/torch/index.js";
import type { Phase } from "../../src/train/types.js";
import { context, N, release, step } from "./step-context.js";

function run(view: Config["trainView"], phases: Phase[], mixup = 0) {
  const ctx = context(resolveConfig({ trainView: view, propagation: "llp+classifier", mixup }));
  const sup = context(resolveConfig({ method: "supervised", trainView: view, mixup }));
  const data = new Generator(11);
  const stats = phases.map((phase, s) => {
    const c = phase === "supervised" ? sup : ctx;
    const index = Int32Array.from({ length: 16 }, (_, k) => (phase === "supervised" ? 8 * ((s + k) % 12) : (s * 16 + k * 5) % N));
    const x = data.randn([16, 1, 28, 28]);
    const label = Int32Array.from(index, (i) => c.data.labels[i] as number);
    const bankBefore = ctx.bank.V.clone();
    const st = step(c, { index, x, label }, phase);
    x.dispose();
    // only the batch's bank rows move, and every row stays a unit vector
    const moved = tidy(() => ctx.bank.V.sub(bankBefore).abs().sum(1).gt(0).toArray() as Uint8Array);
    bankBefore.dispose();
    const want = phase === "supervised" ? [] : [...new Set(index)].sort();
    assert.deepEqual([...moved.keys()].filter((i) => moved[i]).sort(), want);
    return {
      total: st["loss/total"],
      categorization: st["loss/categorization"],
      aggregation: st["loss/aggregation"],
      confidence: st["monitor/confidence"],
    };
  });
  const norms = tidy(() => ctx.bank.V.square().sum(1).toNumbers());
  assert.ok(
    norms.every((n) => Math.abs(n - 1) < 1e-5),
    "bank rows stay unit-norm",
  );
  release(ctx);
  release(sup);
  return stats;
}

for (const [view, mixup] of [
  ["weak", 0],
  ["cutout", 0],
  ["strong", 0],
  ["weak", 1],
  ["cutout", 0.4],
] as const) {
  test(`steps (${view} view, mixup ${mixup}): IR, LLP and supervised steps are finite, repeat exactly and leak nothing`, () => {
    const before = liveTensors();
    const phases: Phase[] = ["ir", "ir", "llp", "llp", "llp", "supervised"];
    const a = run(view, phases, mixup);
    const b = run(view, phases, mixup);
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
