// Recipes: named settings one word away (recipes/*.json), applied under the options given; the
// paper's hyperparameters exactly; bad recipes refused by name, nothing written.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadRecipe, recipeNames, resolveConfig } from "../../src/config.js";
import { tempDir, writeFeatureNpy } from "../data/helpers.js";

const dir = tempDir("llp-recipes-");
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });

test("every shipped recipe resolves; 'paper' is the paper's hyperparameters (Sec. 4) exactly", () => {
  assert.ok(recipeNames().includes("paper") && recipeNames().length >= 3, recipeNames().join(","));
  for (const name of recipeNames()) assert.equal(resolveConfig({ recipe: name }).recipe, name);
  const p = resolveConfig({ recipe: "paper" });
  const want = {
    method: "llp",
    propagation: "llp",
    K: 10,
    T: 25,
    tau: 0.07,
    bankMomentum: 0.5,
    embeddingDim: 128,
    irEpochs: 10,
    batchSize: 128,
    lr: 0.03,
    momentum: 0.9,
    weightDecay: 1e-4,
    lrDrop: 0.1,
    maxDrops: 3,
    schedule: "plateau",
    milestones: null,
    labelledPerBatch: 0,
    trainView: "weak",
    labelScheme: "stored",
    mixup: 0,
  };
  for (const [k, v] of Object.entries(want)) assert.deepEqual(p[k as keyof typeof p], v, k);
});

test("options given beside a recipe win over it; the defaults fill the rest", () => {
  const c = resolveConfig({ recipe: "paper", lr: 0.1, seed: 4 });
  assert.deepEqual([c.lr, c.seed, c.irEpochs, c.labelledPerBatch], [0.1, 4, 10, 0]);
  // without a recipe: the measured defaults
  const d = resolveConfig({});
  assert.deepEqual([d.propagation, d.irEpochs, d.labelledPerBatch, d.schedule], ["auto", 1, 32, "fixed"]);
});

test("an unknown recipe, a recipe with an unknown key, a removed option or a wrong type: an error naming it", () => {
  assert.throws(() => resolveConfig({ recipe: "papper" }), /unknown recipe "papper": the recipes are .*paper/);
  const bad = (name: string, body: unknown) => {
    const f = join(dir, name);
    writeFileSync(f, typeof body === "string" ? body : JSON.stringify(body));
    return f;
  };
  assert.throws(() => loadRecipe(bad("a.json", { lr: 0.1, learningRate: 1 })), /recipe .*a\.json:\n {2}unknown option "learningRate"/);
  assert.throws(() => loadRecipe(bad("b.json", { epochs: "ten" })), /recipe .*b\.json:\n {2}epochs \(--epochs\) must be an integer/);
  assert.throws(() => loadRecipe(bad("c.json", { ema: 0.99 })), /option "ema" \(--ema\) was removed/);
  assert.throws(() => loadRecipe(bad("d.json", "{ lr: ")), /recipe .*d\.json: not valid JSON/);
  assert.throws(() => loadRecipe(bad("e.json", [1, 2])), /must be a JSON object/);
  assert.throws(() => loadRecipe(bad("f.json", { recipe: "paper" })), /cannot name another recipe/);
  assert.throws(() => loadRecipe(join(dir, "missing.json")), /missing\.json: no such file/);
  // through the command line: refused before anything is written
  const out = join(dir, "never");
  const r = llp("train", "--recipe", join(dir, "b.json"), "--out", out);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /epochs \(--epochs\) must be an integer/);
  assert.ok(!existsSync(out), "nothing written");
});

test("llp train --recipe FILE: the run folder records the recipe and the settings it resolved to", () => {
  const n = 90;
  const x = Float32Array.from({ length: n * 4 }, (_, i) => 2 * ((Math.floor(i / 4) % 3) - 1) + (((i * 7) % 13) - 6) / 8);
  const files = writeFeatureNpy(
    dir,
    x,
    4,
    Int32Array.from({ length: n }, (_, i) => (i < 30 ? i % 3 : -1)),
  );
  const recipe = join(dir, "tiny.json");
  writeFileSync(recipe, JSON.stringify({ description: "a tiny run", irEpochs: 1, epochs: 1, batchSize: 16, width: 8 }));
  const out = join(dir, "run");
  const r = llp(
    "train",
    "--recipe",
    recipe,
    "--data",
    files.data,
    "--labels",
    files.labels,
    "--validation",
    "6",
    "--epochs",
    "2",
    "--threads",
    "1",
    "--out",
    out,
  );
  assert.equal(r.status, 0, r.stderr);
  const saved = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  assert.deepEqual(
    [saved.recipe, saved.irEpochs, saved.epochs, saved.batchSize, saved.width, saved.labelledPerBatch],
    [recipe, 1, 2, 16, 8, 4],
  );
});

test("an option given as undefined is not given: the recipe's value stands", () => {
  const c = resolveConfig({ recipe: "paper", epochs: undefined, labelledPerBatch: undefined });
  assert.deepEqual([c.epochs, c.labelledPerBatch], [300, 0]);
});

test("an unknown method, or fixmatch on feature vectors: an error naming it, nothing written", () => {
  const out = join(dir, "never-method");
  const r = llp("train", "--method", "fixmatc", "--out", out);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /method \(--method\) must be one of .*fixmatch.* \(got "fixmatc"\)/);
  assert.ok(!existsSync(out), "nothing written");
  const x = Float32Array.from({ length: 60 * 4 }, (_, i) => (Math.floor(i / 4) % 3) + ((i * 7) % 5) / 10);
  mkdirSync(join(dir, "fm"));
  const files = writeFeatureNpy(
    join(dir, "fm"),
    x,
    4,
    Int32Array.from({ length: 60 }, (_, i) => (i < 15 ? i % 3 : -1)),
  );
  const f = llp("train", "--method", "fixmatch", "--data", files.data, "--labels", files.labels, "--batch-size", "8", "--out", out);
  assert.equal(f.status, 1);
  assert.match(f.stderr, /method fixmatch needs images \[C,H,W\].*feature vectors/);
  assert.ok(!existsSync(out), "nothing written");
  // and fixmatch with no strong view
  const w = llp("train", "--method", "fixmatch", "--train-view", "weak", "--out", out);
  assert.equal(w.status, 1);
  assert.match(w.stderr, /trainView \(--train-view\) is fixmatch's strong view/);
  assert.ok(!existsSync(out), "nothing written");
});
