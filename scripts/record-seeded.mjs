// Re-records test/train/fixtures/seeded-runs.json (the exact-repeat oracle of
// test/train/seeded-oracle.test.ts) from the built code: only after a change that alters the
// arithmetic on purpose, said in the commit. The runs recorded before are kept as `previous`, and
// the test holds the new runs close to them.
//   npm run build && node scripts/record-seeded.mjs COMMIT
import { execSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../", import.meta.url);
const { resolveConfig } = await import(new URL("dist/src/config.js", root));
const { runTraining } = await import(new URL("dist/src/train/run.js", root));
const file = new URL("test/train/fixtures/seeded-runs.json", root);
const old = JSON.parse(readFileSync(file, "utf8"));
const commit = process.argv[2] ?? execSync("git rev-parse --short HEAD", { cwd: root }).toString().trim();
const dir = mkdtempSync(join(tmpdir(), "llp-record-"));
const runs = {};
for (const [name, r] of Object.entries(old.runs)) {
  const out = join(dir, name);
  const s = await runTraining(resolveConfig({ ...r.config, out }), out, { resume: false });
  const losses = readFileSync(join(out, "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === "step")
    .map((e) => e["loss/total"]);
  runs[name] = {
    config: r.config,
    losses,
    test_top1: s.test_top1,
    knn_top1: Number.isNaN(s.knn_top1) ? null : s.knn_top1,
    val_top1: s.val_top1,
  };
  console.error(`${name}: test ${s.test_top1} (was ${r.test_top1})`);
}
rmSync(dir, { recursive: true, force: true });
// the first baseline stays the reference: a second re-record keeps it, so drift cannot build up
const previous = old.previous ?? {
  recorded_at: old.recorded_at,
  runs: Object.fromEntries(Object.entries(old.runs).map(([k, r]) => [k, { losses: r.losses, test_top1: r.test_top1, val_top1: r.val_top1 }])),
};
for (const [name, r] of Object.entries(runs)) {
  const before = previous.runs[name];
  const first = before.losses[0];
  if (Math.abs(r.losses[0] - first) > 1e-5 * Math.abs(first) || Math.abs(r.test_top1 - before.test_top1) > 0.03)
    throw new Error(`${name}: not the same arithmetic up to rounding (first loss ${r.losses[0]} vs ${first}, test ${r.test_top1} vs ${before.test_top1}): fix the change, do not re-record`);
}
writeFileSync(file, `${JSON.stringify({ recorded_at: commit, previous, runs }, null, 1)}\n`);
