// The paper's Table 5: label propagation on small samples of embeddings (C classes x n points,
// k labelled in each), global methods against LLP's local rule, over resamples.
import { Generator } from "../torch/random.js";
import { dlpPropagation, dmtPropagation, type GlobalInput, labelPropagation, labelSpreading } from "./global.js";
import { memoryRows, propagateStream } from "./stream.js";

export interface Table5Options {
  classes: number; // C (paper: 50 of ImageNet; default 10)
  perClass: number; // n (paper: 50)
  labelled: number; // k labelled per class (paper: 5)
  resamples: number; // (paper: 10)
  seed: number;
  K: number; // LLP's voters
  T: number; // LLP's density neighbours (within the sample)
  tau: number;
}

export const TABLE5_DEFAULTS: Table5Options = { classes: 10, perClass: 50, labelled: 5, resamples: 10, seed: 0, K: 10, T: 25, tau: 0.07 };

export const TABLE5_METHODS = ["LS", "LP", "LP_DMT", "LP_DLP", "LLP"] as const;
export type Table5Method = (typeof TABLE5_METHODS)[number];

export interface Table5Result {
  options: Table5Options;
  accuracy: Record<Table5Method, number[]>; // one per resample, on the unlabelled points
  mean: Record<Table5Method, number>;
  sd: Record<Table5Method, number>;
}

/** LLP's rule (Eq. 8, density within the sample) as a Table 5 column. */
function llpRule(x: GlobalInput, o: Table5Options): Int32Array {
  const out = new Int32Array(x.n);
  const rows = memoryRows(Float32Array.from(x.X), x.n, x.d);
  propagateStream(rows, x.y, { K: o.K, T: o.T, tau: o.tau, rule: "llp", numClasses: x.C }, (b) => out.set(b.y, b.start));
  return out;
}

const RUN: Record<Table5Method, (x: GlobalInput, o: Table5Options) => Int32Array> = {
  LS: (x) => labelSpreading(x),
  LP: (x) => labelPropagation(x),
  LP_DMT: (x) => dmtPropagation(x),
  LP_DLP: (x) => dlpPropagation(x),
  LLP: llpRule,
};

/** v: [N, d] embeddings (any scale; rows are normalised), truth: [N] class of every row. */
export function table5(v: Float32Array, truth: Int32Array, d: number, opts: Partial<Table5Options> = {}): Table5Result {
  const o = { ...TABLE5_DEFAULTS, ...opts };
  const flag = (k: string) => `--${k.replace(/([a-z])([A-Z])/g, (_, a: string, b: string) => `${a}-${b.toLowerCase()}`)}`;
  for (const [k, val] of Object.entries(o))
    if (k !== "tau" && (!Number.isInteger(val) || (val as number) < (k === "seed" ? 0 : 1)))
      throw new Error(`bench propagation: ${flag(k)} must be a ${k === "seed" ? "non-negative" : "positive"} integer, got ${val}`);
  if (!(o.tau > 0)) throw new Error(`bench propagation: --tau must be > 0, got ${o.tau}`);
  if (o.T > o.classes * o.perClass) throw new Error(`bench propagation: T=${o.T} exceeds the ${o.classes * o.perClass} points of a sample`);
  if (o.labelled < 1 || o.labelled >= o.perClass)
    throw new Error(`bench propagation: --labelled ${o.labelled} must be between 1 and --per-class - 1 (${o.perClass - 1})`);
  if (o.classes < 2) throw new Error("bench propagation: --classes must be at least 2");
  if (o.K > o.classes * o.labelled)
    throw new Error(`bench propagation: K=${o.K} exceeds the ${o.classes * o.labelled} labelled points of a sample`);
  const N = truth.length;
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < N; i++) {
    const y = truth[i] as number;
    if (y < 0) continue;
    const list = byClass.get(y) ?? [];
    list.push(i);
    byClass.set(y, list);
  }
  const eligible = [...byClass.entries()].filter(([, l]) => l.length >= o.perClass).map(([c]) => c);
  if (eligible.length < o.classes)
    throw new Error(
      `bench propagation: ${o.classes} classes of at least ${o.perClass} points wanted, the embeddings have ${eligible.length}`,
    );
  const accuracy = Object.fromEntries(TABLE5_METHODS.map((m) => [m, [] as number[]])) as Record<Table5Method, number[]>;
  for (let r = 0; r < o.resamples; r++) {
    const gen = new Generator(o.seed * 1000 + r);
    const pick = <T>(a: T[], k: number): T[] => {
      const b = [...a];
      const u = gen.uniforms(k);
      for (let i = 0; i < k; i++) {
        const j = i + Math.floor((u[i] as number) * (b.length - i));
        [b[i], b[j]] = [b[j] as T, b[i] as T];
      }
      return b.slice(0, k);
    };
    const classes = pick(eligible, o.classes);
    const rows: number[] = [];
    const y: number[] = [];
    const yTrue: number[] = [];
    classes.forEach((c, ci) => {
      pick(byClass.get(c) as number[], o.perClass).forEach((row, j) => {
        rows.push(row);
        yTrue.push(ci);
        y.push(j < o.labelled ? ci : -1);
      });
    });
    const n = rows.length;
    const X = new Float64Array(n * d);
    rows.forEach((row, i) => {
      let s = 0;
      for (let e = 0; e < d; e++) s += (v[row * d + e] as number) ** 2;
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      for (let e = 0; e < d; e++) X[i * d + e] = (v[row * d + e] as number) * inv;
    });
    const x: GlobalInput = { X, y: Int32Array.from(y), n, d, C: o.classes };
    for (const m of TABLE5_METHODS) {
      const got = RUN[m](x, o);
      let hit = 0;
      let k = 0;
      for (let i = 0; i < n; i++) {
        if ((y[i] as number) >= 0) continue;
        k++;
        if (got[i] === yTrue[i]) hit++;
      }
      accuracy[m].push(hit / k);
    }
  }
  const mean = Object.fromEntries(TABLE5_METHODS.map((m) => [m, accuracy[m].reduce((a, b) => a + b, 0) / o.resamples])) as Record<
    Table5Method,
    number
  >;
  const sd = Object.fromEntries(
    TABLE5_METHODS.map((m) => {
      const a = accuracy[m];
      const mu = mean[m];
      return [m, a.length > 1 ? Math.sqrt(a.reduce((s, x) => s + (x - mu) ** 2, 0) / (a.length - 1)) : 0];
    }),
  ) as Record<Table5Method, number>;
  return { options: o, accuracy, mean, sd };
}

/** The table as the paper prints it: one row of mean ± sd (%). */
export function table5Markdown(r: Table5Result, source: string): string {
  const o = r.options;
  return [
    `Label propagation on ${o.resamples} samples of ${o.classes} classes x ${o.perClass} points, ${o.labelled} labelled per class (${source})`,
    "",
    `| method | ${TABLE5_METHODS.join(" | ")} |`,
    `| --- | ${TABLE5_METHODS.map(() => "---").join(" | ")} |`,
    `| accuracy (%) | ${TABLE5_METHODS.map((m) => `${(100 * r.mean[m]).toFixed(1)} ± ${(100 * r.sd[m]).toFixed(1)}`).join(" | ")} |`,
    "",
    "LS: Zhou et al. 2004 (Gaussian affinity, gamma 20, alpha 0.99); LP: Zhu & Ghahramani 2002 (harmonic, same affinity);",
    `LP_DMT: Liu et al. 2018's constrained normalised cut (20-NN, exp((cos-1)/0.2)); LP_DLP: Iscen et al. 2019 (50-NN, similarity^3, alpha 0.99, 20 CG steps); LLP: Eq. 8 (K ${o.K}, T ${o.T}, tau ${o.tau}).`,
    "",
  ].join("\n");
}
