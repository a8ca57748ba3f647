"""PyTorch side of `npm run bench:engine`: the same two networks and training step as
bench/engine.ts, timed on request so both engines stay warm and alternate.

Run by bench/engine.ts with Debian's /usr/bin/python3 (python3-torch, same libtorch 1.13).
Protocol, one JSON object per line:
  stdin  {"net": "small-cnn", "steps": 5}   -> stdout {"ms": [wall ms per step], "cpu_ms": [process CPU ms per step]}
  stdin  {"quit": true}                     -> exits
On start it prints {"ready": true, "torch": ..., "threads": ..., "allocator": {...}} (malloc_probe.py).
"""

import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from malloc_probe import allocator_state

BATCH = 128


def small_cnn():
    """28x28x1 -> 10: three conv3x3/BN/ReLU stages (32, 64, 128), global average pool."""

    def stage(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *stage(1, 32), nn.MaxPool2d(2),
        *stage(32, 64), nn.MaxPool2d(2),
        *stage(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet18(nn.Module):
    """CIFAR ResNet-18: conv3x3 64 stem, stages 64/128/256/512 of two BasicBlocks, strides 1/2/2/2."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def make(net):
    """A net's training step; a name ending in -cl is the same net in channels-last (NHWC) memory."""
    g = torch.Generator().manual_seed(0)
    channels_last = net.endswith("-cl")
    net = net.removesuffix("-cl")
    if net == "small-cnn":
        model, shape = small_cnn(), (BATCH, 1, 28, 28)
    elif net == "resnet18":
        model, shape = ResNet18(), (BATCH, 3, 32, 32)
    else:
        raise ValueError(f"unknown net {net}")
    x = torch.randn(shape, generator=g)
    y = torch.randint(0, 10, (BATCH,), generator=g)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    # weight decay on conv/linear weights only, as llp's SGD.forModule does
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}], lr=0.01, momentum=0.9
    )
    model.train()

    def step():
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    steps = {}
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "allocator": allocator_state()}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            break
        net = req["net"]
        if net not in steps:
            steps[net] = make(net)
        step, ms, cpu_ms = steps[net], [], []
        for _ in range(req["steps"]):
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            ms.append((time.perf_counter() - t0) * 1e3)
            cpu_ms.append((time.process_time() - c0) * 1e3)
        print(json.dumps({"ms": ms, "cpu_ms": cpu_ms}), flush=True)


if __name__ == "__main__":
    main()
