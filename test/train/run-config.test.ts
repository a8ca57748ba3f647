import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { optionName, resolveConfig } from "../../src/config.js";
import { defaultRunDir } from "../../src/report/runfolder.js";
import { readRunConfig } from "../../src/train/run.js";

test("poolGrid: small-cnn only, positive integer; null means the model's default", () => {
  assert.equal(resolveConfig({}).poolGrid, null);
  assert.equal(resolveConfig({ poolGrid: 1 }).poolGrid, 1);
  assert.throws(() => resolveConfig({ model: "resnet18", poolGrid: 7 }), /poolGrid \(--pool-grid\) is a small-cnn option/);
  assert.throws(() => resolveConfig({ poolGrid: 0 }), /poolGrid \(--pool-grid\) must be an integer/);
  assert.throws(() => resolveConfig({ poolGrid: 2.5 }), /poolGrid \(--pool-grid\) must be an integer/);
});

test("a run folder saved before poolGrid existed reopens with the global pooling it was trained with", () => {
  const dir = mkdtempSync(join(tmpdir(), "llp-cfg-"));
  // runs of that time saved the network by name (before --model auto) and no --color
  const legacy = { ...resolveConfig({ width: 8, model: "small-cnn" }) } as Record<string, unknown>;
  delete legacy.poolGrid;
  delete legacy.color;
  writeFileSync(join(dir, "config.json"), JSON.stringify(legacy));
  assert.equal(readRunConfig(dir).poolGrid, 1);
  assert.equal(readRunConfig(dir).color, "rgb", "image folders were decoded as rgb before --color");
  // a current run keeps what it saved
  writeFileSync(join(dir, "config.json"), JSON.stringify(resolveConfig({ width: 8, model: "small-cnn" })));
  assert.equal(readRunConfig(dir).poolGrid, null);
  assert.equal(readRunConfig(dir).color, "auto");
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...legacy, model: "mlp" }));
  assert.equal(readRunConfig(dir).poolGrid, null);
});

test("errors name an option both ways: the config key and the command-line flag", () => {
  assert.equal(optionName("batchSize"), "batchSize (--batch-size)");
  assert.equal(optionName("K"), "K (--K)"); // the paper's symbols keep their case
  assert.throws(
    () => resolveConfig({ labelledPerBatch: 64, batchSize: 64 }),
    /labelledPerBatch \(--labelled-per-batch\) = 64 must be below batchSize \(--batch-size\) = 64/,
  );
  assert.throws(
    () => resolveConfig({ labelled: "1%", labelsPerClass: 5 }),
    /give labelled \(--labelled\) or labelsPerClass \(--labels-per-class\), not both/,
  );
});

test("a config with nothing to train is refused", () => {
  assert.throws(
    () => resolveConfig({ method: "llp", irEpochs: 0, epochs: 0 }),
    /irEpochs \(--ir-epochs\) and epochs \(--epochs\) are both 0: nothing to train/,
  );
  assert.throws(() => resolveConfig({ method: "supervised", irEpochs: 3, epochs: 0 }), /epochs \(--epochs\) is 0: nothing to train/);
  assert.equal(resolveConfig({ method: "llp", irEpochs: 2, epochs: 0 }).irEpochs, 2); // IR only is a run
});

test("resolveConfig's argument is typed: a misspelt key or a wrong type does not compile (and is refused at run time)", () => {
  // @ts-expect-error "labeled" is not an option
  assert.throws(() => resolveConfig({ labeled: "1%" }), /unknown option "labeled"/);
  // @ts-expect-error labelled is a string such as "1%" or "600"
  assert.throws(() => resolveConfig({ labelled: 5 }), /labelled/);
});

test("default run folders are named by data, labels, seed and method", () => {
  const cfg = resolveConfig({ labelled: "1%", seed: 2 });
  assert.equal(defaultRunDir(cfg), join("runs", "fashion-mnist.1pct@2-llp"));
  assert.equal(defaultRunDir(resolveConfig({ method: "supervised", labelsPerClass: 10 })), join("runs", "fashion-mnist.10pc@0-supervised"));
});

test("a run saved with a removed option at its off value reopens without it; one that turned it on is refused by name", () => {
  const dir = mkdtempSync(join(tmpdir(), "llp-cfg-"));
  const saved = { ...resolveConfig({ labelled: "1%" }), teacher: null, ema: 0, alignment: "none", irLoss: "softmax", nceNoise: 4096 };
  writeFileSync(join(dir, "config.json"), JSON.stringify(saved));
  const cfg = readRunConfig(dir);
  assert.equal(cfg.labelled, "1%");
  assert.ok(!("teacher" in cfg) && !("ema" in cfg) && !("irLoss" in cfg));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...saved, ema: 0.999 }));
  assert.throws(() => readRunConfig(dir), /trained with ema = 0\.999; option "ema" \(--ema\) was removed: it measured flat/);
});
