// Whole runs: train into a run folder (or resume one), and reopen a finished run for eval,
// predict and embed. Library code: no printing; events go to the caller's callback.

import { existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { type Config, optionName, resolveConfig } from "../config.js";
import type { Normalization } from "../data/augment.js";
import { absoluteDataPath } from "../data/load.js";
import { writeSplit } from "../data/split.js";
import { resolveView } from "../data/views.js";
import { DataParallel } from "../distributed/data-parallel.js";
import type { ProcessGroup } from "../distributed/group.js";
import { modelMismatch, resolveModel } from "../model/net.js";
import { resolvePropagation } from "../propagation/rules.js";
import { createRunDir, EventLog, readJson, readRunConfig, writeJson } from "../report/runfolder.js";
import { softmax } from "../torch/functional.js";
import { loadFile } from "../torch/safetensors.js";
import { dispose, tidy } from "../torch/scope.js";
import { noGrad, type Tensor } from "../torch/tensor.js";
import { setNumThreads } from "../torch/threads.js";
import { checkpointPath, checkpointPoint, inferenceNet, loadCheckpoint, type TrainState } from "./checkpoint.js";
import { normalizedTensor, type PreparedData, prepareData } from "./data.js";
import {
  buildState,
  checkSameConfig,
  disposeState,
  evaluateState,
  fixedMilestones,
  MIN_PLATEAU_VALIDATION,
  train,
  viewMismatch,
} from "./loop.js";
import type { Summary, TrainEvent } from "./types.js";

export { readRunConfig };

export interface DataInfo {
  inputShape: number[];
  classNames: string[];
  normalization: Normalization;
  split: string;
}

/** Trains into runDir (config.json, split.json, data.json, events.jsonl, summary.json, checkpoint). */
export async function runTraining(
  cfg: Config,
  runDir: string,
  opts: {
    resume: boolean;
    onEvent?: (ev: TrainEvent) => void | Promise<void>;
    signal?: AbortSignal;
    /** data-parallel training: this process is one rank; only rank 0 writes runDir (the others read it on a resume) */
    group?: ProcessGroup | null;
  },
): Promise<Summary> {
  const writer = !opts.group || opts.group.rank === 0;
  // a config edited after resolveConfig is checked again before anything is written (an
  // explicit labelledPerBatch stays as it was: {...cfg, batchSize: 16} with its 32 is refused)
  cfg = resolveConfig(cfg, { recipe: false });
  if (opts.resume) {
    cfg = resumeConfig(cfg, runDir);
    if (writer) removeStaleTemporaries(runDir);
  }
  if (cfg.threads !== null) setNumThreads(cfg.threads);
  // Load and split first: bad input fails before anything is written.
  const prepared = await prepareData(cfg, opts.resume ? runDir : null, { writeSplit: writer });
  // ranks started with different options or data stop here, before anything is written
  if (opts.group && cfg.batchSize < opts.group.worldSize)
    throw new Error(
      `${optionName("batchSize")} = ${cfg.batchSize} gives each of ${opts.group.worldSize} processes less than one row: give at least ${opts.group.worldSize}`,
    );
  if (opts.group && opts.group.worldSize > 1) checkSameConfig(new DataParallel(opts.group), cfg, prepared.data);
  const notices: string[] = [];
  if (!opts.resume) {
    // the network "auto" stands for is written into config.json, and a mismatch fails here
    const model = resolveModel(cfg.model, prepared.data.inputShape);
    const why = modelMismatch(model, prepared.data.inputShape);
    if (why !== null) throw new Error(why);
    if (cfg.poolGrid !== null && model !== "small-cnn")
      throw new Error(`${optionName("poolGrid")} is a small-cnn option (the model is ${model})`);
    const views = viewMismatch(cfg, prepared.data.inputShape);
    if (views !== null) throw new Error(views);
    // what "auto" stands for, and a plateau schedule a small validation set cannot support, are
    // written into config.json: a resume or a later version trains on what this run used
    const milestones = fixedMilestones(cfg, prepared.data.validation.n);
    const schedule = milestones && !cfg.milestones ? { schedule: "fixed" as const, milestones } : {};
    if (milestones && !cfg.milestones && cfg.schedule === "plateau")
      notices.push(
        `validation holds ${prepared.data.validation.n} points, fewer than ${MIN_PLATEAU_VALIDATION}: the LR drops on a fixed schedule (epochs ${milestones.join(", ")}) instead of on validation plateaus`,
      );
    cfg = {
      ...absolutePaths(cfg),
      model,
      propagation: resolvePropagation(cfg.propagation, prepared.data.inputShape),
      trainView: resolveView(cfg.trainView, prepared.data.inputShape, cfg.method),
      ...schedule,
    };
    if (writer) {
      createRunDir(runDir, cfg);
      writeSplit(runDir, prepared.split);
    }
  }
  const info: DataInfo = {
    inputShape: prepared.data.inputShape,
    classNames: prepared.data.classNames,
    normalization: prepared.normalization,
    split: prepared.split.name,
  };
  if (writer) writeJson(join(runDir, "data.json"), info);
  const log = writer ? new EventLog(runDir) : null;
  for (const message of notices) {
    const ev: TrainEvent = { type: "notice", message };
    log?.write(ev);
    await opts.onEvent?.(ev);
  }
  let summary: Summary | null = null;
  const o = { runDir, resume: opts.resume, group: opts.group ?? null, ...(opts.signal ? { signal: opts.signal } : {}) };
  for await (const ev of train(cfg, prepared.data, o)) {
    log?.write(ev);
    await opts.onEvent?.(ev); // training waits for it (llp train --report writes the report here)
    if (ev.type === "end") summary = ev.summary;
    if (ev.type === "interrupted") throw new Interrupted(runDir, ev);
  }
  return summary as Summary;
}

/** A run stopped on request (runTraining's signal); its message says what a resume continues from. */
export class Interrupted extends Error {
  constructor(
    readonly runDir: string,
    readonly at: { epoch: number; step: number; checkpoint: boolean },
  ) {
    const where = at.step === 0 ? `before epoch ${at.epoch}` : `at epoch ${at.epoch}, step ${at.step}`;
    const from = at.checkpoint
      ? `checkpoint written; \`llp train --resume ${runDir}\` goes on from there`
      : "nothing saved (no run folder)";
    super(`interrupted ${where}: ${from}`);
    this.name = "Interrupted";
  }
}

/**
 * The config a resume continues with: the saved one. Only the machine's share (threads) and the
 * output path may differ; any other difference is refused (a resumed run with another lr,
 * method or network would mix two runs under one config.json).
 */
function resumeConfig(cfg: Config, runDir: string): Config {
  const saved = readRunConfig(runDir);
  // what the run wrote for "auto" and for a plateau schedule it could not support stands for what was asked
  const given: Config = {
    ...cfg,
    ...(cfg.model === "auto" ? { model: saved.model } : {}),
    ...(cfg.propagation === "auto" ? { propagation: saved.propagation } : {}),
    ...(cfg.trainView === "auto" ? { trainView: saved.trainView } : {}),
    ...(cfg.schedule === "plateau" && cfg.milestones === null && saved.schedule === "fixed"
      ? { schedule: saved.schedule, milestones: saved.milestones }
      : {}),
  };
  const differ: string[] = [];
  for (const key of Object.keys(saved) as (keyof Config)[]) {
    if (key === "threads" || key === "out") continue;
    const a = JSON.stringify(saved[key]);
    const b = JSON.stringify(given[key]);
    if (a !== b) differ.push(`${key} (saved ${a}, given ${b})`);
  }
  if (differ.length > 0)
    throw new Error(`${runDir}: a resumed run continues with its saved config; only threads may change, but ${differ.join(", ")} differ`);
  return { ...saved, threads: cfg.threads, out: saved.out };
}

/**
 * Temporary files of atomic writes a killed process left in the run folder (name.tmp-PID of a
 * dead PID): removed, except a whole checkpoint killed between its save's two renames (no
 * checkpoint.safetensors beside it, its checksum verifies), which becomes the checkpoint.
 */
function removeStaleTemporaries(runDir: string): void {
  for (const f of readdirSync(runDir)) {
    const m = /\.tmp-(\d+)$/.exec(f);
    if (!m || processAlive(Number(m[1]))) continue;
    const tmp = join(runDir, f);
    const ckpt = checkpointPath(runDir);
    if (f === `${basename(ckpt)}.tmp-${m[1]}` && !existsSync(ckpt) && verifies(tmp)) renameSync(tmp, ckpt);
    else rmSync(tmp, { force: true });
  }
}

/** Whether a process with this pid exists (one owned by another user counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether a safetensors file reads back whole (its checksum verified), its tensors freed. */
function verifies(path: string): boolean {
  try {
    const { tensors } = loadFile(path);
    dispose([...tensors.values()]);
    return true;
  } catch {
    return false;
  }
}

/** Data paths made absolute, so a run folder reopens from any working directory (built-in names stay). */
function absolutePaths(cfg: Config): Config {
  return {
    ...cfg,
    data: absoluteDataPath(cfg.data),
    labels: absoluteDataPath(cfg.labels),
    test: absoluteDataPath(cfg.test),
    testLabels: absoluteDataPath(cfg.testLabels),
    reveal: absoluteDataPath(cfg.reveal),
  };
}

export interface OpenRun {
  cfg: Config;
  prepared: PreparedData;
  state: TrainState;
  info: DataInfo;
  dispose(): void;
}

/** Rebuilds a run's network, bank and label state from its folder. */
export async function openRun(runDir: string, threads?: number): Promise<OpenRun> {
  const cfg = { ...readRunConfig(runDir), ...(threads !== undefined ? { threads } : {}) };
  if (cfg.threads !== null) setNumThreads(cfg.threads);
  const prepared = await prepareData(cfg, runDir);
  const state = buildState(cfg, prepared.data);
  try {
    // a finished run's model is its last checkpoint: an older one is not silently scored instead
    const { damaged, loop } = loadCheckpoint(runDir, state);
    if (damaged)
      throw new Error(
        `${damaged.why}: the checkpoint before it (${damaged.used}, ${checkpointPoint(loop)}) is whole; \`llp train --resume ${runDir}\` trains on from it`,
      );
  } catch (e) {
    disposeState(state); // a checkpoint of another shape must not leave the network's tensors behind
    throw e;
  }
  state.net.eval();
  return { cfg, prepared, state, info: readJson<DataInfo>(join(runDir, "data.json")), dispose: () => disposeState(state) };
}

/** Test (or validation) accuracy of a finished run: classifier top-1/top-5 and bank kNN. */
export async function evaluateRun(run: OpenRun, on: "test" | "validation" = "test") {
  if (on !== "test" && on !== "validation") throw new Error(`evaluateRun: on must be "test" or "validation" (got ${JSON.stringify(on)})`);
  const set = on === "test" ? run.prepared.data.test : run.prepared.data.validation;
  if (!set) throw new Error(`this dataset has no test set; set ${optionName("test")} when training`);
  return evaluateState(run.state, set, run.cfg, run.prepared.data.numClasses);
}

/**
 * Raw examples shaped like the run's data (uint8 pixels 0-255 as the images were stored, or
 * float32 features as loaded) -> the normalised batch the network was trained on:
 * float32 [B, ...info.inputShape]. The caller disposes it.
 */
export function runInputs(run: OpenRun, raw: Uint8Array | Float32Array, b: number): Tensor {
  const per = run.info.inputShape.reduce((a, d) => a * d, 1);
  if (raw.length !== b * per)
    throw new Error(`runInputs: ${raw.length} values for ${b} examples of shape [${run.info.inputShape.join(",")}]`);
  return normalizedTensor(raw, b, run.info.inputShape, run.info.normalization);
}

/**
 * The trained network's answer for a normalised batch x [B, ...inputShape] (from runInputs):
 * class probabilities [B, C] and embeddings v [B, D] (unit length), from the network the method
 * evaluates with, as eval/predict/embed do; no gradient. Both join the caller's tidy
 * scope when there is one; otherwise the caller disposes them.
 */
export function predictRun(run: OpenRun, x: Tensor): { probs: Tensor; v: Tensor } {
  return noGrad(() =>
    tidy(() => {
      const { logits, v } = inferenceNet(run.state).heads(x);
      return { probs: softmax(logits, 1), v };
    }),
  );
}
