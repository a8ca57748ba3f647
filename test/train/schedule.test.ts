import assert from "node:assert/strict";
import { test } from "node:test";
import { type Config, resolveConfig } from "../../src/config.js";
import { fixedMilestones } from "../../src/train/loop.js";
import { dropsAtEpoch, initialPlateau, lrAfterDrops, plateauStep, sigmoidRampup } from "../../src/train/schedule.js";

test("plateau: drop after `patience` evaluations without improvement, stop after maxDrops", () => {
  let s = initialPlateau();
  const drops: number[] = [];
  const accs = [0.5, 0.6, 0.6, 0.59, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7];
  accs.forEach((a, e) => {
    const r = plateauStep(s, a, { patience: 2, maxDrops: 2 });
    s = r.state;
    if (r.drop) drops.push(e);
  });
  assert.deepEqual(drops, [3, 6]);
  assert.equal(s.stop, true);
  assert.equal(s.drops, 2);
});

test("plateau: each step's state by hand, minDelta, and the input state is never modified", () => {
  const o = { patience: 1, maxDrops: 1, minDelta: 0.01 };
  const s0 = Object.freeze(initialPlateau()); // a write to it would throw in strict mode
  const r1 = plateauStep(s0, 0.3, o); // first evaluation: a new best
  assert.deepEqual(r1, { state: { best: 0.3, sinceBest: 0, drops: 0, stop: false }, drop: false });
  assert.deepEqual(s0, { best: -1, sinceBest: 0, drops: 0, stop: false }, "the input state is unchanged");
  const r2 = plateauStep(Object.freeze(r1.state), 0.305, o); // +0.005 < minDelta: no new best, patience 1 -> drop
  assert.deepEqual(r2, { state: { best: 0.3, sinceBest: 0, drops: 1, stop: false }, drop: true });
  const r3 = plateauStep(Object.freeze(r2.state), 0.32, o); // +0.02 >= minDelta: a new best
  assert.deepEqual(r3, { state: { best: 0.32, sinceBest: 0, drops: 1, stop: false }, drop: false });
  const r4 = plateauStep(Object.freeze(r3.state), 0.1, o); // plateau after the last drop: stop, no drop
  assert.deepEqual(r4, { state: { best: 0.32, sinceBest: 1, drops: 1, stop: true }, drop: false });
  const r5 = plateauStep(r4.state, 0.9, o); // stopped stays stopped, whatever comes
  assert.deepEqual(r5, { state: r4.state, drop: false });
});

test("lr after drops and milestones", () => {
  assert.equal(lrAfterDrops(0.03, 0, 0.1), 0.03);
  assert.ok(Math.abs(lrAfterDrops(0.03, 2, 0.1) - 0.0003) < 1e-12);
  assert.deepEqual(
    [0, 9, 10, 19, 20].map((e) => dropsAtEpoch([10, 20], e)),
    [0, 0, 1, 1, 2],
  );
});

test("sigmoidRampup: exp(-5 (1 - t/L)^2) on [0, L], 1 after, 1 for L = 0", () => {
  assert.equal(sigmoidRampup(0, 5), Math.exp(-5));
  assert.equal(sigmoidRampup(2, 5), Math.exp(-5 * 0.6 * 0.6));
  assert.equal(sigmoidRampup(5, 5), 1);
  assert.equal(sigmoidRampup(9, 5), 1);
  assert.equal(sigmoidRampup(-1, 5), Math.exp(-5), "clamped below");
  assert.equal(sigmoidRampup(0, 0), 1);
});

test("fixedMilestones: given milestones; else one drop at 80% of the epochs, none when that rounds to 0; plateau only on 500+ validation points", () => {
  const c = (o: Partial<Config>) => resolveConfig(o);
  assert.deepEqual(fixedMilestones(c({ milestones: [3, 7] }), 10), [3, 7]);
  assert.deepEqual(fixedMilestones(c({ epochs: 16 }), 10), [13]);
  assert.deepEqual(fixedMilestones(c({ epochs: 0, irEpochs: 2 }), 10), [], "an IR-only run keeps its LR");
  assert.equal(fixedMilestones(c({ schedule: "plateau", epochs: 16 }), 500), null);
  assert.deepEqual(fixedMilestones(c({ schedule: "plateau", epochs: 16 }), 499), [13]);
});
