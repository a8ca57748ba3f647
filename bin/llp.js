#!/usr/bin/env node
import("../dist/src/cli/main.js").then((m) => m.main(process.argv.slice(2))).then(
  (code) => process.exit(code ?? 0),
  (e) => {
    console.error(`llp: ${e?.message ?? e}`);
    process.exit(1);
  },
);
