// npm's install step: build the native addons with node-gyp (llp_native.node, libtorch's; llp_topk.node,
// the propagation kernel alone), unless both are already newer than every native source. `npx llp` in the repo re-runs this step each time (npm
// "installs" the project to find its own bin), so an up-to-date addon must not be rebuilt.
// LLP_REBUILD=1 forces a rebuild.
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const root = path.join(__dirname, "..");
const addons = ["llp_native.node", "llp_topk.node"].map((f) => path.join(root, "build", "Release", f));
const sources = ["binding.gyp", ...fs.readdirSync(path.join(root, "native")).map((f) => path.join("native", f))];
const newest = Math.max(...sources.map((f) => fs.statSync(path.join(root, f)).mtimeMs));
if (process.env.LLP_REBUILD !== "1" && addons.every((a) => fs.existsSync(a) && fs.statSync(a).mtimeMs >= newest)) {
  console.log("llp: native addons are up to date (build/Release/llp_native.node, llp_topk.node); LLP_REBUILD=1 rebuilds them");
  process.exit(0);
}
const r = spawnSync("node-gyp rebuild -j max", { cwd: root, stdio: "inherit", shell: true });
process.exit(r.status ?? 1);
