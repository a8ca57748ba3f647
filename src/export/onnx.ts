// `llp export`: a finished run's network as an ONNX model that runs without libtorch
// (onnxruntime-node, onnxruntime-web). The graph is written from llp's own module tree (each
// layer's `onnx` form), from the network the method evaluates with (the weight average for
// Mean Teacher and FixMatch), with the run's input normalisation folded in: the model takes
// what a user has, pixel values 0-255 (or the feature values as loaded), and everything the
// loader would do after decoding is inside the graph.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Normalization } from "../data/augment.js";
import { type ExportedInput, INPUT_NAME, META, ONNX_FORMAT, OUTPUTS } from "../infer/format.js";
import type { LLPNet } from "../model/net.js";
import { encodeModel, ONNX_OPSET, OnnxGraph, type Value, type ValueInfo } from "../torch/onnx.js";
import { inferenceNet } from "../train/checkpoint.js";
import type { OpenRun } from "../train/run.js";

export const HEADS = ["both", "classifier", "embedding"] as const;
export type Head = (typeof HEADS)[number];

/** Why a folder cannot be exported, or null: it must be a finished run (summary.json and a checkpoint). */
export function notExportable(runDir: string): string | null {
  if (!existsSync(join(runDir, "config.json"))) return `${runDir} is not a run folder (no config.json)`;
  if (!existsSync(join(runDir, "summary.json")))
    return `${runDir} is not a finished run (no summary.json): \`llp train --resume ${runDir}\` trains it to the end`;
  if (!existsSync(join(runDir, "checkpoint.safetensors"))) return `${runDir} has no checkpoint.safetensors`;
  return null;
}

/**
 * The run's network as ONNX bytes. Inputs: "input" [batch, ...inputShape] float32, the values as
 * the training data stored them (uint8 pixels as 0-255; float data as they are). Outputs:
 * classifier: "logits" [batch, C] and "probs" [batch, C] (softmax); embedding: "embedding"
 * [batch, D] (unit length, the v that the memory bank holds).
 */
export function exportRunOnnx(run: OpenRun, head: Head, producerVersion: string): Uint8Array {
  const net = inferenceNet(run.state);
  return exportNetOnnx(
    net,
    {
      inputShape: run.info.inputShape,
      classNames: run.info.classNames,
      normalization: run.info.normalization,
      method: run.cfg.method,
      model: run.cfg.model,
      stored: run.prepared.storage,
      weights: net === run.state.net ? "the trained network" : "the weight average the method evaluates with",
    },
    head,
    producerVersion,
  );
}

/** What an exported model says about itself besides its weights. */
export interface ExportSpec {
  /** [C, H, W] for images, [F] for feature vectors */
  inputShape: number[];
  classNames: string[];
  /** the statistics the training loader normalised with (per channel, or per feature) */
  normalization: Normalization;
  method: string;
  model: string;
  /** which network this is (the trained one, or a weight average) */
  weights: string;
  /** how the training data stored examples: uint8 (normalised after x / 255, as the loader does) or float32 */
  stored: "uint8" | "float32";
}

/** A network (in eval mode) as ONNX bytes; see exportRunOnnx for the graph's inputs and outputs. */
export function exportNetOnnx(net: LLPNet, spec: ExportSpec, head: Head, producerVersion: string): Uint8Array {
  if (net.training) throw new Error("export: the network must be in eval mode");
  const shape = spec.inputShape;
  const image = shape.length === 3;
  const g = new OnnxGraph();
  // normalizeBatch, folded: x * (s / std) + (-mean / std), per channel (images) or per feature,
  // where s = 1/255 for pixels
  const { mean, std } = spec.normalization;
  const s = spec.stored === "uint8" ? 1 / 255 : 1; // the loader's scale (normalizeBatch)
  const dims = image ? [shape[0] as number, 1, 1] : [shape[0] as number];
  const scale = g.constant(
    "input_scale",
    mean.map((_, c) => s / (std[c] as number)),
    dims,
  );
  const shift = g.constant(
    "input_shift",
    mean.map((m, c) => -m / (std[c] as number)),
    dims,
  );
  const x: Value = { name: g.op("Add", [g.op("Mul", [INPUT_NAME, scale]), shift]), shape: [-1, ...shape] };

  const outputs: ValueInfo[] = [];
  const { v, logits } = net.onnxHeads(g, x);
  const numClasses = spec.classNames.length;
  if (head !== "embedding") {
    g.op("Identity", [logits.name], {}, OUTPUTS.logits);
    g.op("Softmax", [logits.name], { axis: 1 }, OUTPUTS.probs);
    outputs.push({ name: OUTPUTS.logits, shape: ["batch", numClasses] }, { name: OUTPUTS.probs, shape: ["batch", numClasses] });
  }
  if (head !== "classifier") {
    g.op("Identity", [v.name], {}, OUTPUTS.embedding);
    outputs.push({ name: OUTPUTS.embedding, shape: ["batch", v.shape[1] as number] });
  }
  // only the nodes the chosen outputs need stay (an embedding-only model carries no classifier)
  prune(
    g,
    outputs.map((o) => o.name),
  );

  const input: ExportedInput = image
    ? { kind: "image", shape, color: shape[0] === 1 ? "gray" : "rgb", stored: spec.stored }
    : { kind: "features", shape, stored: spec.stored };
  return encodeModel({
    graph: g,
    graphName: `llp-${spec.method}-${spec.model}`,
    inputs: [{ name: INPUT_NAME, shape: ["batch", ...shape] }],
    outputs,
    producerVersion,
    docString: `llp: input = float32 [batch, ${shape.join(", ")}], the values as the training data stored them (${spec.stored === "uint8" ? "0-255" : "float"}); normalisation inside the graph`,
    metadata: {
      [META.format]: ONNX_FORMAT,
      [META.input]: JSON.stringify(input),
      [META.classes]: JSON.stringify(spec.classNames),
      [META.normalization]: JSON.stringify({ ...spec.normalization, folded: true, pixelScale: s }),
      [META.heads]: JSON.stringify(outputs.map((o) => o.name)),
      [META.method]: spec.method,
      [META.model]: spec.model,
      [META.weights]: spec.weights,
      [META.opset]: String(ONNX_OPSET),
    },
  });
}

/** Removes nodes and initializers that no output depends on. */
function prune(g: OnnxGraph, outputs: string[]): void {
  const needed = new Set(outputs);
  const keep = new Set<number>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i] as OnnxGraph["nodes"][number];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    keep.add(i);
    for (const x of n.inputs) needed.add(x);
  }
  const nodes = g.nodes.filter((_, i) => keep.has(i));
  g.nodes.splice(0, g.nodes.length, ...nodes);
  const inits = g.initializers.filter((t) => needed.has(t.name));
  g.initializers.splice(0, g.initializers.length, ...inits);
}
