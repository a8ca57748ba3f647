import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import v8 from "node:v8";
import vm from "node:vm";
import {
  allocatorTuned,
  dispose,
  F,
  Generator,
  keep,
  liveTensors,
  nn,
  SGD,
  scopeDepth,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from "../../src/torch/index.js";
import { withThreads } from "../helpers.js";

test("tidy frees everything created inside except what it returns", () => {
  const before = liveTensors();
  let inner: Tensor | null = null;
  const out = tidy(() => {
    const a = tensor([1, 2, 3]);
    inner = a.mul(2);
    return inner.add(1);
  });
  assert.equal(liveTensors(), before + 1);
  assert.deepEqual(out.toNumbers(), [3, 5, 7]);
  assert.equal((inner as unknown as Tensor).isDisposed, true);
  out.dispose();
  assert.equal(liveTensors(), before);
});

test("tidy keeps tensors reachable from arrays, plain objects and Maps in its result", () => {
  const before = liveTensors();
  const r = tidy(() => {
    const t = () => tensor([1]);
    tensor([0]); // dropped
    return { a: t(), list: [t(), [t()]], map: new Map([["m", t()]]), n: 3 };
  });
  assert.equal(liveTensors(), before + 4);
  dispose(r);
  assert.equal(liveTensors(), before);
});

test("keep() lets a tensor outlive its scope; nested tidy hands results to the parent scope", () => {
  const before = liveTensors();
  let kept: Tensor | null = null;
  let fromInner: Tensor | null = null;
  tidy(() => {
    kept = keep(tensor([1]));
    fromInner = tidy(() => {
      assert.equal(scopeDepth(), 2);
      tensor([2]);
      return tensor([3]);
    });
    assert.equal(liveTensors(), before + 2);
    assert.equal(fromInner.isDisposed, false);
  });
  assert.equal(scopeDepth(), 0);
  assert.equal((fromInner as unknown as Tensor).isDisposed, true); // freed with the outer scope
  assert.equal((kept as unknown as Tensor).isDisposed, false);
  (kept as unknown as Tensor).dispose();
  assert.equal(liveTensors(), before);
});

test("tidy frees its tensors when fn throws, and rejects async functions", () => {
  const before = liveTensors();
  assert.throws(
    () =>
      tidy(() => {
        tensor([1]);
        throw new Error("inside");
      }),
    /inside/,
  );
  assert.equal(liveTensors(), before);
  assert.equal(scopeDepth(), 0);
  assert.throws(() => tidy((async () => tensor([1])) as unknown as () => Tensor), /must be synchronous/);
  assert.equal(liveTensors(), before);
});

test("dispose is idempotent; a disposed tensor cannot be used; Symbol.dispose frees", () => {
  const before = liveTensors();
  const t = tensor([1, 2]);
  t.dispose();
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.throws(() => t.add(1), /used after dispose/);
  assert.throws(() => t.toArray(), /used after dispose/);
  {
    using u = tensor([3]);
    assert.equal(liveTensors(), before + 1);
    assert.equal(u.item(), 3);
  }
  assert.equal(liveTensors(), before);
  // a tensor disposed by hand inside tidy is not freed twice
  tidy(() => tensor([1]).dispose());
  assert.equal(liveTensors(), before);
});

test("the garbage collector frees tensors nobody disposed (safety net)", async () => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const before = liveTensors();
  (() => {
    for (let i = 0; i < 50; i++) zeros([10]);
  })();
  assert.equal(liveTensors(), before + 50);
  for (let i = 0; i < 5 && liveTensors() > before; i++) {
    gc();
    await tick();
  }
  assert.equal(liveTensors(), before);
});

/** A small CNN training step (forward, cross-entropy, backward, SGD momentum + decay). */
function trainer() {
  const gen = new Generator(0);
  const model = new nn.Sequential(
    new nn.Conv2d(1, 8, 3, gen, { padding: 1, bias: false }),
    new nn.BatchNorm2d(8),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(8, 16, 3, gen, { padding: 1, bias: false }),
    new nn.BatchNorm2d(16),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(16, 10, gen),
  );
  const opt = SGD.forModule(model, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const x = keep(gen.randn([16, 1, 28, 28])); // [B,1,28,28]
  const y = keep(gen.randint(0, 10, [16])); // [B]
  const step = (): number => {
    const loss = tidy(() => {
      const l = F.crossEntropy(model.forward(x), y);
      l.backward();
      return l.item();
    });
    opt.step();
    opt.zeroGrad();
    return loss;
  };
  const free = () => {
    model.dispose();
    opt.dispose();
    dispose([x, y]);
  };
  return { step, dispose: free };
}

test("a training step run 100 times leaks no tensors and no memory", () =>
  withThreads(1, () => {
    const before = liveTensors();
    const t = trainer();
    const first = t.step();
    for (let i = 0; i < 19; i++) t.step(); // warm-up: heap and caches reach steady state
    const live = liveTensors();
    const rss = process.memoryUsage().rss;
    let last = first;
    for (let i = 0; i < 100; i++) {
      last = t.step();
      assert.equal(liveTensors(), live, `step ${i}: live tensors grew`);
    }
    const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
    assert.ok(grown < 20, `RSS grew ${grown.toFixed(1)} MiB over 100 steps`);
    assert.ok(last < first, `loss went from ${first} to ${last}`);
    t.dispose();
    assert.equal(liveTensors(), before);
  }));

test("the addon's allocator setting takes effect: a 64 MiB tensor comes from the heap, not from mmap", () => {
  // Observed from glibc itself (mallinfo2's mmapped bytes) in a fresh process, not from the flag
  // the addon sets: with the setting, a block over glibc's 32 MiB maximum mmap threshold still
  // stays off mmap (M_MMAP_MAX = 0); with the user's own MALLOC_* variable the addon leaves
  // malloc alone, and the same block is mmapped.
  const probe = (env: Record<string, string>) => {
    const script = `
      const t = await import(${JSON.stringify(new URL("../../src/torch/index.js", import.meta.url).href)});
      const before = t.mmappedBytes();
      const x = t.zeros([16 * 2 ** 20]); // 64 MiB of float32
      const grew = t.mmappedBytes() - before;
      x.dispose();
      console.log(JSON.stringify({ tuned: t.allocatorTuned(), grew }));`;
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MALLOC_")));
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env: { ...clean, ...env }, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { tuned: boolean; grew: number };
  };
  const tuned = probe({});
  assert.deepEqual(tuned, { tuned: true, grew: 0 }, "llp's setting: no mmapped block");
  const user = probe({ MALLOC_MMAP_THRESHOLD_: "131072" });
  assert.equal(user.tuned, false, "the user's MALLOC_* setting wins");
  assert.ok(user.grew >= 64 * 2 ** 20, `glibc's own setting mmaps the block (${user.grew} bytes)`);
  // this process follows the same rule
  const chosen = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_"].some((v) => process.env[v] !== undefined);
  assert.equal(allocatorTuned(), !chosen);
});
