// Mean Teacher (Tarvainen & Valpola 2017): a teacher whose weights are an exponential moving
// average of the student's gives targets for every point; the student takes cross-entropy on
// its labelled points plus a consistency cost toward the teacher's class probabilities, with a
// sigmoid ramp-up of its weight. The teacher evaluates and predicts.
//
// Views: the teacher sees the batch as loaded, the student the view --train-view gives (the two
// noises of the method's input augmentation); with --train-view weak both see the same images.
// The teacher (WeightAverage) is this method's one piece of state; update() its only writer.
import { categorization, consistencyMse } from "../losses/losses.js";
import type { LLPNet } from "../model/net.js";
import { tidy } from "../torch/scope.js";
import { noGrad, type Tensor, tensor } from "../torch/tensor.js";
import { WeightAverage } from "../train/ema.js";
import { sigmoidRampup } from "../train/schedule.js";
import { emptyStats, type MethodContext, OnePhaseMethod, optimise, type StepStats, type ViewedBatch } from "./method.js";

/** The teacher's EMA decay when --ema-decay is null (Tarvainen & Valpola's released code, CIFAR-10). */
export const MEAN_TEACHER_EMA = 0.97;

export class MeanTeacher extends OnePhaseMethod {
  readonly name = "mean-teacher" as const;
  readonly teacher: WeightAverage;
  #epoch = 0;

  constructor(ctx: MethodContext) {
    super(ctx);
    this.teacher = new WeightAverage(ctx.makeNet(), ctx.cfg.emaDecay ?? MEAN_TEACHER_EMA);
    this.teacher.reset(ctx.net);
  }

  override async start(): Promise<void> {
    this.teacher.reset(this.ctx.net);
  }
  override beginEpoch(epoch: number): void {
    this.#epoch = epoch;
  }

  /** The consistency weight at an epoch: w_max times the sigmoid ramp-up. */
  consistencyWeight(epoch: number): number {
    return this.ctx.cfg.consistency * sigmoidRampup(epoch, this.ctx.cfg.consistencyRampup);
  }

  /** L = mean_B L_C(labelled; 0 elsewhere) + w(epoch) mean_B |softmax(student) - softmax(teacher)|^2 / C */
  step(batch: ViewedBatch): StepStats {
    return tidy(() => {
      const { net } = this.ctx;
      const b = batch.index.length;
      const { logits } = net.heads(batch.strong ?? batch.x); // [B, C] the student
      const target = noGrad(() => this.teacher.net.heads(batch.x).logits); // [B, C] the teacher, eval mode
      const y = tensor(batch.label, [b], "int64"); // [B], -1 = unlabelled
      const lc = categorization(logits, y).mean(); // summed over labelled points, / B (their code's scale)
      const lcons = consistencyMse(logits, target).mean();
      const w = this.consistencyWeight(this.#epoch);
      const loss = lc.add(lcons.mul(w));
      optimise(this.ctx, loss);
      this.teacher.update(net);
      return {
        ...emptyStats(),
        "loss/total": loss.item(),
        "loss/categorization": lc.item(),
        "loss/consistency": lcons.item(),
        "monitor/consistencyWeight": w,
      };
    });
  }

  override evalNet(): LLPNet {
    return this.teacher.net;
  }
  override stateDict(): Map<string, Tensor> {
    return this.teacher.stateDict("teacher.");
  }
  override loadStateDict(state: Map<string, Tensor>, path: string): void {
    this.teacher.loadStateDict(state, "teacher.", path, "mean teacher");
  }
  override dispose(): void {
    this.teacher.dispose();
  }
}
