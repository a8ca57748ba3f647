// S4L-Rotation (Zhai et al. 2019): the classifier learns from the labelled points while the
// backbone also learns to tell which of four rotations (0, 90, 180, 270 degrees) each image of
// the batch, labelled or not, was turned by:
//   L = L_s + w L_rot
//   L_s   = mean over the batch's labelled points of CE(classifier(f(x)), y)
//   L_rot = mean over the 4B rotated copies of CE(rotation head(f(rot_k x)), k)
// as in their setup, all four copies of every image go through the network (one batch of 4B;
// so a step costs about four supervised ones), and the rotation head is a linear layer on the
// backbone's features beside the classifier. w = --unlabelled-weight (1). The rotation head and
// its optimiser (momentum buffers) are this method's state.
import { categorization } from "../losses/losses.js";
import { Linear } from "../torch/nn/layers.js";
import { Generator } from "../torch/random.js";
import { tidy } from "../torch/scope.js";
import { cat, full, type Tensor, tensor } from "../torch/tensor.js";
import {
  emptyStats,
  type MethodContext,
  OnePhaseMethod,
  OwnedPart,
  optimise,
  type StepStats,
  subsetMean,
  type ViewedBatch,
} from "./method.js";

/** x [B, C, H, W] turned k quarter turns counter-clockwise in the image plane (torch.rot90(x, k, [2, 3])). */
export function rot90(x: Tensor, k: number): Tensor {
  switch (((k % 4) + 4) % 4) {
    case 0:
      return x;
    case 1:
      return x.flip([3]).transpose(2, 3);
    case 2:
      return x.flip([2, 3]);
    default:
      return x.flip([2]).transpose(2, 3);
  }
}

/** The four rotated copies of a square-image batch x [B, C, H, W]: images [4B, C, H, W] (copy k in rows kB..(k+1)B) and labels k [4B] int64. */
export function rotations(x: Tensor): { x: Tensor; y: Tensor } {
  const b = x.size(0);
  return {
    x: cat([0, 1, 2, 3].map((k) => rot90(x, k).contiguous())),
    y: cat([0, 1, 2, 3].map((k) => full([b], k, "int64"))),
  };
}

/** Why S4L-Rotation cannot take inputs of this shape, or null (it turns square images). */
export function rotationMismatch(inputShape: number[]): string | null {
  if (inputShape.length !== 3)
    return `method s4l-rotation needs images [C,H,W], but the data are [${inputShape.join(",")}] feature vectors`;
  if (inputShape[1] !== inputShape[2])
    return `method s4l-rotation needs square images (a quarter turn must keep the shape), but they are ${inputShape[1]}x${inputShape[2]}: give --image-size N`;
  return null;
}

export class S4LRotation extends OnePhaseMethod {
  readonly name = "s4l-rotation" as const;
  readonly #head: OwnedPart<Linear>; // backbone features [F] -> 4 rotations, and its SGD

  constructor(ctx: MethodContext) {
    const why = rotationMismatch(ctx.data.inputShape);
    if (why) throw new Error(why);
    super(ctx);
    // its own generator, as makeNet's: the run's stream is untouched
    this.#head = new OwnedPart(
      new Linear(ctx.net.backbone.featureDim, 4, new Generator(ctx.cfg.seed + 4)),
      ctx.cfg,
      "rotation.",
      "rotation head",
    );
  }

  step(batch: ViewedBatch): StepStats {
    return tidy(() => {
      const { cfg, net } = this.ctx;
      const x = batch.strong ?? batch.x; // [B, C, H, W]
      const b = batch.index.length;
      const rot = rotations(x); // [4B, C, H, W], [4B]
      const h = net.forward(rot.x); // [4B, F], the unturned copies first
      const logits = net.classifier.forward(h.slice(0, 0, b)); // [B, C]
      const y = tensor(batch.label, [b], "int64"); // [B], -1 = unlabelled
      const labelled = batch.label.reduce((n, l) => n + (l >= 0 ? 1 : 0), 0);
      const ls = subsetMean(this.ctx, categorization(logits, y).sum(), labelled);
      const lrot = categorization(this.#head.module.forward(h), rot.y).mean();
      const loss = ls.add(lrot.mul(cfg.unlabelledWeight));
      optimise(this.ctx, loss, [this.#head.opt]);
      return { ...emptyStats(), "loss/total": loss.item(), "loss/categorization": ls.item(), "loss/rotation": lrot.item() };
    });
  }

  override stateDict(): Map<string, Tensor> {
    return this.#head.stateDict();
  }
  override loadStateDict(state: Map<string, Tensor>, path: string): void {
    this.#head.loadStateDict(state, path);
  }
  override dispose(): void {
    this.#head.dispose();
  }
}
