// Errors and option checks shared by the loaders. Every bad-input error names the file.

/** Bad input data: `file` is the file or folder at fault, the message says what is wrong. */
export class DataError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = "DataError";
  }
}

/** Throws on keys of `options` that are not in `allowed` (typos must not pass silently). */
export function rejectUnknownKeys(options: object, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new Error(`${where}: unknown option '${key}' (known: ${allowed.join(", ")})`);
    }
  }
}

/**
 * An amount out of `total`: "p%" or a number below 1 is a fraction, an integer >= 1 a count.
 * Returns the count (fractions round to nearest).
 */
export function resolveAmount(value: number | string, total: number, what: string): number {
  let count: number;
  if (typeof value === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
    if (m === null) throw new Error(`${what}: expected a percentage like "10%" or a number, got '${value}'`);
    const pct = Number(m[1]);
    if (pct > 100) throw new Error(`${what}: ${value} is more than 100%`);
    count = Math.round((pct / 100) * total);
  } else if (Number.isFinite(value) && value >= 0 && value < 1) {
    count = Math.round(value * total);
  } else if (Number.isInteger(value) && value >= 1) {
    count = value;
  } else {
    throw new Error(`${what}: expected a fraction in [0, 1), an integer count or "p%", got ${value}`);
  }
  if (count > total) throw new Error(`${what}: asked for ${count} examples but only ${total} are available`);
  return count;
}
