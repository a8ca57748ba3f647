// The paper's Table 6 ablations: each name stands for its settings, the config sets K and the
// propagation rule from it and refuses contradictions, and the LLP step drops exactly the part a
// name turns off (the categorization loss without wc, the confidence weights with woc).
import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveConfig } from "../../src/config.js";
import { PAPER_ABLATIONS, parseAblation } from "../../src/methods/ablation.js";
import { Generator, liveTensors, type Tensor, tidy } from "../../src/torch/index.js";
import { context, release, step } from "../train/step-context.js";

test("each of Table 6's names stands for its K, confidence weights, categorization loss and density", () => {
  const got = PAPER_ABLATIONS.map((n) => {
    const a = parseAblation(n);
    return [n, a.K, a.confidence, a.categoryLoss, a.density];
  });
  assert.deepEqual(got, [
    ["Top50woc", 50, false, false, false],
    ["Top50", 50, true, false, false],
    ["Top20", 20, true, false, false],
    ["Top10", 10, true, false, false],
    ["Top5", 5, true, false, false],
    ["Top50wc", 50, true, true, false],
    ["Top50lw", 50, true, false, true],
    ["Top10wclw", 10, true, true, true], // the paper's LLP
  ]);
  assert.deepEqual(parseAblation("Top7woclw"), { name: "Top7woclw", K: 7, confidence: false, categoryLoss: false, density: true });
  for (const bad of ["top10", "Top0", "Top10lwwc", "Top10x", "Top", "Top10 wc"])
    assert.throws(() => parseAblation(bad), new RegExp(`"${bad}" is not an ablation name`));
});

test("an ablation sets K and the rule; a contradicting option, another method or mixup is refused by name", () => {
  const a = resolveConfig({ ablation: "Top50woc" });
  assert.deepEqual([a.K, a.propagation], [50, "weighted-knn"]);
  const b = resolveConfig({ ablation: "Top10wclw", K: 10, propagation: "llp" }); // agreeing options are fine (a saved run's config)
  assert.deepEqual([b.K, b.propagation], [10, "llp"]);
  assert.throws(() => resolveConfig({ ablation: "Top50lw", K: 20 }), /K \(--K\) = 20, but Top50lw trains with K = 50/);
  assert.throws(() => resolveConfig({ ablation: "Top50", propagation: "llp" }), /Top50 propagates by weighted-knn/);
  assert.throws(() => resolveConfig({ method: "supervised", ablation: "Top5" }), /supervised has no such parts \(got Top5\)/);
  assert.throws(() => resolveConfig({ ablation: "Top5", mixup: 0.5 }), /cannot be combined/);
  assert.throws(() => resolveConfig({ ablation: "Top5x" }), /ablation \(--ablation\) "Top5x" is not an ablation name/);
  // a saved run resolves to itself
  assert.deepEqual(resolveConfig({ ...a }), a);
});

/** One IR step to fill the batch's bank rows, then `n` LLP steps on fixed batches; the classifier's gradient and the stats. */
function llpSteps(ablation: string, confidences: ((i: number) => number) | null, n = 2) {
  const ctx = context(resolveConfig({ ablation, trainView: "weak" }));
  const data = new Generator(11);
  const batches = Array.from({ length: n + 1 }, (_, s) => {
    const index = Int32Array.from({ length: 16 }, (_, k) => (s * 16 + k * 5) % 96);
    return { index, x: data.randn([16, 1, 28, 28]), label: Int32Array.from(index, (i) => ctx.data.labels[i] as number) };
  });
  step(ctx, batches[0] as (typeof batches)[number], "ir");
  ctx.method.beginEpoch(1, "llp");
  const stats = [];
  let classifierGrad = 0;
  for (const b of batches.slice(1)) {
    // stored pseudo-labels with chosen confidences (the stored scheme trains on them)
    if (confidences) {
      const idx = Int32Array.from(b.index).filter((i) => !ctx.labels.isLabelled[i]);
      ctx.labels.write(
        idx,
        Int32Array.from(idx, (i) => i % 4),
        Float32Array.from(idx, confidences),
      );
    }
    stats.push(step(ctx, b, "llp"));
    classifierGrad = tidy(() =>
      ctx.net.classifier.parameters().reduce((s, p) => s + ((p.grad as Tensor | null)?.abs().sum().item() ?? 0), 0),
    );
  }
  const weights = tidy(() => ctx.net.embed.parameters().map((p) => p.sum().item()));
  for (const b of batches) b.x.dispose();
  release(ctx);
  return { stats, classifierGrad, weights };
}

test("without wc the classifier takes no gradient; with it, it does", () => {
  const before = liveTensors();
  const conf = (i: number) => 0.3 + (i % 5) / 10;
  const off = llpSteps("Top10", conf);
  const on = llpSteps("Top10wc", conf);
  assert.equal(off.classifierGrad, 0);
  assert.ok(on.classifierGrad > 0);
  assert.ok(off.stats.every((s) => s["loss/categorization"] === 0 && s["loss/aggregation"] > 0));
  assert.ok(on.stats.every((s) => s["loss/categorization"] > 0));
  assert.equal(liveTensors(), before, "no tensor outlives the steps");
});

test("woc trains as if every stored confidence were 1", () => {
  const conf = (i: number) => 0.3 + (i % 5) / 10;
  const woc = llpSteps("Top10woc", conf);
  const ones = llpSteps("Top10", () => 1);
  const weighted = llpSteps("Top10", conf);
  assert.deepEqual(woc.weights, ones.weights, "the same update as confidences of 1");
  assert.deepEqual(
    woc.stats.map((s) => s["loss/total"]),
    ones.stats.map((s) => s["loss/total"]),
  );
  assert.notDeepEqual(weighted.weights, ones.weights, "the confidences matter without woc");
});
