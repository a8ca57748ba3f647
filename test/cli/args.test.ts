import assert from "node:assert/strict";
import { test } from "node:test";
import { configHelp, parseFlags } from "../../src/cli/args.js";

test("flags map to config keys, the paper's one-letter symbols included", () => {
  const r = parseFlags(["--labels-per-class", "10", "--K", "5", "--t", "50", "--tau=0.1", "--milestones", "3,6", "pos"], {});
  assert.deepEqual(r.config, { labelsPerClass: 10, K: 5, T: 50, tau: 0.1, milestones: [3, 6] });
  assert.deepEqual(r.positionals, ["pos"]);
  assert.throws(() => parseFlags(["--q", "1"], {}), /unknown option --q/);
  assert.throws(() => parseFlags(["--K", "ten"], {}), /--K expects a number/);
});

test("help lists every option under the flag that parses", () => {
  const help = configHelp();
  assert.match(help, /^ {2}--K +10 /m);
  assert.match(help, /^ {2}--T +25 /m);
  assert.match(help, /^ {2}--labels-per-class /m);
  assert.doesNotMatch(help, /---/);
});
