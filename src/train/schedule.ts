// Learning-rate schedules, pure functions of their inputs.

export interface PlateauState {
  best: number; // best validation accuracy so far
  sinceBest: number; // evaluations since best (reset after a drop)
  drops: number; // drops taken
  stop: boolean; // plateaued after the last allowed drop
}

export interface PlateauOptions {
  patience: number;
  maxDrops: number;
  /** improvements smaller than this do not count as a new best */
  minDelta?: number;
}

export const initialPlateau = (): PlateauState => ({ best: -1, sinceBest: 0, drops: 0, stop: false });

/**
 * "Dropped by a factor of 10 whenever validation performance saturates" (paper Sec. 4): after
 * `patience` evaluations without a new best, drop (at most maxDrops times); a plateau after the
 * last drop stops training.
 */
export function plateauStep(s: PlateauState, valAcc: number, o: PlateauOptions): { state: PlateauState; drop: boolean } {
  if (s.stop) return { state: s, drop: false };
  if (valAcc > s.best + (o.minDelta ?? 0)) return { state: { ...s, best: valAcc, sinceBest: 0 }, drop: false };
  const since = s.sinceBest + 1;
  if (since < o.patience) return { state: { ...s, sinceBest: since }, drop: false };
  if (s.drops >= o.maxDrops) return { state: { ...s, sinceBest: since, stop: true }, drop: false };
  return { state: { ...s, sinceBest: 0, drops: s.drops + 1 }, drop: true };
}

/** lr after `drops` drops. */
export function lrAfterDrops(base: number, drops: number, factor: number): number {
  return base * factor ** drops;
}

/** Number of milestones passed at (0-based) epoch e. */
export function dropsAtEpoch(milestones: number[], e: number): number {
  return milestones.filter((m) => e >= m).length;
}

/**
 * Mean Teacher's sigmoid ramp-up of the consistency weight (Laine & Aila 2017, as Tarvainen &
 * Valpola's code): exp(-5 (1 - t/length)^2) for t in [0, length], 1 after; length 0 is 1.
 */
export function sigmoidRampup(t: number, length: number): number {
  if (length === 0) return 1;
  const phase = 1 - Math.min(Math.max(t, 0), length) / length;
  return Math.exp(-5 * phase * phase);
}
