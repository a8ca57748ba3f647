// `llp suggest RUN_DIR --budget B`: which unlabelled points to label next. A point is worth a
// label when the run is unsure of it (low confidence of its pseudo-label) and it sits in a dense
// region of the embedding (a label there propagates to many neighbours: LLP's own vote weighs
// labelled points by their local density, Eq. 7). Candidates are the least confident unlabelled
// points; each is scored (1 - confidence) x its density's rank among them; the budget is spread
// over the classes the run currently assigns, round-robin, so no class is left out.
import type { Config } from "../config.js";
import { embedAll } from "../eval/metrics.js";
import { logDensity } from "../propagation/density.js";
import * as F from "../torch/functional.js";
import { dispose, tidy } from "../torch/scope.js";
import { tensor } from "../torch/tensor.js";
import { datasetFiles, loadTrainingDataset } from "../train/data.js";
import type { OpenRun } from "../train/run.js";
import { snapshotSample } from "../train/snapshots.js";

export interface Suggestion {
  /** 1 = label first */
  rank: number;
  /** row of the run's training pool */
  row: number;
  /** example index in the dataset as the run reads it (--data; with --classes, among those classes' examples, as --reveal reads it) */
  index: number;
  /** the image file, when the data are files */
  file: string | null;
  /** the run's current label for it, and its confidence */
  pseudoLabel: string;
  confidence: number;
  /** log of the local mass sum over its T nearest neighbours of exp(v_j . v / tau) */
  logDensity: number;
  score: number;
}

/**
 * Picks up to `budget` items, spread over classes: each class's items by score, highest first;
 * classes take turns, the class with the best remaining item first in each round.
 * Returns positions into the inputs.
 */
export function pickBalanced(scores: ArrayLike<number>, classes: ArrayLike<number>, budget: number): number[] {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < scores.length; i++) {
    const c = classes[i] as number;
    if (!byClass.has(c)) byClass.set(c, []);
    (byClass.get(c) as number[]).push(i);
  }
  const queues = [...byClass.values()].map((q) => q.sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b));
  const out: number[] = [];
  while (out.length < budget) {
    const round = queues
      .filter((q) => q.length > 0)
      .sort((p, q) => (scores[q[0] as number] as number) - (scores[p[0] as number] as number));
    if (round.length === 0) break;
    for (const q of round) {
      if (out.length >= budget) break;
      out.push(q.shift() as number);
    }
  }
  return out;
}

/** Ranks scaled to 0..1 (1 = the largest); ties are ordered by position. */
function percentile(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (values[a] as number) - (values[b] as number));
  const out = new Float64Array(n);
  order.forEach((i, r) => {
    out[i] = n > 1 ? r / (n - 1) : 1;
  });
  return out;
}

/**
 * The unlabelled points of a run worth labelling next, best first. `sample`: consider a seeded
 * sample of that many training points instead of all of them (the report's quick look); the
 * density is then taken within the sample.
 */
export async function suggest(run: OpenRun, budget: number, o: { candidates?: number; sample?: number } = {}): Promise<Suggestion[]> {
  if (!Number.isInteger(budget) || budget < 1) throw new Error(`--budget must be a positive integer, got ${budget}`);
  const data = run.prepared.data;
  // the points considered (all training rows, or a seeded sample); j indexes them, rowAt(j) is the training row
  const pool = o.sample !== undefined && o.sample < data.n ? snapshotSample(data.n, o.sample, run.cfg.seed + 1) : null;
  const rowAt = (j: number) => (pool ? (pool[j] as number) : j);
  const n = pool ? pool.length : data.n;
  const unlabelled = Int32Array.from(Array.from({ length: n }, (_, j) => j).filter((j) => (data.labels[rowAt(j)] as number) < 0));
  if (unlabelled.length === 0) throw new Error("every training point of this run is labelled: there is nothing to suggest");
  const net = run.state.method.evalNet();
  // the considered points' embeddings and class probabilities under the network the run evaluates with
  const all = await embedAll(net, { n, inputs: (idx) => data.inputs(Int32Array.from(idx, rowAt)) });
  try {
    // pseudo-labels: the stored ones where the method keeps them (LLP, Pseudo-Label), else the classifier's
    const L = run.state.method.labels;
    const { conf, label } = tidy(() => {
      const [top, arg] = F.softmax(all.logits, 1).topk(1, 1);
      return { conf: top.toArray() as Float32Array, label: arg.toArray() as BigInt64Array };
    });
    // j: a position among the considered points; rowAt(j): its training row
    const confidence = (j: number) => {
      const i = rowAt(j);
      return L && (L.y[i] as number) >= 0 ? (L.c[i] as number) : (conf[j] as number);
    };
    const classOf = (j: number) => {
      const i = rowAt(j);
      return L && (L.y[i] as number) >= 0 ? (L.y[i] as number) : Number(label[j]);
    };
    // candidates: the least confident unlabelled points
    const m = Math.min(unlabelled.length, Math.max(o.candidates ?? 20 * budget, 1000));
    const cand = Int32Array.from([...unlabelled].sort((a, b) => confidence(a) - confidence(b) || a - b).slice(0, m));
    const logRho = tidy(() => {
      const q = all.v.indexSelect(0, tensor(cand, [cand.length], "int64"));
      return logDensity(q, all.v, run.cfg.T, run.cfg.tau).toArray() as Float32Array;
    });
    const rank = percentile(logRho);
    const scores = Float64Array.from(cand, (i, j) => (1 - confidence(i)) * (rank[j] as number));
    const picked = pickBalanced(
      scores,
      Int32Array.from(cand, (i) => classOf(i)),
      budget,
    );
    const split = run.prepared.split;
    const files = datasetFiles(await loadTrainingDataset(run.cfg));
    return picked.map((k, r) => {
      const j = cand[k] as number;
      const row = rowAt(j);
      const index = split.train[row] as number;
      return {
        rank: r + 1,
        row,
        index,
        file: files ? (files[index] ?? null) : null,
        pseudoLabel: data.classNames[classOf(j)] ?? String(classOf(j)),
        confidence: confidence(j),
        logDensity: logRho[k] as number,
        score: scores[k] as number,
      };
    });
  } finally {
    dispose([all.v, all.logits]);
  }
}

const csvField = (v: string | number | null) =>
  v === null ? "" : typeof v === "number" ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;

export function suggestionsCsv(rows: Suggestion[]): string {
  const head = "rank,index,row,file,pseudo_label,confidence,log_density,score";
  const lines = rows.map((s) =>
    [s.rank, s.index, s.row, s.file, s.pseudoLabel, s.confidence, s.logDensity, s.score].map(csvField).join(","),
  );
  return `${[head, ...lines].join("\n")}\n`;
}
