// Runs before the addon is built: a clear message instead of a page of compiler errors.
const fs = require("node:fs");
const header = "/usr/include/torch/csrc/api/include/torch/torch.h";
const lib = "/usr/lib/x86_64-linux-gnu/libtorch_cpu.so";
const missing = [header, lib].filter((p) => !fs.existsSync(p));
if (missing.length > 0) {
  console.error(
    `llp: libtorch was not found (${missing.join(", ")} missing).\n` +
      "llp's native engine builds against Debian's libtorch 1.13. Install it with:\n" +
      "    apt-get install -y libtorch-dev\n" +
      "or run ./setup.sh, which installs everything llp needs.",
  );
  process.exit(1);
}
