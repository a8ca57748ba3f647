// The accuracy grid (`llp bench accuracy`): methods x labelled fractions (p) x subsets (q) x
// seeds, each cell its own run folder under the grid's folder, and one table of them.
//
// A cell's folder holds grid-cell.json, the settings it was asked to train with (a complete
// recipe file). It is finished when its summary.json exists, interrupted when it has a
// checkpoint but no summary (the grid resumes it), and new otherwise. A finished cell is never
// redone; a folder asked again with other settings is an error, not a silent rerun.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, kebab, METHOD_ORDER } from "../config.js";
import { PAPER_ABLATIONS, parseAblation } from "../methods/ablation.js";
import { writeFileAtomic } from "../torch/safetensors.js";
import { writeJson } from "./runfolder.js";

/** One cell's settings: config keys, the grid's axes among them. */
export type CellRequest = Partial<Config> & { method: Config["method"]; seed: number };

export interface GridAxes {
  methods: Config["method"][];
  /** llp's Table 6 ablations (llp bench ablations); absent or [null]: each method as configured */
  ablations?: (string | null)[];
  labelled: (string | null)[]; // null: the labels as given (or --labels-per-class)
  subset: string[];
  seeds: number[];
}

export const CELL_FILE = "grid-cell.json";

/** A cell's folder name: method[-ablation].pP.qQ.seedS, percentages without their sign. */
export function cellName(r: CellRequest): string {
  const p = r.labelled ?? (r.labelsPerClass != null ? `${r.labelsPerClass}pc` : "given");
  return `${r.method}${r.ablation ? `-${r.ablation}` : ""}.p${p.replace("%", "")}.q${(r.subset ?? "100%").replace("%", "")}.seed${r.seed}`;
}

/** Every cell of the grid, in the order they run: seed-major, so a partial grid holds whole seeds. */
export function gridCells(axes: GridAxes, settings: Partial<Config>): CellRequest[] {
  const cells: CellRequest[] = [];
  for (const seed of axes.seeds)
    for (const labelled of axes.labelled)
      for (const subset of axes.subset)
        for (const method of axes.methods)
          for (const ablation of axes.ablations ?? [null])
            cells.push({
              ...settings,
              method,
              seed,
              subset,
              ...(labelled !== null ? { labelled } : {}),
              ...(ablation !== null ? { ablation } : {}),
            } as CellRequest);
  return cells;
}

export type CellStatus = "finished" | "interrupted" | "new";

/** Where a cell stands in its folder; throws when the folder holds a cell asked with other settings. */
export function cellStatus(dir: string, r: CellRequest): CellStatus {
  const file = join(dir, CELL_FILE);
  if (!existsSync(file)) return "new";
  const saved = cellJson(JSON.parse(readFileSync(file, "utf8")) as CellRequest);
  if (saved !== cellJson(r))
    throw new Error(
      `${dir} holds a cell trained with other settings (${file}); give the grid another --out, or remove that folder to redo it`,
    );
  if (existsSync(join(dir, "summary.json"))) return "finished";
  // a checkpoint, or only the one before it (a kill between a save's renames): resume, never start over
  const kept = ["checkpoint.safetensors", "checkpoint.prev.safetensors"]; // the first covers a save's temporary file too
  return readdirSync(dir).some((f) => kept.some((k) => f.startsWith(k))) ? "interrupted" : "new";
}

/**
 * A cell's settings file: its keys sorted, so the same settings always read the same; --threads
 * left out (the machine's share, not the cell's: a grid may go on with another thread count).
 */
export const cellJson = (r: CellRequest): string =>
  `${JSON.stringify(
    Object.fromEntries(
      Object.entries(r)
        .filter(([k]) => k !== "threads")
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    ),
    null,
    2,
  )}\n`;

interface Summary {
  test_top1: number | null;
  test_top5: number | null;
  knn_top1?: number | null;
  nn_top1?: number | null; // runs before 1-NN was scored have none
  val_top1: number | null;
  epochs: number;
  wall_s: number;
}

export interface Stat {
  mean: number;
  sd: number | null; // null below two seeds
  values: number[];
}

/** Mean and sample standard deviation (n - 1) of xs. */
export function stat(xs: number[]): Stat {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : null;
  return { mean, sd, values: xs };
}

export interface TableRow {
  method: string;
  /** the Table 6 ablation the cells trained (null: the method as configured) */
  ablation: string | null;
  labelled: string;
  subset: string;
  settings: string; // the cells' other settings, as flags
  seeds: number[];
  test_top1: Stat | null;
  test_top5: Stat | null;
  /** test weighted-kNN and 1-NN top-1 from the labelled bank rows (null: no bank) */
  knn_top1: Stat | null;
  nn_top1: Stat | null;
  wall_s: Stat;
  cells: string[];
}

const AXES = new Set(["method", "ablation", "labelled", "labelsPerClass", "subset", "seed", "threads"]);
export const settingsFlags = (r: Partial<Config>): string =>
  Object.entries(r)
    .filter(([k]) => !AXES.has(k))
    .map(([k, v]) => `--${kebab(k)} ${Array.isArray(v) ? v.join(",") : v}`)
    .join(" ");

/** The finished cells under a grid folder, grouped into rows (one per method, p, q and settings; mean +- sd over seeds). */
export function gridTable(gridDir: string): { rows: TableRow[]; unfinished: string[] } {
  const groups = new Map<string, { r: CellRequest; cells: { name: string; seed: number; s: Summary }[] }>();
  const unfinished: string[] = [];
  const names = existsSync(gridDir) ? readdirSync(gridDir).sort() : [];
  for (const name of names) {
    const dir = join(gridDir, name);
    if (!existsSync(join(dir, CELL_FILE))) continue;
    const r = JSON.parse(readFileSync(join(dir, CELL_FILE), "utf8")) as CellRequest;
    if (!existsSync(join(dir, "summary.json"))) {
      unfinished.push(name);
      continue;
    }
    const s = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as Summary;
    const { seed, threads: _t, ...rest } = r; // cells saved before --threads left the file carry it
    const key = JSON.stringify(rest);
    const g = groups.get(key) ?? { r, cells: [] };
    g.cells.push({ name, seed, s });
    groups.set(key, g);
  }
  const rows = [...groups.values()].map(({ r, cells }): TableRow => {
    cells.sort((a, b) => a.seed - b.seed);
    const finite = (k: "test_top1" | "test_top5" | "knn_top1" | "nn_top1") => {
      const xs = cells.map((c) => c.s[k]);
      return xs.every((x): x is number => typeof x === "number" && Number.isFinite(x)) ? stat(xs) : null;
    };
    return {
      method: r.method,
      ablation: r.ablation ?? null,
      labelled: r.labelled ?? (r.labelsPerClass != null ? `${r.labelsPerClass}/class` : "as given"),
      subset: r.subset ?? "100%",
      settings: settingsFlags(r),
      seeds: cells.map((c) => c.seed),
      test_top1: finite("test_top1"),
      test_top5: finite("test_top5"),
      knn_top1: finite("knn_top1"),
      nn_top1: finite("nn_top1"),
      wall_s: stat(cells.map((c) => c.s.wall_s)),
      cells: cells.map((c) => c.name),
    };
  });
  const pct = (s: string) => Number.parseFloat(s) || 0;
  rows.sort(
    (a, b) =>
      pct(a.labelled) - pct(b.labelled) ||
      pct(a.subset) - pct(b.subset) ||
      METHOD_ORDER.indexOf(a.method) - METHOD_ORDER.indexOf(b.method) ||
      ablationOrder(a.ablation) - ablationOrder(b.ablation) ||
      (a.settings < b.settings ? -1 : a.settings > b.settings ? 1 : 0),
  );
  return { rows, unfinished };
}

const pm = (s: Stat | null) => (s === null ? "-" : `${(100 * s.mean).toFixed(2)}${s.sd === null ? "" : ` ± ${(100 * s.sd).toFixed(2)}`}`);

/** The table as Markdown: test top-1 and top-5 in percent, mean ± sd over seeds (an ablation grid: its own table). */
export function tableMarkdown(rows: TableRow[], unfinished: string[]): string {
  if (rows.some((r) => r.ablation !== null)) return ablationMarkdown(rows, unfinished);
  const shared = rows.length > 0 && rows.every((r) => r.settings === rows[0]?.settings) ? (rows[0]?.settings ?? "") : null;
  const lines = [
    "| method | labelled (p) | subset (q) | seeds | test top-1 (%) | test top-5 (%) | minutes per run |" +
      (shared === null ? " settings |" : ""),
    `|---|---|---|---|---|---|---|${shared === null ? "---|" : ""}`,
    ...rows.map(
      (r) =>
        `| ${r.method} | ${r.labelled} | ${r.subset} | ${r.seeds.join(", ")} | ${pm(r.test_top1)} | ${pm(r.test_top5)} | ${(r.wall_s.mean / 60).toFixed(0)} |` +
        (shared === null ? ` \`${r.settings || "(defaults)"}\` |` : ""),
    ),
  ];
  if (shared !== null) lines.push("", `Every cell: \`llp train ${shared || "(defaults)"}\` with its method, labels, subset and seed.`);
  lines.push("", "Mean ± sample standard deviation over seeds; each seed draws its own labelled set, subset and initialisation.");
  if (unfinished.length > 0) lines.push("", `Unfinished cells (not in the table): ${unfinished.join(", ")}.`);
  return `${lines.join("\n")}\n`;
}

/** Table 6's order; names outside it after, as given. */
const ablationOrder = (a: string | null) => {
  const i = a === null ? -1 : (PAPER_ABLATIONS as readonly string[]).indexOf(a);
  return i < 0 ? (a === null ? -1 : PAPER_ABLATIONS.length) : i;
};

/**
 * The ablation table (the paper's Table 6): what each name switches, then test 1-NN top-1 (the
 * paper's score), weighted-kNN top-1, and the classifier's top-1 where the loss trained it (wc).
 */
function ablationMarkdown(rows: TableRow[], unfinished: string[]): string {
  const yes = (b: boolean) => (b ? "yes" : "no");
  const lines = [
    "| ablation | labelled (p) | K | confidence weights | L_C (wc) | density (lw) | seeds | test 1-NN top-1 (%) | test kNN top-1 (%) | test classifier top-1 (%) | minutes per run |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((r) => {
      const a = r.ablation !== null ? parseAblation(r.ablation) : null;
      const name = a ? a.name : `${r.method} (as configured)`;
      const parts = a ? `${a.K} | ${yes(a.confidence)} | ${yes(a.categoryLoss)} | ${yes(a.density)}` : "- | - | - | -";
      const classifier = a && !a.categoryLoss ? "- (untrained)" : pm(r.test_top1);
      return `| ${name} | ${r.labelled} | ${parts} | ${r.seeds.join(", ")} | ${pm(r.nn_top1)} | ${pm(r.knn_top1)} | ${classifier} | ${(r.wall_s.mean / 60).toFixed(0)} |`;
    }),
  ];
  const shared = rows.every((r) => r.settings === rows[0]?.settings) ? (rows[0]?.settings ?? "") : null;
  if (shared !== null) lines.push("", `Every cell: \`llp train --ablation NAME ${shared}\` with its labels and seed.`);
  lines.push(
    "",
    "1-NN: the label of the most similar labelled bank row, the paper's score for Table 6 (models without wc have no trained classifier). Mean ± sample standard deviation over seeds.",
  );
  if (unfinished.length > 0) lines.push("", `Unfinished cells (not in the table): ${unfinished.join(", ")}.`);
  return `${lines.join("\n")}\n`;
}

/** Writes table.md and table.json into the grid folder; returns the Markdown. */
export function writeGridTable(gridDir: string): string {
  const { rows, unfinished } = gridTable(gridDir);
  const md = tableMarkdown(rows, unfinished);
  writeJson(join(gridDir, "table.json"), { rows, unfinished });
  writeFileAtomic(join(gridDir, "table.md"), md);
  return md;
}
