// One rank of `npm run bench:distributed` (bench/distributed.ts): LLP steps on Fashion-MNIST, the
// group from torchrun's variables; rank 0 prints each step's wall time and time in collectives as
// JSON lines, after `--skip` warm-up steps, and stops after `--steps`.
import { parseArgs } from "node:util";
import { resolveConfig } from "../src/config.js";
import { groupFromEnv, ProcessGroup } from "../src/distributed/group.js";
import { prepareData } from "../src/train/data.js";
import { train } from "../src/train/loop.js";

const { values: a } = parseArgs({
  options: { steps: { type: "string", default: "40" }, skip: { type: "string", default: "5" }, threads: { type: "string", default: "1" } },
});
const o = groupFromEnv();
const group = o && o.worldSize > 1 ? ProcessGroup.init({ ...o, timeoutMs: 600_000 }) : null;
const cfg = resolveConfig({ labelled: "1%", irEpochs: 0, epochs: 1, threads: Number(a.threads), seed: 0 });
const { data } = await prepareData(cfg, null);
const stop = new AbortController();
let last = 0;
let k = 0;
for await (const ev of train(cfg, data, { runDir: null, resume: false, signal: stop.signal, group })) {
  if (ev.type !== "step") continue;
  const now = performance.now();
  if (k >= Number(a.skip) && (!group || group.rank === 0))
    process.stdout.write(`${JSON.stringify({ step: k, ms: now - last, comm_ms: 1000 * (ev.comm_s ?? 0) })}\n`);
  last = now;
  if (++k >= Number(a.steps)) stop.abort();
}
group?.destroy();
