// Checkpoints: model, optimiser, bank, label state, RNG state and loop state in one
// safetensors file, written atomically (temporary file, fsync, rename).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { optionName } from "../config.js";
import type { MemoryBank } from "../memory/bank.js";
import type { LabelState } from "../memory/labels.js";
import type { LLPNet } from "../model/net.js";
import type { SGD } from "../torch/optim.js";
import type { Generator } from "../torch/random.js";
import { loadFile, type Metadata, saveFile } from "../torch/safetensors.js";
import { dispose } from "../torch/scope.js";
import { type Tensor, tensor } from "../torch/tensor.js";
import type { WeightAverage } from "./ema.js";
import type { PlateauState } from "./schedule.js";

export interface LoopState {
  epoch: number; // epochs completed
  drops: number;
  plateau: PlateauState;
  wallS: number;
  bestVal: number;
  nceZ: number | null; // NCE's running Z (irLoss "nce")
}

export interface TrainState {
  net: LLPNet;
  opt: SGD;
  bank: MemoryBank | null;
  labels: LabelState;
  gen: Generator;
  /** --ema > 0: the weight average (evaluation, predict, embed; LLP's weak view) */
  ema: WeightAverage | null;
}

/** The network that evaluates, predicts and embeds: the weight average when there is one. */
export const inferenceNet = (s: TrainState): LLPNet => s.ema?.net ?? s.net;

export const checkpointPath = (runDir: string) => join(runDir, "checkpoint.safetensors");

export function saveCheckpoint(runDir: string, s: TrainState, loop: LoopState, configJson: string): string {
  const m = new Map<string, Tensor>();
  const owned: Tensor[] = [];
  for (const [k, t] of s.net.stateDict()) m.set(`model.${k}`, t);
  for (const [k, t] of s.opt.stateDict()) m.set(`optim.${k}`, t);
  if (s.bank) m.set("bank.V", s.bank.V);
  if (s.ema) for (const [k, t] of s.ema.net.stateDict()) m.set(`ema.${k}`, t);
  const add = (k: string, t: Tensor) => {
    owned.push(t);
    m.set(k, t);
  };
  add("labels.y", tensor(s.labels.y, [s.labels.n], "int32"));
  add("labels.c", tensor(s.labels.c, [s.labels.n], "float32"));
  const rng = s.gen.getState();
  add("rng.state", tensor(rng, [rng.length], "uint8"));
  const path = checkpointPath(runDir);
  try {
    const meta: Record<string, string> = { config: configJson, loop: JSON.stringify(loop), format: "llp-checkpoint-1" };
    if (s.ema) meta.emaSteps = String(s.ema.steps);
    saveFile(path, m, meta);
  } finally {
    dispose(owned);
  }
  return path;
}

/**
 * --teacher: the final label state (y, c for all N) of the teacher run's checkpoint, into a
 * student's fresh label state. The labelled points must carry the same labels in both (the
 * student reads the teacher's split, so only a teacher trained on other data fails here).
 */
export function loadTeacherLabels(teacherDir: string, labels: LabelState): void {
  const path = checkpointPath(teacherDir);
  withCheckpoint(path, `${optionName("teacher")}: ${teacherDir} has no checkpoint (${path} missing)`, (tensors) => {
    const y = tensors.get("labels.y")?.toArray() as Int32Array | undefined;
    const c = tensors.get("labels.c")?.toArray() as Float32Array | undefined;
    if (!y || !c) throw new Error(`${path}: incomplete checkpoint (no label state)`);
    if (y.length !== labels.n) throw new Error(`${optionName("teacher")}: ${teacherDir} holds ${y.length} points, this run ${labels.n}`);
    for (const i of labels.labelledRows)
      if (y[i] !== labels.y[i])
        throw new Error(`${optionName("teacher")}: ${teacherDir} labels point ${i} ${y[i]}, this run ${labels.y[i]}`);
    labels.restore(y, c);
  });
}

/** Opens an llp checkpoint (`missing` is the error when there is none), hands its tensors to `use`, then frees them. */
function withCheckpoint<T>(path: string, missing: string, use: (tensors: Map<string, Tensor>, metadata: Metadata) => T): T {
  if (!existsSync(path)) throw new Error(missing);
  const { tensors, metadata } = loadFile(path);
  try {
    if (metadata.format !== "llp-checkpoint-1") throw new Error(`${path}: not an llp checkpoint`);
    return use(tensors, metadata);
  } finally {
    dispose([...tensors.values()]);
  }
}

/** Restores everything saved by saveCheckpoint into freshly built state; returns the loop state. */
export function loadCheckpoint(runDir: string, s: TrainState): { loop: LoopState; config: string } {
  const path = checkpointPath(runDir);
  return withCheckpoint(path, `${runDir}: no checkpoint to resume from (${path} missing)`, (tensors, metadata) => {
    const pick = (prefix: string) =>
      new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    s.net.loadStateDict(pick("model."));
    s.opt.loadStateDict(pick("optim."));
    if (s.ema) {
      if (metadata.emaSteps === undefined) throw new Error(`${path}: saved without a weight average: ${optionName("ema")} was 0`);
      s.ema.net.loadStateDict(pick("ema."));
      s.ema.steps = Number(metadata.emaSteps);
    }
    const V = tensors.get("bank.V");
    if (s.bank && V) s.bank.V.copy_(V);
    const y = tensors.get("labels.y");
    const c = tensors.get("labels.c");
    const rng = tensors.get("rng.state");
    if (!y || !c || !rng) throw new Error(`${path}: incomplete checkpoint`);
    s.labels.restore(y.toArray() as Int32Array, c.toArray() as Float32Array);
    s.gen.setState(rng.toArray() as Uint8Array);
    return { loop: JSON.parse(metadata.loop as string) as LoopState, config: metadata.config as string };
  });
}
