// The report's charts as Vega-Lite specifications (declarative: data + marks + encodings),
// rendered to SVG in Node by Vega's headless view (no browser, no network) and to PNG by sharp.
// Each builder takes plain rows and returns a spec; nothing here reads a run folder.
import sharp from "sharp";
import * as vega from "vega";
import * as vl from "vega-lite";

// biome-ignore lint/suspicious/noExplicitAny: a Vega-Lite specification is open-ended JSON
export type Spec = Record<string, any>;
type Row = Record<string, string | number | boolean | null>;

const BASE = {
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  background: "white",
  config: { font: "DejaVu Sans, Arial, sans-serif", view: { stroke: "#d5d9e2" }, axis: { labelFontSize: 11, titleFontSize: 12 } },
};
const PANEL = { width: 260, height: 160 };
/** The dashed y = x line on [0, 1] (perfect calibration; two runs equal). */
const DIAGONAL: Spec = {
  data: {
    values: [
      { x: 0, y: 0 },
      { x: 1, y: 1 },
    ],
  },
  mark: { type: "line", strokeDash: [4, 4], color: "#888" },
  encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
};

/** One spec -> SVG text (Vega's headless renderer). */
export async function renderSvg(spec: Spec): Promise<string> {
  const compiled = vl.compile(spec as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG -> PNG bytes (sharp's SVG rasteriser), at `density` dpi (72 = the SVG's own pixels). */
export async function svgToPng(svg: string, density = 144): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density }).png().toBuffer();
}

/** Small multiples over epochs: one panel per metric, one line per run. rows: {run, epoch, metric, value}. */
export function curvesSpec(rows: Row[], title: string): Spec {
  return {
    ...BASE,
    title,
    data: { values: rows },
    facet: { field: "metric", type: "nominal", title: null, header: { labelFontSize: 12, labelFontWeight: "bold" } },
    columns: 3,
    resolve: { scale: { y: "independent" } },
    spec: {
      ...PANEL,
      mark: { type: "line", point: { size: 18 }, strokeWidth: 1.8 },
      encoding: {
        x: { field: "epoch", type: "quantitative", title: "epoch", axis: { tickMinStep: 1 } },
        y: { field: "value", type: "quantitative", title: null, scale: { zero: false } },
        color: { field: "run", type: "nominal", title: "run", legend: { orient: "bottom", labelLimit: 400 } },
      },
    },
  };
}

/** Accuracy against confidence per bin (bars), the diagonal of perfect calibration. rows: {run, bin, confidence, accuracy, count}. */
export function reliabilitySpec(rows: Row[]): Spec {
  return {
    ...BASE,
    title: "pseudo-label reliability (unlabelled points)",
    ...PANEL,
    width: 320,
    height: 240,
    layer: [
      {
        data: { values: rows },
        mark: { type: "point", filled: true, opacity: 0.85 },
        encoding: {
          x: { field: "confidence", type: "quantitative", title: "mean confidence in the bin", scale: { domain: [0, 1] } },
          y: { field: "accuracy", type: "quantitative", title: "accuracy (true labels)", scale: { domain: [0, 1] } },
          size: { field: "count", type: "quantitative", title: "points", scale: { range: [20, 600] } },
          color: { field: "run", type: "nominal", legend: { orient: "bottom", labelLimit: 400 } },
          tooltip: [{ field: "bin" }, { field: "count" }, { field: "accuracy", format: ".3f" }],
        },
      },
      DIAGONAL,
    ],
  };
}

/** Share kept and its accuracy at confidence thresholds. rows: {run, threshold, measure, value}. */
export function coverageSpec(rows: Row[]): Spec {
  return {
    ...BASE,
    title: "pseudo-labels kept at a confidence threshold",
    data: { values: rows },
    width: 320,
    height: 240,
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "threshold", type: "quantitative", title: "confidence threshold", scale: { domain: [0, 1] } },
      y: { field: "value", type: "quantitative", title: null, scale: { domain: [0, 1] } },
      color: { field: "measure", type: "nominal", title: null, legend: { orient: "bottom" } },
      strokeDash: { field: "run", type: "nominal", legend: { orient: "bottom", labelLimit: 400 } },
    },
  };
}

/** A confusion matrix [true][predicted] with class names, counts written in the cells. */
export function confusionSpec(confusion: number[][], classNames: string[], title: string): Spec {
  const rows = confusion.flatMap((r, i) =>
    r.map((count, j) => ({
      truth: classNames[i] ?? String(i),
      predicted: classNames[j] ?? String(j),
      count,
      rowShare:
        count /
        Math.max(
          1,
          r.reduce((a, b) => a + b, 0),
        ),
    })),
  );
  const order = classNames;
  const size = Math.max(220, 26 * classNames.length);
  return {
    ...BASE,
    title,
    data: { values: rows },
    width: size,
    height: size,
    encoding: {
      x: { field: "predicted", type: "nominal", sort: order, title: "predicted", axis: { labelAngle: -40 } },
      y: { field: "truth", type: "nominal", sort: order, title: "true class" },
    },
    layer: [
      {
        mark: "rect",
        encoding: { color: { field: "rowShare", type: "quantitative", title: "share of row", scale: { scheme: "blues", domain: [0, 1] } } },
      },
      {
        mark: { type: "text", fontSize: 9 },
        encoding: {
          text: { field: "count", type: "quantitative" },
          color: { condition: { test: "datum.rowShare > 0.5", value: "white" }, value: "#1d2433" },
        },
      },
    ],
  };
}

/** Per-class bars of several measures side by side. rows: {class, measure, value}. */
export function perClassSpec(rows: Row[], classNames: string[], title: string): Spec {
  return {
    ...BASE,
    title,
    data: { values: rows },
    width: Math.max(260, 34 * classNames.length),
    height: 200,
    mark: "bar",
    encoding: {
      x: { field: "class", type: "nominal", sort: classNames, title: null, axis: { labelAngle: -40 } },
      xOffset: { field: "measure" },
      y: { field: "value", type: "quantitative", title: null, scale: { domain: [0, 1] } },
      color: { field: "measure", type: "nominal", title: null, legend: { orient: "bottom", labelLimit: 400 } },
    },
  };
}

/** A histogram of values (the per-class aggregation metric), one colour per run. rows: {run, value}. */
export function histogramSpec(rows: Row[], title: string, xTitle: string): Spec {
  return {
    ...BASE,
    title,
    data: { values: rows },
    width: 300,
    height: 180,
    mark: { type: "bar", opacity: 0.75 },
    encoding: {
      x: { field: "value", type: "quantitative", bin: { extent: [0, 1], step: 0.05 }, title: xTitle },
      y: { aggregate: "count", type: "quantitative", title: "classes", stack: null },
      color: { field: "run", type: "nominal", legend: { orient: "bottom", labelLimit: 400 } },
    },
  };
}

/** Class by class, one run's value against another's, with the diagonal. rows: {class, a, b}. */
export function classScatterSpec(rows: Row[], a: string, b: string, title: string): Spec {
  return {
    ...BASE,
    title,
    width: 260,
    height: 260,
    layer: [
      {
        data: { values: rows },
        mark: { type: "point", filled: true, size: 60 },
        encoding: {
          x: { field: "a", type: "quantitative", title: a, scale: { domain: [0, 1] } },
          y: { field: "b", type: "quantitative", title: b, scale: { domain: [0, 1] } },
          tooltip: [{ field: "class" }],
        },
      },
      {
        data: { values: rows },
        mark: { type: "text", dx: 6, align: "left", fontSize: 9 },
        encoding: { x: { field: "a", type: "quantitative" }, y: { field: "b", type: "quantitative" }, text: { field: "class" } },
      },
      DIAGONAL,
    ],
  };
}

/** 2-D MDS pictures, one panel per epoch: colour = class, filled = labelled. rows: {epoch, x, y, class, labelled}. */
export function mdsSpec(rows: Row[], classNames: string[], title: string): Spec {
  return {
    ...BASE,
    title,
    data: { values: rows },
    facet: { field: "epoch", type: "ordinal", title: "after epoch" },
    columns: 4,
    resolve: { scale: { x: "independent", y: "independent" } },
    spec: {
      width: 180,
      height: 180,
      mark: { type: "point", size: 22 },
      encoding: {
        x: { field: "x", type: "quantitative", axis: null, scale: { zero: false } },
        y: { field: "y", type: "quantitative", axis: null, scale: { zero: false } },
        color: { field: "class", type: "nominal", sort: classNames, legend: { orient: "bottom" } },
        shape: { field: "labelled", type: "nominal", title: "point", legend: { orient: "bottom" } },
        fill: { condition: { test: "datum.labelled === 'labelled'", field: "class", type: "nominal" }, value: "transparent" },
        size: { condition: { test: "datum.labelled === 'labelled'", value: 70 }, value: 22 },
      },
    },
  };
}

/** One class's points placed by MDS, each drawn as its thumbnail. rows: {x, y, url}. */
export function thumbnailSpec(rows: Row[], title: string): Spec {
  return {
    ...BASE,
    title,
    data: { values: rows },
    width: 520,
    height: 400,
    mark: { type: "image", width: 26, height: 26 },
    encoding: {
      x: { field: "x", type: "quantitative", axis: null, scale: { zero: false } },
      y: { field: "y", type: "quantitative", axis: null, scale: { zero: false } },
      url: { field: "url", type: "nominal" },
    },
  };
}
