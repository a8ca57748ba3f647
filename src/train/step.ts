// One optimisation step of each phase. The step is the only writer of the memory bank and the
// label state: it reads them, computes the loss, updates the network, then writes back.
import type { Config } from "../config.js";
import { aggregationWeight, bankSetLoss, categorization, llpLoss, nceInstance } from "../losses/losses.js";
import type { MemoryBank } from "../memory/bank.js";
import { type LabelState, trustedLabels } from "../memory/labels.js";
import type { LLPNet } from "../model/net.js";
import { alignToPrior, classifierLabels, meanLabels, propagate, usesDensity } from "../propagation/propagate.js";
import { affineGrid, gridSample } from "../torch/functional.js";
import type { SGD } from "../torch/optim.js";
import type { Generator } from "../torch/random.js";
import { tidy } from "../torch/scope.js";
import { full, noGrad, type Tensor, tensor } from "../torch/tensor.js";
import type { WeightAverage } from "./ema.js";
import type { Batch, Phase } from "./types.js";
import { affineThetas, cutoutMask, mixupShares, STRONG_AFFINE, uniformStream } from "./views.js";

export interface StepContext {
  cfg: Config;
  net: LLPNet;
  opt: SGD;
  bank: MemoryBank;
  labels: LabelState;
  numClasses: number;
  /** [M] int64 rows of the labelled points and [M] int64 their labels */
  labelledIdx: Tensor;
  labelledY: Tensor;
  /** [M] log rho of the labelled points, refreshed once per epoch (null: weighted kNN) */
  logRho: Tensor | null;
  trueLabels: Int32Array | null;
  /** the run's generator (NCE noise draws) */
  gen: Generator;
  /** NCE's running estimate of the partition function Z (irLoss "nce"); written here only */
  nceZ: number | null;
  /** --ema > 0: the weight average, updated after every step; during LLP it gives the weak view */
  ema: WeightAverage | null;
}

export interface StepStats {
  total: number;
  categorization: number;
  aggregation: number;
  instance: number;
  confidence: number; // mean confidence of the training targets of unlabelled points
  pseudoLabelAccuracy: number; // fresh pseudo-labels vs true labels, unlabelled points (NaN if unknown)
}

export function trainStep(ctx: StepContext, batch: Batch, phase: Phase): StepStats {
  return tidy(() => {
    const { cfg, net, opt, bank, labels } = ctx;
    const b = batch.index.length;
    const index = tensor(batch.index, [b], "int64"); // [B]
    // --train-view cutout|strong: the losses see a strong view; pseudo-labels and bank rows come
    // from the weak one (the batch as loaded), as FixMatch splits them. IR epochs keep one view
    // unless --ir-view cutout|strong: then the weak view's embedding is a key written into the
    // bank first (MoCo's positive, fresh), and the IR loss of the other view is taken against it.
    // --mixup alpha: the losses see each image mixed with another of the batch (after the view),
    // targets mixed alike; again pseudo-labels and bank rows come from the unmixed weak view.
    const view = phase === "ir" ? cfg.irView : cfg.trainView;
    const strong = view !== "weak";
    const keyFirst = phase === "ir" && strong;
    const mix = cfg.mixup > 0 && phase !== "ir" ? drawMix(b, cfg.mixup, ctx.gen) : null;
    // --ema: the weak view comes from the weight average (eval mode), as a mean teacher's targets.
    const teacher = ctx.ema?.net ?? null;
    const weak = ((strong || mix || teacher) && phase === "llp") || keyFirst ? noGrad(() => (teacher ?? net).heads(batch.x)) : null; // [B, D], [B, C]
    const viewed = !strong ? batch.x : view === "cutout" ? cutout(batch.x, ctx.gen) : strongView(batch.x, ctx.gen);
    if (keyFirst && weak) bank.update(index, weak.v); // the positive row now holds this step's key
    const seen = mix ? mixImages(viewed, mix) : viewed; // [B, C, H, W] or [B, F]
    const { v, logits } = net.heads(seen); // [B, D], [B, C]
    const vView = weak ? weak.v : v.detach(); // [B, D] the view propagation and the bank see
    // L_IR = -log P(i|v_i) per example, with weight w/B in the objective: the set loss with every
    // bank row its own instance (y = -1). The IR phase takes it alone, --ir-weight beside Eq. 4.
    const instanceLoss = (w: number) =>
      bankSetLoss(v, bank.V, full([bank.n], -1, "int64"), full([b], -1, "int64"), index, cfg.tau, ctx.numClasses, full([b], w / b));
    let loss: Tensor; // what backward() differentiates
    let reported: Tensor | null = null; // the loss value, where loss is a gradient surrogate
    let freshLabels: { y: Int32Array; c: Float32Array } | null = null;
    const stats: StepStats = {
      total: 0,
      categorization: 0,
      aggregation: 0,
      instance: 0,
      confidence: Number.NaN,
      pseudoLabelAccuracy: Number.NaN,
    };

    if (phase === "supervised") {
      const y = tensor(batch.label, [b], "int64"); // [B], all labelled here
      const lc = categorization(logits, y); // [B]
      loss = (mix ? blend(lc, categorization(logits, y.indexSelect(0, mix.perm)), mix) : lc).mean();
      stats.categorization = loss.item();
    } else if (phase === "ir" && cfg.irLoss === "nce") {
      const noise = ctx.gen.randint(0, bank.n, [b, cfg.nceNoise]); // [B, m]
      const zNow = ctx.nceZ ?? Number.NaN;
      const est = (meanExp: number) => meanExp * bank.n; // Z ~ N E[exp(v_j.v/tau)]
      const first = Number.isNaN(zNow);
      const r = nceInstance(v, bank.V, index, noise, cfg.tau, first ? 1 : zNow);
      // Z: the first batch's estimate, then a running average (momentum 0.9)
      if (first) {
        ctx.nceZ = est(r.meanExp);
        loss = nceInstance(v, bank.V, index, noise, cfg.tau, ctx.nceZ).loss.mean();
      } else {
        ctx.nceZ = 0.9 * zNow + 0.1 * est(r.meanExp);
        loss = r.loss.mean();
      }
      stats.instance = loss.item();
    } else if (phase === "ir") {
      const ir = instanceLoss(1);
      loss = ir.objective;
      reported = ir.values.mean();
      stats.instance = reported.item();
    } else {
      // Fresh pseudo-labels for this batch (Eq. 8, or a named variant).
      const fromClassifier = () => classifierLabels(weak ? weak.logits : logits);
      // --propagation-query bank: the vote is for the row this visit writes to the bank, not v alone
      const fromBank = () =>
        propagate(
          cfg.propagationQuery === "bank" ? bank.blend(index, vView) : vView,
          bank.V.indexSelect(0, ctx.labelledIdx),
          ctx.labelledY,
          {
            K: cfg.K,
            tau: cfg.tau,
            numClasses: ctx.numClasses,
            logRho: usesDensity(cfg.propagation) ? ctx.logRho : null,
          },
        );
      const fresh = () => {
        const raw =
          cfg.propagation === "classifier"
            ? fromClassifier()
            : cfg.propagation === "llp+classifier"
              ? meanLabels(fromBank(), fromClassifier())
              : fromBank();
        // --alignment prior: toward the labelled class shares, away from where pseudo-labels pile up
        const shares = cfg.alignment === "prior" ? labels.classShares(ctx.numClasses) : null;
        const p = shares ? alignToPrior(raw, shares.prior, shares.pseudo) : raw;
        return { y: p.y.to("int32").toArray() as Int32Array, c: p.c.toArray() as Float32Array };
      };
      // --teacher: a student trains on its teacher's labels as stored, and propagates nothing.
      const now = cfg.teacher !== null ? null : fresh(); // [B] labels and confidences, or none
      freshLabels = now;
      // Training targets: the stored label/confidence (original code) or the fresh ones.
      const yT = new Int32Array(b);
      const cT = new Float32Array(b);
      for (let k = 0; k < b; k++) {
        const i = batch.index[k] as number;
        const stored = now === null || cfg.labelScheme === "stored" || labels.isLabelled[i];
        yT[k] = stored ? (labels.y[i] as number) : (now.y[k] as number);
        cT[k] = stored ? (labels.c[i] as number) : (now.c[k] as number);
      }
      // --min-confidence: a target below it counts as no label (the point is its own instance).
      const minC = cfg.minConfidence;
      const batchLabelled = Uint8Array.from(batch.index, (i) => labels.isLabelled[i] as number); // [B]
      const y = tensor(trustedLabels(yT, cT, batchLabelled, minC), [b], "int64");
      const c = tensor(cT, [b], "float32");
      const bankY = tensor(labels.trusted(minC), [labels.n], "int32"); // [N]
      const lc = categorization(logits, y); // [B]
      const wA = aggregationWeight(c, y); // [B]
      if (!mix) {
        const la = bankSetLoss(v, bank.V, bankY, y, index, cfg.tau, ctx.numClasses, wA.div(b)); // values [B]
        loss = lc.mul(c).mean().add(la.objective); // Eq. 4's gradient
        reported = llpLoss(lc, la.values, c, y);
        stats.categorization = lc.mean().item();
        stats.aggregation = la.values.mean().item();
      } else {
        // Eq. 4 on a mixed image: lambda of the loss toward its own (index, y, c), the rest
        // toward its partner's (perm), each term confidence-weighted as in Eq. 4.
        const { lam, rest, perm } = mix; // the bank losses take the shares as example weights
        const [yB, cB, indexB] = [y.indexSelect(0, perm), c.indexSelect(0, perm), index.indexSelect(0, perm)]; // [B] each
        const lcB = categorization(logits, yB); // [B]
        const la = bankSetLoss(v, bank.V, bankY, y, index, cfg.tau, ctx.numClasses, wA.mul(lam).div(b));
        const laB = bankSetLoss(v, bank.V, bankY, yB, indexB, cfg.tau, ctx.numClasses, aggregationWeight(cB, yB).mul(rest).div(b));
        loss = blend(lc.mul(c), lcB.mul(cB), mix).mean().add(la.objective).add(laB.objective);
        reported = llpLoss(lc, la.values, c, y, lam).add(llpLoss(lcB, laB.values, cB, yB, rest));
        stats.categorization = blend(lc, lcB, mix).mean().item();
        stats.aggregation = blend(la.values, laB.values, mix).mean().item();
      }
      // --ir-weight beta: beside Eq. 4, beta * L_IR against each example's own bank row.
      if (cfg.irWeight > 0) {
        const ir = instanceLoss(cfg.irWeight);
        const irMean = ir.values.mean(); // scalar
        loss = loss.add(ir.objective);
        reported = (reported as Tensor).add(irMean.mul(cfg.irWeight));
        stats.instance = irMean.item();
      }
      Object.assign(stats, monitors(batch.index, labels, cT, now?.y ?? yT, ctx.trueLabels));
    }
    opt.zeroGrad();
    loss.backward();
    opt.step();
    ctx.ema?.update(net);
    // Write-back, after the update: the bank gets this visit's embedding, the label state the
    // labels propagated now (used as targets at the point's next visit under "stored"). Two-view
    // IR (--ir-view) wrote its bank rows before the loss instead, once per step as well.
    if (phase !== "supervised" && !keyFirst) bank.update(index, vView);
    if (freshLabels) labels.write(batch.index, freshLabels.y, freshLabels.c);
    stats.total = (reported ?? loss).item();
    return stats;
  });
}

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
  return { confidence: n ? conf / n : Number.NaN, pseudoLabelAccuracy: n && truth ? hits / n : Number.NaN };
}

interface Mix {
  lam: Tensor; // [B] each image's own share, in [0.5, 1]
  rest: Tensor; // [B] 1 - lam, its partner's share
  perm: Tensor; // [B] int64 the partner of each image
}

/** Mixup's draw for a batch of b: shares from Beta(alpha, alpha) (views.ts), partners a permutation. */
function drawMix(b: number, alpha: number, gen: Generator): Mix {
  const shares = mixupShares(
    b,
    alpha,
    uniformStream((n) => gen.uniforms(n), 4 * b),
  );
  const lam = tensor(shares, [b], "float32");
  return { lam, rest: lam.neg().add(1), perm: gen.randperm(b) };
}

/** own, partner [B, ...] -> lam_k own_k + (1 - lam_k) partner_k, the shares broadcast over the rest. */
function blend(own: Tensor, partner: Tensor, mix: Mix): Tensor {
  const shape = [own.shape[0] as number, ...own.shape.slice(1).map(() => 1)]; // [B, 1, ...]
  return own.mul(mix.lam.reshape(shape)).add(partner.mul(mix.rest.reshape(shape)));
}

/** x [B, ...] mixed: lam_k x_k + (1 - lam_k) x_perm(k). */
function mixImages(x: Tensor, mix: Mix): Tensor {
  return blend(x, x.indexSelect(0, mix.perm), mix);
}

/** x [B, C, H, W] with a random square of half the image side zeroed in every image. */
function cutout(x: Tensor, gen: Generator): Tensor {
  const [b, , h, w] = x.shape as [number, number, number, number];
  const size = Math.max(1, Math.round(Math.min(h, w) / 2));
  return x.mul(tensor(cutoutMask(b, h, w, size, gen.uniforms(2 * b)), [b, 1, h, w], "float32"));
}

/** x [B, C, H, W] warped by a random affine map per image (zeros, the mean pixel, outside), then Cutout. */
function strongView(x: Tensor, gen: Generator): Tensor {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const theta = tensor(affineThetas(b, gen.uniforms(5 * b), STRONG_AFFINE), [b, 2, 3], "float32");
  return cutout(gridSample(x, affineGrid(theta, [b, c, h, w])), gen);
}
