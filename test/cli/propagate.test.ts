// `llp propagate` end to end through the installed bin: three well separated clusters, two
// labelled points each; every unlabelled point must get its cluster's label, labelled points
// keep theirs with confidence 1, and the file says which labels were given.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type Config, resolveConfig } from "../../src/config.js";
import { readNpy } from "../../src/data/npy.js";
import { logDensity } from "../../src/propagation/density.js";
import { propagateBlocked } from "../../src/propagation/propagate.js";
import { memoryRows, propagateStream } from "../../src/propagation/stream.js";
import { writeNpy } from "../../src/report/npy.js";
import { F, tensor, tidy } from "../../src/torch/index.js";
import { Generator } from "../../src/torch/random.js";

const dir = mkdtempSync(join(tmpdir(), "llp-prop-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = join(process.cwd(), "bin", "llp.js");

test("llp propagate labels three separated clusters from two labels each", () => {
  const { X, truth, labels, n, d, given } = clusters();
  writeNpy(join(dir, "emb.npy"), X, [n, d]);
  writeNpy(join(dir, "labels.npy"), labels, [n]);
  const out = join(dir, "p.csv");
  const report = JSON.parse(
    execFileSync(
      process.execPath,
      [bin, "propagate", "--embeddings", join(dir, "emb.npy"), "--labels", join(dir, "labels.npy"), "--out", out],
      {
        encoding: "utf8",
      },
    ),
  );
  assert.deepEqual(report, { out, n, labelled: 6, classes: 3, propagation: "llp" });
  const rows = readFileSync(out, "utf8").trim().split("\n");
  assert.equal(rows[0], "index,label,confidence,given");
  assert.equal(rows.length, n + 1);
  for (let i = 0; i < n; i++) {
    const [idx, y, c, g] = (rows[i + 1] as string).split(",").map(Number);
    assert.equal(idx, i);
    assert.equal(y, truth[i], `row ${i}`);
    assert.equal(g, given.has(i) ? 1 : 0);
    if (given.has(i)) assert.equal(c, 1);
    else assert.ok((c as number) > 0.5 && (c as number) <= 1, `row ${i} confidence ${c}`);
  }
});

/** `llp propagate` on placeholder files with extra options: the config check fails first. */
const refused = (...extra: string[]) =>
  spawnSync(process.execPath, [bin, "propagate", "--embeddings", "x.npy", "--labels", "y.npy", "--out", "o.csv", ...extra], {
    encoding: "utf8",
  });

test("llp propagate refuses the kinds that need a classifier head", () => {
  const r = refused("--propagation", "classifier");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /needs a classifier head/);
});

test("a removed option is refused by name, on the command line and in a config", () => {
  const r = refused("--alignment", "prior");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--alignment was removed: it measured flat \(docs\/experiments.md\)/);
  assert.throws(() => resolveConfig({ teacher: "x" } as Partial<Config>), /option "teacher" \(--teacher\) was removed/);
});

// ---- streaming, output folders, float16, voters, bad input (issue 26) ----

/** Three separated clusters in 8-D, two labelled points each (rows 0, 1, 15, 16, 30, 31). */
function clusters(seed = 3, perClass = 15, d = 8) {
  const gen = new Generator(seed);
  const n = 3 * perClass;
  const centres = Array.from(gen.uniforms(3 * d), (u) => 4 * (u - 0.5));
  const noise = gen.uniforms(n * d);
  const X = new Float32Array(n * d);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    truth[i] = Math.floor(i / perClass);
    for (let j = 0; j < d; j++)
      X[i * d + j] = (centres[(truth[i] as number) * d + j] as number) + 0.05 * ((noise[i * d + j] as number) - 0.5);
  }
  const given = new Set([0, 1, perClass, perClass + 1, 2 * perClass, 2 * perClass + 1]);
  const labels = Int32Array.from(truth, (y, i) => (given.has(i) ? y : -1));
  return { X, truth, labels, n, d, given };
}

const llp = (...args: string[]) => spawnSync(process.execPath, [bin, "propagate", ...args], { encoding: "utf8" });

/** float32 -> IEEE half bits (round to nearest), for a float16 .npy written by hand. */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0] as number;
  const sign = (u >>> 16) & 0x8000;
  const e = ((u >>> 23) & 0xff) - 127 + 15;
  const m = u & 0x7fffff;
  if (e <= 0) return sign; // tiny: flush to zero (the clusters have none)
  return sign | (e << 10) | Math.round(m / 8192);
}

/** A .npy of any dtype written by hand: header for `descr`, then the raw little-endian bytes. */
function writeRawNpy(path: string, descr: string, bytes: Uint8Array, shape: number[]) {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}), }`;
  const header = `${dict}${" ".repeat(64 - ((10 + dict.length + 1) % 64))}\n`;
  const head = Buffer.alloc(10 + header.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(header.length, 8);
  head.write(header, 10, "latin1");
  writeFileSync(path, Buffer.concat([head, bytes]));
}

const writeHalfNpy = (path: string, X: Float32Array, shape: number[]) =>
  writeRawNpy(path, "<f2", new Uint8Array(Uint16Array.from(X, toHalf).buffer), shape);

test("llp propagate streams blocks into a folder of .npy files; float16 input and any block size give the same labels", async () => {
  const { X, truth, labels, n, d, given } = clusters();
  writeNpy(join(dir, "s-emb.npy"), X, [n, d]);
  writeHalfNpy(join(dir, "s-emb16.npy"), X, [n, d]);
  writeNpy(join(dir, "s-labels.npy"), labels, [n]);
  const outs: Record<string, Int32Array> = {};
  for (const [name, emb, block] of [
    ["one-block", "s-emb.npy", "100000"],
    ["blocks-of-7", "s-emb.npy", "7"],
    ["half", "s-emb16.npy", "4"],
  ] as const) {
    const out = join(dir, `s-${name}`);
    const r = llp(
      "--embeddings",
      join(dir, emb),
      "--labels",
      join(dir, "s-labels.npy"),
      "--out",
      out,
      "--block",
      block,
      "--voters",
      "--K",
      "4",
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { out, n, labelled: 6, classes: 3, propagation: "llp" });
    const y = await readNpy(join(out, "labels.npy"));
    const c = await readNpy(join(out, "confidence.npy"));
    const g = await readNpy(join(out, "given.npy"));
    const v = await readNpy(join(out, "voters.npy"));
    const s = await readNpy(join(out, "shares.npy"));
    assert.deepEqual(
      [y.dtype, y.shape, c.dtype, g.dtype, v.dtype, v.shape, s.shape],
      ["int32", [n], "float32", "uint8", "int64", [n, 4], [n, 4]],
    );
    assert.deepEqual(Array.from(y.data as Int32Array), Array.from(truth), name);
    for (let i = 0; i < n; i++) {
      assert.equal((g.data as Uint8Array)[i], given.has(i) ? 1 : 0);
      if (given.has(i)) assert.equal((c.data as Float32Array)[i], 1);
      // voters are labelled rows of the whole set, their shares sum to 1
      const vs = Array.from((v.data as BigInt64Array).subarray(4 * i, 4 * i + 4), Number);
      assert.ok(
        vs.every((r) => given.has(r)),
        `row ${i} voters ${vs}`,
      );
      const sh = Array.from((s.data as Float32Array).subarray(4 * i, 4 * i + 4));
      assert.ok(Math.abs(sh.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
    const meta = JSON.parse(readFileSync(join(out, "propagate.json"), "utf8"));
    assert.deepEqual([meta.K, meta.T, meta.tau, meta.propagation], [4, 25, 0.07, "llp"]);
    outs[name] = y.data as Int32Array;
  }
  // a CSV with voters: two more columns, space-separated
  const csv = join(dir, "s-voters.csv");
  assert.equal(
    llp("--embeddings", join(dir, "s-emb.npy"), "--labels", join(dir, "s-labels.npy"), "--out", csv, "--voters", "--K", "2").status,
    0,
  );
  const rows = readFileSync(csv, "utf8").trim().split("\n");
  assert.equal(rows[0], "index,label,confidence,given,voters,shares");
  assert.equal((rows[3] as string).split(",")[4]?.split(" ").length, 2);
});

test("llp propagate on a .npy never loads libtorch (its load alone takes ~0.55 s)", () => {
  const { X, labels, n, d } = clusters();
  writeNpy(join(dir, "nt-emb.npy"), X, [n, d]);
  writeNpy(join(dir, "nt-labels.npy"), labels, [n]);
  const src = (f: string) => JSON.stringify(join(process.cwd(), "dist", "src", f));
  // runs `code` in a fresh process, then reports whether libtorch is mapped into it
  const probe = (code: string) => {
    const r = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `${code}; console.log(require("node:fs").readFileSync("/proc/self/maps", "utf8").includes("libtorch_cpu"));`,
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split("\n").pop();
  };
  const argv = ["propagate", "--embeddings", join(dir, "nt-emb.npy"), "--labels", join(dir, "nt-labels.npy"), "--out", join(dir, "nt.csv")];
  const head = `import { createRequire } from "node:module"; const require = createRequire(import.meta.url);`;
  assert.equal(
    probe(
      `${head} const { main } = await import(${src("cli/main.js")}); if (await main(${JSON.stringify(argv)}) !== 0) throw new Error("failed")`,
    ),
    "false",
  );
  assert.equal(readFileSync(join(dir, "nt.csv"), "utf8").split("\n")[0], "index,label,confidence,given");
  // the probe does see libtorch once an op runs
  assert.equal(probe(`${head} const { zeros } = await import(${src("torch/tensor.js")}); zeros([1])`), "true");
});

test("propagateStream over blocks equals the in-memory density and vote", () => {
  const { X, labels, n, d } = clusters(5, 40, 6);
  for (const [rule, cacheBytes] of [
    ["llp", undefined],
    ["llp", 0], // read again for the vote
    ["weighted-knn", undefined],
  ] as const) {
    const got: number[] = [];
    const conf: number[] = [];
    propagateStream(memoryRows(X, n, d), labels, { K: 5, T: 9, tau: 0.1, rule, numClasses: 3, block: 11, cacheBytes }, (b) => {
      got.push(...b.y);
      conf.push(...b.c);
    });
    const want = tidy(() => {
      const V = F.normalize(tensor(X, [n, d]), 1);
      const rows = Array.from(labels.keys()).filter((i) => (labels[i] as number) >= 0);
      const idx = tensor(BigInt64Array.from(rows, BigInt), [rows.length]);
      const VL = V.indexSelect(0, idx);
      const YL = tensor(
        BigInt64Array.from(rows, (r) => BigInt(labels[r] as number)),
        [rows.length],
      );
      const logRho = rule === "llp" ? logDensity(VL, V, 9, 0.1) : null;
      const p = propagateBlocked(V, VL, YL, { K: 5, tau: 0.1, numClasses: 3, logRho });
      return { y: p.y.toNumbers(), c: p.c.toNumbers() };
    });
    for (let i = 0; i < n; i++) {
      if ((labels[i] as number) >= 0) continue;
      assert.equal(got[i], want.y[i], `${rule} row ${i}`);
      assert.ok(Math.abs((conf[i] as number) - (want.c[i] as number)) < 1e-5, `${rule} row ${i}`);
    }
  }
});

test("bad input to llp propagate: a clear error, exit 1, nothing written", () => {
  const { X, labels, n, d } = clusters();
  const f = (name: string) => join(dir, `bad-${name}`);
  writeNpy(f("emb.npy"), X, [n, d]);
  writeNpy(f("labels.npy"), labels, [n]);
  writeNpy(
    f("int.npy"),
    Int32Array.from(X, (x) => Math.round(x)),
    [n, d],
  );
  writeNpy(f("flat.npy"), X, [n * d]);
  writeNpy(f("empty.npy"), new Float32Array(0), [0, d]);
  writeNpy(f("short-labels.npy"), labels.subarray(0, n - 1), [n - 1]);
  writeNpy(f("none.npy"), new Int32Array(n).fill(-1), [n]);
  const gap = Int32Array.from(labels, (y) => (y === 1 ? -1 : y)); // class 1 has no labelled point, class 2 has
  writeNpy(f("gap.npy"), gap, [n]);
  const nan = X.slice();
  nan[17 * d + 3] = Number.NaN;
  writeNpy(f("nan.npy"), nan, [n, d]);
  const inf = X.slice();
  inf[40 * d] = Number.POSITIVE_INFINITY;
  writeNpy(f("inf.npy"), inf, [n, d]);
  const big = Float64Array.from(X);
  big[5 * d + 1] = 1e39;
  writeRawNpy(f("big.npy"), "<f8", new Uint8Array(big.buffer), [n, d]);
  writeFileSync(f("exists.csv"), "keep me\n");
  const cases: [string[], RegExp][] = [
    [["--embeddings", f("int.npy")], /must be float32, float16 or float64, got int32/],
    [["--embeddings", f("flat.npy")], /must be a \[N, D\] matrix, got shape \(360\)/],
    [["--embeddings", f("empty.npy")], /empty matrix/],
    [["--embeddings", f("missing.npy")], /missing\.npy: cannot read/],
    [["--labels", f("short-labels.npy")], /44 labels but .*has 45 examples/],
    [["--labels", f("none.npy")], /no labelled rows/],
    [["--labels", f("gap.npy")], /class 1 of 0\.\.2 has no labelled point/],
    [["--embeddings", f("nan.npy")], /non-finite value NaN at row 17/],
    [["--embeddings", f("inf.npy")], /non-finite value Infinity at row 40/],
    [["--embeddings", f("big.npy")], /value 1e\+39 at row 5 is outside float32's range/],
    [["--K", "7"], /K=7 voters, but only 6 labelled points/],
    [["--T", "46"], /T=46 neighbours for the density, but only 45 points/],
    [["--out", f("exists.csv")], /exists; --force replaces it/],
    [["--out", join(dir, "no-such-folder", "o.csv")], /its folder .*no-such-folder does not exist/],
    [["--propagation", "weighted-knn", "--T", "5"], /weighted-knn has no density/],
  ];
  for (const [extra, want] of cases) {
    const args = ["--embeddings", f("emb.npy"), "--labels", f("labels.npy"), "--out", f("out.csv")];
    for (let i = 0; i < extra.length; i += 2) {
      const at = args.indexOf(extra[i] as string);
      if (at >= 0) args[at + 1] = extra[i + 1] as string;
      else args.push(extra[i] as string, extra[i + 1] as string);
    }
    const r = llp(...args);
    assert.equal(r.status, 1, `${extra.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, want, extra.join(" "));
    assert.equal(existsSync(f("out.csv")), false, `${extra.join(" ")} wrote its output`);
    assert.deepEqual(
      readdirSync(dir).filter((x) => x.includes(".partial-")),
      [],
      `${extra.join(" ")} left a partial file`,
    );
  }
  assert.equal(readFileSync(f("exists.csv"), "utf8"), "keep me\n");
  // --force replaces it
  assert.equal(llp("--embeddings", f("emb.npy"), "--labels", f("labels.npy"), "--out", f("exists.csv"), "--force").status, 0);
  assert.match(readFileSync(f("exists.csv"), "utf8"), /^index,label/);
});

test("llp propagate RUN_DIR re-propagates the run's bank under each setting and scores it on the hidden labels", () => {
  const { X, truth, n, d } = clusters(11, 40, 8);
  writeNpy(join(dir, "r-x.npy"), X, [n, d]);
  writeNpy(join(dir, "r-y.npy"), truth, [n]);
  const run = join(dir, "r-run");
  const t = spawnSync(
    process.execPath,
    [
      bin,
      "train",
      "--data",
      join(dir, "r-x.npy"),
      "--labels",
      join(dir, "r-y.npy"),
      "--model",
      "mlp",
      "--width",
      "8",
      "--labels-per-class",
      "4",
    ].concat(["--validation", "0", "--ir-epochs", "1", "--epochs", "1", "--threads", "1", "--out", run]),
    { encoding: "utf8" },
  );
  assert.equal(t.status, 0, t.stderr);
  const json = join(dir, "r-sweep.json");
  const r = llp(run, "--tau", "0.05,0.1", "--K", "3", "--propagation", "llp,weighted-knn", "--out", json);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| rule \| tau \| K \| T \| accuracy \| mean confidence \|/);
  const res = JSON.parse(readFileSync(json, "utf8")) as {
    n: number;
    rows: { rule: string; tau: number; K: number; accuracy: number; scored: number }[];
  };
  assert.equal(res.n, 120 - 0);
  assert.deepEqual(
    res.rows.map((x) => [x.rule, x.tau, x.K]),
    [
      ["llp", 0.05, 3],
      ["llp", 0.1, 3],
      ["weighted-knn", 0.05, 3],
      ["weighted-knn", 0.1, 3],
    ],
  );
  for (const row of res.rows) {
    assert.equal(row.scored, 108); // every hidden label is scored
    assert.ok(row.accuracy >= 0 && row.accuracy <= 1);
  }
  assert.match(llp(run, "--voters").stderr, /--voters, --block and --force apply to --embeddings/);
  assert.match(llp(run, "--out", json).stderr, /exists; choose another --out/);
});
