// The pseudo-labelling rules LLP can train with, as a small registry: what each needs (the
// density rho, the classifier head) and how it labels a batch. Pure, like propagate().
import type { Tensor } from "../torch/tensor.js";
import { classifierLabels, meanLabels, type Propagated, propagate } from "./propagate.js";

/**
 * llp: Eq. 8 with density (paper); weighted-knn: Eqs. 5-6; classifier: the released code's
 * variant (the classifier head's softmax); llp+classifier: the mean of Eq. 8's p and the
 * classifier's softmax (named departure).
 */
export type PropagationKind = "llp" | "weighted-knn" | "classifier" | "llp+classifier";

/** What a rule may read: the batch's embeddings and logits, the labelled bank rows and their density. */
export interface RuleInputs {
  v: Tensor; // [B, D] unit embeddings the vote is taken for
  logits: Tensor; // [B, C] the classifier head's output for the same view
  labelledV: Tensor; // [M, D] the labelled points' bank rows
  labelledY: Tensor; // [M] int64 their labels
  logRho: Tensor | null; // [M] log rho of the labelled points (rules that need it)
  K: number;
  tau: number;
  numClasses: number;
}

export interface PropagationRule {
  /** divides by rho, so the density must be refreshed each epoch */
  needsDensity: boolean;
  /** reads the classifier head, so it cannot label bare embeddings (`llp propagate`) */
  needsClassifier: boolean;
  label(x: RuleInputs): Propagated;
}

const vote = (x: RuleInputs, withDensity: boolean): Propagated =>
  propagate(x.v, x.labelledV, x.labelledY, { K: x.K, tau: x.tau, numClasses: x.numClasses, logRho: withDensity ? x.logRho : null });

export const RULES: Record<PropagationKind, PropagationRule> = {
  llp: { needsDensity: true, needsClassifier: false, label: (x) => vote(x, true) },
  "weighted-knn": { needsDensity: false, needsClassifier: false, label: (x) => vote(x, false) },
  classifier: { needsDensity: false, needsClassifier: true, label: (x) => classifierLabels(x.logits) },
  "llp+classifier": { needsDensity: true, needsClassifier: true, label: (x) => meanLabels(vote(x, true), classifierLabels(x.logits)) },
};

export const PROPAGATION_KINDS = Object.keys(RULES) as PropagationKind[];

/**
 * A configured rule with "auto" made concrete: llp+classifier on images [C,H,W] (measured best on
 * Fashion-MNIST at every scale), llp (Eq. 8) on feature vectors (measured: on the separated
 * clusters of test/cli/inference.test.ts, seeds 0-2, 0.95 / 0.92 / 0.62 against 0.68 / 0.78 / 0.62).
 */
export function resolvePropagation(kind: PropagationKind | "auto", inputShape: number[]): PropagationKind {
  if (kind !== "auto") return kind;
  return inputShape.length === 3 ? "llp+classifier" : "llp";
}
