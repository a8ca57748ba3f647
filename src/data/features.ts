// Feature matrices: .npy or numeric CSV, one example per row, with labels from a column,
// a separate CSV, or a .npy of integers (-1 = unlabelled).
import { basename, extname } from "node:path";
import { columnIndex, parseLabels, readCsv } from "./csv.js";
import { MemoryDataset } from "./dataset.js";
import { DataError } from "./errors.js";
import { npyToFloat32, npyToLabels, readNpy } from "./npy.js";

export interface FeatureOptions {
  /** Labels file: .npy of integers, or a CSV whose last column holds the labels. Default: none. */
  labels?: string;
  /** CSV features only: the column holding the labels, by header name or 0-based index. Default: none. */
  labelColumn?: string | number;
  /** CSV features: whether the first row is a header; "auto" guesses (see parseCsv), as it always does for a labels CSV. Default: "auto". */
  header?: boolean | "auto";
  /** Class names, in class-index order. Default: from the labels (see parseLabels). */
  classNames?: readonly string[];
  /** Dataset name. Default: the file name without extension. */
  name?: string;
  /** No labels wanted (embedding, prediction): without labels/labelColumn every row is unlabelled. Default: false. */
  unlabelled?: boolean;
}

interface Labelled {
  labels: Int32Array;
  classNames: string[];
}

/**
 * A .npy matrix. float32/float64/int32/int64 arrays are features of shape [F] for (N, F), or the
 * array's trailing shape for more dims. uint8 arrays are pixels, scaled to [0, 1] per batch:
 * (N, H, W) has example shape [1, H, W], (N, C, H, W) [C, H, W], (N, F) [F].
 */
export async function loadNpyFeatures(file: string, o: FeatureOptions = {}): Promise<MemoryDataset> {
  if (o.labelColumn !== undefined)
    throw new DataError(
      file,
      "a label column (labelColumn, --label-column) applies to CSV features; a .npy takes a labels file (labels, --labels FILE)",
    );
  const a = await readNpy(file);
  if (a.shape.length < 1) throw new DataError(file, "a 0-d array is not a dataset");
  const n = a.shape[0] as number;
  let shape = a.shape.length === 1 ? [1] : a.shape.slice(1);
  if (a.dtype === "uint8" && a.shape.length === 3) shape = [1, ...shape];
  const data = a.dtype === "uint8" ? (a.data as Uint8Array) : npyToFloat32(a, file);
  const y = await readLabelsFor(file, n, o);
  return new MemoryDataset({ name: o.name ?? stem(file), data, shape, labels: y.labels, classNames: y.classNames, source: file });
}

/** A numeric CSV, one example per row; the label column (if any) is taken out of the features. */
export async function loadCsvFeatures(file: string, o: FeatureOptions = {}): Promise<MemoryDataset> {
  if (o.labelColumn !== undefined && o.labels !== undefined) {
    throw new DataError(file, "give either labelColumn or labels, not both");
  }
  const t = await readCsv(file, o.header ?? "auto");
  const width = (t.rows[0] ?? t.header ?? []).length;
  const labelCol = o.labelColumn === undefined ? -1 : columnIndex(t, o.labelColumn, file);
  const f = labelCol < 0 ? width : width - 1;
  if (f === 0) throw new DataError(file, "no feature columns");
  const n = t.rows.length;
  if (n === 0) throw new DataError(file, "no data rows");
  const data = new Float32Array(n * f);
  for (let r = 0; r < n; r++) {
    const row = t.rows[r] as string[];
    let k = r * f;
    for (let j = 0; j < width; j++) {
      if (j === labelCol) continue;
      const s = (row[j] as string).trim();
      const v = s === "" ? Number.NaN : Math.fround(Number(s)); // stored as float32: 1e39 is Inf there
      if (!Number.isFinite(v)) {
        throw new DataError(file, `line ${t.lines[r]}, column ${j + 1}: '${s}' is not a finite number`);
      }
      data[k++] = v;
    }
  }
  let y: Labelled;
  if (labelCol >= 0) {
    y = parseLabels(
      t.rows.map((row) => row[labelCol] as string),
      (i) => `line ${t.lines[i]}`,
      file,
      o.classNames,
    );
  } else {
    y = await readLabelsFor(file, n, o);
  }
  return new MemoryDataset({ name: o.name ?? stem(file), data, shape: [f], labels: y.labels, classNames: y.classNames, source: file });
}

/** Labels for `n` examples of `dataFile` from o.labels (.npy or CSV). */
export async function readLabelsFor(dataFile: string, n: number, o: FeatureOptions): Promise<Labelled> {
  if (o.labels === undefined) {
    if (o.unlabelled) return { labels: new Int32Array(n).fill(-1), classNames: o.classNames ? [...o.classNames] : [] };
    throw new DataError(dataFile, "no labels: give a labels file (labels, --labels FILE.npy|FILE.csv; -1 or empty = unlabelled)");
  }
  const file = o.labels;
  let y: Labelled;
  if (extname(file).toLowerCase() === ".npy") {
    const labels = npyToLabels(await readNpy(file), file);
    let max = -1;
    for (const v of labels) max = Math.max(max, v);
    const classNames = o.classNames ? [...o.classNames] : Array.from({ length: max + 1 }, (_, c) => String(c));
    if (max >= classNames.length) throw new DataError(file, `label ${max} is out of range for ${classNames.length} classes`);
    y = { labels, classNames };
  } else {
    const t = await readCsv(file, "auto");
    const cells = t.rows.map((row) => row[row.length - 1] as string);
    // blank lines at the end are unlabelled rows too (the "labelled first" layout), up to n
    const padded = Math.max(0, Math.min(t.trailingBlank, n - cells.length));
    const lastLine = t.lines[t.lines.length - 1] ?? 0;
    for (let k = 0; k < padded; k++) cells.push("");
    y = parseLabels(cells, (i) => `line ${t.lines[i] ?? lastLine + i - t.lines.length + 1}`, file, o.classNames);
  }
  if (y.labels.length !== n) throw new DataError(file, `${y.labels.length} labels but ${dataFile} has ${n} examples`);
  return y;
}

const stem = (file: string): string => basename(file, extname(file));
