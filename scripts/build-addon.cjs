// npm's install step: build the native addon with node-gyp, unless build/Release/llp_native.node is
// already newer than every native source. `npx llp` in the repo re-runs this step each time (npm
// "installs" the project to find its own bin), so an up-to-date addon must not be rebuilt.
// LLP_REBUILD=1 forces a rebuild.
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const root = path.join(__dirname, "..");
const addon = path.join(root, "build", "Release", "llp_native.node");
const sources = ["binding.gyp", ...fs.readdirSync(path.join(root, "native")).map((f) => path.join("native", f))];
const newest = Math.max(...sources.map((f) => fs.statSync(path.join(root, f)).mtimeMs));
if (process.env.LLP_REBUILD !== "1" && fs.existsSync(addon) && fs.statSync(addon).mtimeMs >= newest) {
  console.log("llp: native addon is up to date (build/Release/llp_native.node); LLP_REBUILD=1 rebuilds it");
  process.exit(0);
}
const r = spawnSync("node-gyp rebuild -j max", { cwd: root, stdio: "inherit", shell: true });
process.exit(r.status ?? 1);
