// Turns training events into terminal output: a one-line progress bar on a TTY, plain lines
// (one per epoch) otherwise.
import type { TrainEvent } from "../train/types.js";

const f = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : "-");
/** A learning rate as typed: 0.0003, not 0.00030000000000000003. */
const lr = (x: number) => String(Number(x.toPrecision(6)));

export class Progress {
  readonly tty: boolean;
  #steps = 0;
  constructor(readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(out.isTTY);
  }
  on(ev: TrainEvent): void {
    switch (ev.type) {
      case "start":
        this.#steps = ev.stepsPerEpoch;
        this.out.write(
          `llp: ${ev.config.method} on ${ev.config.data}: ${ev.n} training points, ${ev.labelled} labelled, ${ev.stepsPerEpoch} steps/epoch, ${ev.schedule}${ev.resumedFrom !== null ? `, resumed after epoch ${ev.resumedFrom}` : ""}\n`,
        );
        break;
      case "step":
        if (this.tty && ev.step % 5 === 0) {
          const w = 30;
          const done = Math.min(w, Math.round((w * (ev.step + 1)) / Math.max(1, this.#steps)));
          this.out.write(`\r  epoch ${ev.epoch} [${"#".repeat(done)}${".".repeat(w - done)}] ${ev.phase} loss ${f(ev["loss/total"], 3)}`);
        }
        break;
      case "epoch":
        if (this.tty) this.out.write("\r\x1b[K");
        this.out.write(
          `  epoch ${ev.epoch} ${ev.phase.padEnd(10)} loss ${f(ev["loss/total"], 3)}  val ${f(ev["val/top1"])}  val-knn ${f(ev["val/knnTop1"])}  pseudo-acc ${f(ev["monitor/pseudoLabelAccuracy"])}  conf ${f(ev["monitor/confidence"], 3)}${ev["monitor/mask"] !== undefined ? `  mask ${f(ev["monitor/mask"], 3)}` : ""}  lr ${lr(ev["monitor/lr"])}  ${f(ev.epoch_s, 1)}s\n`,
        );
        break;
      case "lrDrop":
        this.out.write(`  validation saturated: lr -> ${lr(ev.lr)}\n`);
        break;
      case "notice":
        this.out.write(`llp: ${ev.message}\n`);
        break;
      case "end":
        this.out.write(
          `  done: test top-1 ${f(ev.summary.test_top1)}  top-5 ${f(ev.summary.test_top5)}  kNN ${f(ev.summary.knn_top1)}  1-NN ${f(ev.summary.nn_top1)}  (${f(ev.summary.wall_s, 0)} s)\n`,
        );
        break;
      default:
        break;
    }
  }
}

/** A one-line bar with the elapsed time and an estimate of the time left, on a terminal only. */
export class ProgressBar {
  readonly tty: boolean;
  #t0 = performance.now();
  #phase = "";
  #last = 0;
  constructor(readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(out.isTTY);
  }
  update(phase: string, done: number, total: number): void {
    if (!this.tty) return;
    const now = performance.now();
    if (phase !== this.#phase) {
      this.#phase = phase;
      this.#t0 = now;
    } else if (now - this.#last < 200 && done < total) return;
    this.#last = now;
    const w = 30;
    const frac = total > 0 ? done / total : 1;
    const s = (now - this.#t0) / 1000;
    const left = frac > 0 ? (s * (1 - frac)) / frac : Number.NaN;
    const bar = "#".repeat(Math.round(w * frac)).padEnd(w, ".");
    this.out.write(
      `\r\x1b[K  ${phase.padEnd(8)} [${bar}] ${(100 * frac).toFixed(0).padStart(3)}%  ${s.toFixed(0)} s${done < total && Number.isFinite(left) ? `, about ${left.toFixed(0)} s left` : ""}`,
    );
  }
  done(): void {
    if (this.tty && this.#phase) this.out.write("\r\x1b[K");
  }
}
