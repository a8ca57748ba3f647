// A new user's own data through the command line's defaults: grayscale and mixed-size image
// folders, a flat folder of images, a CSV with its label column, a small feature matrix with
// the default network, batch size and validation size. The oracles are the fixtures (how many
// channels the images have, which column holds the labels) and the refusals' wording: each
// names the flag that fixes it, and nothing is written before a refusal.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { resolveConfig } from "../../src/config.js";
import { loadDataset } from "../../src/data/load.js";
import { resolveModel } from "../../src/model/net.js";
import { writeNpy } from "../../src/report/npy.js";
import { prepareData } from "../../src/train/data.js";
import { tempDir } from "../data/helpers.js";

const root = tempDir("llp-userdata-");
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });

/** perClass images per class folder, `channels` 1 (gray) or 3, of side `side` (or the sides listed in turn). */
async function folder(dir: string, classes: string[], perClass: number, channels: 1 | 3, sides: number[]): Promise<void> {
  for (const [c, name] of classes.entries()) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let k = 0; k < perClass; k++) {
      const side = sides[k % sides.length] as number;
      const raw = Buffer.alloc(side * side * channels, 30 + 70 * c + 3 * k);
      await sharp(raw, { raw: { width: side, height: side, channels } })
        .toColourspace(channels === 1 ? "b-w" : "srgb") // a one-channel PNG, as scanners and MNIST exports write
        .png()
        .toFile(join(dir, name, `${k}.png`));
    }
  }
}

const fixtures = (async () => {
  await folder(join(root, "gray"), ["a", "b"], 6, 1, [8]);
  await folder(join(root, "mixed"), ["a", "b"], 6, 3, [8, 10, 12]);
  mkdirSync(join(root, "flat"));
  for (let k = 0; k < 3; k++)
    await sharp(Buffer.alloc(8 * 8, 50 * k), { raw: { width: 8, height: 8, channels: 1 } })
      .toColourspace("b-w")
      .png()
      .toFile(join(root, "flat", `${k}.png`));
})();

const cfgFor = (extra: Record<string, unknown>) => resolveConfig({ validation: 2, batchSize: 4, threads: 1, ...extra });

test("a grayscale folder is read as one channel unless --color rgb; --color is refused for other data", async () => {
  await fixtures;
  const gray = await prepareData(cfgFor({ data: join(root, "gray") }), null);
  assert.deepEqual(gray.data.inputShape, [1, 8, 8]);
  assert.equal(gray.normalization.mean.length, 1);
  const rgb = await prepareData(cfgFor({ data: join(root, "gray"), color: "rgb" }), null);
  assert.deepEqual(rgb.data.inputShape, [3, 8, 8]);
  writeNpy(join(root, "f.npy"), new Float32Array(40), [10, 4]);
  await assert.rejects(
    prepareData(cfgFor({ data: join(root, "f.npy"), color: "gray" }), null),
    /color \(--color\) applies to image folders/,
  );
});

test("mixed image sizes name --image-size; N and HxW give that size", async () => {
  await fixtures;
  await assert.rejects(prepareData(cfgFor({ data: join(root, "mixed") }), null), /mixed image sizes .*--image-size/);
  const square = await prepareData(cfgFor({ data: join(root, "mixed"), imageSize: 6 }), null);
  assert.deepEqual(square.data.inputShape, [3, 6, 6]);
  const hw = await prepareData(cfgFor({ data: join(root, "mixed"), imageSize: "8x6" }), null);
  assert.deepEqual(hw.data.inputShape, [3, 8, 6]);
  assert.throws(() => cfgFor({ imageSize: "8 by 6" }), /imageSize \(--image-size\) must be a side N or HxW/);
  await assert.rejects(
    prepareData(cfgFor({ data: join(root, "f.npy"), imageSize: 6 }), null),
    /imageSize \(--image-size\) applies to image folders/,
  );
});

test("a flat folder of images loads unlabelled, in path order", async () => {
  await fixtures;
  const ds = await loadDataset(join(root, "flat"), { color: "auto" });
  assert.deepEqual([ds.n, ds.shape, Array.from(ds.labels)], [3, [1, 8, 8], [-1, -1, -1]]);
});

test("--label-column reads a CSV's labels from that column, by name or index", async () => {
  const rows = Array.from({ length: 12 }, (_, i) => `${i % 3},${i * 0.5},${-i}`);
  writeFileSync(join(root, "t.csv"), `label,x1,x2\n${rows.join("\n")}\n`);
  for (const col of ["label", 0]) {
    const { data } = await prepareData(cfgFor({ data: join(root, "t.csv"), labelColumn: col }), null);
    assert.deepEqual(data.inputShape, [2], "the label column is not a feature");
    assert.equal(data.numClasses, 3);
  }
  await assert.rejects(
    prepareData(cfgFor({ data: join(root, "f.npy"), labelColumn: 0 }), null),
    /labelColumn \(--label-column\) applies to CSV/,
  );
  await assert.rejects(
    prepareData(cfgFor({ data: "fashion-mnist", labels: join(root, "y.npy") }), null),
    /fashion-mnist carries its own labels/,
  );
});

test("defaults fit a small feature matrix: the network is an MLP, validation 10% of the labelled rows", async () => {
  const n = 150;
  const x = Float32Array.from({ length: n * 4 }, (_, i) => Math.sin(i * 0.37) + (Math.floor(i / 4) % 3));
  const y = Int32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? i % 3 : -1)); // 30 labelled
  writeNpy(join(root, "x.npy"), x, [n, 4]);
  writeNpy(join(root, "y.npy"), y, [n]);
  assert.equal(resolveModel("auto", [4]), "mlp");
  assert.equal(resolveModel("auto", [1, 28, 28]), "small-cnn");
  const run = join(root, "run");
  // the default batch of 128 fits the 147 training rows
  const ok = llp(
    ...["train", "--data", join(root, "x.npy"), "--labels", join(root, "y.npy")],
    ...["--ir-epochs", "1", "--epochs", "1", "--threads", "1", "--out", run],
  );
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(readFileSync(join(run, "config.json"), "utf8")).model, "mlp");
  assert.equal(JSON.parse(readFileSync(join(run, "split.json"), "utf8")).validation.length, 3);

  const cnn = llp(
    "train",
    "--data",
    join(root, "x.npy"),
    "--labels",
    join(root, "y.npy"),
    "--model",
    "small-cnn",
    "--out",
    join(root, "no"),
  );
  assert.notEqual(cnn.status, 0);
  assert.match(cnn.stderr, /model \(--model\) = small-cnn needs image inputs .* set model \(--model\) = mlp, or leave it at auto/);
  assert.ok(!existsSync(join(root, "no")), "nothing is written before the refusal");
  const big = llp(
    "train",
    "--data",
    join(root, "x.npy"),
    "--labels",
    join(root, "y.npy"),
    "--batch-size",
    "256",
    "--out",
    join(root, "no"),
  );
  assert.notEqual(big.status, 0);
  assert.match(big.stderr, /147 training examples fill no batch of 256: give a smaller batchSize \(--batch-size\)/);
  assert.ok(!existsSync(join(root, "no")));
});

test("eval, predict and embed refuse options they would ignore", () => {
  const missing = join(root, "no-such-run");
  for (const [args, why] of [
    [["eval", missing, "--on", "foo"], /--on must be one of test, validation, got "foo"/],
    [["predict", missing, "x.png", "--format", "tsv"], /--format must be one of json, csv, got "tsv"/],
    [["eval", missing, "--epochs", "3"], /llp eval uses the run's saved config; it takes no --epochs/],
    [["embed", missing, "--out", "e.npy", "--labelled", "1%"], /takes no --labelled/],
  ] as const) {
    const r = llp(...args);
    assert.notEqual(r.status, 0, args.join(" "));
    assert.match(r.stderr, why);
  }
});

test("predict refuses float rows of 0-255 pixels for a run that saw [0, 1] pixels", async () => {
  const { decodeInputs } = await import("../../src/cli/inputs.js");
  const shape = [1, 4, 4];
  const norm = { mean: [0.29], std: [0.35] }; // Fashion-MNIST-like statistics of [0, 1] pixels
  writeNpy(
    join(root, "px255.npy"),
    Float32Array.from({ length: 32 }, (_, i) => (i * 8) % 256),
    [2, 1, 4, 4],
  );
  await assert.rejects(decodeInputs([join(root, "px255.npy")], shape, norm), /float pixels reach 248.*divide by 255/);
  writeNpy(
    join(root, "px1.npy"),
    Float32Array.from({ length: 32 }, (_, i) => ((i * 8) % 256) / 255),
    [2, 1, 4, 4],
  );
  const ok = await decodeInputs([join(root, "px1.npy")], shape, norm);
  assert.deepEqual(ok.x.shape, [2, 1, 4, 4]);
  ok.x.dispose();
});

test("predict takes a folder as the images in it, in path order", async () => {
  await fixtures;
  const { decodeInputs } = await import("../../src/cli/inputs.js");
  const norm = { mean: [0.3], std: [0.3] };
  const { x, names } = await decodeInputs([join(root, "flat"), join(root, "gray", "a", "0.png")], [1, 8, 8], norm);
  assert.deepEqual(names, [...["0.png", "1.png", "2.png"].map((f) => join(root, "flat", f)), join(root, "gray", "a", "0.png")]);
  assert.deepEqual(x.shape, [4, 1, 8, 8]);
  x.dispose();
  await assert.rejects(decodeInputs([join(root, "nothing-here")], [1, 8, 8], norm), /no such file or folder/);
});

test("llp train with no flags on an image folder with 5 labels a class: a fixed LR schedule, said at the start; --schedule plateau on its 2-point validation set falls back to it with a notice", async () => {
  await fixtures;
  // 3 classes of 5 labelled 12x12 gray images each, and 150 unlabelled ones (unlabeled/)
  const dir = join(root, "few");
  const gen = (c: number, k: number) =>
    Buffer.from(Array.from({ length: 144 }, (_, p) => ((p % 12 < 4 * (c + 1) ? 200 : 40) + 7 * k) % 256));
  for (const [c, name] of ["a", "b", "c"].entries()) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let k = 0; k < 5; k++)
      await sharp(gen(c, k), { raw: { width: 12, height: 12, channels: 1 } })
        .toColourspace("b-w")
        .png()
        .toFile(join(dir, name, `${k}.png`));
  }
  mkdirSync(join(dir, "unlabeled"), { recursive: true });
  for (let k = 0; k < 150; k++)
    await sharp(gen(k % 3, k + 5), { raw: { width: 12, height: 12, channels: 1 } })
      .toColourspace("b-w")
      .png()
      .toFile(join(dir, "unlabeled", `${k}.png`));
  const events = (out: string) =>
    readFileSync(join(out, "events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
  const out = join(root, "few-run");
  const r = llp("train", "--data", dir, "--epochs", "5", "--threads", "1", "--out", out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /LR x0\.1 at epochs 4 of 5/, "the schedule is said at the start");
  const ev = events(out);
  assert.equal(ev[0].schedule, "LR x0.1 at epochs 4 of 5");
  assert.equal(ev.filter((e) => e.type === "lrDrop").length, 0, "no LR drop on validation noise");
  const lrs = ev.filter((e) => e.type === "epoch").map((e) => e["monitor/lr"]);
  assert.deepEqual(
    lrs.map((x: number) => Math.round(x * 1e6) / 1e6),
    [0.03, 0.03, 0.03, 0.03, 0.03, 0.003],
    "1 IR epoch, then 5 epochs, the last after the drop",
  );
  const saved = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  assert.deepEqual(
    [saved.schedule, saved.milestones, saved.propagation, saved.trainView],
    ["fixed", [4], "llp+classifier", "cutout"],
    "what auto stood for is saved",
  );
  const plateau = join(root, "few-plateau");
  const p = llp("train", "--data", dir, "--epochs", "5", "--threads", "1", "--schedule", "plateau", "--out", plateau);
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stderr, /validation holds \d+ points, fewer than 500: the LR drops on a fixed schedule \(epochs 4\)/);
  assert.equal(events(plateau).filter((e) => e.type === "lrDrop").length, 0);
  assert.equal(events(plateau).filter((e) => e.type === "notice").length, 1, "said once, and kept in events.jsonl");
  assert.deepEqual(JSON.parse(readFileSync(join(plateau, "config.json"), "utf8")).milestones, [4], "the schedule used is saved");
});
