import assert from "node:assert/strict";
import { test } from "node:test";
import { choice, configHelp, onlyConfig, parseFlags } from "../../src/cli/args.js";

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

test("--labelled takes a percentage only; --validation a count or a percentage; --milestones names a bad entry", () => {
  assert.deepEqual(parseFlags(["--labelled", "1%"], {}).config, { labelled: "1%" });
  // a bare number is ambiguous (0.1 = 10% or 0.1%? 600 = a count?): refused, not guessed
  assert.throws(() => parseFlags(["--labelled", "0.1"], {}), /--labelled expects a percentage .* got "0.1"/);
  assert.throws(() => parseFlags(["--labelled", "600"], {}), /--labels-per-class/);
  assert.deepEqual(parseFlags(["--validation", "10%"], {}).config, { validation: "10%" });
  assert.deepEqual(parseFlags(["--validation=250"], {}).config, { validation: 250 });
  assert.throws(() => parseFlags(["--validation", "0.5"], {}), /--validation expects a count of examples or a percentage/);
  assert.throws(() => parseFlags(["--milestones", "1,x"], {}), /got "x" in "1,x"/);
  assert.throws(() => parseFlags(["--milestones", "3,-1"], {}), /got "-1"/);
});

test("choice() and onlyConfig() refuse what a command would otherwise ignore", () => {
  assert.equal(choice(undefined, "on", ["test", "validation"] as const), "test");
  assert.equal(choice("validation", "on", ["test", "validation"] as const), "validation");
  assert.throws(() => choice("foo", "on", ["test", "validation"] as const), /--on must be one of test, validation, got "foo"/);
  assert.doesNotThrow(() => onlyConfig({ threads: 1 }, ["threads"], "eval"));
  assert.throws(
    () => onlyConfig({ threads: 1, epochs: 3, labelsPerClass: 2 }, ["threads"], "eval"),
    /takes no --epochs, --labels-per-class/,
  );
});

test("--help after any command prints the help and runs nothing", async () => {
  const { main } = await import("../../src/cli/main.js");
  const write = process.stdout.write.bind(process.stdout);
  let out = "";
  process.stdout.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stdout.write;
  try {
    for (const argv of [["train", "--help"], ["eval", "/no/such/run", "-h"], ["predict", "--help"], ["--help"]]) {
      out = "";
      assert.equal(await main(argv), 0, argv.join(" "));
      assert.match(out, /^llp: semi-supervised learning/);
      assert.match(out, /^ {2}--label-scheme /m);
    }
  } finally {
    process.stdout.write = write;
  }
});
