// Shared test helpers: a tolerance check, a leak check and a finite-difference gradient checker.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { dispose, getNumThreads, liveTensors, noGrad, setNumThreads, type Tensor, tensor, tidy } from "../src/torch/index.js";
import { loadFile } from "../src/torch/safetensors.js";

export interface Tolerance {
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 1e-6). */
  atol?: number;
}

type Numeric = Tensor | ArrayLike<number> | ArrayLike<bigint> | number;

function numbers(v: Numeric): number[] {
  if (typeof v === "number") return [v];
  if ("toNumbers" in v && typeof v.toNumbers === "function") return v.toNumbers();
  return Array.from(v as ArrayLike<number | bigint>, Number);
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise (numpy's isclose rule).
 * A tensor's shape is checked too when `shape` is given. NaN equals NaN.
 */
export function assertClose(actual: Numeric, expected: Numeric, tol: Tolerance & { shape?: number[]; msg?: string } = {}): void {
  const { rtol = 1e-5, atol = 1e-6 } = tol;
  if (tol.shape !== undefined) assert.deepEqual((actual as Tensor).shape, tol.shape, `${tol.msg ?? ""} shape`);
  const a = numbers(actual);
  const e = numbers(expected);
  assert.equal(a.length, e.length, `${tol.msg ?? ""} length ${a.length} != ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = e[i] as number;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue; // also equal infinities
    const bound = atol + rtol * Math.abs(y);
    if (!(Math.abs(x - y) <= bound)) {
      assert.fail(
        `${tol.msg ?? "assertClose"}: element ${i}: ${x} vs expected ${y} (|diff| ${Math.abs(x - y)} > ${bound})\nactual:   [${a.slice(0, 12)}${a.length > 12 ? ", ..." : ""}]\nexpected: [${e.slice(0, 12)}${e.length > 12 ? ", ..." : ""}]`,
      );
    }
  }
}

/** A node:test case run inside tidy() that fails if any native tensor outlives it. */
export function tidyTest(name: string, fn: () => void): void {
  test(name, () => {
    const before = liveTensors();
    tidy(fn);
    assert.equal(liveTensors(), before, `${name}: leaked ${liveTensors() - before} tensor(s)`);
  });
}

/**
 * Runs fn with n intra-op threads, restoring the previous count after. Tests of many tiny ops
 * use 1: threads buy nothing there, and on a busy machine every parallel region waits for a
 * descheduled worker (100x slower gradient checks were seen with 2 threads on 2 shared cores).
 */
export function withThreads<R>(n: number, fn: () => R): R {
  const prev = getNumThreads();
  setNumThreads(n);
  try {
    return fn();
  } finally {
    setNumThreads(prev);
  }
}

export interface GradCheckOptions extends Tolerance {
  /** Central-difference step (default 1e-6, for float64 inputs). */
  eps?: number;
}

/**
 * Checks autograd's gradient of a scalar function against central differences
 * (f(x + eps e_i) - f(x - eps e_i)) / 2eps, for every element of every input.
 * Inputs must be float64 leaves; f must return a 1-element tensor. Runs in its own tidy scope,
 * on one thread.
 */
export function gradCheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], o: GradCheckOptions = {}): void {
  const { eps = 1e-6, rtol = 1e-5, atol = 1e-7 } = o;
  for (const x of inputs) assert.equal(x.dtype, "float64", "gradCheck needs float64 inputs");
  withThreads(1, () =>
    tidy(() => {
      const leaves = inputs.map((x) => x.detach().clone().requiresGrad_(true));
      f(...leaves).backward();
      const analytic = leaves.map((l) => {
        const g = l.grad;
        assert.ok(g !== null, "gradCheck: an input received no gradient");
        return g.toNumbers();
      });
      noGrad(() => {
        inputs.forEach((x, k) => {
          const base = x.toArray() as Float64Array;
          const numeric = new Float64Array(base.length);
          for (let i = 0; i < base.length; i++) {
            const at = (delta: number) =>
              tidy(() => {
                const moved = base.slice();
                moved[i] = (moved[i] as number) + delta;
                const args = inputs.map((y, j) => (j === k ? tensor(moved, x.shape) : y));
                return f(...args).item();
              });
            numeric[i] = (at(eps) - at(-eps)) / (2 * eps);
          }
          assertClose(analytic[k] as number[], numeric, { rtol, atol, msg: `gradCheck input ${k}` });
        });
      });
    }),
  );
}

/** A run folder's events.jsonl, parsed. */
export function runEvents(runDir: string): Record<string, unknown>[] {
  return readFileSync(join(runDir, "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

/** Every step's loss/total in a run folder's events, in order. */
export const stepLosses = (runDir: string): number[] =>
  runEvents(runDir)
    .filter((e) => e.type === "step")
    .map((e) => e["loss/total"] as number);

/** A seeded uniform stream in [0, 1) in plain JS (mulberry32), for tests that need no engine. */
export function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every tensor of a safetensors file (a checkpoint) as base64 bytes, by name: for bit-for-bit comparisons. */
export function fileTensors(path: string): Map<string, string> {
  const { tensors } = loadFile(path);
  const out = new Map([...tensors].map(([k, t]) => [k, Buffer.from(t.toArray().buffer).toString("base64")]));
  dispose([...tensors.values()]);
  return out;
}
