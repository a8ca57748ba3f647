// --augment: which augmentation each choice gives, and a clear error where it cannot apply.
import assert from "node:assert/strict";
import { test } from "node:test";
import { augmentFor } from "../../src/train/data.js";

test("--augment picks pad-crop / resized-crop / none, and auto follows the channel count", () => {
  assert.deepEqual(augmentFor("auto", [1, 28, 28]), { kind: "padCrop" });
  assert.deepEqual(augmentFor("auto", [3, 32, 32]), { kind: "resizedCropJitter" });
  assert.deepEqual(augmentFor("resized-crop", [1, 28, 28]), { kind: "resizedCropJitter" });
  assert.deepEqual(augmentFor("pad-crop", [3, 32, 32]), { kind: "padCrop" });
  assert.equal(augmentFor("none", [1, 28, 28]), null);
});

test("--augment on feature vectors: auto and none mean no augmentation, an image recipe is an error", () => {
  assert.equal(augmentFor("auto", [784]), null);
  assert.equal(augmentFor("none", [784]), null);
  assert.throws(() => augmentFor("resized-crop", [784]), /augment \(--augment\) = resized-crop needs images/);
  assert.throws(() => augmentFor("pad-crop", [20]), /augment \(--augment\) = pad-crop needs images/);
});
