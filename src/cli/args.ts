// Command-line flags -> config keys: --labels-per-class 10 -> labelsPerClass: 10.
import { DEFAULTS, kebab, REMOVED_OPTIONS } from "../config.js";

// --k and --t are accepted for the paper's K and T as well.
const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Refuses config options that a command does not read (eval, predict and embed take a run's own config). */
export function onlyConfig(config: Record<string, unknown>, allowed: string[], cmd: string): void {
  const extra = Object.keys(config).filter((k) => !allowed.includes(k));
  if (extra.length > 0)
    throw new Error(`llp ${cmd} uses the run's saved config; it takes no ${extra.map((k) => `--${kebab(k)}`).join(", ")}`);
}

/** The value of a flag that must be one of `choices` (the first is the default). */
export function choice<T extends string>(v: string | boolean | undefined, name: string, choices: readonly T[]): T {
  if (v === undefined) return choices[0] as T;
  if (typeof v === "string" && (choices as readonly string[]).includes(v)) return v as T;
  throw new Error(`--${name} must be one of ${choices.join(", ")}, got ${JSON.stringify(v)}`);
}

/** Splits argv into positionals, config values (typed by the defaults table) and other flags. */
export function parseFlags(
  argv: string[],
  extra: Record<string, "string" | "boolean">,
): {
  positionals: string[];
  config: Record<string, unknown>;
  flags: Record<string, string | boolean>;
} {
  const positionals: string[] = [];
  const config: Record<string, unknown> = {};
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith("--")) {
      positionals.push(a);
      continue;
    }
    const [rawName, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const name = rawName.length === 1 && rawName.toUpperCase() in DEFAULTS ? rawName.toUpperCase() : camel(rawName);
    const take = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new Error(`--${rawName} needs a value`);
      return v;
    };
    if (name in extra) {
      flags[name] = extra[name] === "boolean" ? inline !== "false" : take();
    } else if (name in DEFAULTS) {
      config[name] = parseValue(name, take());
    } else if (name in REMOVED_OPTIONS) {
      throw new Error(`--${rawName} was removed: it measured flat (docs/experiments.md)`);
    } else {
      throw new Error(`unknown option --${rawName} (see llp --help)`);
    }
  }
  return { positionals, config, flags };
}

function parseValue(key: string, s: string): unknown {
  const def = DEFAULTS[key as keyof typeof DEFAULTS].value;
  if (s === "null" || s === "none") return null;
  if (key === "milestones" || key === "classes") {
    const xs = s.split(",").map((x) => x.trim());
    const bad = xs.find((x) => !/^\d+$/.test(x));
    if (bad !== undefined)
      throw new Error(
        key === "milestones"
          ? `--milestones expects epoch numbers like 28,33, got "${bad}" in "${s}"`
          : `--classes expects class indices like 0,1,2, got "${bad}" in "${s}"`,
      );
    return xs.map(Number);
  }
  if (key === "labelled") {
    if (!/^\d+(\.\d+)?%$/.test(s))
      throw new Error(
        `--labelled expects a percentage of the training set like 1% or 10%, got "${s}" (n labels per class: --labels-per-class n)`,
      );
    return s;
  }
  if (key === "imageSize" || key === "labelColumn") return /^\d+$/.test(s) ? Number(s) : s;
  if (key === "validation") {
    if (/^\d+(\.\d+)?%$/.test(s)) return s;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--validation expects a count of examples or a percentage like 10%, got "${s}"`);
    return n;
  }
  if (typeof def === "number" || ["labelsPerClass", "width", "poolGrid", "threads", "emaDecay"].includes(key)) {
    const n = Number(s);
    if (Number.isNaN(n)) throw new Error(`--${kebab(key)} expects a number, got "${s}"`);
    return n;
  }
  return s;
}

export function configHelp(): string {
  return Object.entries(DEFAULTS)
    .map(([k, d]) => `  --${kebab(k).padEnd(20)} ${JSON.stringify(d.value).padEnd(16)} ${d.source}`)
    .join("\n");
}
