"""PyTorch side of `npm run bench:bank`: LLP's aggregation loss L_A over the full memory bank,
forward and backward, written the two natural ways, on request (JSON lines, like
engine_pytorch.py):
  stdin  {"variant": "masked-lse"|"onehot-mm", "steps": n} -> stdout {"ms": [...], "cpu_ms": [...]}
Run with Debian's /usr/bin/python3 (python3-torch, the same libtorch 1.13 as llp's addon).
"""

import json
import sys
import time

import torch
import torch.nn.functional as F

from malloc_probe import allocator_state

B, N, D, C, TAU = 128, 55000, 128, 10, 0.07  # as bench/bank.ts
torch.set_num_threads(int(sys.argv[1]))
g = torch.Generator().manual_seed(0)
bank = F.normalize(torch.randn(N, D, generator=g), dim=1)
bank_y = torch.randint(-1, C, (N,), generator=g)
y = torch.randint(-1, C, (B,), generator=g)
index = torch.randint(0, N, (B,), generator=g)
w = torch.rand(B, generator=g)
raw = torch.randn(B, D, generator=g)


def masked_lse(v):
    """-log sum_{j in A} P(j|v) as two log-sum-exps, A = same label, plus the own row."""
    s = v @ bank.t() / TAU  # [B, N]
    in_a = (bank_y.unsqueeze(0) == y.unsqueeze(1)) & (y.unsqueeze(1) >= 0)
    in_a[torch.arange(B), index] = True
    return torch.logsumexp(s, 1) - torch.logsumexp(s.masked_fill(~in_a, float("-inf")), 1)


def onehot_mm(v):
    """The same loss as llp's autograd reference: one exp pass and a [N, C+1] one-hot product."""
    e = ((v @ bank.t() - 1) / TAU).exp()  # [B, N]
    member = F.one_hot(bank_y + 1, C + 1).to(e.dtype)
    in_class = (e @ member).gather(1, (y + 1).unsqueeze(1)).squeeze(1) * (y >= 0).float()
    own = e.gather(1, index.unsqueeze(1)).squeeze(1)
    counted = (bank_y[index] == y) & (y >= 0)
    return e.sum(1).log() - (in_class + torch.where(counted, torch.zeros_like(own), own)).log()


def step(f):
    v = F.normalize(raw, dim=1).requires_grad_(True)  # a leaf, like the network's output
    (f(v) * w).sum().backward()
    return v.grad


def serve():
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "allocator": allocator_state()}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            break
        f = masked_lse if req["variant"] == "masked-lse" else onehot_mm
        ms, cpu = [], []
        for _ in range(req["steps"]):
            c0, t0 = time.process_time(), time.perf_counter()
            step(f)
            ms.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        print(json.dumps({"ms": ms, "cpu_ms": cpu}), flush=True)


if __name__ == "__main__":
    serve()
