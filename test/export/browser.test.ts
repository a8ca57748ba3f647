// The example page (examples/browser) in headless Chromium (Debian's, driven by playwright-core,
// no network): it loads an exported model with onnxruntime-web (wasm), its raw outputs equal
// libtorch's to 1e-4, a chosen image's shown top-1 equals `llp predict`'s, nothing is logged as
// an error. A screenshot is kept in runs/screenshots/ for people to look at.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import sharp from "sharp";
import { resolveConfig } from "../../src/config.js";
import * as F from "../../src/torch/functional.js";
import { tidy } from "../../src/torch/scope.js";
import { inferenceNet } from "../../src/train/checkpoint.js";
import { openRun, runInputs, runTraining } from "../../src/train/run.js";
import { tempDir, writeTinyImages } from "../data/helpers.js";

const CHROMIUM = "/usr/bin/chromium";
// as root, with no network: no sandbox, and none of Chromium's background connections
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const dir = tempDir("llp-browser-");
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const run = join(dir, "run");
const model = join(dir, "model.onnx");
let browser: Browser;
let server: { url: string; close(): Promise<void> };

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: ./setup.sh installs Debian's chromium`);
  const images = writeTinyImages(join(dir, "images"), 300);
  await runTraining(
    resolveConfig({
      data: images,
      labelsPerClass: 20,
      width: 4,
      poolGrid: 3,
      validation: 6,
      batchSize: 16,
      irEpochs: 1,
      epochs: 1,
      threads: 1,
      seed: 2,
    }),
    run,
    { resume: false },
  );
  assert.equal(llp("export", run, "--out", model).status, 0);
  // examples/browser/serve.mjs is plain JavaScript beside the page, outside the TypeScript build
  const { serve } = (await import(join(process.cwd(), "examples", "browser", "serve.mjs"))) as {
    serve(model: string, port?: number): Promise<{ url: string; close(): Promise<void> }>;
  };
  server = await serve(model);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the example page loads the model, matches libtorch to 1e-4, and shows llp predict's top-1 for a chosen image", async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.url);
  await page.waitForSelector("body[data-ready]", { timeout: 60_000 });
  assert.match((await page.textContent("#status")) ?? "", /small-cnn trained by llp, input 1×8×8 gray, 3 classes/);

  // raw outputs against the network llp predict uses
  const B = 6;
  const pixels = Uint8Array.from(
    { length: B * 64 },
    (_, i) => (Math.floor((i % 64) / 24) === Math.floor(i / 64) % 3 ? 190 : 30) + ((i * 13) % 40),
  );
  const got = (await page.evaluate(
    async ([px, n]) =>
      (globalThis as unknown as { llp: { run(p: number[], n: number): Promise<Record<string, number[]>> } }).llp.run(px, n),
    [Array.from(pixels), B] as const,
  )) as Record<string, number[]>;
  const r = await openRun(run, 1);
  const ref = tidy(() => {
    const h = inferenceNet(r.state).heads(runInputs(r, pixels, B));
    return { logits: h.logits.toArray(), probs: F.softmax(h.logits, 1).toArray(), embedding: h.v.toArray() };
  });
  r.dispose();
  for (const k of ["logits", "probs", "embedding"] as const) {
    const want = ref[k] as Float32Array;
    const g = got[k] as number[];
    assert.equal(g.length, want.length, k);
    const d = Math.max(...g.map((v, i) => Math.abs(v - (want[i] as number))));
    assert.ok(d < 1e-4, `${k}: browser and libtorch differ by ${d}`);
  }

  // an image chosen through the page's file input: the shown top-1 is llp predict's
  for (let b = 0; b < 3; b++) {
    const png = join(dir, `class${b}.png`);
    await sharp(Buffer.from(pixels.subarray(b * 64, (b + 1) * 64)), { raw: { width: 8, height: 8, channels: 1 } })
      .png()
      .toFile(png);
    const want = JSON.parse(llp("predict", run, png).stdout)[0] as { class: string; confidence: number };
    await page.setInputFiles("#file", png);
    await page.waitForSelector(`body[data-classified="class${b}.png"]`);
    assert.equal(await page.getAttribute("#top5 tr.top", "data-class"), want.class);
    const shown = (await page.textContent("#top5 tr.top td.p")) ?? "";
    assert.equal(shown, `${(100 * want.confidence).toFixed(1)}%`);
  }
  // every part of the result has a size
  for (const sel of ["#preview", "#top5", "#drop"]) {
    const box = await page.locator(sel).boundingBox();
    assert.ok(box && box.width > 0 && box.height > 0, `${sel} is drawn`);
  }
  const shots = join(process.cwd(), "runs", "screenshots");
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, "browser-example.png"), fullPage: true });
  assert.deepEqual(errors, [], "no console errors");
  await page.close();
});

test("the example page says so when the model cannot be loaded", async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}?model=missing.onnx`);
  await page.waitForSelector("#status.error");
  assert.match((await page.textContent("#status")) ?? "", /cannot load the model: missing\.onnx: HTTP 404/);
  await page.close();
});
