// Small CSV reader (commas, optional double quotes) and label-column parsing shared by the
// feature-matrix and image-folder loaders.
import { readFile } from "node:fs/promises";
import { DataError } from "./errors.js";

export interface CsvTable {
  /** Column names when the file has a header row, else null. */
  header: string[] | null;
  rows: string[][];
  /** 1-based line number of each row, for error messages. */
  lines: number[];
  /** Blank lines after the last row (not counting the file's final newline); they are not rows. */
  trailingBlank: number;
}

/**
 * Parses CSV text. `header`: true = the first row names the columns; false = it is data;
 * "auto" = it is a header when one of its fields is a usual column name (path, file, image,
 * label, class, target, y) or some column is numeric in the second row but not in the first.
 */
export function parseCsv(text: string, file: string, header: boolean | "auto" = "auto"): CsvTable {
  const rows: string[][] = [];
  const lines: number[] = [];
  const all = text.split(/\r?\n/);
  let end = all.length;
  while (end > 0 && (all[end - 1] as string).trim() === "") end--;
  const trailingBlank = Math.max(0, all.length - end - (/\n$/.test(text) ? 1 : 0));
  // Blank lines inside the file are rows of one empty field: an unlabelled row in a labels
  // file, a ragged-row error elsewhere.
  for (let i = 0; i < end; i++) {
    rows.push(splitLine(all[i] as string, file, i + 1));
    lines.push(i + 1);
  }
  if (rows.length === 0) throw new DataError(file, "empty CSV file");
  const width = (rows[0] as string[]).length;
  for (let r = 1; r < rows.length; r++) {
    if ((rows[r] as string[]).length !== width) {
      throw new DataError(file, `line ${lines[r]} has ${(rows[r] as string[]).length} fields, line ${lines[0]} has ${width}`);
    }
  }
  const hasHeader = header === "auto" ? looksLikeHeader(rows) : header;
  if (!hasHeader) return { header: null, rows, lines, trailingBlank };
  return { header: (rows[0] as string[]).map((s) => s.trim()), rows: rows.slice(1), lines: lines.slice(1), trailingBlank };
}

export async function readCsv(file: string, header: boolean | "auto" = "auto"): Promise<CsvTable> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new DataError(file, `cannot read (${(e as Error).message})`);
  }
  return parseCsv(text, file, header);
}

function splitLine(line: string, file: string, lineNo: number): string[] {
  if (!line.includes('"')) return line.split(",");
  const out: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ",") {
      out.push(field);
      field = "";
    } else {
      field += ch;
    }
  }
  if (quoted) throw new DataError(file, `line ${lineNo}: unterminated quoted field`);
  out.push(field);
  return out;
}

const isNumber = (s: string): boolean => s.trim() !== "" && Number.isFinite(Number(s));

const HEADER_WORDS = /^(path|file|filename|image|label|labels|class|target|y)$/i;

function looksLikeHeader(rows: string[][]): boolean {
  const first = rows[0] as string[];
  if (first.some((s) => HEADER_WORDS.test(s.trim()))) return true;
  const second = rows[1];
  if (second === undefined) return first.some((s) => !isNumber(s) && s.trim() !== "");
  return first.some((s, j) => !isNumber(s) && isNumber(second[j] as string));
}

/** Index of a column given by name (needs a header) or 0-based number (negative counts from the end). */
export function columnIndex(t: CsvTable, column: string | number, file: string): number {
  const width = (t.header ?? t.rows[0] ?? []).length;
  if (typeof column === "number") {
    const j = column < 0 ? width + column : column;
    if (!Number.isInteger(j) || j < 0 || j >= width) throw new DataError(file, `column ${column} is out of range (${width} columns)`);
    return j;
  }
  if (t.header === null) throw new DataError(file, `no header row, so column '${column}' cannot be found by name`);
  const j = t.header.indexOf(column);
  if (j < 0) throw new DataError(file, `no column named '${column}' (columns: ${t.header.join(", ")})`);
  return j;
}

/**
 * Label strings -> class indices. Empty or "-1" = unlabelled. When every other value is a
 * non-negative integer they are class indices (names "0".."C-1" unless `classNames` is given);
 * otherwise they are class names, C = the sorted distinct names unless `classNames` is given.
 * A numeric value that is not an integer is an error. `where(i)` names the source of value i.
 */
export function parseLabels(
  values: readonly string[],
  where: (i: number) => string,
  file: string,
  classNames?: readonly string[],
): { labels: Int32Array; classNames: string[] } {
  const labels = new Int32Array(values.length).fill(-1);
  const vs = values.map((v) => v.trim());
  let allInts = true;
  for (let i = 0; i < vs.length; i++) {
    const v = vs[i] as string;
    if (v === "" || v === "-1") continue;
    if (isNumber(v)) {
      const x = Number(v);
      if (!Number.isInteger(x)) throw new DataError(file, `${where(i)}: label '${v}' is not an integer`);
      if (x < 0) throw new DataError(file, `${where(i)}: label ${x} is negative (only -1, unlabelled, is allowed)`);
    } else {
      allInts = false;
    }
  }
  if (allInts) {
    let max = -1;
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i] as string;
      if (v === "") continue;
      labels[i] = Number(v);
      max = Math.max(max, Number(v));
    }
    const names = classNames ? [...classNames] : Array.from({ length: max + 1 }, (_, c) => String(c));
    for (let i = 0; i < vs.length; i++) {
      if ((labels[i] as number) >= names.length) {
        throw new DataError(file, `${where(i)}: label ${labels[i]} is out of range for ${names.length} classes`);
      }
    }
    return { labels, classNames: names };
  }
  const names = classNames ? [...classNames] : [...new Set(vs.filter((v) => v !== "" && v !== "-1"))].sort();
  const index = new Map(names.map((n, c) => [n, c]));
  for (let i = 0; i < vs.length; i++) {
    const v = vs[i] as string;
    if (v === "" || v === "-1") continue;
    const c = index.get(v);
    if (c === undefined) throw new DataError(file, `${where(i)}: unknown class '${v}' (classes: ${names.join(", ")})`);
    labels[i] = c;
  }
  return { labels, classNames: names };
}
