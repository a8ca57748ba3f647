// Data-parallel training (src/distributed/data-parallel.ts, llp train --nproc): a rank's share of
// a batch is exactly the rows one process would see; 2 ranks train what 1 process trains (model,
// optimiser, memory bank, label state) to float tolerance, from a fresh start and from a
// 1-process checkpoint (a resume with another P); the launcher runs a whole training; a killed
// rank stops the others with a clear error and the run resumes; ranks that disagree are told so.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freePort, withoutLaunchFlags } from "../../src/cli/launch.js";
import { resolveConfig } from "../../src/config.js";
import { pickRows, RowDraws, shardRows } from "../../src/data/shard.js";
import { drawMix } from "../../src/data/views.js";
import { METHODS } from "../../src/methods/index.js";
import { mergeTop } from "../../src/propagation/stream.js";
import { writeNpy } from "../../src/report/npy.js";
import { Generator } from "../../src/torch/random.js";
import { loadFile } from "../../src/torch/safetensors.js";
import { prepareData } from "../../src/train/data.js";
import { mulberry } from "../helpers.js";

const root = mkdtempSync(join(tmpdir(), "llp-dp-"));
const X = join(root, "x.npy");
const Y = join(root, "y.npy");
const BIN = join(process.cwd(), "bin", "llp.js");
const dist = (f: string) => JSON.stringify(join(process.cwd(), "dist", "src", f));

before(() => {
  // 400 noisy 12x12 images of 4 classes (a stripe per class), 40 labelled: small, and well
  // conditioned enough that float rounding does not grow over a few steps
  const r = mulberry(12345);
  const n = 400;
  const d = 144;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / 10) % 4;
    for (let j = 0; j < d; j++) x[i * d + j] = (r() - 0.5) * 2 + (j % 4 === c ? 1 : 0);
  }
  writeNpy(X, x, [n, 1, 12, 12]);
  writeNpy(
    Y,
    Int32Array.from({ length: n }, (_, i) => (i % 10 === 0 ? (i / 10) % 4 : -1)),
    [n],
  );
});
after(() => rmSync(root, { recursive: true, force: true }));

const OPTS = { data: X, labels: Y, irEpochs: 1, epochs: 1, batchSize: 32, labelledPerBatch: 8, validation: 4, threads: 1 };

test("a rank's rows: r, r+P, ...; its draws are the whole batch's draws of those rows", () => {
  assert.deepEqual(Array.from(shardRows(7, { rank: 1, worldSize: 3 })), [1, 4]);
  assert.deepEqual(Array.from(shardRows(7, { rank: 0, worldSize: 3 })), [0, 3, 6]);
  assert.deepEqual(Array.from(shardRows(2, { rank: 2, worldSize: 3 })), []);
  assert.throws(() => shardRows(4, { rank: 2, worldSize: 2 }), /rank 2 of 2 is not a rank/);
  assert.deepEqual(Array.from(pickRows(Float64Array.from([0, 1, 2, 3, 4, 5]), Int32Array.from([2, 0]), 2)), [4, 5, 0, 1]);
  // uniforms: 3 per row of a batch of 5, rank 1 of 2 takes rows 1 and 3
  const whole = new Generator(4).uniforms(15);
  const mine = new RowDraws(new Generator(4), shardRows(5, { rank: 1, worldSize: 2 }), 5).uniforms(6);
  assert.deepEqual(Array.from(mine), [...whole.subarray(3, 6), ...whole.subarray(9, 12)]);
  assert.throws(() => new RowDraws(new Generator(4), Int32Array.from([1, 3]), 5).uniforms(5), /per row: 5 uniforms for 2 rows/);
  // a permutation of every row is the whole batch's; the generator moves alike on every rank
  const g1 = new Generator(9);
  const g2 = new Generator(9);
  const all = new RowDraws(g1, shardRows(6, { rank: 0, worldSize: 1 }), 6).randperm(6);
  assert.deepEqual(Array.from(all.toArray() as BigInt64Array, Number), Array.from(g2.permutation(6)));
  const part = new RowDraws(g1, shardRows(6, { rank: 1, worldSize: 2 }), 6).randperm(3);
  assert.deepEqual([...Array.from(part.toArray() as BigInt64Array, Number)].sort(), [0, 1, 2]);
  g2.permutation(6);
  assert.deepEqual(g1.getState(), g2.getState());
  // mixup: a rank's shares are the whole batch's shares of its rows
  const wholeMix = drawMix(6, 0.5, new Generator(2));
  const rankMix = drawMix(3, 0.5, new RowDraws(new Generator(2), shardRows(6, { rank: 1, worldSize: 2 }), 6));
  assert.deepEqual(
    Array.from(rankMix.lam.toArray() as Float32Array),
    [1, 3, 5].map((k) => (wholeMix.lam.toArray() as Float32Array)[k]),
  );
});

test("a sharded loader gives each rank exactly its rows of every batch, augmented as one process augments them", async () => {
  const cfg = resolveConfig({ ...OPTS, augment: "auto" });
  const { data } = await prepareData(cfg, null);
  const take = async (shard: { rank: number; worldSize: number } | null) => {
    const out: { index: number[]; x: number[]; globalSize: number }[] = [];
    for await (const b of data.epoch(new Generator(7), { labelledOnly: false, labelledPerBatch: 8 }, 1, shard)) {
      out.push({ index: Array.from(b.index), x: Array.from(b.x.toArray() as Float32Array), globalSize: b.globalSize ?? -1 });
      b.x.dispose();
      if (out.length === 3) break;
    }
    return out;
  };
  const whole = await take(null);
  const ranks = [await take({ rank: 0, worldSize: 2 }), await take({ rank: 1, worldSize: 2 })];
  const D = 144;
  for (let s = 0; s < 3; s++) {
    const w = whole[s] as { index: number[]; x: number[] };
    w.index.forEach((idx, j) => {
      const part = ranks[j % 2]?.[s] as { index: number[]; x: number[]; globalSize: number };
      const k = Math.floor(j / 2);
      assert.equal(part.globalSize, 32);
      assert.equal(part.index[k], idx, `step ${s}, row ${j}`);
      assert.deepEqual(part.x.slice(k * D, (k + 1) * D), w.x.slice(j * D, (j + 1) * D), `step ${s}, row ${j}: pixels`);
    });
  }
});

/** A training of OPTS (plus extra) into out, stopped after `steps` steps; RANK/WORLD_SIZE in env make it one rank of a group. */
function trainSteps(
  out: string,
  steps: number,
  env: Record<string, string>,
  resume = false,
  extra: Record<string, unknown> = {},
): Promise<{ code: number | null; err: string }> {
  const script = `
    const { resolveConfig } = await import(${dist("config.js")});
    const { runTraining } = await import(${dist("train/run.js")});
    const { groupFromEnv, ProcessGroup } = await import(${dist("distributed/group.js")});
    const o = groupFromEnv();
    const group = o && o.worldSize > 1 ? ProcessGroup.init({ ...o, timeoutMs: 30000 }) : null;
    let cfg = resolveConfig(${JSON.stringify({ ...OPTS, out, ...extra })});
    if (${resume}) cfg = { ...cfg, schedule: "fixed", milestones: [1] };
    const stop = new AbortController();
    let k = 0;
    try {
      await runTraining(cfg, ${JSON.stringify(out)}, { resume: ${resume}, signal: stop.signal, group,
        onEvent: (ev) => { if (ev.type === "step" && ++k >= ${steps}) stop.abort(); } });
    } catch (e) { if (e.name !== "Interrupted") throw e; }
    group?.destroy();`;
  const file = join(root, `steps-${Math.random().toString(36).slice(2)}.mjs`); // a file: the loader's worker thread must not inherit --input-type
  writeFileSync(file, script);
  return new Promise((ok) => {
    const p = spawn(process.execPath, [file], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 120_000,
      killSignal: "SIGKILL",
    });
    let err = "";
    p.stderr.on("data", (d) => {
      err += d;
    });
    p.on("exit", (code) => ok({ code, err }));
  });
}

async function twoRanks(out: string, steps: number, resume = false, extra: Record<string, unknown> = {}): Promise<void> {
  const port = String(await freePort());
  const rs = await Promise.all(
    [0, 1].map((r) => trainSteps(out, steps, { RANK: String(r), WORLD_SIZE: "2", MASTER_PORT: port }, resume, extra)),
  );
  for (const [i, r] of rs.entries()) assert.equal(r.code, 0, `rank ${i}: ${r.err}`);
}

/** The difference between two checkpoints' tensors, key by key, relative to each tensor's largest value; labels and generators must be equal. */
function keyDistances(a: string, b: string): Map<string, number> {
  const ta = loadFile(join(a, "checkpoint.safetensors")).tensors;
  const tb = loadFile(join(b, "checkpoint.safetensors")).tensors;
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort());
  const out = new Map<string, number>();
  for (const [k, t] of ta) {
    const u = tb.get(k);
    assert.ok(u);
    const x = Array.from(t.to("float64").toArray() as Float64Array);
    const y = Array.from(u.to("float64").toArray() as Float64Array);
    if (k.startsWith("rng") || k.startsWith("labels.y")) {
      assert.deepEqual(x, y, `${k} differs`);
      continue;
    }
    let d = 0;
    let m = 1e-12;
    x.forEach((v, i) => {
      d = Math.max(d, Math.abs(v - (y[i] as number)));
      m = Math.max(m, Math.abs(v));
    });
    out.set(k, d / m);
  }
  return out;
}

/** The largest of keyDistances and its key. */
function checkpointDistance(a: string, b: string): { worst: number; key: string } {
  let [worst, key] = [0, ""];
  for (const [k, d] of keyDistances(a, b)) if (d > worst) [worst, key] = [d, k];
  return { worst, key };
}

test("2 ranks train what 1 process trains: model, optimiser, memory bank and labels after a few steps, and after a resume with another P", {
  timeout: 300_000,
}, async () => {
  // fresh: 4 Instance Recognition steps on the same global batches
  const one = join(root, "one");
  const two = join(root, "two");
  const r1 = await trainSteps(one, 4, {});
  assert.equal(r1.code, 0, r1.err);
  await twoRanks(two, 4);
  const fresh = checkpointDistance(one, two);
  assert.ok(fresh.worst < 1e-4, `after 4 steps: ${fresh.key} differs by ${fresh.worst} of its largest value`);
  // only rank 0 wrote: one events log, no temporaries of another process
  assert.ok(!readdirSync(two).some((f) => f.includes(".tmp-")));
  assert.equal(
    readFileSync(join(two, "events.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.includes('"type":"step"')).length,
    4,
  );

  // a 1-process checkpoint inside the LLP epoch (density refreshed, labels propagated), continued
  // by 1 process and by 2 ranks: a resume with another P
  const base = join(root, "base");
  const rb = await trainSteps(base, 17, {});
  assert.equal(rb.code, 0, rb.err);
  const c1 = join(root, "c1");
  const c2 = join(root, "c2");
  cpSync(base, c1, { recursive: true });
  cpSync(base, c2, { recursive: true });
  const rc = await trainSteps(c1, 3, {}, true);
  assert.equal(rc.code, 0, rc.err);
  await twoRanks(c2, 3, true);
  const resumed = checkpointDistance(c1, c2);
  assert.ok(resumed.worst < 1e-4, `3 LLP steps after a resume: ${resumed.key} differs by ${resumed.worst} of its largest value`);
});

test("every method trains alike on 2 ranks and on 1 process (2 steps); VAT, S4L and DCT within their rounding noise", {
  timeout: 900_000,
}, async () => {
  // llp has its own tests above; dlp, dmt and la refuse --nproc (singleProcessOnly). Most methods
  // agree within 1e-5 (bound 1e-4). VAT's finite-difference direction, S4L's four rotated passes
  // and DCT's attack signs amplify float32 rounding on this network: one process on 2 threads
  // differs from 1 thread by up to 2e-2, so for them no tensor may differ by more than 3x their
  // largest thread-count difference.
  const NOISY = ["vat", "vat-em", "s4l-rotation", "dct"];
  const methods = Object.keys(METHODS).filter((m) => !["llp", "dlp", "dmt", "la"].includes(m));
  for (const method of methods) {
    const one = join(root, `m1-${method}`);
    const two = join(root, `m2-${method}`);
    const r = await trainSteps(one, 2, {}, false, { method });
    assert.equal(r.code, 0, r.err);
    await twoRanks(two, 2, false, { method });
    const d = checkpointDistance(one, two);
    let bound = 1e-4;
    if (NOISY.includes(method)) {
      const again = join(root, `m1t-${method}`);
      const t = await trainSteps(again, 2, {}, false, { method, threads: 2 });
      assert.equal(t.code, 0, t.err);
      bound = Math.max(bound, 3 * checkpointDistance(one, again).worst);
    }
    assert.ok(d.worst < bound, `${method}: ${d.key} differs by ${d.worst} of its largest value (bound ${bound})`);
  }
});

test("3 ranks on uneven shares of a batch (11, 11, 10 of 32) train what 1 process trains, the subset means included", {
  timeout: 300_000,
}, async () => {
  // pseudo-label past its warm-up (a mean over the rows with a target) and fixmatch (means over the
  // labelled and the unlabelled rows), whose subsets fall unevenly on the ranks
  for (const [method, extra] of [
    ["pseudo-label", { pseudoLabelWarmup: 0 }],
    ["fixmatch", {}],
    ["llp", {}],
  ] as const) {
    const one = join(root, `u1-${method}`);
    const three = join(root, `u3-${method}`);
    const r = await trainSteps(one, 3, {}, false, { method, ...extra });
    assert.equal(r.code, 0, r.err);
    const port = String(await freePort());
    const rs = await Promise.all(
      [0, 1, 2].map((k) => trainSteps(three, 3, { RANK: String(k), WORLD_SIZE: "3", MASTER_PORT: port }, false, { method, ...extra })),
    );
    for (const [i, x] of rs.entries()) assert.equal(x.code, 0, `${method}, rank ${i}: ${x.err}`);
    const d = checkpointDistance(one, three);
    assert.ok(d.worst < 1e-4, `${method}: ${d.key} differs by ${d.worst} of its largest value`);
  }
});

test("the launcher's flags are not passed on to the workers", () => {
  assert.deepEqual(withoutLaunchFlags(["--nproc", "2", "--lr", "0.1", "--master-port=123", "--nnodes", "1", "--epochs", "2"]), [
    "--lr",
    "0.1",
    "--epochs",
    "2",
  ]);
  assert.deepEqual(withoutLaunchFlags(["--masterPort", "5", "--nodeRank=1", "--seed", "3"]), ["--seed", "3"], "camelCase spellings too");
  assert.match(llp("propagate", join(root, "no-run"), "--nproc", "2").stderr, /llp propagate RUN_DIR runs in one process/);
});

const llp = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 300_000 });
const ARGS = [
  "--data",
  X,
  "--labels",
  Y,
  "--ir-epochs",
  "1",
  "--epochs",
  "2",
  "--batch-size",
  "32",
  "--labelled-per-batch",
  "8",
  "--validation",
  "4",
];

test("llp train --nproc 2 trains a whole run: rank 0 prints and writes, once; bad launcher flags are refused", { timeout: 300_000 }, () => {
  const run = join(root, "cli");
  const r = llp("train", ...ARGS, "--nproc", "2", "--out", run);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1, r.stdout);
  const summary = JSON.parse(lines[0] as string);
  assert.equal(summary.epochs, 3);
  assert.ok(existsSync(join(run, "checkpoint.safetensors")));
  const epochs = readFileSync(join(run, "events.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.includes('"type":"epoch"'))
    .map((l) => JSON.parse(l));
  assert.equal(epochs.length, 3);
  for (const e of epochs) assert.ok(e.comm_s > 0, "communication time is reported");
  assert.match(llp("train", ...ARGS, "--nproc", "0").stderr, /--nproc must be an integer in 1\.\.256, got 0/);
  assert.match(llp("train", ...ARGS, "--master-port", "1234").stderr, /--master-port goes with --nproc/);
  assert.match(llp("train", ...ARGS, "--nproc", "2", "--nnodes", "2").stderr, /--nnodes > 1 needs --master-addr and --master-port/);
  assert.match(llp("train", ...ARGS, "--nproc", "2", "--lr", "x").stderr, /lr/);
});

test("a killed rank: the others stop with a clear error in bounded time, the checkpoint stays whole, --resume finishes the run", {
  timeout: 400_000,
}, async () => {
  const run = join(root, "killed");
  const t0 = Date.now();
  const launcher: ChildProcess = spawn(process.execPath, [BIN, "train", ...ARGS, "--epochs", "6", "--nproc", "2", "--out", run], {
    env: { ...process.env, LLP_DIST_TIMEOUT_MS: "15000" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  launcher.stderr?.on("data", (d) => {
    err += d;
  });
  // once the first checkpoint is written (after epoch 0), kill rank 1 inside a later epoch
  await new Promise<void>((ok) => {
    const poll = setInterval(() => {
      if (existsSync(join(run, "checkpoint.safetensors"))) {
        clearInterval(poll);
        ok();
      }
    }, 100);
  });
  const ps = spawnSync("pgrep", ["-f", "-P", String(launcher.pid), "llp.js train"], { encoding: "utf8" })
    .stdout.trim()
    .split("\n");
  const env1 = ps.map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, "utf8").includes("\0RANK=1\0");
    } catch {
      return false;
    }
  });
  assert.equal(env1.length, 1, `rank 1 among ${ps}`);
  await new Promise((r) => setTimeout(r, 1500));
  const killedAt = Date.now();
  process.kill(env1[0] as number, "SIGKILL");
  const code = await new Promise<number | null>((ok) => launcher.on("exit", (c) => ok(c)));
  const took = Date.now() - killedAt;
  assert.notEqual(code, 0);
  assert.match(err, /rank 1 exited with status 137 \(SIGKILL\)/);
  assert.match(err, /distributed .* on rank 0 of 2 failed/);
  assert.ok(took < 60_000, `the survivor took ${took} ms to stop`);
  // the checkpoint on disk loads (its checksum verifies) and the run resumes to its end
  const { tensors } = loadFile(join(run, "checkpoint.safetensors"));
  assert.ok(tensors.size > 0);
  const resumed = llp("train", "--resume", run, "--nproc", "2");
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(JSON.parse(resumed.stdout.trim()).epochs, 7);
  assert.ok(Date.now() - t0 < 380_000);
});

test("ranks started with different options or world sizes, or a world nobody completes, fail with a clear error on every rank", {
  timeout: 200_000,
}, async () => {
  const port = String(await freePort());
  const run = (rank: number, world: number, extra: string[], p = port) =>
    new Promise<{ code: number | null; err: string }>((ok) => {
      const c = spawn(process.execPath, [BIN, "train", ...ARGS, ...extra, "--out", join(root, `bad${rank}`)], {
        env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(world), MASTER_PORT: p, LLP_DIST_TIMEOUT_MS: "8000" },
        stdio: ["ignore", "ignore", "pipe"],
        timeout: 120_000,
      });
      let err = "";
      c.stderr.on("data", (d) => {
        err += d;
      });
      c.on("exit", (code) => ok({ code, err }));
    });
  const [a, b] = await Promise.all([run(0, 2, ["--lr", "0.03"]), run(1, 2, ["--lr", "0.1"])]);
  for (const r of [a, b]) {
    assert.notEqual(r.code, 0);
    assert.match(r.err, /data-parallel ranks disagree on the config/);
  }
  assert.ok(!existsSync(join(root, "bad0")) && !existsSync(join(root, "bad1")), "nothing written");
  // ranks started for worlds of different sizes
  const p2 = String(await freePort());
  const [w0, w1] = await Promise.all([run(0, 2, [], p2), run(1, 3, [], p2)]);
  assert.match(w0.err, /the ranks disagree on the world size: rank 1 was started with WORLD_SIZE=3, rank 0 with 2/);
  assert.match(w1.err, /the ranks disagree on the world size: rank 0 was started with WORLD_SIZE=2, rank 1 with 3/);
  // rank 0 waits for a second rank that never comes: an error within about twice the timeout
  const t0 = Date.now();
  const lone = await run(0, 2, [], String(await freePort()));
  assert.notEqual(lone.code, 0);
  assert.match(lone.err, /distributed init of rank 0 of 2 .* failed \(serving the store, waiting for all 2 ranks to join\)/);
  assert.ok(Date.now() - t0 < 60_000);
  // a rank that cannot reach the store
  const t1 = Date.now();
  const lost = await run(1, 2, [], String(await freePort()));
  assert.notEqual(lost.code, 0);
  assert.match(lost.err, /distributed init of rank 1 of 2 .* failed \(connecting to rank 0's store\)/);
  assert.ok(Date.now() - t1 < 60_000);
});

test("llp propagate --nproc 2 and 3 write the files one process writes, byte for byte (one kernel thread each)", {
  timeout: 200_000,
}, () => {
  const r = mulberry(7);
  const n = 3000;
  const d = 16;
  const x = new Float32Array(n * d);
  const y = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[i * d + j] = r() - 0.5 + (j === i % 5 ? 1.5 : 0);
    if (i % 17 === 0) y[i] = i % 5;
  }
  const E = join(root, "e.npy");
  const EY = join(root, "ey.npy");
  writeNpy(E, x, [n, d]);
  writeNpy(EY, y, [n]);
  const files = ["labels.npy", "confidence.npy", "given.npy", "voters.npy", "shares.npy"];
  const out = (name: string, ...extra: string[]) => {
    // one kernel thread everywhere: the kernel's scores can differ in the last bit between thread counts
    const r = llp("propagate", "--embeddings", E, "--labels", EY, "--out", join(root, name), "--block", "256", "--threads", "1", ...extra);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split("\n");
  };
  for (const rule of ["llp", "weighted-knn"]) {
    out(`one-${rule}`, "--voters", "--propagation", rule);
    for (const P of ["2", "3"]) {
      const printed = out(`p${P}-${rule}`, "--voters", "--propagation", rule, "--nproc", P);
      assert.equal(printed.length, 1, "rank 0 alone prints the summary");
      for (const f of files)
        assert.ok(
          readFileSync(join(root, `one-${rule}`, f)).equals(readFileSync(join(root, `p${P}-${rule}`, f))),
          `${rule}, ${P} processes: ${f} differs`,
        );
      assert.equal(JSON.parse(readFileSync(join(root, `p${P}-${rule}`, "propagate.json"), "utf8")).processes, Number(P));
    }
  }
  assert.ok(!readdirSync(root).some((f) => f.includes(".partial-")), "no partial output left");
});

test("mergeTop: each row's best T of the ranks' best-T lists", () => {
  // 2 ranks, 2 rows, T = 3; rank 1 saw fewer than T keys for row 1 (-inf)
  const all = Float32Array.from([9, 5, 1, 8, 7, 6, 10, 4, 3, 2, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY]);
  assert.deepEqual(Array.from(mergeTop(all, 2, 2, 3)), [10, 9, 5, 8, 7, 6]);
});
