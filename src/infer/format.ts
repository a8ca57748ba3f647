// The contract between `llp export` (src/export/onnx.ts) and what runs an exported model
// (src/infer, examples/browser): the graph's names and the metadata keys. No tensors here.

export const ONNX_FORMAT = "llp-onnx-1";
export const INPUT_NAME = "input";
export const OUTPUTS = { logits: "logits", probs: "probs", embedding: "embedding" } as const;

/** What an exported model's metadata says about its input, under the key "llp.input" (JSON). */
export interface ExportedInput {
  /** "image": [C, H, W], decoded, scaled to cover H x W and centre-cropped; "features": [F] */
  kind: "image" | "features";
  shape: number[];
  /** images: "gray" (C = 1) or "rgb" (C = 3) */
  color?: "gray" | "rgb";
  /**
   * how the training data stored its values, which the graph takes as they were stored: "uint8"
   * = 0-255 (the 1/255 is inside the graph), "float32" = the float values. Absent in the first
   * exports: uint8 for images, float32 for features.
   */
  stored?: "uint8" | "float32";
}

/** The metadata an exported model carries (metadata_props, every value a string; JSON where structured). */
export const META = {
  format: "llp.format",
  input: "llp.input",
  classes: "llp.classes",
  normalization: "llp.normalization",
  heads: "llp.heads",
  method: "llp.method",
  model: "llp.model",
  weights: "llp.weights",
  opset: "llp.opset",
} as const;
