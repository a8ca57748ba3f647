// Per-batch transforms for the trainer (temporary home until src/data's augmentation lands).
import { pad } from "../torch/functional.js";
import { stack, type Tensor, tensor } from "../torch/tensor.js";
import type { BatchTransform } from "./data.js";

export function normalizer(mean: number[], std: number[]): BatchTransform {
  return (x) => {
    const c = x.size(1);
    const m = mean.length === 1 ? (mean[0] as number) : null;
    if (m !== null) return x.sub(m).div(std[0] as number);
    const shape = [1, c, ...x.shape.slice(2).map(() => 1)];
    return x.sub(tensor(Float32Array.from(mean), shape)).div(tensor(Float32Array.from(std), shape));
  };
}

/** Random crop after zero padding by `padding`, and a horizontal flip with p = 0.5. x: [B,C,H,W] */
export function cropFlip(padding: number, norm: BatchTransform): BatchTransform {
  return (x, gen) => {
    const [b, , h, w] = x.shape as [number, number, number, number];
    const u = gen.uniforms(3 * b);
    const padded = pad(x, [padding, padding, padding, padding]);
    const out: Tensor[] = [];
    for (let i = 0; i < b; i++) {
      const oy = Math.floor((u[3 * i] as number) * (2 * padding + 1));
      const ox = Math.floor((u[3 * i + 1] as number) * (2 * padding + 1));
      let img = padded
        .select(0, i)
        .slice(1, oy, oy + h)
        .slice(2, ox, ox + w); // [C,H,W]
      if ((u[3 * i + 2] as number) < 0.5) img = img.flip([2]);
      out.push(img);
    }
    return norm(stack(out, 0), gen);
  };
}

/** Mean and std per channel of up to `max` examples (in [0,1]). */
export function channelStats(x: Tensor): { mean: number[]; std: number[] } {
  const c = x.size(1);
  const flat = x.transpose(0, 1).reshape([c, -1]);
  return { mean: flat.mean(1).toNumbers(), std: flat.std(1).toNumbers() };
}
