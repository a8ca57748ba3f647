// The paper's Table 6 ablations of LLP, named as the paper names them. "TopX" trains with K = X
// voters, the embedding loss L_A alone, and labels and confidences from the plain weighted kNN of
// Eq. 5; each suffix turns one part on or off:
//   woc  the loss is not weighted by confidence (c = 1 for every point)
//   wc   the categorization loss L_C is added
//   lw   propagation uses the locally weighted probability P^L (Eq. 8, divided by density rho)
// so "Top10wclw" is LLP as the paper trains it. Models without wc have an untrained classifier
// head: the paper scores them all by 1-nearest-neighbour accuracy from the memory bank.
import type { PropagationKind } from "../propagation/rules.js";

export interface Ablation {
  name: string;
  /** voters per unlabelled point */
  K: number;
  /** the loss is weighted by confidence c (off: woc) */
  confidence: boolean;
  /** the categorization loss L_C is part of the loss (wc) */
  categoryLoss: boolean;
  /** propagation divides by the density rho (lw) */
  density: boolean;
}

/** Table 6's columns, in the paper's order. */
export const PAPER_ABLATIONS = ["Top50woc", "Top50", "Top20", "Top10", "Top5", "Top50wc", "Top50lw", "Top10wclw"] as const;

const PATTERN = /^Top([1-9]\d*)(woc)?(wc)?(lw)?$/;

/** The settings an ablation name stands for; throws on a name outside the paper's grammar. */
export function parseAblation(name: string): Ablation {
  const m = PATTERN.exec(name);
  if (!m)
    throw new Error(
      `"${name}" is not an ablation name: Top<K> then any of woc (no confidence weighting), wc (with the categorization loss), lw (density-weighted propagation), in that order, e.g. ${PAPER_ABLATIONS.join(", ")}`,
    );
  return { name, K: Number(m[1]), confidence: m[2] === undefined, categoryLoss: m[3] !== undefined, density: m[4] !== undefined };
}

/** The propagation rule an ablation trains with: Eq. 8 with lw, the plain weighted kNN (Eq. 5) without. */
export const ablationPropagation = (a: Ablation): PropagationKind => (a.density ? "llp" : "weighted-knn");

/** LLP's own parts, all on: what a run without --ablation trains with. */
export const FULL_LLP = { confidence: true, categoryLoss: true } as const;
