// c10d through llp (src/distributed/group.ts): two processes on loopback run every collective and agree;
// a rank whose peer never comes, or dies, gets a clear error within the timeout instead of a hang.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { freePort } from "../../src/cli/launch.js";
import { groupFromEnv } from "../../src/distributed/group.js";

const src = (f: string) => JSON.stringify(join(process.cwd(), "dist", "src", f));

/** Runs `code` as rank `rank` of `world` in its own process; resolves with its exit code, stdout and stderr. */
function rank(code: string, rankNo: number, world: number, port: number, timeoutMs: number) {
  const script = `
    const { ProcessGroup } = await import(${src("distributed/group.js")});
    const T = await import(${src("torch/index.js")});
    const g = ProcessGroup.init({ rank: ${rankNo}, worldSize: ${world}, masterPort: ${port}, timeoutMs: ${timeoutMs} });
    ${code}
    g.destroy();`;
  return new Promise<{ code: number | null; out: string; err: string; ms: number }>((ok) => {
    const t0 = Date.now();
    // a hang is a failure too: each rank is killed after 90 s
    const p = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 90_000,
      killSignal: "SIGKILL",
    });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.stderr.on("data", (d) => {
      err += d;
    });
    p.on("exit", (c) => ok({ code: c, out, err, ms: Date.now() - t0 }));
  });
}

test("two ranks on loopback: all-reduce, all-gather, broadcast and barrier agree, views included", { timeout: 120_000 }, async () => {
  const port = await freePort();
  const code = `
    const r = g.rank;
    const x = T.tensor(Float32Array.from([1 + r, 10 * (r + 1), -r]), [3]);
    g.allReduce(x);                                   // sum over ranks
    const m = T.tensor(Float32Array.from([r, 5 - r]), [2]);
    g.allReduce(m, "max");
    const all = g.allGather(T.tensor(Int32Array.from([r, r, r]), [1, 3]));
    const b = T.tensor(Float32Array.from([r + 0.5, r + 0.25]), [2]);
    g.broadcast(b, 1);
    // a column of a [2, 2] matrix is a strided view: reduced in place through a dense copy
    const mat = T.tensor(Float32Array.from([1, 2, 3, 4]), [2, 2]);
    g.allReduce(mat.select(1, 0));
    g.barrier();
    let mismatch = "";
    try { g.allGather(T.tensor(new Float32Array(r + 1), [r + 1])); } catch (e) { mismatch = e.message; }
    console.log(JSON.stringify({ sum: Array.from(x.toArray()), max: Array.from(m.toArray()), all: Array.from(all.toArray()), shape: all.shape, b: Array.from(b.toArray()), mat: Array.from(mat.toArray()), mismatch: /another shape or dtype/.test(mismatch) }));`;
  const rs = await Promise.all([rank(code, 0, 2, port, 30_000), rank(code, 1, 2, port, 30_000)]);
  for (const [i, r] of rs.entries()) {
    assert.equal(r.code, 0, `rank ${i}: ${r.err}`);
    assert.deepEqual(JSON.parse(r.out.trim()), {
      sum: [3, 30, -1],
      max: [1, 5],
      all: [0, 0, 0, 1, 1, 1],
      shape: [2, 3],
      b: [1.5, 1.25],
      mat: [2, 2, 6, 4],
      mismatch: true,
    });
  }
});

test("a rank whose peer never joins fails with a clear error within its timeout", { timeout: 120_000 }, async () => {
  const port = await freePort();
  const r = await rank("", 0, 2, port, 2_000);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /distributed init of rank 0 of 2 at 127\.0\.0\.1:\d+ failed/);
  assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
});

test("a rank whose peer dies mid-run gets an error from its next collective, not a hang; the group then refuses use", {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const survivor = rank(
    `const x = T.tensor(Float32Array.from([1]), [1]); g.allReduce(x); await new Promise((r) => setTimeout(r, 500));
     try { g.allReduce(x); } catch (e) { console.error(e.message); try { g.barrier(); } catch (e2) { console.error(e2.message); } process.exit(3); }`,
    0,
    2,
    port,
    20_000,
  );
  const victim = rank(`const x = T.tensor(Float32Array.from([1]), [1]); g.allReduce(x); process.exit(9);`, 1, 2, port, 20_000);
  const [s, v] = await Promise.all([survivor, victim]);
  assert.equal(v.code, 9);
  assert.equal(s.code, 3, s.err);
  assert.match(s.err, /distributed all-reduce on rank 0 of 2 failed/);
  assert.match(s.err, /the process group failed earlier \(distributed all-reduce/);
  assert.ok(s.ms < 60_000, `took ${s.ms} ms`);
});

test("averageGradients: every rank ends with the mean of the ranks' gradients, as one process sees the whole batch", {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  // a linear layer on rank r's half of a batch of 4; the mean of the two halves' mean-loss
  // gradients is the gradient of the whole batch's mean loss
  const code = `
    const { averageGradients } = await import(${src("distributed/group.js")});
    const gen = new T.Generator(5);
    const lin = new T.nn.Linear(3, 2, gen);
    const x = T.tensor(Float32Array.from([1, 2, 3, -1, 0, 2, 0.5, 0.5, 0.5, 3, -2, 1]), [4, 3]);
    const mine = x.slice(0, 2 * g.rank, 2 * g.rank + 2);
    lin.forward(mine).pow(2).mean().backward();
    averageGradients(g, lin.parameters());
    const mineGrads = lin.parameters().map((p) => Array.from(p.grad.toArray()));
    for (const p of lin.parameters()) p.grad.zero_();
    lin.forward(x).pow(2).mean().backward();
    const whole = lin.parameters().map((p) => Array.from(p.grad.toArray()));
    console.log(JSON.stringify({ mineGrads, whole }));`;
  const rs = await Promise.all([rank(code, 0, 2, port, 30_000), rank(code, 1, 2, port, 30_000)]);
  const outs = rs.map((r, i) => {
    assert.equal(r.code, 0, `rank ${i}: ${r.err}`);
    return JSON.parse(r.out.trim()) as { mineGrads: number[][]; whole: number[][] };
  });
  assert.deepEqual(outs[0]?.mineGrads, outs[1]?.mineGrads, "the ranks agree");
  for (const [i, g] of (outs[0]?.mineGrads ?? []).entries())
    for (const [j, v] of g.entries())
      assert.ok(Math.abs(v - (outs[0]?.whole[i]?.[j] as number)) < 1e-5, `param ${i}[${j}]: ${v} vs ${outs[0]?.whole[i]?.[j]}`);
});

test("torchrun's environment describes the group; bad values are named", () => {
  assert.equal(groupFromEnv({}), null);
  assert.deepEqual(groupFromEnv({ RANK: "1", WORLD_SIZE: "2", MASTER_ADDR: "10.0.0.1", MASTER_PORT: "1234" }), {
    rank: 1,
    worldSize: 2,
    masterAddr: "10.0.0.1",
    masterPort: 1234,
  });
  assert.deepEqual(groupFromEnv({ RANK: "0", WORLD_SIZE: "1" }), { rank: 0, worldSize: 1, masterAddr: "127.0.0.1", masterPort: 29500 });
  assert.throws(() => groupFromEnv({ RANK: "0" }), /WORLD_SIZE is not set/);
  assert.throws(() => groupFromEnv({ RANK: "x", WORLD_SIZE: "2" }), /RANK=x is not a non-negative integer/);
});
