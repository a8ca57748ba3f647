// `llp report` on small seeded runs (8x8 images with a test set): every section is there, the
// numbers it shows are the run's own (summary.json, the epoch events, the snapshots through the
// aggregation metric), it renders in headless Chromium with no console errors and every chart
// drawn, and bad input is refused with nothing written. `--snapshots` and `llp train --report`
// leave training exactly as it is without them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { readNpy } from "../../src/data/npy.js";
import { aggregationMetric } from "../../src/report/analysis.js";
import { tempDir, writeTinyImages } from "../data/helpers.js";
import { fileTensors } from "../helpers.js";

const dir = tempDir("llp-report-");
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(process.cwd(), "bin", "llp.js");
const llp = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });

// 8x8 images in 3 overlapping classes, with a test set (t10k-*) of the same kind
const images = writeTinyImages(join(dir, "images"), 900, { hard: true });
const heldOut = writeTinyImages(join(dir, "held"), 150, { hard: true });
for (const part of ["images-idx3-ubyte", "labels-idx1-ubyte"]) renameSync(join(heldOut, `train-${part}`), join(images, `t10k-${part}`));
const common = [
  "--data",
  images,
  "--labels-per-class",
  "20",
  "--validation",
  "30",
  "--width",
  "4",
  "--batch-size",
  "32",
  "--ir-epochs",
  "1",
  "--threads",
  "1",
];
const runA = join(dir, "llp-run");
const runB = join(dir, "supervised-run");
const readJson = (p: string) => JSON.parse(readFileSync(p, "utf8"));

before(() => {
  for (const [out, extra] of [
    [runA, ["--epochs", "3", "--snapshots", "240", "--report"]],
    [runB, ["--method", "supervised", "--epochs", "3"]],
  ] as const) {
    const r = llp("train", ...common, ...extra, "--out", out);
    assert.equal(r.status, 0, r.stderr);
  }
});

/** The JSON rows a chart of the page draws. */
const chartData = (html: string, name: string): Record<string, unknown>[] => {
  const m = new RegExp(`<script type="application/json" class="chart-data" data-chart="${name}">(.*?)</script>`, "s").exec(html);
  assert.ok(m, `chart ${name} is in the page`);
  return JSON.parse(m[1] as string);
};

test("llp train --report wrote the finished run's report; its numbers are the run's own", async () => {
  const html = readFileSync(join(runA, "report.html"), "utf8");
  for (const id of [
    "runs",
    "curves",
    "reliability",
    "coverage",
    "confusion-1",
    "per-class-1",
    "aggregation-epochs",
    "aggregation-histogram",
    "mds-1",
    "thumbnails-1",
  ])
    assert.match(html, new RegExp(`<section id="${id}"`), `section ${id}`);
  const summary = readJson(join(runA, "summary.json"));
  assert.match(html, new RegExp(`<td>${summary.test_top1.toFixed(4)} / ${summary.test_top5.toFixed(4)}</td>`));
  assert.match(html, new RegExp(`finished, ${summary.epochs} epochs`));
  // label these next: 24 unlabelled points with their thumbnails
  assert.equal((html.match(/<figure data-row="\d+"><img src="data:image\/png;base64,/g) ?? []).length, 24);
  // the curves are the epoch events
  const epochs = readFileSync(join(runA, "events.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === "epoch");
  const val = chartData(html, "curves").filter((r) => r.metric === "validation top-1 (classifier)");
  assert.deepEqual(
    val.map((r) => [r.epoch, r.value]),
    epochs.map((e) => [e.epoch, e["val/top1"]]),
  );
  // the aggregation metric over epochs is the snapshots' (true labels of the sampled rows)
  const index = (await readNpy(join(runA, "snapshots", "index.npy"))).data as Int32Array;
  assert.equal(index.length, 240);
  const split = readJson(join(runA, "split.json")) as { train: number[] };
  const truth = Int32Array.from(index, (i) => (split.train[i] as number) % 3); // the tiny images' class is example % 3
  const agg = chartData(html, "aggregation-epochs");
  assert.equal(agg.length, epochs.length);
  for (const row of agg) {
    const v = (await readNpy(join(runA, "snapshots", `epoch-${String(row.epoch).padStart(3, "0")}.npy`))).data as Float32Array;
    assert.ok(Math.abs((row.value as number) - aggregationMetric(v, truth, 3).mean) < 1e-12);
  }
  // the confusion matrix is eval's: its diagonal over its total is test top-1
  const conf = chartData(html, "confusion-1") as { truth: string; predicted: string; count: number }[];
  const total = conf.reduce((a, r) => a + r.count, 0);
  assert.equal(total, 150);
  assert.equal(conf.filter((r) => r.truth === r.predicted).reduce((a, r) => a + r.count, 0) / total, summary.test_top1);
  // and every chart is beside the page as SVG and PNG
  for (const name of ["curves", "reliability", "mds-1", "thumbnails-1"]) {
    assert.match(readFileSync(join(runA, "report-charts", `${name}.svg`), "utf8"), /^<svg/);
    assert.deepEqual([...readFileSync(join(runA, "report-charts", `${name}.png`)).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  }
});

test("--snapshots and --report leave training exactly as it is without them", () => {
  const plain = join(dir, "plain");
  const r = llp("train", ...common, "--epochs", "3", "--out", plain);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readJson(join(plain, "summary.json")).test_top1, readJson(join(runA, "summary.json")).test_top1);
  assert.deepEqual(fileTensors(join(plain, "checkpoint.safetensors")), fileTensors(join(runA, "checkpoint.safetensors")));
});

test("two runs side by side, and the page renders in headless Chromium with every chart drawn and no console errors", async () => {
  const out = join(dir, "both", "report.html");
  const r = llp("report", runA, runB, "--out", out);
  assert.equal(r.status, 0, r.stderr);
  const html = readFileSync(out, "utf8");
  for (const id of ["aggregation-two-runs", "confusion-2", "per-class-2", "mds-2"])
    assert.match(html, new RegExp(`<section id="${id}"`), id);
  // the supervised run stores no pseudo-labels: its reliability is the classifier's
  assert.match(html, /the classifier&#39;s predictions|the classifier's predictions/);
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, "nothing is fetched from the network");

  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`file://${out}`);
    const sections = await page.locator("section.chart").count();
    assert.ok(sections >= 12, `${sections} charts`);
    const sizes = await page.$$eval("section.chart svg.marks", (svgs) =>
      svgs.map((s) => s.getBoundingClientRect()).map((b) => [b.width, b.height]),
    );
    assert.equal(sizes.length, sections);
    for (const [w, h] of sizes) assert.ok((w as number) > 50 && (h as number) > 50, `a chart of ${w} x ${h}`);
    // screenshots beside the report, and in runs/screenshots/ for people to look at
    await page.screenshot({ path: join(dir, "both", "report-screenshot.png"), fullPage: true });
    mkdirSync(join(process.cwd(), "runs", "screenshots"), { recursive: true });
    copyFileSync(join(dir, "both", "report-screenshot.png"), join(process.cwd(), "runs", "screenshots", "report.png"));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("bad input: not a run, a run without events, a finished run without its checkpoint: a clear error, nothing written", () => {
  const out = join(dir, "bad", "report.html");
  const noEvents = join(dir, "no-events");
  mkdirSync(noEvents, { recursive: true });
  copyFileSync(join(runB, "config.json"), join(noEvents, "config.json"));
  writeFileSync(join(noEvents, "events.jsonl"), '{"type":"start"}\n');
  const noCheckpoint = join(dir, "no-checkpoint");
  spawnSync("cp", ["-r", runB, noCheckpoint]);
  rmSync(join(noCheckpoint, "checkpoint.safetensors"));
  for (const [args, why] of [
    [[images], /is not a run folder \(no config\.json\)/],
    [[join(dir, "nowhere")], /nowhere: no such folder/],
    [[noEvents], /has no events yet \(events\.jsonl holds no finished epoch\)/],
    [[runA, noCheckpoint], /is finished but has no checkpoint\.safetensors/],
    [[], /usage: llp report RUN_DIR/],
  ] as const) {
    const r = llp("report", ...args, "--out", out);
    assert.equal(r.status, 1, args.join(" "));
    assert.match(r.stderr, why);
    assert.ok(!existsSync(join(dir, "bad")), "nothing written");
  }
});
