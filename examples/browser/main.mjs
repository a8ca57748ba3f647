// The page's logic: load the exported model (its metadata says the input's shape, colour and
// class names), turn a dropped image into the model's input (pixel values 0-255, scaled to
// cover H x W and centre-cropped, as `llp predict` does with sharp), show the top-5 classes.

import { modelInfo } from "./lib/metadata.js";
import * as ort from "./ort/ort.wasm.min.mjs";

const params = new URLSearchParams(location.search);
const modelUrl = params.get("model") ?? "model.onnx";
const status = document.getElementById("status");
const say = (text, error = false) => {
  status.textContent = text;
  status.className = error ? "error" : "";
};

// one thread: threads need a cross-origin-isolated page, which a plain static server does not give
ort.env.wasm.numThreads = 1;

async function load() {
  const res = await fetch(modelUrl);
  if (!res.ok) throw new Error(`${modelUrl}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const info = modelInfo(bytes, modelUrl);
  if (info.input.kind !== "image") throw new Error(`${modelUrl} takes feature vectors, not images`);
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  return { info, session };
}

/** Raw examples [n, C, H, W] (pixel values 0-255) -> the model's outputs, row after row. */
async function run({ info, session }, pixels, n) {
  // the graph takes values as the training data stored them: 0-255, or floats in [0, 1] for image data stored as floats
  const scale = (info.input.stored ?? "uint8") === "uint8" ? 1 : 1 / 255;
  const x = new ort.Tensor(
    "float32",
    Float32Array.from(pixels, (v) => v * scale),
    [n, ...info.input.shape],
  );
  const out = await session.run({ input: x });
  const rows = {};
  for (const [k, t] of Object.entries(out)) rows[k] = Array.from(t.data);
  return rows;
}

// sRGB <-> linear light, for a gray value that weighs the channels as sharp's greyscale does
const toLinear = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const toSrgb = (c) => (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055);

/** An image -> [C, H, W] pixel values 0-255: scaled to cover H x W, centre-cropped. */
async function toPixels(file, [c, h, w], canvas) {
  const img = await createImageBitmap(file);
  const scale = Math.max(w / img.width, h / img.height);
  const [sw, sh] = [w / scale, h / scale];
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingQuality = "high";
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(img, (img.width - sw) / 2, (img.height - sh) / 2, sw, sh, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const out = new Float32Array(c * h * w);
  for (let p = 0; p < h * w; p++) {
    const [r, g, b] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2]];
    if (c === 1) {
      const y = r === g && g === b ? r : 255 * toSrgb(0.2126 * toLinear(r / 255) + 0.7152 * toLinear(g / 255) + 0.0722 * toLinear(b / 255));
      out[p] = Math.round(y);
    } else {
      out[p] = r;
      out[h * w + p] = g;
      out[2 * h * w + p] = b;
    }
  }
  return out;
}

function show(info, probs) {
  const order = probs
    .map((p, j) => [p, j])
    .sort((a, z) => z[0] - a[0] || a[1] - z[1])
    .slice(0, 5);
  const table = document.getElementById("top5");
  table.replaceChildren(
    ...order.map(([p, j], i) => {
      const tr = document.createElement("tr");
      if (i === 0) tr.className = "top";
      tr.dataset.class = info.classNames[j];
      const name = document.createElement("td");
      name.textContent = info.classNames[j];
      const bar = document.createElement("td");
      const fill = document.createElement("div");
      fill.className = "bar";
      fill.style.width = `${Math.max(1, Math.round(p * 160))}px`;
      bar.append(fill);
      const pct = document.createElement("td");
      pct.className = "p";
      pct.textContent = `${(100 * p).toFixed(1)}%`;
      tr.append(name, bar, pct);
      return tr;
    }),
  );
  document.getElementById("result").hidden = false;
}

const model = load();
model.then(
  ({ info }) => {
    say(
      `${modelUrl}: ${info.model} trained by ${info.method}, input ${info.input.shape.join("×")} ${info.input.color}, ${info.classNames.length} classes`,
    );
    document.body.dataset.ready = "true";
  },
  (e) => say(`cannot load the model: ${e.message}`, true),
);

async function classify(file) {
  try {
    const m = await model;
    const canvas = document.getElementById("preview");
    const pixels = await toPixels(file, m.info.input.shape, canvas);
    const { probs } = await run(m, pixels, 1);
    show(m.info, probs);
    say(`${file.name}: ${m.info.classNames[probs.indexOf(Math.max(...probs))]}`);
    document.body.dataset.classified = file.name;
  } catch (e) {
    say(`cannot classify ${file.name}: ${e.message}`, true);
  }
}

const drop = document.getElementById("drop");
const input = document.getElementById("file");
input.addEventListener("change", () => input.files[0] && classify(input.files[0]));
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files[0]) classify(e.dataTransfer.files[0]);
});

// for scripts and tests: the model's raw outputs for examples of its input shape
window.llp = { model, run: async (pixels, n) => run(await model, pixels, n) };
