// Training across two hosts, on this machine: two network namespaces joined by a veth pair (ip
// netns, iproute2; needs root), one rank in each, node 0's store at its veth address and Gloo bound
// to each namespace's veth (GLOO_SOCKET_IFNAME). Skipped, with the reason, where namespaces cannot be made.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { writeNpy } from "../../src/report/npy.js";
import { mulberry } from "../helpers.js";

const tag = `llp${process.pid % 100000}`;
const [A, B] = [`${tag}a`, `${tag}b`];
const [VA, VB] = [`v${tag}a`.slice(0, 15), `v${tag}b`.slice(0, 15)];
const ADDR = ["10.231.7.1", "10.231.7.2"];
const root = mkdtempSync(join(tmpdir(), "llp-hosts-"));

const ip = (...args: string[]) => spawnSync("ip", args, { encoding: "utf8" });

/** Makes the two namespaces and their link; the reason they cannot be made, or null. */
function makeHosts(): string | null {
  if (process.getuid?.() !== 0) return "not root: network namespaces need CAP_SYS_ADMIN";
  if (spawnSync("ip", ["-V"]).status !== 0) return "no `ip` (iproute2) on this machine";
  const steps = [
    ["netns", "add", A],
    ["netns", "add", B],
    ["link", "add", VA, "type", "veth", "peer", "name", VB],
    ["link", "set", VA, "netns", A],
    ["link", "set", VB, "netns", B],
    ["-n", A, "addr", "add", `${ADDR[0]}/24`, "dev", VA],
    ["-n", B, "addr", "add", `${ADDR[1]}/24`, "dev", VB],
    ["-n", A, "link", "set", VA, "up"],
    ["-n", B, "link", "set", VB, "up"],
    ["-n", A, "link", "set", "lo", "up"],
    ["-n", B, "link", "set", "lo", "up"],
  ];
  for (const s of steps) {
    const r = ip(...s);
    if (r.status !== 0) return `\`ip ${s.join(" ")}\` failed: ${r.stderr.trim()}`;
  }
  return null;
}

let skip: string | null = null;
before(() => {
  skip = makeHosts();
  if (skip) process.stderr.write(`two-host test skipped: ${skip}\n`);
  const r = mulberry(3);
  const n = 300;
  const x = Float32Array.from({ length: n * 144 }, (_, k) => r() - 0.5 + ((k % 144) % 4 === Math.floor(k / 1440) % 4 ? 1 : 0));
  writeNpy(join(root, "x.npy"), x, [n, 1, 12, 12]);
  writeNpy(
    join(root, "y.npy"),
    Int32Array.from({ length: n }, (_, i) => (i % 10 === 0 ? (i / 10) % 4 : -1)),
    [n],
  );
});
after(() => {
  ip("netns", "del", A);
  ip("netns", "del", B);
  rmSync(root, { recursive: true, force: true });
});

test("two hosts (network namespaces over a veth pair): one rank in each trains a run together", { timeout: 300_000 }, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const run = join(root, "run");
  const args = ["train", "--data", join(root, "x.npy"), "--labels", join(root, "y.npy"), "--ir-epochs", "1", "--epochs", "1"];
  args.push("--batch-size", "32", "--labelled-per-batch", "8", "--validation", "4", "--threads", "1", "--out", run);
  // the launcher's multi-host flags: node 0 serves the store at its veth address; Gloo binds each veth
  const launch = (ns: string, nodeRank: number, ifname: string) =>
    new Promise<{ code: number | null; out: string; err: string }>((ok) => {
      const hostFlags = [
        "--nproc",
        "1",
        "--nnodes",
        "2",
        "--node-rank",
        String(nodeRank),
        "--master-addr",
        ADDR[0] as string,
        "--master-port",
        "29517",
      ];
      const c = spawn("ip", ["netns", "exec", ns, process.execPath, join(process.cwd(), "bin", "llp.js"), ...args, ...hostFlags], {
        env: { ...process.env, GLOO_SOCKET_IFNAME: ifname, LLP_DIST_TIMEOUT_MS: "30000" },
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 240_000,
      });
      let out = "";
      let err = "";
      c.stdout.on("data", (d) => {
        out += d;
      });
      c.stderr.on("data", (d) => {
        err += d;
      });
      c.on("exit", (code) => ok({ code, out, err }));
    });
  const [r0, r1] = await Promise.all([launch(A, 0, VA), launch(B, 1, VB)]);
  assert.equal(r0.code, 0, r0.err);
  assert.equal(r1.code, 0, r1.err);
  const summary = JSON.parse(r0.out.trim());
  assert.equal(summary.epochs, 2);
  assert.equal(r1.out.trim(), "", "only rank 0 prints");
  assert.ok(existsSync(join(run, "checkpoint.safetensors")));
  const steps = readFileSync(join(run, "events.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.includes('"type":"step"'))
    .map((l) => JSON.parse(l));
  assert.ok(steps.length > 0 && steps.every((s) => s.comm_s > 0), "every step communicated over the link");
});
