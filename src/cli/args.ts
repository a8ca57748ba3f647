// Command-line flags -> config keys: --labels-per-class 10 -> labelsPerClass: 10.
import { DEFAULTS } from "../config.js";

// The paper's one-letter symbols stay as they are: K -> --K, T -> --T (--k, --t are accepted too).
/** The command-line spelling of a config key (without the leading --). */
export const kebab = (k: string) => (k.length === 1 ? k : k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

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
    } else {
      throw new Error(`unknown option --${rawName} (see llp --help)`);
    }
  }
  return { positionals, config, flags };
}

function parseValue(key: string, s: string): unknown {
  const def = DEFAULTS[key as keyof typeof DEFAULTS].value;
  if (s === "null" || s === "none") return null;
  if (key === "milestones") return s.split(",").map((x) => Number(x));
  if (typeof def === "number" || ["labelsPerClass", "width", "poolGrid", "threads"].includes(key)) {
    const n = Number(s);
    if (Number.isNaN(n)) throw new Error(`--${kebab(key)} expects a number, got "${s}"`);
    return n;
  }
  if (key === "labelled" && /^\d+(\.\d+)?$/.test(s)) return `${s}%`;
  return s;
}

export function configHelp(): string {
  return Object.entries(DEFAULTS)
    .map(([k, d]) => `  --${kebab(k).padEnd(20)} ${JSON.stringify(d.value).padEnd(16)} ${d.source}`)
    .join("\n");
}
