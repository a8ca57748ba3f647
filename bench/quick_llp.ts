// Quick experiment driver (temporary, until `llp train` lands): Fashion-MNIST, seeded split.
import { resolveConfig } from "../src/config.js";
import { loadFashionMnist } from "../src/data/fashion-mnist.js";
import { Generator } from "../src/torch/random.js";
import { tidy } from "../src/torch/scope.js";
import { channelStats, cropFlip, normalizer } from "../src/train/augment.js";
import { toTrainData } from "../src/train/data.js";
import { train } from "../src/train/loop.js";

const args = JSON.parse(process.argv[2] ?? "{}");
const nTrain = args.nTrain ?? 60000;
delete args.nTrain;
const cfg = resolveConfig(args);
const ds = await loadFashionMnist();
const test = await loadFashionMnist({ part: "test" });
const g = new Generator(cfg.seed + 1000);
const perm = g.permutation(ds.n);
const val = perm.slice(0, cfg.validation);
const pool = perm.slice(cfg.validation, cfg.validation + nTrain);
const perClass = cfg.labelsPerClass ?? Math.round((Number.parseFloat(cfg.labelled ?? "1%") / 100) * pool.length / ds.numClasses);
const counts = new Array(ds.numClasses).fill(0);
const labelled = Int32Array.from(Array.from(pool).filter((r) => { const y = ds.labels[r] as number; if (counts[y] < perClass) { counts[y]++; return true; } return false; }));
const st = tidy(() => channelStats(ds.getBatch(pool.slice(0, 10000))));
const norm = normalizer(st.mean, st.std);
const data = toTrainData(ds, { train: pool, labelled, validation: val }, test, { batchSize: cfg.batchSize, augment: cfg.augment === "none" ? norm : cropFlip(2, norm), normalize: norm });
console.error(JSON.stringify({ labelled: labelled.length, train: pool.length, mean: st.mean, std: st.std }));
for await (const ev of train(cfg, data, { runDir: null, resume: false })) {
  if (ev.type === "step") { if (ev.step % 100 === 0) console.error(JSON.stringify(ev)); }
  else if (ev.type !== "start") console.log(JSON.stringify(ev));
}
