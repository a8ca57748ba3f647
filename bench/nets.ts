// The two benchmark networks, built from src/torch's nn modules only (the same architectures
// as bench/engine_pytorch.py).
import { type Generator, nn, type Tensor } from "../src/torch/index.js";

const conv3 = (cin: number, cout: number, gen: Generator, stride = 1) =>
  new nn.Conv2d(cin, cout, 3, gen, { stride, padding: 1, bias: false });

/** 28x28x1 -> 10: three conv3x3/BN/ReLU stages (32, 64, 128), global average pool, linear. */
export function smallCnn(gen: Generator): nn.Module {
  const stage = (cin: number, cout: number) => [conv3(cin, cout, gen), new nn.BatchNorm2d(cout), new nn.ReLU()];
  return new nn.Sequential(
    ...stage(1, 32),
    new nn.MaxPool2d(2),
    ...stage(32, 64),
    new nn.MaxPool2d(2),
    ...stage(64, 128),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(128, 10, gen),
  );
}

class BasicBlock extends nn.Module {
  readonly conv1: nn.Conv2d;
  readonly bn1: nn.BatchNorm2d;
  readonly conv2: nn.Conv2d;
  readonly bn2: nn.BatchNorm2d;
  readonly shortcut: nn.Sequential | null = null;

  constructor(cin: number, cout: number, stride: number, gen: Generator) {
    super();
    this.conv1 = this.registerModule("conv1", conv3(cin, cout, gen, stride));
    this.bn1 = this.registerModule("bn1", new nn.BatchNorm2d(cout));
    this.conv2 = this.registerModule("conv2", conv3(cout, cout, gen));
    this.bn2 = this.registerModule("bn2", new nn.BatchNorm2d(cout));
    if (stride !== 1 || cin !== cout) {
      const proj = new nn.Conv2d(cin, cout, 1, gen, { stride, bias: false });
      this.shortcut = this.registerModule("shortcut", new nn.Sequential(proj, new nn.BatchNorm2d(cout)));
    }
  }

  forward(x: Tensor): Tensor {
    // Intermediates are disposed as soon as they are consumed, as Python's refcounting would;
    // autograd keeps natively whatever backward needs.
    const seq = (t: Tensor, ...fs: ((t: Tensor) => Tensor)[]) =>
      fs.reduce((h, f) => {
        const next = f(h);
        if (h !== t) h.dispose();
        return next;
      }, t);
    const out = seq(
      x,
      (t) => this.conv1.forward(t),
      (t) => this.bn1.forward(t),
      (t) => t.relu(),
      (t) => this.conv2.forward(t),
      (t) => this.bn2.forward(t),
    );
    const id = this.shortcut === null ? x : this.shortcut.forward(x);
    const sum = out.add(id);
    out.dispose();
    if (id !== x) id.dispose();
    const y = sum.relu();
    sum.dispose();
    return y;
  }
}

/** CIFAR ResNet-18: conv3x3 64 stem, stages 64/128/256/512 of two BasicBlocks, strides 1/2/2/2. */
export class ResNet18 extends nn.Module {
  readonly body: nn.Sequential;
  readonly fc: nn.Linear;

  constructor(gen: Generator, classes = 10) {
    super();
    const blocks: nn.Module[] = [conv3(3, 64, gen), new nn.BatchNorm2d(64), new nn.ReLU()];
    let cin = 64;
    for (const [cout, stride] of [
      [64, 1],
      [128, 2],
      [256, 2],
      [512, 2],
    ] as const) {
      blocks.push(new BasicBlock(cin, cout, stride, gen), new BasicBlock(cout, cout, 1, gen));
      cin = cout;
    }
    blocks.push(new nn.AdaptiveAvgPool2d(1), new nn.Flatten());
    this.body = this.registerModule("body", new nn.Sequential(...blocks));
    this.fc = this.registerModule("fc", new nn.Linear(512, classes, gen));
  }

  forward(x: Tensor): Tensor {
    const h = this.body.forward(x); // [B,512]
    const logits = this.fc.forward(h); // [B,C]
    h.dispose();
    return logits;
  }
}
