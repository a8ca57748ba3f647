// Evaluation: top-k accuracy of the classifier head, weighted kNN from the memory bank.
import type { LLPNet } from "../model/net.js";
import { propagateBlocked } from "../propagation/propagate.js";
import { keep, tidy } from "../torch/scope.js";
import { cat, noGrad, type Tensor, tensor } from "../torch/tensor.js";

/** Fraction of rows whose label is among the k largest logits. logits: [B, C], labels: [B] */
export function topkCorrect(logits: Tensor, labels: Tensor, k: number): number {
  return tidy(() => {
    const kk = Math.min(k, logits.size(1));
    const [, idx] = logits.topk(kk, 1, true); // [B, k]
    return idx.eq(labels.long().unsqueeze(1)).any(1).float().sum().item();
  });
}

export interface InputSource {
  n: number;
  inputs(indices: Int32Array): Promise<Tensor>; // [B, ...] float32, un-augmented, normalised
}

/** Runs the network in eval mode over a set: v [n, D] and logits [n, C] (kept: caller disposes). */
export async function embedAll(net: LLPNet, src: InputSource, batchSize = 512): Promise<{ v: Tensor; logits: Tensor }> {
  const wasTraining = net.training;
  net.eval();
  const vs: Tensor[] = [];
  const ls: Tensor[] = [];
  try {
    for (let s = 0; s < src.n; s += batchSize) {
      const idx = Int32Array.from({ length: Math.min(batchSize, src.n - s) }, (_, i) => s + i);
      const x = await src.inputs(idx);
      const out = noGrad(() => tidy(() => net.heads(x)));
      x.dispose();
      vs.push(keep(out.v));
      ls.push(keep(out.logits));
    }
    const all = tidy(() => ({ v: cat(vs, 0), logits: cat(ls, 0) }));
    return { v: keep(all.v), logits: keep(all.logits) };
  } finally {
    for (const t of [...vs, ...ls]) t.dispose();
    net.train(wasTraining);
  }
}

export interface Accuracy {
  top1: number;
  top5: number;
  knnTop1: number;
  /** 1-nearest-neighbour top-1: the label of the most similar labelled bank row (the paper's Table 6 "NN") */
  nnTop1: number;
  /** [C][C] counts of the classifier head's top-1: row = true class, column = predicted class */
  confusion: number[][];
}

/**
 * Counts [C][C], row = true class, column = predicted; C grows to cover every label and
 * prediction. Rows without a label (< 0) have no row to go in and are left out.
 */
export function confusionMatrix(truth: ArrayLike<number>, pred: ArrayLike<number>, numClasses: number): number[][] {
  if (truth.length !== pred.length) throw new Error(`confusionMatrix: ${truth.length} labels, ${pred.length} predictions`);
  let c = numClasses;
  for (let i = 0; i < truth.length; i++) c = Math.max(c, (truth[i] as number) + 1, (pred[i] as number) + 1);
  const m = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  for (let i = 0; i < truth.length; i++) if ((truth[i] as number) >= 0) (m[truth[i] as number] as number[])[pred[i] as number]++;
  return m;
}

export interface ClassScore {
  class: string;
  /** test rows of this class */
  n: number;
  /** recall: the share of this class's rows predicted as it (NaN when n = 0) */
  top1: number;
  /** the share of rows predicted as this class that are of it (NaN when none is) */
  precision: number;
}

/** Per-class recall and precision from a confusion matrix (names: class names by index). */
export function perClass(confusion: number[][], names: readonly string[]): ClassScore[] {
  return confusion.map((row, j) => {
    const n = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, r) => a + (r[j] as number), 0);
    const right = row[j] as number;
    return { class: names[j] ?? String(j), n, top1: n ? right / n : Number.NaN, precision: predicted ? right / predicted : Number.NaN };
  });
}

/**
 * Classifier top-1/top-5, weighted-kNN top-1 (votes of the K most similar labelled bank rows,
 * weights exp(s/tau): Eqs. 5-6) and 1-nearest-neighbour top-1 (the most similar labelled bank
 * row's label: how the paper scores Table 6, whose models may lack a trained classifier) of a
 * labelled set. The bank rows are those of the labelled training points: the labels a user has.
 */
export async function evaluate(
  net: LLPNet,
  src: InputSource & { labels: Int32Array },
  labelledV: Tensor,
  labelledY: Tensor,
  o: { K: number; tau: number; numClasses: number },
): Promise<Accuracy> {
  if (src.n === 0) return { top1: Number.NaN, top5: Number.NaN, knnTop1: Number.NaN, nnTop1: Number.NaN, confusion: [] };
  const { v, logits } = await embedAll(net, src);
  try {
    return tidy(() => {
      const y = tensor(src.labels, [src.n], "int64");
      const top1 = topkCorrect(logits, y, 1) / src.n;
      const top5 = topkCorrect(logits, y, 5) / src.n;
      const confusion = confusionMatrix(src.labels, logits.argmax(1).toNumbers(), o.numClasses);
      let knnTop1 = Number.NaN;
      let nnTop1 = Number.NaN;
      if (labelledY.numel > 0) {
        const vote = (K: number) =>
          propagateBlocked(v, labelledV, labelledY, { K, tau: o.tau, numClasses: o.numClasses, logRho: null })
            .y.eq(y)
            .float()
            .sum()
            .item() / src.n;
        knnTop1 = vote(o.K);
        nnTop1 = vote(1); // one voter: its label
      }
      return { top1, top5, knnTop1, nnTop1, confusion };
    });
  } finally {
    v.dispose();
    logits.dispose();
  }
}
