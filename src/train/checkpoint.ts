// Checkpoints: model, optimiser, the method's state (LLP: bank and label state), RNG state and
// loop state in one safetensors file, written atomically (temporary file, fsync, rename).
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Method } from "../methods/method.js";
import type { LLPNet } from "../model/net.js";
import type { SGD } from "../torch/optim.js";
import type { Generator } from "../torch/random.js";
import { loadFile, type Metadata, saveFile } from "../torch/safetensors.js";
import { dispose } from "../torch/scope.js";
import { type Tensor, tensor } from "../torch/tensor.js";
import type { PlateauState } from "./schedule.js";

export interface LoopState {
  epoch: number; // epochs completed
  drops: number;
  plateau: PlateauState;
  wallS: number;
  bestVal: number;
  /** a checkpoint written inside epoch `epoch` (an interrupt): where in it, and its running sums */
  partial?: PartialEpoch;
}

/** How far into an epoch a mid-epoch checkpoint was written (the generator's state at that epoch's start is saved beside it). */
export interface PartialEpoch {
  step: number; // steps done
  /** batches taken from the epoch's stream, steps and batches left out alike (absent: step) */
  consumed?: number;
  lossSum: number;
  monitors: [string, number, number][]; // key, sum, count
  seconds: number; // time spent in the epoch so far
}

/** What a run holds: the network and optimiser, the run's generator, and the method with its own state. */
export interface TrainState {
  net: LLPNet;
  opt: SGD;
  gen: Generator;
  method: Method;
}

/** The network that evaluates, predicts and embeds (the method's choice). */
export const inferenceNet = (s: TrainState): LLPNet => s.method.evalNet();

export const checkpointPath = (runDir: string) => join(runDir, "checkpoint.safetensors");
/** The checkpoint before the last, kept in case the last one is damaged. */
export const previousCheckpointPath = (runDir: string) => join(runDir, "checkpoint.prev.safetensors");
/** Where a resume sets a damaged last checkpoint aside (so the next save does not rotate it into the previous one's place). */
export const damagedCheckpointPath = (runDir: string) => join(runDir, "checkpoint.damaged.safetensors");

/** Where a checkpoint's loop state stands: "after epoch E" (0-based, as progress prints epochs) or "at epoch E, step S". */
export const checkpointPoint = (loop: LoopState): string =>
  loop.partial ? `at epoch ${loop.epoch}, step ${loop.partial.step}` : `after epoch ${loop.epoch - 1}`;

/** epochStart: the run generator's state at the start of a partial epoch (loop.partial set), else null. */
export function saveCheckpoint(
  runDir: string,
  s: TrainState,
  loop: LoopState,
  configJson: string,
  epochStart: Uint8Array | null = null,
): string {
  const m = new Map<string, Tensor>();
  const owned: Tensor[] = [];
  for (const [k, t] of s.net.stateDict()) m.set(`model.${k}`, t);
  for (const [k, t] of s.opt.stateDict()) m.set(`optim.${k}`, t);
  for (const [k, t] of s.method.stateDict()) m.set(k, t);
  const add = (k: string, t: Tensor) => {
    owned.push(t);
    m.set(k, t);
  };
  const labels = s.method.labels;
  if (labels) {
    add("labels.y", tensor(labels.y, [labels.n], "int32"));
    add("labels.c", tensor(labels.c, [labels.n], "float32"));
  }
  const rng = s.gen.getState();
  add("rng.state", tensor(rng, [rng.length], "uint8"));
  if ((loop.partial === undefined) !== (epochStart === null))
    throw new Error("saveCheckpoint: a partial epoch needs its start state, and only it");
  if (epochStart) add("rng.epochStart", tensor(epochStart, [epochStart.length], "uint8"));
  const path = checkpointPath(runDir);
  try {
    saveFile(
      path,
      m,
      // format 2: a checkpoint inside an epoch, which a build without partial epochs must not resume as a whole one
      { config: configJson, loop: JSON.stringify(loop), format: loop.partial ? "llp-checkpoint-2" : "llp-checkpoint-1" },
      { checksum: true, keepPrevious: previousCheckpointPath(runDir) },
    );
  } finally {
    dispose(owned);
  }
  return path;
}

/** The metadata keys of checkpoints written before checksums. */
const LEGACY_METADATA = ["config", "loop", "format"];

/** Opens an llp checkpoint (`missing` is the error when there is none), hands its tensors to `use`, then frees them. */
function withCheckpoint<T>(path: string, missing: string, use: (tensors: Map<string, Tensor>, metadata: Metadata) => T): T {
  if (!existsSync(path)) throw new Error(missing);
  const { tensors, metadata } = loadFile(path);
  try {
    if (metadata.format !== "llp-checkpoint-1" && metadata.format !== "llp-checkpoint-2") throw new Error(`${path}: not an llp checkpoint`);
    // checkpoints carry a checksum since it was added; one without it must have exactly the
    // metadata of the checkpoints before (a corrupted "sha256" key must not switch the check off)
    if (metadata.sha256 === undefined && Object.keys(metadata).some((k) => !LEGACY_METADATA.includes(k)))
      throw new Error(`${path}: not a valid safetensors file (its checksum is missing and its metadata is damaged)`);
    return use(tensors, metadata);
  } finally {
    dispose([...tensors.values()]);
  }
}

/**
 * Restores everything saved by saveCheckpoint into freshly built state; returns the loop state.
 * A damaged last checkpoint (truncated, corrupt, or lost between the renames of a save) is
 * refused; the one before it is used when it is whole, and `notice` says so.
 */
export function loadCheckpoint(
  runDir: string,
  s: TrainState,
): { loop: LoopState; config: string; epochStart: Uint8Array | null; damaged: { why: string; used: string } | null } {
  const path = checkpointPath(runDir);
  const prev = previousCheckpointPath(runDir);
  try {
    return { ...restore(path, `${runDir}: no checkpoint to resume from (${path} missing)`, s), damaged: null };
  } catch (e) {
    if (!existsSync(prev)) throw e;
    return { ...restore(prev, `${prev} missing`, s), damaged: { why: (e as Error).message, used: prev } };
  }
}

function restore(path: string, missing: string, s: TrainState): { loop: LoopState; config: string; epochStart: Uint8Array | null } {
  return withCheckpoint(path, missing, (tensors, metadata) => {
    const pick = (prefix: string) =>
      new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    s.net.loadStateDict(pick("model."));
    s.opt.loadStateDict(pick("optim."));
    s.method.loadStateDict(tensors, path);
    const rng = tensors.get("rng.state");
    if (!rng) throw new Error(`${path}: incomplete checkpoint`);
    const labels = s.method.labels;
    if (labels) {
      const y = tensors.get("labels.y");
      const c = tensors.get("labels.c");
      if (!y || !c) throw new Error(`${path}: incomplete checkpoint (no label state)`);
      labels.restore(y.toArray() as Int32Array, c.toArray() as Float32Array);
    }
    s.gen.setState(rng.toArray() as Uint8Array);
    const loop = JSON.parse(metadata.loop as string) as LoopState & { nceZ?: unknown };
    delete loop.nceZ; // written by versions that had the NCE loss
    const start = tensors.get("rng.epochStart");
    if ((loop.partial === undefined) !== (start === undefined))
      throw new Error(`${path}: incomplete checkpoint (a partial epoch without its start)`);
    return { loop, config: metadata.config as string, epochStart: start ? (start.toArray() as Uint8Array).slice() : null };
  });
}
