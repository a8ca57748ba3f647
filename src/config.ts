// One typed config, one defaults table. Each default cites where it comes from.
// resolveConfig() rejects unknown keys and out-of-range values; the resolved config is saved
// with every run and checkpoint.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ablationPropagation, parseAblation } from "./methods/ablation.js";
import type { ModelName } from "./model/net.js";
import { PROPAGATION_KINDS, type PropagationKind } from "./propagation/rules.js";

export type { PropagationKind };
export type Method =
  | "llp"
  | "supervised"
  | "mean-teacher"
  | "pseudo-label"
  | "fixmatch"
  | "ir-knn"
  | "vat"
  | "vat-em"
  | "s4l-rotation"
  | "dlp"
  | "dmt"
  | "la"
  | "dct";

/** The order tables list methods in: supervised-only first, the baselines, LLP last (every Method). */
export const METHOD_ORDER: readonly string[] = [
  "supervised",
  "ir-knn",
  "la",
  "mean-teacher",
  "pseudo-label",
  "fixmatch",
  "vat",
  "vat-em",
  "s4l-rotation",
  "dct",
  "dlp",
  "dmt",
  "llp",
];
/**
 * stored: each step trains on the label/confidence stored at the point's previous visit and
 * writes the fresh one back (the original code's scheme); fresh: trains on labels propagated
 * in the same step.
 */
export type LabelScheme = "stored" | "fresh";

export interface Config {
  recipe: string | null;
  method: Method;
  data: string;
  labels: string | null;
  test: string | null;
  testLabels: string | null;
  reveal: string | null;
  imageSize: number | string | null;
  color: "auto" | "rgb" | "gray";
  labelColumn: number | string | null;
  classes: number[] | null;
  labelled: string | null;
  labelsPerClass: number | null;
  subset: string;
  validation: number | string | null;
  model: ModelName | "auto";
  width: number | null;
  poolGrid: number | null;
  embeddingDim: number;
  tau: number;
  bankMomentum: number;
  K: number;
  T: number;
  propagation: PropagationKind | "auto";
  ablation: string | null;
  labelScheme: LabelScheme;
  irEpochs: number;
  init: "ir" | "la";
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  lrDrop: number;
  schedule: "fixed" | "plateau";
  milestones: number[] | null;
  patience: number;
  maxDrops: number;
  labelledPerBatch: number;
  augment: "auto" | "pad-crop" | "resized-crop" | "none";
  trainView: "auto" | "weak" | "cutout" | "strong" | "randaugment";
  mixup: number;
  consistency: number;
  consistencyRampup: number;
  emaDecay: number | null;
  threshold: number;
  unlabelledWeight: number;
  vatEpsilon: number;
  dctEpsilon: number;
  pseudoLabelWarmup: number;
  pseudoRatio: number;
  seed: number;
  threads: number | null;
  out: string | null;
  checkpointEvery: number;
  evalEvery: number;
  snapshots: number;
}

/**
 * The command-line spelling of a config key, without the leading --: batchSize -> batch-size.
 * The paper's one-letter symbols stay as they are: K -> --K, T -> --T.
 */
export const kebab = (k: string) => (k.length === 1 ? k : k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));

/**
 * How an error names an option, for both kinds of caller: the config key a library user sets and
 * the flag a CLI user types, e.g. "batchSize (--batch-size)".
 */
export function optionName(key: keyof Config): string {
  return `${key} (--${kebab(key)})`;
}

interface Default<T> {
  value: T;
  source: string;
}

export const DEFAULTS: { [K in keyof Config]: Default<Config[K]> } = {
  recipe: {
    value: null,
    source:
      "a named set of settings (recipes/NAME.json) or a JSON file, applied under the options given beside it: 'paper' is the paper's hyperparameters exactly; null = these defaults",
  },
  method: {
    value: "llp",
    source:
      "llp (the product); the baselines, on the same network, data and evaluation: supervised (the labelled points alone), mean-teacher (Tarvainen & Valpola 2017), pseudo-label (Lee 2013, as S4L ran it: labels, then the classifier's labels, then both), fixmatch (Sohn et al. 2020; images only), ir-knn (Instance Recognition alone, Wu et al. 2018, for --epochs: scored by kNN of the labelled bank rows and by a linear readout of the frozen features), vat and vat-em (Miyato et al. 2018: virtual adversarial training, with entropy minimisation), s4l-rotation (Zhai et al. 2019: rotation prediction co-trained with the classifier; square images), dlp (Iscen et al. 2019: labels propagated over a kNN graph of the network's descriptors every epoch), dmt (Liu et al. 2018: --ir-epochs of Instance Recognition, one global propagation, fine-tuning on the most confident share), la (Local Aggregation, Zhuang et al. 2019: unsupervised after --ir-epochs of IR; scored by kNN and a linear readout), dct (Deep Co-Training, Qiao et al. 2018: two networks, Jensen-Shannon agreement on the unlabelled points, each other's adversarial examples)",
  },
  data: { value: "fashion-mnist", source: "built-in default dataset (Debian's dataset-fashion-mnist)" },
  labels: { value: null, source: "labels file for a .npy/CSV feature matrix" },
  test: { value: null, source: "the dataset's own test split when it has one" },
  testLabels: { value: null, source: "labels file for a .npy/CSV --test set (.npy or CSV, one label per row)" },
  reveal: {
    value: null,
    source:
      "a CSV with an index column (llp suggest's output) or a .npy of dataset indices: their labels become visible besides --labelled's (an active-learning round on a benchmark)",
  },
  imageSize: {
    value: null,
    source: "image folders: output side N or HxW (scaled and centre-cropped); null = the images' own size, which must then all match",
  },
  color: { value: "auto", source: "image folders: rgb, gray, or auto = gray when the first image has one channel" },
  labelColumn: {
    value: null,
    source: "CSV features: the label column, by header name or 0-based index; null = none (labels from --labels)",
  },
  classes: {
    value: null,
    source:
      "only these classes of the data and its test set, relabelled 0..k-1 in the order given (e.g. 0,1,2,3,4: a transfer split, llp transfer); null = every class",
  },
  labelled: { value: null, source: "null = use the labels as given; e.g. '1%' hides the rest (paper's p)" },
  labelsPerClass: { value: null, source: "alternative to labelled: n labels per class" },
  subset: { value: "100%", source: "paper's q: fraction of the training pool used" },
  validation: {
    value: null,
    source:
      "labelled examples held out for LR-drop decisions (paper Sec. 4: 'when validation performance saturates'): a count or 'p%'; null = the dataset's own (Fashion-MNIST: 5000), else 10%",
  },
  model: {
    value: "auto",
    source:
      "auto = small-cnn (fast, for small images) on images [C,H,W], mlp on feature vectors [F]; paper uses resnet18/resnet50 (v2); wrn-28: WRN-28-k of the semi-supervised benchmarks (--width 16k, default 32 = WRN-28-2)",
  },
  width: { value: null, source: "null = the model's own default width" },
  poolGrid: {
    value: null,
    source:
      "small-cnn: last map pooled to a g x g grid, flattened; null = 7 (measured: IR kNN 0.72 vs 0.56 with global pooling, g = 1; README)",
  },
  embeddingDim: { value: 128, source: "paper Sec. 4, D = 128 (Wu et al. 2018)" },
  tau: { value: 0.07, source: "paper Sec. 4, tau = 0.07 (Wu et al. 2018)" },
  bankMomentum: { value: 0.5, source: "memory-bank running average m = 0.5 (Wu et al. 2018; original code)" },
  K: { value: 10, source: "paper Sec. 4, K = 10 labelled voters" },
  T: { value: 25, source: "paper Sec. 4, T = 25 density neighbours (released code: 50)" },
  propagation: {
    value: "auto",
    source:
      "auto = llp+classifier on images (measured best, docs/experiments.md: +1.94 over supervised-only at 1%, +1.21 at test scale where Eq. 8 alone gives +0.04), llp on feature vectors (measured better on small clustered data). llp: Eq. 8 (paper); weighted-knn: Eqs. 5-6; classifier: the released code's; llp+classifier: the mean of Eq. 8's p and the classifier's softmax (named departure)",
  },
  ablation: {
    value: null,
    source:
      "llp: one of the paper's Table 6 ablations by its name (Top50woc, Top50, Top20, Top10, Top5, Top50wc, Top50lw, Top10wclw): TopX = K X, L_A alone, weighted-kNN labels; woc = no confidence weighting, wc = with L_C, lw = density-weighted propagation (sets --K and --propagation); null = LLP as configured",
  },
  labelScheme: { value: "stored", source: "original code: train on the label stored at the previous visit" },
  irEpochs: {
    value: 1,
    source:
      "measured: 1 IR epoch gives the same 1% mean as 3 (0.8476) and 10 cost time without gain at this scale (docs/experiments.md); paper Sec. 4: 10",
  },
  init: {
    value: "ir",
    source:
      "llp: what its first --ir-epochs train: ir = Instance Recognition (paper Sec. 4); la = one IR epoch, then Local Aggregation for the rest (the released code's warm start, itself started from IR; needs --ir-epochs >= 2)",
  },
  epochs: {
    value: 16,
    source: "measured: the 1% runs' 16 LLP epochs (docs/experiments.md); paper: 200-400 with plateau drops (recipe paper)",
  },
  batchSize: { value: 128, source: "paper Sec. 4" },
  lr: { value: 0.03, source: "paper Sec. 4" },
  momentum: { value: 0.9, source: "paper Sec. 4" },
  weightDecay: { value: 1e-4, source: "paper Sec. 4, lambda = 0.0001 (batch-norm parameters and biases excluded)" },
  lrDrop: { value: 0.1, source: "paper Sec. 4: dropped by a factor of 10" },
  milestones: {
    value: null,
    source:
      "epochs (of the LR schedule, after IR) at which the LR drops; null = one drop at 80% of --epochs (the measured 13 of 16) under schedule fixed",
  },
  schedule: {
    value: "fixed",
    source:
      "fixed: LR drops at --milestones (every measured best run); plateau: drop after --patience epochs without a new best validation top-1 (paper Sec. 4, recipe paper), used only when validation holds at least 500 points (a fixed schedule otherwise, said in the run's events)",
  },
  patience: { value: 5, source: "epochs without a new best validation accuracy before a drop" },
  maxDrops: { value: 3, source: "paper Sec. 4: three learning-rate drops, then stop" },
  labelledPerBatch: {
    value: 32,
    source:
      "a quarter of --batch-size when not given (32 at 128): measured, 32 labelled points in every batch (labelled oversampling, named departure) helped at every scale (docs/experiments.md); 0 = one shuffled stream (original code, recipe paper)",
  },
  augment: {
    value: "auto",
    source: "auto: pad-crop (+flip) for 1-channel images, resized-crop (the IR code's RandomResizedCrop 0.2-1 + jitter + flip) for RGB",
  },
  trainView: {
    value: "auto",
    source:
      "auto = cutout on images, weak on feature vectors (measured: cutout lifts both methods at 1%, docs/experiments.md). weak: losses on the batch as augmented (paper); cutout: losses on a copy with a random half-side square zeroed, pseudo-labels and bank rows from the weak view (named departure, FixMatch-style); strong: a random affine warp (rotate 30, shear 0.3, scale 0.85-1.15, shift 25%) then cutout (test scale: 3-5 points below weak for both methods); randaugment: FixMatch's RandAugment (2 random ops of 12 at random magnitudes) then cutout, fixmatch's auto",
  },
  mixup: {
    value: 0,
    source:
      "0 = off (paper). alpha > 0: the losses see each image mixed with another of the batch, lambda ~ Beta(alpha, alpha) folded to max(lambda, 1 - lambda), targets and weights mixed alike; pseudo-labels and bank rows from the unmixed view (named departure: mixup, Zhang et al. 2018, against confirmation bias in pseudo-labelling as in Arazo et al. 2019)",
  },
  consistency: {
    value: 10,
    source:
      "mean-teacher: the consistency cost's weight after ramp-up, softmax MSE / C. Measured departure from the cited 100 (Tarvainen & Valpola's released code, CIFAR-10): on Fashion-MNIST's small CNN, seed 0, 10 gives test top-1 0.8255 at 1% labels and 0.8927 at 10%, 100 gives 0.7865 and 0.7855 (docs/experiments.md)",
  },
  consistencyRampup: {
    value: 5,
    source:
      "mean-teacher: epochs of the sigmoid ramp-up of the consistency weight (their released code, CIFAR-10: 5); dct: of lambda_cot and lambda_dif (Qiao et al.: 80 of 600 epochs)",
  },
  emaDecay: {
    value: null,
    source:
      "the weight average's decay; null = the method's own: mean-teacher's teacher 0.97 (their released code, CIFAR-10), fixmatch's evaluated average 0.999 (Sohn et al. 2020)",
  },
  threshold: {
    value: 0.95,
    source:
      "fixmatch: the confidence above which a weak view's prediction becomes the strong view's target (Sohn et al. 2020: 0.95); pseudo-label: the classifier's confidence a pseudo-label needs (USB's pseudolabel: 0.95)",
  },
  unlabelledWeight: {
    value: 1,
    source:
      "the unlabelled loss's weight: fixmatch's lambda_u (Sohn et al. 2020: 1), vat's alpha on LDS (Miyato et al. 2018: 1), s4l-rotation's w on the rotation loss",
  },
  vatEpsilon: {
    value: 6,
    source:
      "vat, vat-em: the L2 norm of the adversarial perturbation per example (USB's setting, 6; Miyato et al.'s released code: 8.0 on CIFAR-10, 3.5 on SVHN)",
  },
  dctEpsilon: {
    value: 0.02,
    source:
      "dct: the FGSM step per input element of the adversarial examples that keep the two views apart (0.02, the value Qiao et al. gave for the PyTorch reimplementation; in the network's input units)",
  },
  pseudoLabelWarmup: {
    value: 6,
    source:
      "pseudo-label and dlp: epochs on the labelled points alone (at the base LR) before the classifier (pseudo-label) or the graph (dlp) labels the rest (the supervised-only budget measured at 1%, docs/experiments.md); then --epochs on both",
  },
  pseudoRatio: {
    value: 0.2,
    source:
      "dmt: the share of the unlabelled points, most confident first, that keep their propagated label (Liu et al.'s CIFAR-10 script: 0.2)",
  },
  seed: { value: 0, source: "one seed for split, shuffle, augmentation, initialisation" },
  threads: { value: null, source: "null = number of cores" },
  out: { value: null, source: "run folder; null = runs/<dataset>.<labelled>@<seed>-<method>" },
  checkpointEvery: { value: 1, source: "epochs between checkpoints" },
  evalEvery: { value: 1, source: "epochs between validation evaluations" },
  snapshots: {
    value: 0,
    source:
      "training points whose embeddings are saved at every epoch's end (snapshots/), for llp report's per-epoch pictures (paper Fig. 2); 0 = none",
  },
};

/**
 * Options earlier versions had, with the value that meant "off" (the paper's setting). Each was a
 * named departure that measured flat; its measurements are in docs/experiments.md. A saved run
 * that used one at its off value reopens without it; one that turned it on is refused by name.
 */
export const REMOVED_OPTIONS: Record<string, unknown> = {
  propagationQuery: "embedding",
  irLoss: "softmax",
  nceNoise: 4096,
  irView: "weak",
  ema: 0,
  alignment: "none",
  minConfidence: 0,
  irWeight: 0,
  teacher: null,
};

const removedWhy = (k: string) => `option "${k}" (--${kebab(k)}) was removed: it measured flat (docs/experiments.md)`;

/** A saved config without the removed options left at their off value; one turned on is an error. */
export function dropRemovedOptions(saved: Record<string, unknown>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(saved)) {
    if (!(k in REMOVED_OPTIONS)) out[k] = v;
    else if (JSON.stringify(v) !== JSON.stringify(REMOVED_OPTIONS[k]))
      throw new Error(`${where}: trained with ${k} = ${JSON.stringify(v)}; ${removedWhy(k)}, so this version cannot continue or reopen it`);
  }
  return out;
}

type Check = (v: unknown) => string | null;
const oneOf =
  (...xs: string[]): Check =>
  (v) =>
    xs.includes(v as string) ? null : `must be one of ${xs.join(", ")}`;
const num =
  (lo: number, hi: number, integer = false): Check =>
  (v) =>
    typeof v === "number" && Number.isFinite(v) && v >= lo && v <= hi && (!integer || Number.isInteger(v))
      ? null
      : `must be ${integer ? "an integer" : "a number"} in [${lo}, ${hi}]`;
const orNull =
  (c: Check): Check =>
  (v) =>
    v === null ? null : c(v);
const str: Check = (v) => (typeof v === "string" && v.length > 0 ? null : "must be a non-empty string");
const percent: Check = (v) =>
  typeof v === "string" && /^\d+(\.\d+)?%$/.test(v) && Number.parseFloat(v) > 0 && Number.parseFloat(v) <= 100
    ? null
    : "must be a percentage like '1%'";
const intList: Check = (v) =>
  Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0) ? null : "must be a list of epoch numbers";

const CHECKS: { [K in keyof Config]: Check } = {
  recipe: orNull(str),
  method: oneOf(
    "llp",
    "supervised",
    "mean-teacher",
    "pseudo-label",
    "fixmatch",
    "ir-knn",
    "vat",
    "vat-em",
    "s4l-rotation",
    "dlp",
    "dmt",
    "la",
    "dct",
  ),
  data: str,
  labels: orNull(str),
  test: orNull(str),
  testLabels: orNull(str),
  reveal: orNull(str),
  imageSize: orNull((v) =>
    (typeof v === "number" && Number.isInteger(v) && v >= 1) || (typeof v === "string" && /^[1-9]\d*x[1-9]\d*$/.test(v))
      ? null
      : "must be a side N or HxW like 64x48",
  ),
  color: oneOf("auto", "rgb", "gray"),
  labelColumn: orNull((v) =>
    (typeof v === "number" && Number.isInteger(v) && v >= 0) || str(v) === null ? null : "must be a column name or index",
  ),
  classes: orNull((v) =>
    Array.isArray(v) && v.length >= 2 && v.every((x) => Number.isInteger(x) && x >= 0) && new Set(v).size === v.length
      ? null
      : "must be a list of two or more distinct class indices like 0,1,2",
  ),
  labelled: orNull(percent),
  labelsPerClass: orNull(num(1, 1e9, true)),
  subset: percent,
  validation: orNull((v) => (typeof v === "string" ? percent(v) : num(0, 1e9, true)(v))),
  model: oneOf("auto", "small-cnn", "resnet18", "resnet50", "wrn-28", "mlp"),
  width: orNull(num(1, 4096, true)),
  poolGrid: orNull(num(1, 64, true)),
  embeddingDim: num(2, 4096, true),
  tau: num(0.025, 10), // bankExp stays in float32 range down to 0.025
  bankMomentum: num(0, 0.999),
  K: num(1, 10000, true),
  T: num(1, 10000, true),
  propagation: oneOf("auto", ...PROPAGATION_KINDS),
  ablation: orNull((v) => {
    if (typeof v !== "string") return "must be an ablation name like Top50woc";
    try {
      parseAblation(v);
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  }),
  labelScheme: oneOf("stored", "fresh"),
  irEpochs: num(0, 10000, true),
  init: oneOf("ir", "la"),
  epochs: num(0, 100000, true),
  batchSize: num(2, 65536, true),
  lr: num(0, 10),
  momentum: num(0, 0.999),
  weightDecay: num(0, 1),
  lrDrop: num(1e-6, 1),
  schedule: oneOf("fixed", "plateau"),
  milestones: orNull(intList),
  patience: num(1, 10000, true),
  maxDrops: num(0, 100, true),
  labelledPerBatch: num(0, 65536, true),
  augment: oneOf("auto", "pad-crop", "resized-crop", "none"),
  trainView: oneOf("auto", "weak", "cutout", "strong", "randaugment"),
  mixup: num(0, 8),
  consistency: num(0, 1e6),
  consistencyRampup: num(0, 10000, true),
  emaDecay: orNull(num(0, 0.99999)),
  threshold: num(0, 1),
  unlabelledWeight: num(0, 1e6),
  vatEpsilon: num(0, 1e6),
  dctEpsilon: num(0, 1e6),
  pseudoLabelWarmup: num(0, 10000, true),
  pseudoRatio: num(0, 1),
  seed: num(0, 2 ** 31 - 1, true),
  threads: orNull(num(1, 1024, true)),
  out: orNull(str),
  checkpointEvery: num(1, 100000, true),
  evalEvery: num(1, 100000, true),
  snapshots: num(0, 1_000_000, true),
};

export function defaultConfig(): Config {
  return Object.fromEntries(Object.entries(DEFAULTS).map(([k, d]) => [k, structuredClone(d.value)])) as unknown as Config;
}

/** The folder of the recipes shipped with llp (recipes/ at the package root). */
export const recipeDir = (): string => fileURLToPath(new URL("../../recipes/", import.meta.url));

/** The names of the shipped recipes. */
export function recipeNames(): string[] {
  return readdirSync(recipeDir())
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5))
    .sort();
}

/**
 * A recipe's settings: a shipped name (recipes/NAME.json) or a path to a JSON file. A recipe is
 * an object of config keys (and an optional "description"); an unknown key, a removed option or
 * a wrong value is an error naming the recipe and the key.
 */
export function loadRecipe(nameOrFile: string): Partial<Config> {
  const isFile = nameOrFile.endsWith(".json") || nameOrFile.includes("/");
  const file = isFile ? nameOrFile : join(recipeDir(), `${nameOrFile}.json`);
  if (!existsSync(file))
    throw new Error(
      isFile
        ? `recipe ${file}: no such file`
        : `unknown recipe "${nameOrFile}": the recipes are ${recipeNames().join(", ")} (or give a JSON file)`,
    );
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`recipe ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error(`recipe ${file}: must be a JSON object of options`);
  const { description, ...settings } = doc as Record<string, unknown>;
  if (description !== undefined && typeof description !== "string") throw new Error(`recipe ${file}: "description" must be a string`);
  const errors: string[] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (k === "recipe") errors.push(`a recipe cannot name another recipe`);
    else if (k in REMOVED_OPTIONS) errors.push(removedWhy(k));
    else if (!(k in DEFAULTS)) errors.push(`unknown option "${k}"`);
    else {
      const why = CHECKS[k as keyof Config](v);
      if (why) errors.push(`${optionName(k as keyof Config)} ${why} (got ${JSON.stringify(v)})`);
    }
  }
  if (errors.length > 0) throw new Error(`recipe ${file}:\n  ${errors.join("\n  ")}`);
  return settings as Partial<Config>;
}

/**
 * An ablation (Table 6) sets K and the propagation rule; given beside it, they must agree with it.
 * It is a part of LLP's step, so other methods, and mixup (whose mixed targets it does not cover), refuse it.
 */
function ablationSettings(c: Config, partial: Partial<Config>, errors: string[]): void {
  const name = c.ablation as string;
  if (c.method !== "llp") {
    errors.push(`${optionName("ablation")} switches parts of llp's step; ${c.method} has no such parts (got ${name})`);
    return;
  }
  if (c.mixup > 0) errors.push(`${optionName("ablation")} and ${optionName("mixup")} cannot be combined (got ${name}, mixup ${c.mixup})`);
  const a = parseAblation(name);
  const rule = ablationPropagation(a);
  if (partial.K !== undefined && partial.K !== a.K) errors.push(`${optionName("K")} = ${partial.K}, but ${name} trains with K = ${a.K}`);
  if (partial.propagation !== undefined && partial.propagation !== "auto" && partial.propagation !== rule)
    errors.push(`${optionName("propagation")} = ${partial.propagation}, but ${name} propagates by ${rule}`);
  c.K = a.K;
  c.propagation = rule;
}

/**
 * Fills defaults, rejects unknown keys and invalid values (all problems in one message). With
 * `recipe` set, the recipe's settings come under the options given (a saved run's config is
 * complete, so o.recipe = false leaves the recipe file unread).
 */
export function resolveConfig(given: Partial<Config>, o: { recipe?: boolean } = {}): Config {
  const stated = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<Config>; // undefined = not given
  const partial = stated.recipe && o.recipe !== false ? { ...loadRecipe(stated.recipe), ...stated } : stated;
  const errors: string[] = [];
  for (const k of Object.keys(partial)) if (!(k in DEFAULTS)) errors.push(k in REMOVED_OPTIONS ? removedWhy(k) : `unknown option "${k}"`);
  const cfg = defaultConfig() as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(partial)) if (k in DEFAULTS && v !== undefined) cfg[k] = v;
  for (const [k, check] of Object.entries(CHECKS)) {
    const why = check(cfg[k]);
    if (why) errors.push(`${optionName(k as keyof Config)} ${why} (got ${JSON.stringify(cfg[k])})`);
  }
  const c = cfg as unknown as Config;
  // labelled oversampling scales with the batch unless given: a quarter of it (32 at 128);
  // fixmatch's own split, mu = 7 unlabelled per labelled (Sohn et al. 2020): an eighth (16 at 128)
  if (partial.labelledPerBatch === undefined && typeof c.batchSize === "number")
    c.labelledPerBatch = Math.floor(c.batchSize / (c.method === "fixmatch" ? 8 : 4));
  if (c.testLabels !== null && c.test === null)
    errors.push(`${optionName("testLabels")} labels a test set; give ${optionName("test")} too`);
  if (c.labelled !== null && c.labelsPerClass !== null)
    errors.push(`give ${optionName("labelled")} or ${optionName("labelsPerClass")}, not both`);
  if (c.poolGrid !== null && c.model !== "small-cnn" && c.model !== "auto")
    errors.push(`${optionName("poolGrid")} is a small-cnn option (model is ${c.model})`);
  if (c.init !== "ir" && c.method !== "llp")
    errors.push(`${optionName("init")} = ${c.init} sets llp's warm start; ${c.method} has none (got ${c.method})`);
  if (c.method === "la" && c.irEpochs < 1)
    errors.push(
      `${optionName("irEpochs")}: la clusters the bank of an Instance Recognition warm start; it needs at least 1 (got ${c.irEpochs})`,
    );
  if (c.init === "la" && c.method === "llp" && c.irEpochs < 2)
    errors.push(
      `${optionName("init")} la trains one IR epoch, then Local Aggregation: it needs ${optionName("irEpochs")} >= 2 (got ${c.irEpochs})`,
    );
  if ((["llp", "dmt", "la"].includes(c.method) ? c.irEpochs : 0) + c.epochs === 0)
    errors.push(
      ["llp", "dmt", "la"].includes(c.method)
        ? `${optionName("irEpochs")} and ${optionName("epochs")} are both 0: nothing to train`
        : `${optionName("epochs")} is 0: nothing to train`,
    );
  if (c.method !== "llp" && c.method !== "supervised" && c.mixup > 0)
    errors.push(`${optionName("mixup")} is an llp and supervised option; ${c.method} has its own noise (got ${c.mixup})`);
  if ((c.method === "ir-knn" || c.method === "la") && c.trainView !== "auto" && c.trainView !== "weak")
    errors.push(`${optionName("trainView")}: ${c.method} trains on one view (auto or weak; got ${c.trainView})`);
  if (c.method === "fixmatch" && c.trainView === "weak")
    errors.push(
      `${optionName("trainView")} is fixmatch's strong view (auto = randaugment; cutout or strong); weak gives it none (got weak)`,
    );
  if (c.ablation !== null && CHECKS.ablation(c.ablation) === null) ablationSettings(c, partial, errors);
  if (c.labelledPerBatch >= c.batchSize)
    errors.push(`${optionName("labelledPerBatch")} = ${c.labelledPerBatch} must be below ${optionName("batchSize")} = ${c.batchSize}`);
  if (errors.length > 0) throw new Error(`invalid config:\n  ${errors.join("\n  ")}`);
  return c;
}
