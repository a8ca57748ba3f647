// Confusion matrix and per-class scores against hand counts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { confusionMatrix, perClass } from "../../src/eval/metrics.js";

test("confusionMatrix counts (true, predicted) pairs; unlabelled rows are left out; C grows to fit", () => {
  const truth = [0, 0, 1, 1, 1, 2, -1];
  const pred = [0, 1, 1, 1, 0, 2, 2];
  assert.deepEqual(confusionMatrix(truth, pred, 3), [
    [1, 1, 0],
    [1, 2, 0],
    [0, 0, 1],
  ]);
  assert.deepEqual(confusionMatrix([0, 1], [3, 1], 2), [
    [0, 0, 0, 1],
    [0, 1, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ]);
  assert.throws(() => confusionMatrix([0], [0, 1], 2), /1 labels, 2 predictions/);
});

test("perClass: recall over the row, precision over the column, NaN where nothing is counted", () => {
  const m = [
    [1, 1, 0],
    [1, 2, 0],
    [0, 0, 0],
  ];
  const s = perClass(m, ["a", "b"]);
  assert.deepEqual(
    s.map((c) => c.class),
    ["a", "b", "2"],
  );
  assert.deepEqual(
    s.map((c) => c.n),
    [2, 3, 0],
  );
  assert.deepEqual(
    s.map((c) => c.top1),
    [1 / 2, 2 / 3, Number.NaN],
  );
  assert.deepEqual(
    s.map((c) => c.precision),
    [1 / 2, 2 / 3, Number.NaN],
  );
});
