// S4L-Rotation's rotations against hand-turned images: each copy is the image turned k quarter
// turns counter-clockwise and carries the label k; non-square images and feature vectors are
// refused by name before anything is written.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { rot90, rotationMismatch, rotations } from "../../src/methods/s4l-rotation.js";
import { liveTensors, tensor, tidy } from "../../src/torch/index.js";
import { tempDir, writeFeatureNpy } from "../data/helpers.js";

test("rot90 turns the image plane counter-clockwise; rotations() stacks the four copies with labels 0..3", () => {
  const before = liveTensors();
  // one 1-channel 2x2 image  [[1, 2], [3, 4]]: a quarter turn counter-clockwise is [[2, 4], [1, 3]]
  const want = [
    [1, 2, 3, 4],
    [2, 4, 1, 3],
    [4, 3, 2, 1],
    [3, 1, 4, 2],
  ];
  tidy(() => {
    const x = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    for (let k = 0; k < 4; k++) assert.deepEqual(rot90(x, k).contiguous().toNumbers(), want[k], `k = ${k}`);
    assert.deepEqual(rot90(x, 5).contiguous().toNumbers(), want[1], "k mod 4");
    // two images: copy k of image i at row k B + i
    const two = tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 2, 2]);
    const r = rotations(two);
    assert.deepEqual(r.x.shape, [8, 1, 2, 2]);
    assert.deepEqual(r.y.toNumbers(), [0, 0, 1, 1, 2, 2, 3, 3]);
    const rows = r.x.toNumbers();
    for (let k = 0; k < 4; k++)
      for (let i = 0; i < 2; i++)
        assert.deepEqual(
          rows.slice((k * 2 + i) * 4, (k * 2 + i + 1) * 4),
          (want[k] as number[]).map((v) => v + 4 * i),
          `copy ${k} of image ${i}`,
        );
  });
  assert.equal(liveTensors(), before);
});

test("s4l-rotation refuses feature vectors and non-square images by name, writing nothing", () => {
  assert.match(rotationMismatch([4]) ?? "", /needs images \[C,H,W\]/);
  assert.match(rotationMismatch([1, 8, 6]) ?? "", /needs square images .* 8x6/);
  assert.equal(rotationMismatch([3, 8, 8]), null);
  const dir = tempDir("llp-s4l-");
  const f = writeFeatureNpy(
    dir,
    new Float32Array(40 * 3).fill(1),
    3,
    Int32Array.from({ length: 40 }, (_, i) => (i < 10 ? i % 2 : -1)),
  );
  const out = join(dir, "run");
  const r = spawnSync(
    process.execPath,
    [
      join(process.cwd(), "bin", "llp.js"),
      "train",
      "--method",
      "s4l-rotation",
      "--data",
      f.data,
      "--labels",
      f.labels,
      "--batch-size",
      "8",
      "--out",
      out,
    ],
    { encoding: "utf8" },
  );
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /s4l-rotation needs images/);
  assert.ok(!existsSync(out), "nothing written");
});
