// `llp transfer RUN_DIR --data SPEC`: how well a trained network's features serve another labelled
// dataset (the paper's Table 4 idea). The backbone is frozen; a linear readout is fitted on the
// new dataset's labelled training points (SGD, lr 0.01, dropped on plateaus of its validation
// split: src/train/readout.ts) and scored on its test set (else its validation split). The new
// data are normalised as the run's were, so the backbone sees what it was trained on.
import { existsSync } from "node:fs";
import { type Config, resolveConfig } from "../config.js";
import { Generator } from "../torch/random.js";
import { writeFileAtomic } from "../torch/safetensors.js";
import { dispose } from "../torch/scope.js";
import { type Tensor, tensor } from "../torch/tensor.js";
import { inferenceNet } from "../train/checkpoint.js";
import { prepareData } from "../train/data.js";
import { backboneFeatures, fitReadout, linearTop1 } from "../train/readout.js";
import { openRun } from "../train/run.js";
import { parseFlags } from "./args.js";

export const TRANSFER_HELP = `llp transfer RUN_DIR --data SPEC [data options] [--seed S] [--threads N] [--out FILE.json]
                 a linear readout of RUN_DIR's frozen features on another labelled dataset, scored on its test set
                 data options: --labels, --test, --test-labels, --classes LIST, --labelled P% or --labels-per-class N,
                 --validation, --image-size, --color, --label-column
`;

/** t, recorded in `held` for disposal. */
function keepIn(held: Tensor[], t: Tensor): Tensor {
  held.push(t);
  return t;
}

/** The config keys llp transfer reads: the new dataset's, the seed of its split and readout, threads and --out. */
const TRANSFER_KEYS = [
  "data",
  "labels",
  "test",
  "testLabels",
  "classes",
  "labelled",
  "labelsPerClass",
  "validation",
  "imageSize",
  "color",
  "labelColumn",
  "seed",
  "threads",
  "out",
] as const;

export interface TransferResult {
  run: string;
  data: string;
  classes: string[];
  train: number;
  validation: number;
  /** what the readout was scored on */
  scored_on: "test" | "validation";
  scored: number;
  top1: number;
  train_top1: number;
  validation_top1: number;
  readout_epochs: number;
}

export async function transferCmd(argv: string[]): Promise<number> {
  const { positionals, config } = parseFlags(argv, {});
  if (positionals.length !== 1) throw new Error(`usage: ${TRANSFER_HELP}`);
  const runDir = positionals[0] as string;
  const extra = Object.keys(config).filter((k) => !(TRANSFER_KEYS as readonly string[]).includes(k));
  if (extra.length > 0) throw new Error(`llp transfer takes no --${extra.join(", --")} (it fits a readout; see llp --help)`);
  if (config.data === undefined) throw new Error("llp transfer needs --data SPEC: the labelled dataset to read out");
  const out = config.out as string | undefined;
  if (out !== undefined && existsSync(out)) throw new Error(`${out} exists; choose another --out`);
  const given = Object.fromEntries(Object.entries(config).filter(([k]) => k !== "out" && k !== "threads")) as Partial<Config>;
  // a config for the data layer only (no batches are drawn: any batch size fits)
  const cfg = resolveConfig({ ...given, method: "supervised", batchSize: 2, labelledPerBatch: 1 });
  const run = await openRun(runDir, config.threads as number | undefined);
  try {
    const { data } = await prepareData(cfg, null, { normalization: run.prepared.normalization });
    if (data.inputShape.join("x") !== run.info.inputShape.join("x"))
      throw new Error(
        `${cfg.data}: examples of shape [${data.inputShape}], but ${runDir} was trained on [${run.info.inputShape}] (give --image-size / --color to match)`,
      );
    const net = inferenceNet(run.state); // the network the run evaluates (Mean Teacher's teacher, FixMatch's average)
    const rows = Int32Array.from(data.labels.keys()).filter((i) => (data.labels[i] as number) >= 0);
    if (rows.length === 0) throw new Error(`${cfg.data}: no labelled training points to fit the readout on`);
    // scored on the test set; without one, on the validation split, which then plays no part in the fit
    // (the readout's LR drops follow its training loss)
    const scoredSet = data.test ?? data.validation;
    if (scoredSet.n === 0)
      throw new Error(
        data.test
          ? `${cfg.data}: its test set holds none of the classes read out (--classes): nothing to score the readout on`
          : `${cfg.data}: no test set and no validation points to score the readout on (give --test or --validation)`,
      );
    const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
    const held: Tensor[] = [];
    try {
      const X = keepIn(held, await backboneFeatures(net, data, rows));
      const y = keepIn(
        held,
        tensor(
          Int32Array.from(rows, (i) => data.labels[i] as number),
          [rows.length],
          "int64",
        ),
      );
      const heldOut = data.test
        ? {
            X: keepIn(held, await backboneFeatures(net, data.validation, all(data.validation.n))),
            y: keepIn(held, tensor(data.validation.labels, [data.validation.n], "int64")),
          }
        : null;
      const T = keepIn(held, await backboneFeatures(net, scoredSet, all(scoredSet.n)));
      const ty = keepIn(held, tensor(scoredSet.labels, [scoredSet.n], "int64"));
      const fit = fitReadout(X, y, heldOut, data.numClasses, new Generator(cfg.seed));
      held.push(fit.weight, fit.bias);
      const result: TransferResult = {
        run: runDir,
        data: cfg.data,
        classes: data.classNames,
        train: rows.length,
        validation: data.validation.n,
        scored_on: data.test ? "test" : "validation",
        scored: scoredSet.n,
        top1: linearTop1(T, ty, fit.weight, fit.bias),
        train_top1: fit.trainTop1,
        validation_top1: fit.heldOutTop1,
        readout_epochs: fit.epochs,
      };
      if (out !== undefined) writeFileAtomic(out, `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    } finally {
      dispose(held);
    }
  } finally {
    run.dispose();
  }
}
