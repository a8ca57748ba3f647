// The training loop, one for every method (src/methods/): each epoch the method's phase and
// learning rate, its start-of-epoch work (LLP: refresh the density), its steps on the batches the
// data side draws and views, validation, LR drops on plateaus, checkpoints. It yields typed
// events; the CLI, the run folder writer and the tests consume them. Library code never prints.

import { existsSync, renameSync } from "node:fs";
import { type Config, optionName } from "../config.js";
import { RowDraws } from "../data/shard.js";
import { makeView } from "../data/views.js";
import { DataParallel } from "../distributed/data-parallel.js";
import type { ProcessGroup } from "../distributed/group.js";
import { evaluate } from "../eval/metrics.js";
import { createMethod, type StepStats } from "../methods/index.js";
import { rotationMismatch } from "../methods/s4l-rotation.js";
import { buildNet, resolveModel } from "../model/net.js";
import { SGD } from "../torch/optim.js";
import { Generator } from "../torch/random.js";
import { dispose } from "../torch/scope.js";
import { tensor } from "../torch/tensor.js";
import {
  checkpointPath,
  checkpointPoint,
  damagedCheckpointPath,
  type LoopState,
  loadCheckpoint,
  type PartialEpoch,
  previousCheckpointPath,
  saveCheckpoint,
  type TrainState,
} from "./checkpoint.js";
import { dropsAtEpoch, initialPlateau, lrAfterDrops, plateauStep } from "./schedule.js";
import { beginSnapshots, writeSnapshot } from "./snapshots.js";
import type { EpochEvent, EvalSet, Phase, TrainData, TrainEvent } from "./types.js";

export interface TrainOptions {
  runDir: string | null; // checkpoints go here when set
  resume: boolean; // continue from runDir's checkpoint
  /** a stop request: the loop finishes the step (or checkpoint) under way, yields "interrupted" and returns */
  signal?: AbortSignal;
  /**
   * data-parallel training: this process is one rank of the group (src/distributed/). Every rank
   * runs the same loop on its rows of each batch; only rank 0 writes checkpoints and snapshots.
   */
  group?: ProcessGroup | null;
}

export async function* train(cfg: Config, data: TrainData, o: TrainOptions): AsyncGenerator<TrainEvent> {
  const t0 = Date.now();
  const views = viewMismatch(cfg, data.inputShape);
  if (views !== null) throw new Error(views);
  const dp = o.group && o.group.worldSize > 1 ? new DataParallel(o.group) : null;
  const writer = !o.group || o.group.rank === 0; // the rank that writes the run folder
  const runDir = writer ? o.runDir : null; // where this rank writes
  if (dp && cfg.batchSize < dp.worldSize)
    throw new Error(
      `${optionName("batchSize")} = ${cfg.batchSize} gives each of ${dp.worldSize} processes less than one row: give at least ${dp.worldSize}`,
    );
  if (dp) checkSameConfig(dp, cfg, data);
  const s = buildState(cfg, data, dp);
  const { method } = s;
  let loop: LoopState = { epoch: 0, drops: 0, plateau: initialPlateau(), wallS: 0, bestVal: -1 };
  // from here on, a failure (a checkpoint that does not fit this network included) frees the
  // state built above in the finally below
  try {
    let resumeInside: { partial: PartialEpoch; epochStart: Uint8Array } | null = null; // a checkpoint written inside an epoch
    if (o.resume && o.runDir) {
      const r = loadCheckpoint(o.runDir, s);
      loop = r.loop;
      if (r.damaged) {
        // set aside, so the next save keeps the whole one as the previous checkpoint
        dp?.group.barrier(); // every rank has read it before it is moved
        if (writer && existsSync(checkpointPath(o.runDir))) renameSync(checkpointPath(o.runDir), damagedCheckpointPath(o.runDir));
        yield {
          type: "notice",
          message: `${r.damaged.why}: resumed from the checkpoint before it (${r.damaged.used}, ${checkpointPoint(loop)}); the damaged one is kept as ${damagedCheckpointPath(o.runDir)}`,
        };
      }
      if (loop.partial && r.epochStart) resumeInside = { partial: loop.partial, epochStart: r.epochStart };
      delete loop.partial;
    } else await method.start();
    const wallBefore = loop.wallS + (resumeInside?.partial.seconds ?? 0); // time of the sessions before a resume
    const milestones = fixedMilestones(cfg, o.resume ? Number.POSITIVE_INFINITY : data.validation.n); // a resume keeps its schedule
    if (data.labelledPerBatch !== cfg.labelledPerBatch)
      yield {
        type: "notice",
        message: `the ${data.n - countLabelled(data.labels)} unlabelled points fill no batch of ${cfg.batchSize} beside ${cfg.labelledPerBatch} labelled ones: one shuffled stream of all points instead (--labelled-per-batch 0)`,
      };
    if (milestones && cfg.schedule === "plateau" && !cfg.milestones)
      yield {
        type: "notice",
        message: `validation holds ${data.validation.n} points, fewer than ${MIN_PLATEAU_VALIDATION}: the LR drops on a fixed schedule (epochs ${milestones.join(", ")}) instead of on validation plateaus`,
      };
    yield {
      type: "start",
      config: cfg,
      n: data.n,
      labelled: countLabelled(data.labels),
      stepsPerEpoch: data.stepsPerEpoch,
      resumedFrom: o.resume ? loop.epoch : null,
      schedule: milestones
        ? `LR x${cfg.lrDrop} at epochs ${milestones.join(", ") || "(none)"} of ${cfg.epochs}`
        : `LR x${cfg.lrDrop} on validation plateaus`,
    };
    let savedAt = o.resume ? loop.epoch : -1; // the epoch boundary the checkpoint on disk holds
    const snapshots = runDir && cfg.snapshots > 0 ? beginSnapshots(runDir, data, cfg.snapshots, cfg.seed) : null;
    for (let epoch = loop.epoch; epoch < method.totalEpochs && !loop.plateau.stop; epoch++) {
      const inside = resumeInside && epoch === loop.epoch ? resumeInside : null;
      resumeInside = null;
      const tEpoch = Date.now() - 1000 * (inside?.partial.seconds ?? 0);
      const commAtEpochStart = dp?.commSeconds() ?? 0;
      const phase = method.phase(epoch);
      const scheduled = method.scheduleEpoch(epoch); // null: outside the LR schedule (IR)
      const drops = scheduled === null ? 0 : milestones ? dropsAtEpoch(milestones, scheduled) : loop.drops; // IR: the base LR
      s.opt.lr = lrAfterDrops(cfg.lr, drops, cfg.lrDrop);
      await method.beginEpoch(epoch, phase, inside !== null);
      const view = method.view(phase);
      let step = inside?.partial.step ?? 0;
      // batches of the epoch taken from the data, trained or left out (data-parallel: one smaller than P)
      let consumed = inside?.partial.consumed ?? step;
      let lossSum = inside?.partial.lossSum ?? 0;
      const monitors = new StepMeans(inside?.partial.monitors); // per-step monitors, for methods without a label state
      // the epoch's batches are fixed by the generator's state here; inside a resumed epoch they
      // come from the saved start state, its first steps skipped, while the run's generator goes on from where it stopped
      const epochStart = inside ? inside.epochStart : s.gen.getState();
      const batches = inside
        ? data.epoch(new Generator(0).setState(epochStart), method.sampling(phase), consumed, dp?.shard)
        : data.epoch(s.gen, method.sampling(phase), 0, dp?.shard);
      for await (const batch of batches) {
        let st: StepStats;
        const B = batch.globalSize ?? batch.index.length;
        consumed++;
        if (dp && B < dp.worldSize) {
          // a last short batch (labelled points only) with fewer rows than ranks: left out on every rank
          batch.x.dispose();
          continue;
        }
        const commBefore = dp?.commSeconds() ?? 0;
        // data-parallel: this rank's rows of the batch, and its share of the batch's draws
        const draws = dp ? new RowDraws(s.gen, dp.rows(B), B) : s.gen;
        dp?.beginStep(B, batch.index.length);
        const strong = view === "weak" ? null : makeView(view, batch.x, draws, data.normalization);
        try {
          st = method.step({ ...batch, strong, draws }, phase);
        } finally {
          strong?.dispose(); // freed on a failed step too
          batch.x.dispose();
        }
        if (dp) st = dp.agree({ ...st }, false).stats as unknown as StepStats; // the ranks' statistics as one process would log them
        const total = st["loss/total"];
        if (!Number.isFinite(total)) {
          throw new Error(
            `the loss is ${total} at epoch ${epoch}, step ${step}: training diverged: try a lower ${optionName("lr")}, or the inputs hold values too large for float32`,
          );
        }
        lossSum += total;
        monitors.add(st);
        const comm = dp ? { comm_s: dp.commSeconds() - commBefore } : {};
        yield { type: "step", epoch, step: step++, phase, ...st, "monitor/lr": s.opt.lr, ...comm };
        // one turn of the event loop, so a signal's handler runs now, not when the data next keeps us waiting
        if (o.signal) await new Promise((r) => setImmediate(r));
        // data-parallel: one stop decision for all ranks (a stop asked of any rank stops them all here)
        if (dp ? dp.agree({}, o.signal?.aborted ?? false).stop : o.signal?.aborted) {
          // a checkpoint of this very point: the resume goes on with the next step
          const partial = { step, consumed, lossSum, monitors: monitors.state(), seconds: (Date.now() - tEpoch) / 1000 };
          if (runDir) writeCheckpoint(runDir, s, { ...loop, epoch, partial }, JSON.stringify(cfg), epochStart);
          yield { type: "interrupted", epoch, step, checkpoint: o.runDir !== null };
          return;
        }
      }
      await method.endEpoch?.(epoch, phase);
      const val = await evaluateState(s, data.validation, cfg, data.numClasses);
      if (dp) val.top1 = dp.fromRankZero(val.top1); // one LR decision for all ranks
      if (snapshots && runDir) await writeSnapshot(runDir, s.method.evalNet(), data, snapshots, epoch);
      if (scheduled !== null && epoch % cfg.evalEvery === 0) {
        const r = plateauStep(loop.plateau, val.top1, { patience: cfg.patience, maxDrops: cfg.maxDrops });
        loop.plateau = r.state;
        if (r.drop && !milestones) {
          loop.drops++;
          yield { type: "lrDrop", epoch, lr: lrAfterDrops(cfg.lr, loop.drops, cfg.lrDrop) };
        }
        if (milestones) loop.plateau.stop = false;
      }
      loop.epoch = epoch + 1;
      loop.bestVal = Math.max(loop.bestVal, val.top1);
      loop.wallS += (Date.now() - tEpoch) / 1000;
      const ev = epochEvent(epoch, phase, s, data, val, lossSum / Math.max(1, step), loop.wallS, (Date.now() - tEpoch) / 1000);
      if (dp) ev.comm_s = dp.commSeconds() - commAtEpochStart;
      yield s.method.labels ? ev : { ...ev, ...monitors.means() };
      if (runDir && (loop.epoch % cfg.checkpointEvery === 0 || loop.epoch === method.totalEpochs || loop.plateau.stop)) {
        yield { type: "checkpoint", epoch, path: writeCheckpoint(runDir, s, loop, JSON.stringify(cfg)) };
        savedAt = loop.epoch;
      }
      const between = dp ? dp.agree({}, o.signal?.aborted ?? false).stop : o.signal?.aborted;
      if (between && loop.epoch < method.totalEpochs && !loop.plateau.stop) {
        // between epochs (a signal during evaluation or the checkpoint): the checkpoint of this boundary
        if (runDir && savedAt !== loop.epoch) writeCheckpoint(runDir, s, loop, JSON.stringify(cfg));
        yield { type: "interrupted", epoch: loop.epoch, step: 0, checkpoint: o.runDir !== null };
        return;
      }
    }
    const test = data.test ? await evaluateState(s, data.test, cfg, data.numClasses) : null;
    const val = await evaluateState(s, data.validation, cfg, data.numClasses);
    yield {
      type: "end",
      summary: {
        method: cfg.method,
        test_top1: test?.top1 ?? Number.NaN,
        test_top5: test?.top5 ?? Number.NaN,
        knn_top1: test?.knnTop1 ?? Number.NaN,
        nn_top1: test?.nnTop1 ?? Number.NaN,
        val_top1: val.top1,
        epochs: loop.epoch,
        wall_s: wallBefore + (Date.now() - t0) / 1000, // the whole run's, across resumes
      },
    };
  } finally {
    disposeState(s);
  }
}

/** saveCheckpoint, with a failed write (a full disk) said in terms of what is still on disk. */
function writeCheckpoint(runDir: string, s: TrainState, loop: LoopState, cfg: string, epochStart: Uint8Array | null = null): string {
  try {
    return saveCheckpoint(runDir, s, loop, cfg, epochStart);
  } catch (e) {
    const kept =
      existsSync(checkpointPath(runDir)) || existsSync(previousCheckpointPath(runDir))
        ? `the checkpoint already there is intact: free space, then \`llp train --resume ${runDir}\` goes on from it`
        : "no earlier checkpoint exists";
    throw new Error(`could not write the checkpoint ${checkpointPoint(loop)} (${(e as Error).message}); ${kept}`);
  }
}

/** Why cfg's views cannot be taken of inputs of this shape (the image views on feature vectors), or null. */
export function viewMismatch(cfg: Config, inputShape: number[]): string | null {
  if (cfg.method === "s4l-rotation" && rotationMismatch(inputShape)) return rotationMismatch(inputShape);
  if (cfg.method === "fixmatch" && inputShape.length !== 3)
    return `method fixmatch needs images [C,H,W] (its strong view warps and cuts them), but the data are [${inputShape.join(",")}] feature vectors: use llp, mean-teacher, pseudo-label or supervised`;
  if (cfg.trainView === "weak" || cfg.trainView === "auto" || inputShape.length === 3) return null;
  return `${optionName("trainView")} = ${cfg.trainView} (method ${cfg.method}) needs images [C,H,W], but the data are [${inputShape.join(",")}] feature vectors: use weak or auto`;
}

/** Validation points below which accuracy's noise (sd about 1.8 points at 0.8 on 500) hides a plateau. */
export const MIN_PLATEAU_VALIDATION = 500;

/**
 * The epochs of the LR schedule at which the LR drops, or null to drop on validation plateaus:
 * --milestones when given; else under schedule fixed (or plateau on too small a validation set)
 * one drop at 80% of --epochs.
 */
export function fixedMilestones(cfg: Config, validationN: number): number[] | null {
  if (cfg.milestones) return cfg.milestones;
  if (cfg.schedule === "plateau" && validationN >= MIN_PLATEAU_VALIDATION) return null;
  const at = Math.round(0.8 * cfg.epochs);
  return at >= 1 ? [at] : [];
}

/** Means over an epoch's steps of the finite values of their pseudo-label monitors. */
class StepMeans {
  static readonly KEYS = ["monitor/pseudoLabelAccuracy", "monitor/confidence", "monitor/mask"] as const;
  readonly #sum: Map<string, [number, number]>;
  /** from: the sums of a partial epoch (state()) */
  constructor(from: [string, number, number][] = []) {
    this.#sum = new Map(from.map(([k, s, n]) => [k, [s, n]]));
  }
  state(): [string, number, number][] {
    return [...this.#sum].map(([k, [s, n]]) => [k, s, n]);
  }
  add(st: StepStats): void {
    for (const k of StepMeans.KEYS) {
      const v = st[k];
      if (v === undefined || !Number.isFinite(v)) continue;
      const [s, n] = this.#sum.get(k) ?? [0, 0];
      this.#sum.set(k, [s + v, n + 1]);
    }
  }
  means(): Partial<Record<(typeof StepMeans.KEYS)[number], number>> {
    return Object.fromEntries([...this.#sum].map(([k, [s, n]]) => [k, s / n]));
  }
}

const countLabelled = (labels: Int32Array) => labels.reduce((n, l) => n + (l >= 0 ? 1 : 0), 0);

/** Network, optimiser and the method's own state, all from the run's seed. */
export function buildState(cfg: Config, data: TrainData, dp: DataParallel | null = null): TrainState {
  const gen = new Generator(cfg.seed);
  const net = buildNet(netSpec(cfg, data), gen);
  dp?.convertSyncBatchNorm(net);
  const opt = SGD.forModule(net, { lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
  const makeNet = (seedOffset = 0) => {
    const m = buildNet(netSpec(cfg, data), new Generator(cfg.seed + seedOffset));
    dp?.convertSyncBatchNorm(m);
    return m;
  };
  return { net, opt, gen, method: createMethod({ cfg, data, net, opt, gen, makeNet, dp }) };
}

/**
 * Every rank must train the same run on the same data: the config (but threads and out) and the
 * data's size and labels are compared across ranks, and a difference is an error on every rank.
 */
export function checkSameConfig(dp: DataParallel, cfg: Config, data: TrainData): void {
  const { threads: _t, out: _o, ...rest } = cfg;
  const text = JSON.stringify(rest);
  const fp = [fingerprint(text), data.n, fingerprint(Array.from(data.labels).join(",")), data.numClasses];
  const mine = tensor(Float64Array.from(fp), [fp.length], "float64");
  try {
    const lo = mine.clone();
    const hi = mine.clone();
    dp.group.allReduce(lo, "min");
    dp.group.allReduce(hi, "max");
    const [a, b] = [lo.toArray(), hi.toArray()];
    const what = ["the config", "the number of training points", "the labels", "the number of classes"].filter((_, i) => a[i] !== b[i]);
    dispose([lo, hi]);
    if (what.length > 0)
      throw new Error(
        `data-parallel ranks disagree on ${what.join(", ")} (rank ${dp.rank} of ${dp.worldSize}): every rank must be started with the same options and data`,
      );
  } finally {
    mine.dispose();
  }
}

/** A 32-bit FNV-1a hash of a string (a fingerprint to compare across ranks, not a security check). */
function fingerprint(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function netSpec(cfg: Config, data: TrainData) {
  return {
    model: resolveModel(cfg.model, data.inputShape),
    inputShape: data.inputShape,
    numClasses: data.numClasses,
    embeddingDim: cfg.embeddingDim,
    width: cfg.width ?? undefined,
    poolGrid: cfg.poolGrid ?? undefined,
  };
}

export function disposeState(s: TrainState): void {
  s.method.dispose();
  s.net.dispose();
  s.opt.dispose();
}

/**
 * Classifier and kNN accuracy of a labelled set. kNN votes come from the labelled points' bank
 * rows (Eqs. 5-6); without a bank (supervised) there is no kNN.
 */
export async function evaluateState(s: TrainState, set: EvalSet, cfg: Config, numClasses: number) {
  const knn = s.method.knnRows() ?? { V: tensor(new Float32Array(0), [0, cfg.embeddingDim]), y: tensor(new Int32Array(0), [0], "int64") }; // [M, D], [M]
  try {
    return await evaluate(s.method.evalNet(), set, knn.V, knn.y, { K: cfg.K, tau: cfg.tau, numClasses });
  } finally {
    dispose([knn.V, knn.y]);
  }
}

function epochEvent(
  epoch: number,
  phase: Phase,
  s: TrainState,
  data: TrainData,
  val: { top1: number; knnTop1: number; nnTop1: number },
  loss: number,
  wallS: number,
  epochS: number,
): EpochEvent {
  const L = s.method.labels;
  let n = 0,
    have = 0,
    hits = 0,
    conf = 0;
  const counts = new Array<number>(data.numClasses).fill(0);
  for (let i = 0; L && i < L.n; i++) {
    if (L.isLabelled[i]) continue;
    n++;
    const y = L.y[i] as number;
    if (y < 0) continue;
    have++;
    conf += L.c[i] as number;
    counts[y] = (counts[y] as number) + 1;
    if (data.trueLabels && data.trueLabels[i] === y) hits++;
  }
  return {
    type: "epoch",
    epoch,
    phase,
    "monitor/lr": s.opt.lr,
    "val/top1": val.top1,
    "val/knnTop1": val.knnTop1,
    "val/nnTop1": val.nnTop1,
    "monitor/pseudoLabelAccuracy": have && data.trueLabels ? hits / have : Number.NaN,
    "monitor/confidence": have ? conf / have : Number.NaN,
    "monitor/coverage": n ? have / n : 1,
    "monitor/largestClassShare": have ? Math.max(...counts) / have : Number.NaN,
    "monitor/dataWait": data.dataWaitFraction(),
    "loss/total": loss,
    wall_s: wallS,
    epoch_s: epochS,
  };
}
