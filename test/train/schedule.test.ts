import assert from "node:assert/strict";
import { test } from "node:test";
import { dropsAtEpoch, initialPlateau, lrAfterDrops, plateauStep } from "../../src/train/schedule.js";

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
  // pure: the same inputs give the same outputs
  assert.deepEqual(
    plateauStep(initialPlateau(), 0.3, { patience: 1, maxDrops: 1 }),
    plateauStep(initialPlateau(), 0.3, { patience: 1, maxDrops: 1 }),
  );
});

test("lr after drops and milestones", () => {
  assert.equal(lrAfterDrops(0.03, 0, 0.1), 0.03);
  assert.ok(Math.abs(lrAfterDrops(0.03, 2, 0.1) - 0.0003) < 1e-12);
  assert.deepEqual(
    [0, 9, 10, 19, 20].map((e) => dropsAtEpoch([10, 20], e)),
    [0, 0, 1, 1, 2],
  );
});
