// `llp report RUN_DIR [RUN_DIR...]`: one self-contained HTML file (charts inline as SVG,
// thumbnails as data URIs; it opens from disk with no server and no network) and every chart
// also as SVG and PNG beside it. What a person judges a semi-supervised run by: the training
// curves, how reliable the pseudo-labels are, the test confusion matrix, and the paper's Fig. 2
// (the aggregation metric over training and per class, MDS pictures of a few classes over
// epochs, one class's sub-clusters as thumbnails), for one run or several side by side.
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import sharp from "sharp";
import type { Config } from "../config.js";
import type { loadDataset } from "../data/load.js";
import { embedAll, perClass } from "../eval/metrics.js";
import { STEP_STAT_KEYS } from "../methods/method.js";
import * as F from "../torch/functional.js";
import { writeFileAtomic } from "../torch/safetensors.js";
import { dispose, tidy } from "../torch/scope.js";
import { checkpointPath } from "../train/checkpoint.js";
import { loadTrainingDataset } from "../train/data.js";
import { type DataInfo, evaluateRun, type OpenRun, openRun, readRunConfig } from "../train/run.js";
import { readSnapshots, snapshotSample } from "../train/snapshots.js";
import type { Summary } from "../train/types.js";
import { aggregationMetric, classicalMds, coverageAtThresholds, reliability } from "./analysis.js";
import {
  classScatterSpec,
  confusionSpec,
  coverageSpec,
  curvesSpec,
  histogramSpec,
  mdsSpec,
  perClassSpec,
  reliabilitySpec,
  renderSvg,
  type Spec,
  svgToPng,
  thumbnailSpec,
} from "./charts.js";
import { readJson } from "./runfolder.js";
import { type Suggestion, suggest } from "./suggest.js";

/** Curves drawn per epoch: the epoch events' keys, and the steps' loss terms averaged per epoch. */
const EPOCH_METRICS: [string, string][] = [
  ["monitor/lr", "learning rate"],
  ["val/top1", "validation top-1 (classifier)"],
  ["val/knnTop1", "validation top-1 (kNN on the bank)"],
  ["val/nnTop1", "validation top-1 (1-NN on the bank)"],
  ["monitor/pseudoLabelAccuracy", "pseudo-label accuracy (unlabelled)"],
  ["monitor/confidence", "mean confidence (unlabelled)"],
  ["monitor/coverage", "coverage (unlabelled with a label)"],
  ["monitor/largestClassShare", "largest class share of pseudo-labels"],
  ["monitor/mask", "share above the threshold (FixMatch)"],
];
const STEP_LOSSES = STEP_STAT_KEYS.filter((k) => k.startsWith("loss/"));
const THRESHOLDS = [0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];
/** points shown under "label these next" (llp suggest --budget N for more, as CSV) */
const SUGGESTIONS = 24;

type Row = Record<string, string | number | boolean | null>;

export interface ReportOptions {
  /** points of each class in the MDS pictures (default 80) */
  mdsPoints?: number;
  /** points of the sample embedded at the end when the run has no snapshots (default 2000) */
  sample?: number;
  /** intra-op threads while the report embeds (default: each run's saved setting) */
  threads?: number | null;
}

/** Everything the report shows of one run. */
interface RunFacts {
  dir: string;
  name: string;
  cfg: Config;
  info: DataInfo;
  counts: Record<string, number>;
  summary: Summary | null;
  epochs: Record<string, number | string | null>[];
  stepMeans: Map<number, Record<string, number>>;
  test: { top1: number; top5: number; knnTop1: number; confusion: number[][] } | null;
  /** per unlabelled point with a label: confidence and whether it is right (true labels known) */
  pseudo: { source: string; confidence: number[]; correct: boolean[] } | null;
  /** the aggregation metric after each snapshotted epoch, and per class at the end */
  aggregation: { perEpoch: { epoch: number; mean: number }[]; final: number[]; source: string } | null;
  mds: Row[];
  mdsClasses: number[];
  thumbnails: { className: string; rows: Row[] } | null;
  /** llp suggest's first picks, with thumbnails for images */
  suggestions: (Suggestion & { url: string | null })[];
}

/** Why a folder cannot be reported on, or null. */
export function notReportable(dir: string): string | null {
  if (!existsSync(dir)) return `${dir}: no such folder`;
  if (!existsSync(join(dir, "config.json"))) return `${dir} is not a run folder (no config.json)`;
  const events = join(dir, "events.jsonl");
  if (!existsSync(events) || !readFileSync(events, "utf8").includes('"type":"epoch"'))
    return `${dir} has no events yet (events.jsonl holds no finished epoch)`;
  if (existsSync(join(dir, "summary.json")) && !existsSync(checkpointPath(dir)))
    return `${dir} is finished but has no checkpoint.safetensors: the pseudo-label, confusion and embedding sections need the trained network and its bank`;
  return null;
}

/** Reads one run's folder and computes what the report shows. */
async function collect(dir: string, name: string, o: Required<ReportOptions>): Promise<RunFacts> {
  const cfg = readRunConfig(dir);
  const info = readJson<DataInfo>(join(dir, "data.json"));
  const split = readJson<{ counts: Record<string, number> }>(join(dir, "split.json"));
  const summary = existsSync(join(dir, "summary.json")) ? readJson<Summary>(join(dir, "summary.json")) : null;
  const lines = readFileSync(join(dir, "events.jsonl"), "utf8").split("\n").filter(Boolean);
  const events = lines.map((l) => JSON.parse(l) as Record<string, number | string | null>);
  const epochs = events.filter((e) => e.type === "epoch");
  // the steps' loss terms, averaged per epoch (a resumed epoch's steps appear once more: the last pass counts)
  const sums = new Map<number, Map<number, Record<string, number>>>();
  for (const e of events)
    if (e.type === "step") {
      const ep = e.epoch as number;
      if (!sums.has(ep)) sums.set(ep, new Map());
      (sums.get(ep) as Map<number, Record<string, number>>).set(e.step as number, e as Record<string, number>);
    }
  const stepMeans = new Map<number, Record<string, number>>();
  for (const [ep, steps] of sums) {
    const m: Record<string, number> = {};
    for (const k of STEP_LOSSES) {
      const vals = [...steps.values()].map((s) => s[k]).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
      if (vals.length) m[k] = vals.reduce((a, b) => a + b, 0) / vals.length;
    }
    stepMeans.set(ep, m);
  }
  const facts: RunFacts = {
    dir,
    name,
    cfg,
    info,
    counts: split.counts,
    summary,
    epochs,
    stepMeans,
    test: null,
    pseudo: null,
    aggregation: null,
    mds: [],
    mdsClasses: [],
    thumbnails: null,
    suggestions: [],
  };
  if (!existsSync(checkpointPath(dir))) return facts; // a run still in its first epoch: curves only
  // the caller's thread count (llp train --report: the one training runs with), else the run's saved one
  const run = await openRun(dir, o.threads ?? cfg.threads ?? undefined);
  try {
    await collectState(facts, run, o);
  } finally {
    run.dispose();
  }
  return facts;
}

async function collectState(f: RunFacts, run: OpenRun, o: Required<ReportOptions>): Promise<void> {
  const data = run.prepared.data;
  const C = data.numClasses;
  const truth = data.trueLabels;
  const evalFile = join(f.dir, "eval-test.json");
  // llp eval's file, when it scored the checkpoint there now (a resumed run's is older)
  if (existsSync(evalFile) && statSync(evalFile).mtimeMs >= statSync(checkpointPath(f.dir)).mtimeMs) {
    const e = readJson<{ top1: number; top5: number; knn_top1: number; confusion: number[][] }>(evalFile);
    f.test = { top1: e.top1, top5: e.top5, knnTop1: e.knn_top1, confusion: e.confusion };
  } else if (data.test) f.test = await evaluateRun(run, "test");

  const net = run.state.method.evalNet();
  // pseudo-labels of the unlabelled points: the method's stored ones (LLP, Pseudo-Label), else the classifier's
  const L = run.state.method.labels;
  if (truth) {
    const confidence: number[] = [];
    const correct: boolean[] = [];
    let source: string;
    if (L) {
      source = "the stored pseudo-labels the method trains on";
      for (let i = 0; i < L.n; i++)
        if (!L.isLabelled[i] && (L.y[i] as number) >= 0) {
          confidence.push(L.c[i] as number);
          correct.push(truth[i] === L.y[i]);
        }
    } else {
      source = "the classifier's predictions (the method stores no pseudo-labels)";
      const rows = Int32Array.from([...snapshotSample(data.n, 5 * o.sample, f.cfg.seed)].filter((i) => (data.labels[i] as number) < 0));
      const { v, logits } = await embedAll(net, {
        n: rows.length,
        inputs: (idx) => data.inputs(Int32Array.from(idx, (i) => rows[i] as number)),
      });
      try {
        const { conf, y } = tidy(() => {
          const [top, arg] = F.softmax(logits, 1).topk(1, 1);
          return { conf: top.toArray() as Float32Array, y: arg.toArray() as BigInt64Array };
        });
        rows.forEach((r, i) => {
          confidence.push(conf[i] as number);
          correct.push(truth[r] === Number(y[i]));
        });
      } finally {
        dispose([v, logits]);
      }
    }
    if (confidence.length) f.pseudo = { source, confidence, correct };
  }

  // embeddings of a fixed sample: the run's snapshots when it wrote them, else embedded now
  const labelOf = (i: number) => (truth ? (truth[i] as number) : (data.labels[i] as number));
  const snaps = await readSnapshots(f.dir);
  let sample: Int32Array;
  let finalV: Float32Array;
  let perEpoch: { epoch: number; v: Float32Array }[] = [];
  if (snaps && snaps.epochs.length > 0) {
    sample = snaps.index;
    perEpoch = snaps.epochs;
    finalV = (snaps.epochs.at(-1) as { v: Float32Array }).v;
  } else {
    sample = snapshotSample(data.n, o.sample, f.cfg.seed);
    const { v, logits } = await embedAll(net, {
      n: sample.length,
      inputs: (idx) => data.inputs(Int32Array.from(idx, (i) => sample[i] as number)),
    });
    try {
      finalV = v.toArray() as Float32Array;
    } finally {
      dispose([v, logits]);
    }
  }
  const ys = Int32Array.from(sample, labelOf);
  f.aggregation = {
    perEpoch: perEpoch.map((s) => ({ epoch: s.epoch, mean: aggregationMetric(s.v, ys, C).mean })),
    final: aggregationMetric(finalV, ys, C).perClass,
    source: truth ? "true labels of a sample of training points" : "the visible labels of a sample of training points",
  };

  // MDS of three classes: the test set's most confused pair and the class most confused with them
  f.mdsClasses = pickClasses(f.test?.confusion ?? null, C);
  const D = finalV.length / sample.length;
  const chosen: number[] = [];
  for (const c of f.mdsClasses) {
    let k = 0;
    for (let i = 0; i < sample.length && k < o.mdsPoints; i++)
      if (ys[i] === c) {
        chosen.push(i);
        k++;
      }
  }
  const pictures = perEpoch.length > 0 ? pickEpochs(perEpoch) : [{ epoch: Number(f.epochs.at(-1)?.epoch ?? 0), v: finalV }];
  for (const s of pictures) {
    const pts = Float32Array.from(chosen.flatMap((i) => Array.from(s.v.subarray(i * D, (i + 1) * D))));
    const xy = classicalMds(pts, chosen.length, 2);
    chosen.forEach((i, j) => {
      f.mds.push({
        epoch: s.epoch,
        x: xy[2 * j] as number,
        y: xy[2 * j + 1] as number,
        class: f.info.classNames[ys[i] as number] ?? String(ys[i]),
        labelled: (data.labels[sample[i] as number] as number) >= 0 ? "labelled" : "unlabelled",
      });
    });
  }

  // one class's sub-clusters: the most spread class at the end (lowest aggregation), as thumbnails
  if (f.info.inputShape.length === 3) {
    const finite = f.aggregation.final.map((a, c) => [a, c] as const).filter(([a]) => Number.isFinite(a));
    const spread = finite.sort((a, b) => a[0] - b[0])[0];
    if (spread) f.thumbnails = await thumbnails(f, sample, finalV, ys, spread[1]);
  }
  // label these next
  if (data.labels.some((y) => y < 0)) {
    // on a seeded sample (a quick look); a sample without unlabelled points has nothing to show
    const picks = await suggest(run, SUGGESTIONS, { sample: 5 * o.sample }).catch(() => []);
    const urls =
      f.info.inputShape.length === 3
        ? await thumbnailUrls(
            f,
            Int32Array.from(picks, (p) => p.row),
          )
        : [];
    f.suggestions = picks.map((p, i) => ({ ...p, url: urls[i] ?? null }));
  }
}

/** The most confused pair of the test confusion matrix and the class most confused with either. */
function pickClasses(confusion: number[][] | null, C: number): number[] {
  if (C <= 3 || !confusion) return Array.from({ length: Math.min(3, C) }, (_, c) => c);
  const both = (i: number, j: number) => (confusion[i]?.[j] ?? 0) + (confusion[j]?.[i] ?? 0);
  let best = [0, 1];
  for (let i = 0; i < C; i++) for (let j = i + 1; j < C; j++) if (both(i, j) > both(best[0] as number, best[1] as number)) best = [i, j];
  let third = -1;
  for (let k = 0; k < C; k++) {
    if (best.includes(k)) continue;
    const s = both(k, best[0] as number) + both(k, best[1] as number);
    if (third < 0 || s > both(third, best[0] as number) + both(third, best[1] as number)) third = k;
  }
  return [...best, third].sort((a, b) => a - b);
}

/** Up to four snapshots spread over training: the first, two between, the last. */
function pickEpochs<T extends { epoch: number }>(all: T[]): T[] {
  if (all.length <= 4) return all;
  const at = [0, Math.round((all.length - 1) / 3), Math.round((2 * (all.length - 1)) / 3), all.length - 1];
  return [...new Set(at)].map((i) => all[i] as T);
}

/** 60 points of one class placed by MDS of their final embeddings, drawn as their images. */
async function thumbnails(f: RunFacts, sample: Int32Array, v: Float32Array, ys: Int32Array, c: number) {
  const D = v.length / sample.length;
  const chosen: number[] = [];
  for (let i = 0; i < sample.length && chosen.length < 60; i++) if (ys[i] === c) chosen.push(i);
  if (chosen.length < 3) return null;
  const pts = Float32Array.from(chosen.flatMap((i) => Array.from(v.subarray(i * D, (i + 1) * D))));
  const xy = classicalMds(pts, chosen.length, 2);
  const urls = await thumbnailUrls(
    f,
    Int32Array.from(chosen, (i) => sample[i] as number),
  );
  const rows: Row[] = chosen.map((_, j) => ({ x: xy[2 * j] as number, y: xy[2 * j + 1] as number, url: urls[j] as string }));
  return { className: f.info.classNames[c] ?? String(c), rows };
}

/** The run's dataset as given (--data), loaded once per run however many thumbnails are drawn. */
const datasets = new WeakMap<RunFacts, ReturnType<typeof loadDataset>>();
function runDataset(f: RunFacts): ReturnType<typeof loadDataset> {
  let ds = datasets.get(f);
  if (!ds) {
    ds = loadTrainingDataset(f.cfg); // as split.json indexes it (--classes: those classes only)
    datasets.set(f, ds);
  }
  return ds;
}

/** PNG data URIs of training rows' images (as stored; at least 32 px a side, scaled by nearest neighbour). */
async function thumbnailUrls(f: RunFacts, trainRows: Int32Array): Promise<string[]> {
  // training rows -> dataset examples (split.json) -> pixels as stored
  const ds = await runDataset(f);
  const split = readJson<{ train: number[] }>(join(f.dir, "split.json"));
  const raw = await ds.readRaw(Int32Array.from(trainRows, (r) => split.train[r] as number));
  const [ch, h, w] = f.info.inputShape as [number, number, number];
  const urls: string[] = [];
  for (let j = 0; j < trainRows.length; j++) {
    const px = new Uint8Array(h * w * ch);
    for (let p = 0; p < h * w; p++)
      for (let k = 0; k < ch; k++) {
        const value = raw[j * ch * h * w + k * h * w + p] as number;
        px[p * ch + k] = raw instanceof Uint8Array ? value : Math.max(0, Math.min(255, Math.round(value * 255)));
      }
    const png = await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: ch as 1 | 3 } })
      .resize(Math.max(w, 32), Math.max(h, 32), { kernel: "nearest" })
      .png()
      .toBuffer();
    urls.push(`data:image/png;base64,${png.toString("base64")}`);
  }
  return urls;
}

/** The charts of the report, by file name. */
function charts(runs: RunFacts[]): { name: string; title: string; spec: Spec; note?: string }[] {
  const out: { name: string; title: string; spec: Spec; note?: string }[] = [];
  // training curves
  const rows: Row[] = [];
  for (const r of runs) {
    for (const e of r.epochs) {
      const ep = e.epoch as number;
      for (const [k, label] of EPOCH_METRICS) {
        const v = e[k];
        if (typeof v === "number" && Number.isFinite(v)) rows.push({ run: r.name, epoch: ep, metric: label, value: v });
      }
      for (const [k, v] of Object.entries(r.stepMeans.get(ep) ?? {}))
        rows.push({ run: r.name, epoch: ep, metric: `${k} (mean of steps)`, value: v });
    }
  }
  // a loss term that is zero in every epoch of every run is not part of these methods: left out
  const nonZero = new Set(rows.filter((r) => r.value !== 0).map((r) => r.metric));
  out.push({
    name: "curves",
    title: "Training curves",
    spec: curvesSpec(
      rows.filter((r) => nonZero.has(r.metric)),
      "per epoch",
    ),
  });

  // pseudo-label reliability
  const withPseudo = runs.filter((r) => r.pseudo);
  if (withPseudo.length) {
    const rel: Row[] = [];
    const cov: Row[] = [];
    for (const r of withPseudo) {
      const p = r.pseudo as NonNullable<RunFacts["pseudo"]>;
      for (const b of reliability(p.confidence, p.correct, 10).bins)
        if (b.count)
          rel.push({
            run: r.name,
            bin: `${b.lo.toFixed(1)}-${b.hi.toFixed(1)}`,
            confidence: b.meanConfidence,
            accuracy: b.accuracy,
            count: b.count,
          });
      for (const t of coverageAtThresholds(p.confidence, p.correct, THRESHOLDS)) {
        cov.push({ run: r.name, threshold: t.threshold, measure: "share kept", value: t.coverage });
        if (Number.isFinite(t.accuracy))
          cov.push({ run: r.name, threshold: t.threshold, measure: "accuracy of those kept", value: t.accuracy });
      }
    }
    out.push({ name: "reliability", title: "Pseudo-label reliability", spec: reliabilitySpec(rel) });
    out.push({ name: "coverage", title: "Coverage at confidence thresholds", spec: coverageSpec(cov) });
  }
  // test confusion and per-class scores
  for (const [i, r] of runs.entries()) {
    if (!r.test) continue;
    const names = r.info.classNames;
    out.push({
      name: `confusion-${i + 1}`,
      title: `Test confusion matrix: ${r.name}`,
      spec: confusionSpec(r.test.confusion, names, r.name),
    });
    const pc = perClass(r.test.confusion, names);
    const rowsPc: Row[] = pc.flatMap((s) => [
      { class: s.class, measure: "recall", value: s.top1 },
      { class: s.class, measure: "precision", value: s.precision },
    ]);
    const agg = r.aggregation?.final;
    for (const [c, a] of (agg ?? []).entries())
      if (Number.isFinite(a)) rowsPc.push({ class: names[c] ?? String(c), measure: "aggregation (Fig. 2)", value: a });
    out.push({ name: `per-class-${i + 1}`, title: `Per class: ${r.name}`, spec: perClassSpec(rowsPc, names, r.name) });
  }
  // Fig. 2: aggregation over epochs, its per-class histogram, two runs class by class
  const perEpoch = runs.flatMap((r) =>
    (r.aggregation?.perEpoch ?? []).map((p) => ({
      run: r.name,
      epoch: p.epoch,
      metric: "aggregation metric (mean over classes)",
      value: p.mean,
    })),
  );
  if (perEpoch.length)
    out.push({
      name: "aggregation-epochs",
      title: "Aggregation metric over training (Fig. 2)",
      spec: curvesSpec(perEpoch, "aggregation metric per epoch"),
    });
  const hist = runs.flatMap((r) => (r.aggregation?.final ?? []).filter(Number.isFinite).map((v) => ({ run: r.name, value: v })));
  if (hist.length)
    out.push({
      name: "aggregation-histogram",
      title: "Aggregation metric per class at the end (Fig. 2)",
      spec: histogramSpec(hist, "per-class aggregation metric", "L2 norm of the class's mean embedding"),
    });
  const [a, b] = runs;
  if (a?.aggregation && b?.aggregation) {
    const rowsAb = a.aggregation.final.map((x, c) => ({
      class: a.info.classNames[c] ?? String(c),
      a: x,
      b: b.aggregation?.final[c] ?? null,
    }));
    out.push({
      name: "aggregation-two-runs",
      title: "Two runs class by class (Fig. 2)",
      spec: classScatterSpec(rowsAb, a.name, b.name, "per-class aggregation metric"),
    });
  }
  for (const [i, r] of runs.entries()) {
    if (r.mds.length) {
      const names = r.mdsClasses.map((c) => r.info.classNames[c] ?? String(c));
      out.push({
        name: `mds-${i + 1}`,
        title: `MDS of ${names.join(", ")}: ${r.name}`,
        spec: mdsSpec(r.mds, names, r.name),
        note: r.aggregation?.perEpoch.length ? undefined : "one picture, at the end: train with --snapshots 2000 for pictures over epochs",
      });
    }
    if (r.thumbnails)
      out.push({
        name: `thumbnails-${i + 1}`,
        title: `One class's sub-clusters: ${r.thumbnails.className} (${r.name})`,
        spec: thumbnailSpec(r.thumbnails.rows, `${r.thumbnails.className}: 60 points placed by MDS of their embeddings`),
      });
  }
  return out;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
const fmt = (v: number | null | undefined, d = 4) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(d) : "–");

function runTable(runs: RunFacts[]): string {
  const row = (label: string, f: (r: RunFacts) => string) =>
    `<tr><th>${esc(label)}</th>${runs.map((r) => `<td>${f(r)}</td>`).join("")}</tr>`;
  const last = (r: RunFacts) => r.epochs.at(-1) ?? {};
  return `<table class="runs"><tr><th></th>${runs.map((r) => `<th>${esc(r.name)}</th>`).join("")}</tr>
${row("folder", (r) => `<code>${esc(r.dir)}</code>`)}
${row("method", (r) => esc(r.cfg.method))}
${row("network", (r) => esc(`${r.cfg.model} on [${r.info.inputShape.join(", ")}]`))}
${row("data", (r) => esc(r.cfg.data))}
${row("labels", (r) => esc(r.cfg.labelled ?? (r.cfg.labelsPerClass !== null ? `${r.cfg.labelsPerClass} per class` : "as given")))}
${row("training points (labelled)", (r) => `${r.counts.train ?? "–"} (${r.counts.labelled ?? "–"})`)}
${row("validation points", (r) => String(r.counts.validation ?? "–"))}
${row("seed", (r) => String(r.cfg.seed))}
${row("status", (r) => (r.summary ? `finished, ${r.summary.epochs} epochs` : `running: ${r.epochs.length} epochs so far`))}
${row("test top-1 / top-5", (r) => (r.summary ? `${fmt(r.summary.test_top1)} / ${fmt(r.summary.test_top5)}` : "–"))}
${row("test kNN / 1-NN top-1 (bank)", (r) => `${fmt(r.summary?.knn_top1)} / ${fmt(r.summary?.nn_top1)}`)}
${row("validation top-1", (r) => fmt(r.summary?.val_top1 ?? (last(r)["val/top1"] as number)))}
${row("pseudo-label accuracy at the end", (r) => `${fmt(last(r)["monitor/pseudoLabelAccuracy"] as number)}${typeof last(r)["monitor/mask"] === "number" ? " (of the targets above the threshold only)" : ""}`)}
${row("pseudo-labels from", (r) => esc(r.pseudo?.source ?? "–"))}
${row("wall time", (r) => `${Math.round((r.summary?.wall_s ?? (last(r).wall_s as number) ?? 0) / 60)} min`)}
</table>`;
}

/** Builds the report of the runs; writes OUT (HTML) and OUT's charts folder (SVG + PNG). */
export async function writeReport(runDirs: string[], out: string, opts: ReportOptions = {}): Promise<{ html: string; charts: string[] }> {
  if (runDirs.length === 0) throw new Error("llp report: give at least one RUN_DIR");
  for (const d of runDirs) {
    const why = notReportable(d);
    if (why) throw new Error(why);
  }
  const o: Required<ReportOptions> = { mdsPoints: opts.mdsPoints ?? 80, sample: opts.sample ?? 2000, threads: opts.threads ?? null };
  const names = runDirs.map((d) => basename(resolve(d)));
  const runs: RunFacts[] = [];
  for (const [i, d] of runDirs.entries()) {
    const dup = names.filter((n) => n === names[i]).length > 1;
    runs.push(await collect(d, dup ? `${names[i]} (${i + 1})` : (names[i] as string), o));
  }
  const list = charts(runs);
  const chartDir = join(dirname(out), `${basename(out, extname(out))}-charts`);
  const rendered: Rendered[] = [];
  for (const c of list)
    rendered.push({
      name: c.name,
      title: c.title,
      svg: await renderSvg(c.spec),
      note: c.note,
      data: c.spec.data?.values ?? c.spec.layer?.[0]?.data?.values ?? [],
    });
  // every file is made before any is written: a failure leaves nothing half done
  const pngs = await Promise.all(rendered.map((r) => svgToPng(r.svg)));
  const html = page(runs, rendered);
  mkdirSync(chartDir, { recursive: true });
  const files: string[] = [];
  rendered.forEach((r, i) => {
    writeFileAtomic(join(chartDir, `${r.name}.svg`), r.svg);
    writeFileAtomic(join(chartDir, `${r.name}.png`), pngs[i] as Buffer);
    files.push(join(chartDir, `${r.name}.svg`), join(chartDir, `${r.name}.png`));
  });
  writeFileAtomic(out, html);
  return { html: out, charts: files };
}

function suggestionSection(r: RunFacts, i: number): string {
  if (r.suggestions.length === 0) return "";
  const items = r.suggestions
    .map(
      (s) =>
        `<figure data-row="${s.row}">${s.url ? `<img src="${s.url}" alt="training row ${s.row}">` : ""}<figcaption>${s.rank}. row ${s.row}${s.file ? ` <code>${esc(basename(s.file))}</code>` : ""}<br>now ${esc(s.pseudoLabel)} (${s.confidence.toFixed(2)})</figcaption></figure>`,
    )
    .join("");
  return `<section id="suggest-${i + 1}" class="suggest"><h2>Label these next: ${esc(r.name)}</h2><p class="note">Unsure and in dense regions, spread over classes; <code>llp suggest ${esc(r.dir)} --budget 100 --out next.csv</code> lists more.</p><div class="thumbs">${items}</div></section>`;
}

interface Rendered {
  name: string;
  title: string;
  svg: string;
  note?: string | undefined;
  /** the rows the chart draws (also in the page, as JSON, for anyone who wants the numbers) */
  data: Row[];
}

function page(runs: RunFacts[], charts: Rendered[]): string {
  const title = runs.length === 1 ? `llp report: ${runs[0]?.name}` : `llp report: ${runs.length} runs`;
  const sections = charts
    .map(
      (c) =>
        `<section id="${esc(c.name)}" class="chart"><h2>${esc(c.title)}</h2>${c.note ? `<p class="note">${esc(c.note)}</p>` : ""}<div class="svg">${c.svg}</div><script type="application/json" class="chart-data" data-chart="${esc(c.name)}">${JSON.stringify(c.data).replace(/</g, "\\u003c")}</script></section>`,
    )
    .join("\n");
  const configs = runs
    .map((r) => `<details><summary>config of ${esc(r.name)}</summary><pre>${esc(JSON.stringify(r.cfg, null, 2))}</pre></details>`)
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>
body { font: 14px/1.45 system-ui, sans-serif; color: #1d2433; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #e3e6ec; padding-bottom: .2rem; }
table.runs { border-collapse: collapse; } table.runs th, table.runs td { text-align: left; padding: .2rem .7rem .2rem 0; vertical-align: top; }
table.runs tr + tr { border-top: 1px solid #eef0f4; } code { font-size: .85em; }
.svg { overflow-x: auto; } .thumbs { display: flex; flex-wrap: wrap; gap: .6rem; }
.thumbs figure { margin: 0; width: 7.5rem; font-size: .8rem; } .thumbs img { width: 64px; height: 64px; image-rendering: pixelated; display: block; } .note { color: #5b6478; } pre { background: #f7f8fb; padding: .6rem; overflow-x: auto; }
</style></head>
<body>
<h1>${esc(title)}</h1>
<p>Written by <code>llp report</code> on ${new Date().toISOString().slice(0, 10)}. Each chart is also in the charts folder beside this file (SVG and PNG).</p>
<section id="runs"><h2>Runs</h2>${runTable(runs)}${configs}</section>
${sections}
${runs.map((r, i) => suggestionSection(r, i)).join("\n")}
</body></html>
`;
}
