// Loads the libtorch addon once. Everything native goes through `native`.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Opaque native handle (a libtorch tensor or generator owned by the addon). */
export type Handle = { readonly __handle: unique symbol };

// biome-ignore lint/suspicious/noExplicitAny: the addon's surface is typed by the wrappers in this folder
export type Native = Record<string, (...args: any[]) => any>;

/** build/Release/<file> of the nearest folder above this module that has it, or null. */
export function findBuilt(file: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "build", "Release", file);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return null;
}

function findAddon(): string {
  const found = findBuilt("llp_native.node");
  if (found) return found;
  throw new Error(
    "llp: the native engine (build/Release/llp_native.node) is not built. It needs Debian's libtorch: " +
      "`apt-get install -y libtorch-dev`, then `npm ci` (or run ./setup.sh).",
  );
}

function load(): Native {
  const require = createRequire(import.meta.url);
  const path = findAddon();
  try {
    const mod = require(path) as Native;
    // Intra-op threads default to the core count (libtorch's own default here is 1), unless a
    // count was chosen before libtorch loaded (`llp propagate --threads`, through kernel.ts)
    const env = Number(process.env.LLP_THREADS);
    mod.SetNumThreads(threadsChosen ?? (Number.isInteger(env) && env > 0 ? env : availableParallelism()));
    return mod;
  } catch (e) {
    const msg = (e as Error).message;
    if (/libtorch|libc10/.test(msg)) {
      throw new Error(`llp: cannot load libtorch (${msg}). Install it with \`apt-get install -y libtorch-dev\`.`);
    }
    throw e;
  }
}

let loaded: Native | null = null;
let threadsChosen: number | null = null;
/** Records a thread count set before libtorch loads (OpenMP's setting is the process's), so loading keeps it. */
export function chooseThreads(n: number): void {
  threadsChosen = n;
}
/**
 * The addon, loaded on first use rather than on import: loading libtorch takes ~0.55 s here, and a
 * command that never runs a libtorch op (`llp propagate` on a .npy, `llp --help`, a bad flag)
 * should not pay it. The Proxy adds ~16 ns to a call (35-38 against 20-22 ns for a trivial op,
 * 2M calls, idle), tens of microseconds on a training step.
 */
export const native: Native = new Proxy({} as Native, {
  get: (_, key) => {
    loaded ??= load();
    return loaded[key as string];
  },
});

/** Whether libtorch has been loaded into this process. */
export function nativeLoaded(): boolean {
  return loaded !== null;
}
