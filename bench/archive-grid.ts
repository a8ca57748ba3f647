// Keeps the finished cells of an accuracy grid in the repository, small enough to commit:
// `node dist/bench/archive-grid.js GRID_DIR ARCHIVE_DIR`. Per finished cell it copies
// grid-cell.json, config.json, summary.json and eval-test.json (when present), and the epoch
// events as epochs.jsonl (validation, pseudo-label accuracy and confidence by epoch); then the
// grid's table.md and table.json. Copying an archive back into a grid folder
// (`cp -r ARCHIVE_DIR/. GRID_DIR/`) makes those cells finished there, so the grid goes on
// with the rest (`llp bench accuracy` with the same options).
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const [grid, archive] = process.argv.slice(2);
if (!grid || !archive) throw new Error("usage: node dist/bench/archive-grid.js GRID_DIR ARCHIVE_DIR");
let kept = 0;
for (const name of readdirSync(grid).sort()) {
  const dir = join(grid, name);
  if (!existsSync(join(dir, "grid-cell.json")) || !existsSync(join(dir, "summary.json"))) continue;
  const to = join(archive, name);
  mkdirSync(to, { recursive: true });
  for (const f of ["grid-cell.json", "config.json", "summary.json", "eval-test.json"])
    if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(to, f));
  // a cell copied in from an archive has its epochs.jsonl already, and no events.jsonl
  if (existsSync(join(dir, "events.jsonl"))) {
    const epochs = readFileSync(join(dir, "events.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.startsWith('{"type":"epoch"') || l.startsWith('{"type":"lrDrop"') || l.startsWith('{"type":"notice"'));
    writeFileSync(join(to, "epochs.jsonl"), `${epochs.join("\n")}\n`);
  } else if (resolve(dir) !== resolve(to)) copyFileSync(join(dir, "epochs.jsonl"), join(to, "epochs.jsonl"));
  kept++;
}
for (const f of ["table.md", "table.json"]) if (existsSync(join(grid, f))) copyFileSync(join(grid, f), join(archive, f));
console.log(`${kept} finished cells of ${grid} kept in ${archive}`);
