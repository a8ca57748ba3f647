// Inputs for `llp predict`: image files (decoded with sharp to the run's input shape) or a
// .npy matrix of rows (data/inputs.ts), normalised with the run's statistics.
import type { Normalization } from "../data/augment.js";
import { readInputs } from "../data/inputs.js";
import type { Tensor } from "../torch/tensor.js";
import { normalizedTensor } from "../train/data.js";

export async function decodeInputs(inputs: string[], shape: number[], norm: Normalization): Promise<{ x: Tensor; names: string[] }> {
  const { raw, n, names } = await readInputs(inputs, shape, norm);
  return { x: normalizedTensor(raw, n, shape, norm), names };
}
