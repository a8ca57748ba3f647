// Local Label Propagation (Zhuang et al. 2019): Instance Recognition epochs, then LLP epochs in
// which each step propagates labels to its batch through the memory bank's local geometry
// (Eqs. 5-8) and trains on them weighted by confidence (Eq. 4).
//
// LLP's N-long state (memory bank V, label state, density rho of the labelled points) is owned by
// LLPState, whose mutators are its only writers: refreshDensity() once per epoch (restoreDensity()
// on a resume inside one), and writeBack() after each step's update.
import type { Config } from "../config.js";
import { blend, drawMix, type Mix, mixImages, resolveView } from "../data/views.js";
import type { DataParallel } from "../distributed/data-parallel.js";
import { aggregationWeight, bankSetLoss, categorization, llpLoss } from "../losses/losses.js";
import { MemoryBank } from "../memory/bank.js";
import { LabelState, labelledTensors } from "../memory/labels.js";
import { logDensity } from "../propagation/density.js";
import { type PropagationRule, RULES, resolvePropagation } from "../propagation/rules.js";
import { dispose, keep, tidy } from "../torch/scope.js";
import { arange, cat, full, noGrad, type Tensor, tensor, zeros } from "../torch/tensor.js";
import type { Phase } from "../train/types.js";
import { FULL_LLP, parseAblation } from "./ablation.js";
import { LocalAggregationState } from "./la-state.js";
import { emptyStats, type Method, type MethodContext, optimise, type StepStats, singleProcessOnly, type ViewedBatch } from "./method.js";

/** The memory bank, the label state and the density, with their writers. */
export class LLPState {
  readonly bank: MemoryBank; // V [N, D]
  readonly labels: LabelState; // y, c [N]
  readonly labelledIdx: Tensor; // [M] int64 rows of the labelled points
  readonly labelledY: Tensor; // [M] int64 their labels
  /** [M] log rho(v_i) of the labelled points (Eq. 7), refreshed once per epoch; null before the first */
  logRho: Tensor | null = null;

  constructor(ctx: MethodContext) {
    const { cfg, data } = ctx;
    this.bank = new MemoryBank(data.n, cfg.embeddingDim, ctx.gen, cfg.bankMomentum);
    this.labels = new LabelState(data.labels);
    const l = labelledTensors(this.labels);
    this.labelledIdx = keep(l.idx);
    this.labelledY = keep(l.y);
  }

  /**
   * Fills the bank with every training point's embedding (one no-grad pass, eval mode).
   * Data-parallel: each rank embeds its part of the points, and the parts are all-gathered.
   */
  async fill(ctx: MethodContext, batchSize = 512): Promise<void> {
    const { net, data, dp } = ctx;
    const [lo, hi] = dp ? dp.part(data.n) : [0, data.n];
    const parts: Tensor[] = [];
    net.eval();
    try {
      for (let start = lo; start < hi; start += batchSize) {
        const idx = Int32Array.from({ length: Math.min(batchSize, hi - start) }, (_, i) => start + i);
        const x = await data.inputs(idx);
        noGrad(() =>
          tidy(() => {
            const v = net.heads(x).v; // [b, D]
            if (dp) parts.push(keep(v));
            else this.bank.set(tensor(idx, [idx.length], "int64"), v);
          }),
        );
        x.dispose();
      }
      if (dp)
        tidy(() => {
          const mine = parts.length > 0 ? cat(parts) : zeros([0, this.bank.V.shape[1] as number]); // [hi - lo, D]
          const all = dp.gatherParts(mine, data.n); // [N, D]
          this.bank.set(arange(data.n), all);
        });
    } finally {
      dispose(parts);
      net.train();
    }
  }

  /**
   * rho of every labelled point against the whole bank (Sec. 4: once per epoch). Data-parallel:
   * each rank computes its part of the labelled points, and the parts are all-gathered.
   */
  refreshDensity(T: number, tau: number, dp: DataParallel | null = null): void {
    this.logRho?.dispose();
    const M = this.labelledIdx.numel;
    if (M === 0) {
      this.logRho = null;
      return;
    }
    this.logRho = keep(
      tidy(() => {
        if (!dp) return logDensity(this.bank.V.indexSelect(0, this.labelledIdx), this.bank.V, T, tau);
        const [lo, hi] = dp.part(M);
        const mine = logDensity(this.bank.V.indexSelect(0, this.labelledIdx.slice(0, lo, hi)), this.bank.V, T, tau); // [hi - lo]
        return dp.gatherParts(mine, M); // [M]
      }),
    );
  }

  /** Restores a saved rho (a resume inside an epoch); the only other writer of logRho. */
  restoreDensity(logRho: Tensor): void {
    this.logRho?.dispose();
    this.logRho = keep(logRho.clone());
  }

  /**
   * After a step's update: the bank takes this visit's embeddings, the label state the fresh labels
   * (if any). Data-parallel: every rank's rows of the step, all-gathered, so the state stays the same
   * on every rank.
   */
  writeBack(
    index: Int32Array,
    indexT: Tensor,
    v: Tensor,
    fresh: { y: Int32Array; c: Float32Array } | null,
    dp: DataParallel | null = null,
  ): void {
    if (dp) {
      tidy(() => {
        const all = dp.gatherArray(index); // [B]
        this.bank.update(tensor(all, [all.length], "int64"), dp.gatherRows(v));
        if (fresh) this.labels.write(all, dp.gatherArray(fresh.y), dp.gatherArray(fresh.c));
      });
      return;
    }
    this.bank.update(indexT, v);
    if (fresh) this.labels.write(index, fresh.y, fresh.c);
  }

  /** The labelled points' bank rows [M, D] and labels [M] for kNN evaluation (copies: the caller disposes). */
  knnRows(): { V: Tensor; y: Tensor } {
    return { V: this.bank.V.indexSelect(0, this.labelledIdx), y: this.labelledY.clone() };
  }

  /** Restores the bank from a checkpoint's tensors (its key "bank.V"). */
  loadBank(state: Map<string, Tensor>, path: string): void {
    const V = state.get("bank.V");
    if (!V) throw new Error(`${path}: no memory bank in this checkpoint (saved by another method?)`);
    this.bank.V.copy_(V);
  }

  dispose(): void {
    this.logRho?.dispose();
    this.labelledIdx.dispose();
    this.labelledY.dispose();
    this.bank.dispose();
  }
}

export class LLP implements Method {
  readonly name = "llp" as const;
  readonly state: LLPState;
  readonly totalEpochs: number;
  readonly #ctx: MethodContext;
  readonly #rule: PropagationRule;
  /** the parts of Eq. 4 this run trains with: all of them, or those a Table 6 ablation keeps (its K and rule are in the config) */
  readonly #parts: { confidence: boolean; categoryLoss: boolean };
  /** --init la: the warm-start epochs train Local Aggregation (the released code's) instead of IR */
  readonly #aggregation: LocalAggregationState | null;

  constructor(ctx: MethodContext) {
    this.#ctx = ctx;
    this.#rule = RULES[resolvePropagation(ctx.cfg.propagation, ctx.data.inputShape)];
    this.#parts = ctx.cfg.ablation === null ? FULL_LLP : parseAblation(ctx.cfg.ablation);
    if (ctx.cfg.init === "la") singleProcessOnly(ctx, "llp --init la");
    this.#aggregation = ctx.cfg.init === "la" ? new LocalAggregationState(ctx.data.n) : null;
    this.state = new LLPState(ctx);
    this.totalEpochs = ctx.cfg.irEpochs + ctx.cfg.epochs;
  }

  get labels(): LabelState {
    return this.state.labels;
  }
  phase(epoch: number): Phase {
    // --init la: one IR epoch, then Local Aggregation (whose clusterings need a trained bank)
    return epoch >= this.#ctx.cfg.irEpochs ? "llp" : this.#aggregation && epoch > 0 ? "la" : "ir";
  }
  scheduleEpoch(epoch: number): number | null {
    return epoch < this.#ctx.cfg.irEpochs ? null : epoch - this.#ctx.cfg.irEpochs;
  }
  sampling(): { labelledOnly: boolean; labelledPerBatch: number } {
    return { labelledOnly: false, labelledPerBatch: this.#ctx.cfg.labelledPerBatch };
  }
  view(phase: Phase) {
    return phase !== "llp" ? "weak" : resolveView(this.#ctx.cfg.trainView, this.#ctx.data.inputShape); // IR trains on one view (Wu et al. 2018)
  }

  /** Fills the bank with every training point's embedding (LLPState.fill). */
  async start(): Promise<void> {
    await this.state.fill(this.#ctx);
  }

  beginEpoch(_epoch: number, phase: Phase, midEpoch = false): void {
    const { cfg } = this.#ctx;
    if (phase === "la" && this.#aggregation && !(midEpoch && this.#aggregation.clusters))
      this.#aggregation.refresh(this.state.bank.V, this.#ctx.gen);
    // inside a resumed epoch, rho is the one its start computed (restored from the checkpoint)
    if (phase === "llp" && this.#rule.needsDensity && !(midEpoch && this.state.logRho))
      this.state.refreshDensity(cfg.T, cfg.tau, this.#ctx.dp);
  }

  step(batch: ViewedBatch, phase: Phase): StepStats {
    if (phase === "la" && this.#aggregation) return this.#aggregation.step(this.#ctx, this.state, batch);
    return tidy(() => (phase === "ir" ? instanceStep(this.#ctx, this.state, batch) : this.#llpStep(batch)));
  }

  /**
   * Eq. 4 on this batch. Pseudo-labels and bank rows come from the loaded view x; the losses see
   * batch.strong when there is one (--train-view, FixMatch's split), mixed within the batch under
   * --mixup (targets mixed alike).
   */
  #llpStep(batch: ViewedBatch): StepStats {
    const { cfg, data, net } = this.#ctx;
    const { bank, labels } = this.state;
    const b = batch.index.length;
    const index = tensor(batch.index, [b], "int64"); // [B]
    const mix = cfg.mixup > 0 ? drawMix(b, cfg.mixup, batch.draws) : null;
    const seen = mix ? mixImages(batch.strong ?? batch.x, mix) : (batch.strong ?? batch.x); // [B, ...]
    const weak = seen !== batch.x ? noGrad(() => net.heads(batch.x)) : null; // [B, D], [B, C]
    const { v, logits } = net.heads(seen); // [B, D], [B, C]
    const vWeak = weak ? weak.v : v.detach(); // [B, D] what propagation and the bank see
    // fresh pseudo-labels for this batch (Eq. 8, or the rule named by --propagation)
    const p = this.#rule.label({
      v: vWeak,
      logits: weak ? weak.logits : logits,
      labelledV: bank.V.indexSelect(0, this.state.labelledIdx),
      labelledY: this.state.labelledY,
      logRho: this.state.logRho,
      K: cfg.K,
      tau: cfg.tau,
      numClasses: data.numClasses,
    });
    const fresh = { y: p.y.to("int32").toArray() as Int32Array, c: p.c.toArray() as Float32Array }; // [B] each
    // training targets: the label and confidence stored at the point's last visit (original
    // code), or the fresh ones (--label-scheme fresh); labelled points keep theirs, c = 1
    const yT = new Int32Array(b);
    const cT = new Float32Array(b);
    for (let k = 0; k < b; k++) {
      const i = batch.index[k] as number;
      const stored = cfg.labelScheme === "stored" || labels.isLabelled[i];
      yT[k] = stored ? (labels.y[i] as number) : (fresh.y[k] as number);
      cT[k] = stored ? (labels.c[i] as number) : (fresh.c[k] as number);
    }
    const y = tensor(yT, [b], "int64"); // [B], -1 = its own instance
    const c = this.#parts.confidence ? tensor(cT, [b], "float32") : full([b], 1); // [B] (woc: 1)
    const bankY = tensor(labels.y, [labels.n], "int32"); // [N]
    const lc = this.#parts.categoryLoss ? categorization(logits, y) : zeros([b]); // [B] L_C (an ablation without wc: none)
    const setLoss = (yy: Tensor, cc: Tensor, ii: Tensor, share: Tensor | null) =>
      bankSetLoss(
        v,
        bank.V,
        bankY,
        yy,
        ii,
        cfg.tau,
        data.numClasses,
        share ? aggregationWeight(cc, yy).mul(share).div(b) : aggregationWeight(cc, yy).div(b),
      );
    const stats = emptyStats();
    let objective: Tensor; // its gradient is Eq. 4's
    let reported: Tensor; // Eq. 4's value
    if (!mix) {
      const la = setLoss(y, c, index, null); // L_A, values [B]
      objective = lc.mul(c).mean().add(la.objective);
      reported = llpLoss(lc, la.values, c, y);
      stats["loss/categorization"] = lc.mean().item();
      stats["loss/aggregation"] = la.values.mean().item();
    } else {
      const terms = this.#mixedTerms(mix, lc, logits, y, c, index, setLoss);
      [objective, reported] = [terms.objective, terms.reported];
      stats["loss/categorization"] = terms.categorization;
      stats["loss/aggregation"] = terms.aggregation;
    }
    Object.assign(stats, monitors(batch.index, labels, cT, fresh.y, data.trueLabels));
    optimise(this.#ctx, objective);
    this.state.writeBack(batch.index, index, vWeak, fresh, this.#ctx.dp);
    stats["loss/total"] = reported.item();
    return stats;
  }

  /** Eq. 4 on a mixed image: lambda of the loss toward its own (index, y, c), the rest toward its partner's. */
  #mixedTerms(
    mix: Mix,
    lc: Tensor,
    logits: Tensor,
    y: Tensor,
    c: Tensor,
    index: Tensor,
    setLoss: (y: Tensor, c: Tensor, i: Tensor, share: Tensor) => { values: Tensor; objective: Tensor },
  ) {
    const { lam, rest, perm } = mix;
    const [yB, cB, indexB] = [y.indexSelect(0, perm), c.indexSelect(0, perm), index.indexSelect(0, perm)]; // [B] each
    const lcB = categorization(logits, yB); // [B]
    const la = setLoss(y, c, index, lam);
    const laB = setLoss(yB, cB, indexB, rest);
    return {
      objective: blend(lc.mul(c), lcB.mul(cB), mix).mean().add(la.objective).add(laB.objective),
      reported: llpLoss(lc, la.values, c, y, lam).add(llpLoss(lcB, laB.values, cB, yB, rest)),
      categorization: blend(lc, lcB, mix).mean().item(),
      aggregation: blend(la.values, laB.values, mix).mean().item(),
    };
  }

  evalNet() {
    return this.#ctx.net;
  }
  knnRows(): { V: Tensor; y: Tensor } {
    return this.state.knnRows();
  }
  stateDict(): Map<string, Tensor> {
    const m = new Map([["bank.V", this.state.bank.V]]);
    if (this.state.logRho) m.set("llp.logRho", this.state.logRho); // for a resume inside an epoch
    if (this.#aggregation?.clusters) m.set("la.clusters", this.#aggregation.clusters);
    return m;
  }
  loadStateDict(state: Map<string, Tensor>, path: string): void {
    this.state.loadBank(state, path);
    const rho = state.get("llp.logRho");
    if (rho) this.state.restoreDensity(rho);
    const clusters = state.get("la.clusters");
    if (clusters && this.#aggregation) this.#aggregation.restore(clusters);
  }
  dispose(): void {
    this.#aggregation?.dispose();
    this.state.dispose();
  }
}

/** L_IR = -log P(i|v_i) per example (Wu et al. 2018): the set loss with every bank row its own instance. v: [B, D], index: [B] */
function instanceLoss(ctx: MethodContext, bank: MemoryBank, v: Tensor, index: Tensor) {
  const { cfg, data } = ctx;
  const b = index.numel;
  return bankSetLoss(v, bank.V, full([bank.n], -1, "int64"), full([b], -1, "int64"), index, cfg.tau, data.numClasses, full([b], 1 / b));
}

/** One Instance Recognition step (LLP's first phase, and the ir-knn method): L_IR, then the batch's bank rows. */
export function instanceStep(ctx: MethodContext, state: LLPState, batch: ViewedBatch): StepStats {
  return tidy(() => {
    const index = tensor(batch.index, [batch.index.length], "int64"); // [B]
    const { v } = ctx.net.heads(batch.x); // [B, D]
    const ir = instanceLoss(ctx, state.bank, v, index);
    optimise(ctx, ir.objective);
    state.writeBack(batch.index, index, v.detach(), null, ctx.dp);
    const l = ir.values.mean().item();
    return { ...emptyStats(), "loss/total": l, "loss/instance": l };
  });
}

/** Mean target confidence and fresh pseudo-label accuracy over the batch's unlabelled points. */
function monitors(index: Int32Array, labels: LabelState, cT: Float32Array, freshY: Int32Array, truth: Int32Array | null) {
  let n = 0;
  let conf = 0;
  let hits = 0;
  for (let k = 0; k < index.length; k++) {
    const i = index[k] as number;
    if (labels.isLabelled[i]) continue;
    n++;
    conf += cT[k] as number;
    if (truth && truth[i] === freshY[k]) hits++;
  }
  return {
    "monitor/confidence": n ? conf / n : Number.NaN,
    "monitor/pseudoLabelAccuracy": n && truth ? hits / n : Number.NaN,
  };
}

export type LLPConfig = Pick<Config, "irEpochs" | "epochs" | "propagation" | "labelScheme">;
