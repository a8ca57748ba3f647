// Supervised-only: the same network trained on the labelled points alone (cross-entropy), the
// baseline every semi-supervised method is measured against. Batches hold labelled points only,
// and as many steps per epoch as the other methods take.
import { blend, drawMix, mixImages } from "../data/views.js";
import { categorization } from "../losses/losses.js";
import { tidy } from "../torch/scope.js";
import { type Tensor, tensor } from "../torch/tensor.js";
import { emptyStats, OnePhaseMethod, optimise, type StepStats, type ViewedBatch } from "./method.js";

export class Supervised extends OnePhaseMethod {
  readonly name = "supervised" as const;

  /** labelled points only */
  override sampling() {
    return { labelledOnly: true, labelledPerBatch: this.ctx.cfg.labelledPerBatch };
  }

  /** Mean cross-entropy of the batch's labels (mixed with a partner's under --mixup). */
  step(batch: ViewedBatch): StepStats {
    return tidy(() => {
      const { cfg, net } = this.ctx;
      const b = batch.index.length;
      const mix = cfg.mixup > 0 ? drawMix(b, cfg.mixup, batch.draws) : null;
      const x = batch.strong ?? batch.x; // [B, ...]
      const { logits } = net.heads(mix ? mixImages(x, mix) : x); // [B, C]
      const y = tensor(batch.label, [b], "int64"); // [B], all labelled here
      const lc = categorization(logits, y); // [B]
      const loss: Tensor = (mix ? blend(lc, categorization(logits, y.indexSelect(0, mix.perm)), mix) : lc).mean();
      optimise(this.ctx, loss);
      const l = loss.item();
      return { ...emptyStats(), "loss/total": l, "loss/categorization": l };
    });
  }
}
