// Standard initialisations, all drawn from an explicit generator.
import type { Generator } from "../random.js";
import type { Tensor } from "../tensor.js";

/** fan_in and fan_out of a weight [out, in, ...kernel]. */
export function fans(shape: number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (shape[1] ?? 1) * receptive, fanOut: (shape[0] ?? 1) * receptive };
}

/** He et al. 2015: N(0, 2/fan) for ReLU networks (mode "fanOut" as torchvision's ResNet). */
export function kaimingNormal_(t: Tensor, gen: Generator, mode: "fanIn" | "fanOut" = "fanIn"): Tensor {
  const f = fans(t.shape);
  const std = Math.sqrt(2 / (mode === "fanIn" ? f.fanIn : f.fanOut));
  return gen.normal_(t, 0, std);
}

/** PyTorch's default for Linear/Conv weights: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function kaimingUniform_(t: Tensor, gen: Generator, a = Math.sqrt(5)): Tensor {
  const { fanIn } = fans(t.shape);
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fanIn);
  return gen.uniform_(t, -bound, bound);
}

/** PyTorch's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function biasUniform_(t: Tensor, fanIn: number, gen: Generator): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return gen.uniform_(t, -bound, bound);
}
