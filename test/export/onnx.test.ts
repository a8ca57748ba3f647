// `llp export` and llp/infer. The oracle is the trained network itself: for every backbone llp
// ships, and for a method that evaluates with a weight average, onnxruntime-node's logits,
// probabilities and embeddings on real inputs equal libtorch's (the network `llp predict`
// uses) to 1e-4. The ONNX forms of the layers with arithmetic of their own (adaptive pooling
// with overlapping bins, L2 normalisation) are checked op by op against libtorch.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { resolveConfig } from "../../src/config.js";
import { loadModel } from "../../src/infer/index.js";
import { modelInfo, readOnnxMetadata } from "../../src/infer/metadata.js";
import { writeNpy } from "../../src/report/npy.js";
import * as F from "../../src/torch/functional.js";
import { encodeModel, OnnxGraph, ops } from "../../src/torch/onnx.js";
import { tidy } from "../../src/torch/scope.js";
import { tensor } from "../../src/torch/tensor.js";
import { inferenceNet } from "../../src/train/checkpoint.js";
import { openRun, runInputs, runTraining } from "../../src/train/run.js";
import { tempDir, writeFeatureNpy, writeTinyImages } from "../data/helpers.js";

const dir = tempDir("llp-export-");
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1) as string);
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

const images = writeTinyImages(join(dir, "images"), 300);
const n = 120;
const f = 5;
const features = writeFeatureNpy(
  dir,
  Float32Array.from({ length: n * f }, (_, i) => 3 * ((Math.floor(i / f) % 3) - 1) + (((i * 7) % 13) - 6) / 4 + 10),
  f,
  Int32Array.from({ length: n }, (_, i) => (i < 30 ? i % 3 : -1)),
);
// inputs the networks have not seen, drawn like the training images: uint8 [B, 1, 8, 8]
const B = 9;
const pixels = Uint8Array.from({ length: B * 64 }, (_, i) => {
  const [k, r] = [Math.floor(i / 64) % 3, Math.floor((i % 64) / 8)];
  return (Math.floor(r / 3) === k ? 180 : 40) + ((i * 29 + Math.floor(i / 64) * 71) % 50);
});
const rows = Float32Array.from({ length: B * f }, (_, i) => ((i * 37) % 23) / 2);

const runs = {
  "small-cnn": { model: "small-cnn", data: images, labelsPerClass: 20, poolGrid: 7 }, // 8x8 -> 2x2 pooled to 7x7: overlapping bins
  resnet18: { model: "resnet18", data: images, labelsPerClass: 20 },
  resnet50: { model: "resnet50", data: images, labelsPerClass: 20 },
  mlp: { model: "mlp", data: features.data, labels: features.labels },
  "mean-teacher (weight average)": { method: "mean-teacher", model: "small-cnn", data: images, labelsPerClass: 20, poolGrid: 3 },
  "small-cnn on RGB images": { model: "small-cnn", data: join(dir, "rgb"), labelsPerClass: 10, poolGrid: 2 },
  // uint8 features are scaled by 1/255 before normalisation, as pixels are: the export must fold that in too
  "mlp on uint8 .npy features": { model: "mlp", data: join(dir, "u8.npy"), labels: join(dir, "u8-labels.npy") },
} as const;
const runDir = (name: string) => join(dir, name.replace(/\W+/g, "-"));

/** An image folder of 8x8 RGB PNGs, 3 classes (one colour channel brighter each), 40 images a class. */
async function writeRgbFolder(root: string): Promise<void> {
  for (let k = 0; k < 3; k++) {
    mkdirSync(join(root, `c${k}`), { recursive: true });
    for (let i = 0; i < 40; i++) {
      const px = Uint8Array.from({ length: 64 * 3 }, (_, j) => (j % 3 === k ? 150 : 50) + ((j * 31 + i * 17) % 60));
      await sharp(Buffer.from(px), { raw: { width: 8, height: 8, channels: 3 } })
        .png()
        .toFile(join(root, `c${k}`, `${i}.png`));
    }
  }
}
const rgbPixels = Uint8Array.from(
  { length: B * 3 * 64 },
  (_, i) => ((Math.floor(i / 64) % 3 === Math.floor(i / 192) % 3 ? 170 : 60) + i * 7) % 256,
);

const u8rows = Uint8Array.from({ length: B * f }, (_, i) => (i * 53 + 11) % 256);

before(async () => {
  await writeRgbFolder(join(dir, "rgb"));
  writeNpy(
    join(dir, "u8.npy"),
    Uint8Array.from({ length: n * f }, (_, i) => (60 * (Math.floor(i / f) % 3) + ((i * 7) % 50) + 40) % 256),
    [n, f],
  );
  writeNpy(
    join(dir, "u8-labels.npy"),
    Int32Array.from({ length: n }, (_, i) => (i < 30 ? i % 3 : -1)),
    [n],
  );
  for (const [name, o] of Object.entries(runs)) {
    const cfg = resolveConfig({ ...o, width: 4, validation: 6, batchSize: 16, irEpochs: 1, epochs: 1, threads: 1, seed: 5 });
    await runTraining(cfg, runDir(name), { resume: false });
  }
});

/** libtorch's answer (the network llp predict uses) and onnxruntime's, on the same raw inputs. */
async function bothAnswers(run: string, onnx: string, raw: Uint8Array | Float32Array) {
  const r = await openRun(run, 1);
  const ref = tidy(() => {
    const h = inferenceNet(r.state).heads(runInputs(r, raw, B));
    return {
      logits: h.logits.toArray() as Float32Array,
      probs: F.softmax(h.logits, 1).toArray() as Float32Array,
      embedding: h.v.toArray() as Float32Array,
    };
  });
  const isAverage = inferenceNet(r.state) !== r.state.net;
  r.dispose();
  const model = await loadModel(onnx, { threads: 1 });
  const got = await model.run(raw, B);
  await model.release();
  return { ref, got, isAverage, info: model.info };
}

for (const name of Object.keys(runs))
  test(`${name}: the exported model's logits, probabilities and embeddings equal libtorch's to 1e-4`, async () => {
    const out = `${runDir(name)}.onnx`;
    const r = llp("export", runDir(name), "--out", out);
    assert.equal(r.status, 0, r.stderr);
    const said = lastJson(r.stdout);
    assert.equal(said.head, "both");
    assert.equal(said.bytes, readFileSync(out).length);
    const raw = name === "mlp" ? rows : name.includes("uint8") ? u8rows : name.includes("RGB") ? rgbPixels : pixels;
    const { ref, got, isAverage, info } = await bothAnswers(runDir(name), out, raw);
    for (const k of ["logits", "probs", "embedding"] as const) {
      const d = maxAbs(got[k] as Float32Array, ref[k]);
      assert.ok(d < 1e-4, `${name}: ${k} differ by ${d}`);
    }
    // the ONNX graph normalises v itself
    const e = got.embedding as Float32Array;
    for (let b = 0; b < B; b++) assert.ok(Math.abs(Math.hypot(...e.subarray(b * 128, (b + 1) * 128)) - 1) < 1e-5);
    assert.equal(info.weights, isAverage ? "the weight average the method evaluates with" : "the trained network");
    assert.equal(isAverage, name.startsWith("mean-teacher"));
    assert.deepEqual(info.classNames, name.includes("RGB") ? ["c0", "c1", "c2"] : ["0", "1", "2"]);
    assert.deepEqual(
      info.input,
      name === "mlp"
        ? { kind: "features", shape: [f], stored: "float32" }
        : name.includes("uint8")
          ? { kind: "features", shape: [f], stored: "uint8" }
          : name.includes("RGB")
            ? { kind: "image", shape: [3, 8, 8], color: "rgb", stored: "uint8" }
            : { kind: "image", shape: [1, 8, 8], color: "gray", stored: "uint8" },
    );
  });

test("the batch dimension is dynamic: one row and a batch give the same rows", async () => {
  const out = join(dir, "dyn.onnx");
  assert.equal(llp("export", runDir("small-cnn"), "--out", out).status, 0);
  const model = await loadModel(out, { batchSize: 4 }); // 9 rows in calls of 4, 4, 1
  const all = await model.run(pixels, B);
  const one = await model.run(pixels.subarray(64 * 5, 64 * 6), 1);
  assert.ok(maxAbs(one.logits as Float32Array, (all.logits as Float32Array).subarray(5 * 3, 6 * 3)) < 1e-5);
  await model.release();
});

test("llp/infer classifies image files and .npy rows as llp predict does", async () => {
  const out = join(dir, "predict.onnx");
  assert.equal(llp("export", runDir("small-cnn"), "--out", out).status, 0);
  const npy = join(dir, "rows.npy");
  writeNpy(npy, pixels, [B, 1, 8, 8]);
  const pngs = await Promise.all(
    [0, 1, 2].map(async (b) => {
      const p = join(dir, `img${b}.png`);
      await sharp(Buffer.from(pixels.subarray(b * 64, (b + 1) * 64)), { raw: { width: 8, height: 8, channels: 1 } })
        .png()
        .toFile(p);
      return p;
    }),
  );
  const model = await loadModel(out);
  for (const inputs of [[npy], pngs]) {
    const want = JSON.parse(llp("predict", runDir("small-cnn"), ...inputs).stdout) as {
      input: string;
      class: string;
      confidence: number;
    }[];
    const got = await model.classify(inputs);
    assert.deepEqual(
      got.map((g) => [g.input, g.class]),
      want.map((w) => [w.input, w.class]),
    );
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs((got[i]?.confidence as number) - (want[i]?.confidence as number)) < 1e-4);
  }
  const emb = await model.embed(pngs);
  assert.equal(emb.dim, 128);
  assert.equal(emb.data.length, 3 * 128);
  await model.release();
});

test("--head classifier and --head embedding export only what they name", async () => {
  const cls = join(dir, "cls.onnx");
  const emb = join(dir, "emb.onnx");
  assert.equal(llp("export", runDir("small-cnn"), "--out", cls, "--head", "classifier").status, 0);
  assert.equal(llp("export", runDir("small-cnn"), "--out", emb, "--head", "embedding").status, 0);
  const c = await ort.InferenceSession.create(cls);
  const e = await ort.InferenceSession.create(emb);
  assert.deepEqual([...c.outputNames], ["logits", "probs"]);
  assert.deepEqual([...e.outputNames], ["embedding"]);
  const mc = await loadModel(cls);
  await assert.rejects(mc.embed([join(dir, "img0.png")]), /--head classifier: it has no embedding head/);
  const me = await loadModel(emb);
  await assert.rejects(me.classify([join(dir, "img0.png")]), /--head embedding: it has no classifier/);
  // each graph carries only its own head's weights (initializer names are strings in the file)
  const has = (file: string, name: string) => readFileSync(file).includes(Buffer.from(name));
  assert.ok(has(cls, "classifier.weight") && !has(cls, "embed.weight"));
  assert.ok(has(emb, "embed.weight") && !has(emb, "classifier.weight"));
  await Promise.all([c.release(), e.release(), mc.release(), me.release()]);
});

test("bad input: an unfinished run, a folder that is not a run, an unknown head, an existing output: a clear error, nothing written", () => {
  const out = join(dir, "bad.onnx");
  const cases: [string[], RegExp][] = [
    [[dir, "--out", out], /is not a run folder \(no config\.json\)/],
    [[runDir("small-cnn"), "--out", out, "--head", "logits"], /--head must be one of both, classifier, embedding, got "logits"/],
    [[runDir("small-cnn")], /usage: llp export RUN_DIR --out FILE\.onnx/],
    [[runDir("small-cnn"), "--out", out, "--epochs", "3"], /uses the run's saved config; it takes no --epochs/],
  ];
  for (const [args, why] of cases) {
    const r = llp("export", ...args);
    assert.equal(r.status, 1, args.join(" "));
    assert.match(r.stderr, why);
    assert.ok(!existsSync(out), `${args.join(" ")} wrote nothing`);
  }
  // an unfinished run: its summary is missing
  const unfinished = join(dir, "unfinished");
  spawnSync("cp", ["-r", runDir("small-cnn"), unfinished]);
  rmSync(join(unfinished, "summary.json"));
  const r = llp("export", unfinished, "--out", out);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is not a finished run \(no summary\.json\): `llp train --resume/);
  assert.ok(!existsSync(out));
  // an existing output is kept unless --force
  writeFileSync(out, "keep me");
  const kept = llp("export", runDir("small-cnn"), "--out", out);
  assert.equal(kept.status, 1);
  assert.match(kept.stderr, /bad\.onnx exists: give --force to replace it/);
  assert.equal(readFileSync(out, "utf8"), "keep me");
  assert.equal(llp("export", runDir("small-cnn"), "--out", out, "--force").status, 0);
  assert.equal(modelInfo(new Uint8Array(readFileSync(out)), out).model, "small-cnn");
});

test("modelInfo refuses files that are not llp exports, naming them", () => {
  assert.throws(() => modelInfo(new Uint8Array([0xff, 0xff, 0xff]), "junk.onnx"), /junk\.onnx: not an ONNX file/);
  const g = new OnnxGraph();
  g.op("Relu", ["input"], {}, "y");
  const plain = encodeModel({
    graph: g,
    graphName: "g",
    inputs: [{ name: "input", shape: [1] }],
    outputs: [{ name: "y", shape: [1] }],
    producerVersion: "0",
    metadata: { a: "b" },
  });
  assert.deepEqual(readOnnxMetadata(plain), { a: "b" });
  assert.throws(() => modelInfo(plain, "other.onnx"), /other\.onnx: not a model exported by llp export/);
});

/** One op's ONNX form run by onnxruntime on x [B, C, H, W] or [B, F]. */
async function runOp(shape: number[], x: Float32Array, build: (g: OnnxGraph) => { name: string; shape: number[] }) {
  const g = new OnnxGraph();
  const y = build(g);
  g.op("Identity", [y.name], {}, "y");
  const bytes = encodeModel({
    graph: g,
    graphName: "op",
    inputs: [{ name: "input", shape }],
    outputs: [{ name: "y", shape: y.shape }],
    producerVersion: "test",
    metadata: {},
  });
  const s = await ort.InferenceSession.create(bytes);
  const out = (await s.run({ input: new ort.Tensor("float32", x, shape) })).y as ort.Tensor;
  await s.release();
  return { data: out.data as Float32Array, dims: [...out.dims] };
}

test("adaptive average pooling's ONNX form equals libtorch's, overlapping and uneven bins included", async () => {
  for (const [h, w, size] of [
    [8, 8, 7],
    [2, 2, 7],
    [5, 7, 3],
    [6, 6, 3],
    [7, 7, 7],
    [4, 6, 1],
  ] as const) {
    const shape = [2, 3, h, w];
    const x = Float32Array.from({ length: 2 * 3 * h * w }, (_, i) => Math.sin(i * 1.3) * 4);
    const want = tidy(() => F.adaptiveAvgPool2d(tensor(x, shape), size).toArray() as Float32Array);
    const got = await runOp(shape, x, (g) => ops.adaptiveAvgPool2d(g, { name: "input", shape: [-1, 3, h, w] }, size));
    assert.deepEqual(got.dims, [2, 3, size, size]);
    assert.ok(maxAbs(got.data, want) < 1e-5, `${h}x${w} -> ${size}`);
  }
});

test("normalize's ONNX form equals F.normalize, zero rows included", async () => {
  const x = Float32Array.from({ length: 4 * 6 }, (_, i) => (i < 6 ? 0 : Math.cos(i) * (i % 5)));
  const want = tidy(() => F.normalize(tensor(x, [4, 6]), 1).toArray() as Float32Array);
  const got = await runOp([4, 6], x, (g) => ops.normalize(g, { name: "input", shape: [-1, 6] }));
  assert.ok(maxAbs(got.data, want) < 1e-6);
});

test("the standalone llp-infer package classifies without loading libtorch", () => {
  const out = join(dir, "standalone.onnx");
  assert.equal(llp("export", runDir("small-cnn"), "--out", out).status, 0);
  const entry = join(process.cwd(), "packages", "llp-infer", "dist", "infer", "index.js");
  assert.ok(existsSync(entry), "npm test builds packages/llp-infer (tsconfig.infer.json)");
  const script = join(dir, "standalone.mjs");
  writeFileSync(
    script,
    `import { readFileSync } from "node:fs";
     const { loadModel } = await import(${JSON.stringify(entry)});
     const model = await loadModel(${JSON.stringify(out)});
     const rows = await model.classify([${JSON.stringify(join(dir, "img0.png"))}]);
     const maps = readFileSync("/proc/self/maps", "utf8");
     console.log(JSON.stringify({ class: rows[0].class, torch: /libtorch|libc10|llp_native/.test(maps), ort: /libonnxruntime/.test(maps) }));`,
  );
  const r = spawnSync(process.execPath, [script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const said = lastJson(r.stdout);
  assert.equal(said.ort, true);
  assert.equal(said.torch, false, "no libtorch library is mapped into the process");
  const want = JSON.parse(llp("predict", runDir("small-cnn"), join(dir, "img0.png")).stdout)[0].class;
  assert.equal(said.class, want);
  // the package holds llp's inference sources only: no tensor engine
  const files = spawnSync("find", [join(process.cwd(), "packages", "llp-infer", "dist"), "-name", "*.js"], { encoding: "utf8" }).stdout;
  assert.doesNotMatch(files, /torch|train|model\//);
});
