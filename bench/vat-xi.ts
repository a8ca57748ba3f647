// How VAT's finite-difference step xi behaves in float32 (docs/experiments.md): the direction one
// power iteration finds for 16 Fashion-MNIST training images, small-cnn at initialisation, the
// same start d, for each xi; printed as the cosine between every pair. Directions that agree
// across a range of xi are the real one; a step rounded away gives noise.
//
//   node dist/bench/vat-xi.js [--threads 1]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { resolveConfig } from "../src/config.js";
import { adversarialPerturbation } from "../src/methods/vat.js";
import { buildNet } from "../src/model/net.js";
import { Generator, setNumThreads, tidy } from "../src/torch/index.js";
import { prepareData } from "../src/train/data.js";

const { values } = parseArgs({ options: { threads: { type: "string", default: "1" } } });
setNumThreads(Number(values.threads));
const { data } = await prepareData(resolveConfig({ labelled: "1%" }), mkdtempSync(join(tmpdir(), "vat-xi-")));
const net = buildNet({ model: "small-cnn", inputShape: data.inputShape, numClasses: 10, embeddingDim: 128 }, new Generator(0));
const x = await data.inputs(Int32Array.from({ length: 16 }, (_, i) => i * 7));
const d = new Generator(1).randn([16, ...data.inputShape]);
const xis = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1];
const dirs = xis.map((xi) => tidy(() => adversarialPerturbation(net, x, net.heads(x).logits.detach(), d, xi, 1).toArray() as Float32Array));
const cos = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    s += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return s / Math.sqrt(na * nb);
};
console.log(`xi      ${xis.map((v) => v.toExponential(0).padStart(7)).join("")}`);
dirs.forEach((a, i) => {
  console.log(`${(xis[i] as number).toExponential(0).padEnd(8)}${dirs.map((b) => cos(a, b).toFixed(3).padStart(7)).join("")}`);
});
x.dispose();
d.dispose();
net.dispose();
