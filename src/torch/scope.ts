// Deterministic tensor lifetime. A scope records every tensor created while it is open and
// frees all of them when it closes, except the ones returned from it or kept with keep().
// Freed at once, a training step's intermediates cost nothing; left to the garbage collector
// they made a step 4-5x slower in the prototype (see README, "Memory").
import { native } from "./native.js";

export interface Tracked {
  /** The scope currently holding this tensor, if any. */
  scope: Set<Tracked> | null;
  dispose(): void;
  readonly isDisposed: boolean;
}

const stack: Set<Tracked>[] = [];

/** Called by every Tensor constructor. */
export function track(t: Tracked): void {
  const top = stack[stack.length - 1];
  if (top !== undefined) {
    top.add(t);
    t.scope = top;
  }
}

/** Removes a tensor from its scope: it lives until dispose() (or the GC safety net). */
export function keep<T extends Tracked>(t: T): T {
  t.scope?.delete(t);
  t.scope = null;
  return t;
}

function collect(value: unknown, out: Set<Tracked>, seen: Set<unknown>): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if ("scope" in value && "dispose" in value && "isDisposed" in value) {
    out.add(value as Tracked);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, seen);
  }
}

/**
 * Runs fn in a new scope. Tensors created inside are freed when it returns, except those
 * reachable from its result (a tensor, or arrays/plain objects/Maps of them), which move to
 * the enclosing scope. fn must be synchronous.
 */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Tracked>();
  stack.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error("tidy(fn): fn must be synchronous (it returned a Promise)");
  }
  const kept = new Set<Tracked>();
  collect(result, kept, new Set());
  const parent = stack[stack.length - 1] ?? null;
  for (const t of scope) {
    if (kept.has(t)) {
      t.scope = parent;
      parent?.add(t);
    } else {
      t.dispose();
    }
  }
  return result;
}

/** Frees every tensor in a value (tensor, array, object, Map). */
export function dispose(value: unknown): void {
  const all = new Set<Tracked>();
  collect(value, all, new Set());
  for (const t of all) t.dispose();
}

/** Tensors alive in native memory (neither disposed nor collected). For leak tests. */
export function liveTensors(): number {
  return native.LiveTensors() as number;
}

/** Number of open tidy scopes (for tests). */
export function scopeDepth(): number {
  return stack.length;
}
