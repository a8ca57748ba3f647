"""PyTorch side of `npm run bench:epoch`: one LLP epoch on Fashion-MNIST doing the same work as
llp's default run (src/methods/llp.ts with the default config at --labelled 1%), written as a
competent PyTorch user would: the default network (small-cnn, width 32, 7x7 pool grid, two
heads), batches of 32 labelled + 96 unlabelled points, pad-crop + flip augmentation on the batch
(one gather), a cutout copy for the losses, pseudo-labels and bank rows from a no-grad pass on the
augmented view, the llp+classifier rule (Eq. 8 with the density, averaged with the classifier's
softmax), Eq. 4's loss with L_A over the whole bank through autograd, SGD (momentum 0.9, decay
1e-4 on weights only), the bank and label write-back, the density refresh at the epoch's start and
validation (classifier and kNN) at its end.

L_A goes through autograd, as a PyTorch user writes it: one exp over the [B, N] scores and the
class sums by one matmul with the bank's one-hot labels (not a masked log-sum-exp per set, which
bench:bank measured slower). llp computes the same values with the gradient in closed form
(src/losses/losses.ts); that, not the engine, is the difference between the two bank losses.
Bank passes run under no_grad. With "la": "closed" the twin computes L_A as llp does instead: the
values and dL/dv in closed form under no_grad, then backpropagates (v * gradV).sum() (what a user
would put in a custom autograd function): the same engine and the same formulation on both sides.
Channels-last is used where the run's own probe says it is faster (see `probe_channels_last`).

Run by bench/epoch.ts with Debian's /usr/bin/python3 (python3-torch, the same libtorch 1.13).
Protocol, one JSON object per line:
  argv[1]: JSON {n, labelled, validation, steps, labelled_per_batch, threads, width, seed, channels_last, la}
  stdout on start: {"ready": true, "torch": ..., "threads": ..., "channels_last": bool, "start_s": ...}
  stdin {"epoch": true} -> stdout {"epoch_s": wall s, "sections": {name: s}, "steps": n, "val_top1": ...}
  stdin {"quit": true}  -> exits
"""

import gzip
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from malloc_probe import allocator_state

FMNIST = "/usr/share/datasets/fashion-mnist"
TAU, K, T, M_BANK, C = 0.07, 10, 25, 0.5, 10
B = 128


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class SmallCNN(nn.Module):
    """llp's small-cnn: five conv3x3-BN-ReLU (w, 2w, 2w, 4w, 4w), max-pool after the 1st and 3rd,
    the 7x7 map flattened, then an embedding head (L2-normalised) and a classifier head."""

    def __init__(self, width, dim=128, classes=C):
        super().__init__()
        ws = [width, 2 * width, 2 * width, 4 * width, 4 * width]
        layers, cin = [], 1
        for i, cout in enumerate(ws):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            if i in (0, 2):
                layers.append(nn.MaxPool2d(2))
            cin = cout
        self.body = nn.Sequential(*layers)
        feat = 4 * width * 49
        self.embed = nn.Linear(feat, dim)
        self.classifier = nn.Linear(feat, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x):
        h = self.body(x).flatten(1)
        return F.normalize(self.embed(h), dim=1), self.classifier(h)


def probe_channels_last(width, steps=6, warmup=2):
    """Median training-step time (forward, backward, SGD; batch 128) of the network in each memory
    format, alternating; the faster one is used for the epoch."""
    ms = {False: [], True: []}
    nets = {}
    for cl in (False, True):
        net = SmallCNN(width)
        nets[cl] = (net.to(memory_format=torch.channels_last) if cl else net, torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9))
    x = torch.randn(B, 1, 28, 28)
    y = torch.randint(0, C, (B,))
    for i in range(warmup + steps):
        for cl in (False, True) if i % 2 == 0 else (True, False):
            net, opt = nets[cl]
            xx = x.contiguous(memory_format=torch.channels_last) if cl else x
            t0 = time.perf_counter()
            v, logits = net(xx)
            loss = F.cross_entropy(logits, y) + v.sum() * 0
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i >= warmup:
                ms[cl].append(1000 * (time.perf_counter() - t0))
    med = {cl: float(np.median(v)) for cl, v in ms.items()}
    return {"contiguous_ms": med[False], "channels_last_ms": med[True], "channels_last": med[True] < med[False]}


class Timer:
    def __init__(self):
        self.s = {}

    def add(self, name, t0):
        t = time.perf_counter()
        self.s[name] = self.s.get(name, 0.0) + t - t0
        return t


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg["seed"])
    gen = np.random.default_rng(cfg["seed"])
    t_start = time.perf_counter()

    images = read_idx(f"{FMNIST}/train-images-idx3-ubyte.gz")  # [60000, 28, 28] uint8
    labels = read_idx(f"{FMNIST}/train-labels-idx1-ubyte.gz").astype(np.int64)
    perm = gen.permutation(len(images))
    val_idx, train_idx = perm[: cfg["validation"]], perm[cfg["validation"] :][: cfg["n"]]
    n = len(train_idx)
    x_train = torch.from_numpy(images[train_idx].copy()).unsqueeze(1)  # [N, 1, 28, 28] uint8
    y_true = torch.from_numpy(labels[train_idx].copy())
    x_val = torch.from_numpy(images[val_idx].copy()).unsqueeze(1)
    y_val = torch.from_numpy(labels[val_idx].copy())
    mean, std = x_train.float().mean().item() / 255, x_train.float().std().item() / 255
    # labelled points: an equal share of each class, as llp's split
    per_class = cfg["labelled"] // C
    lab = np.concatenate([np.flatnonzero(labels[train_idx] == c)[:per_class] for c in range(C)])
    labelled = torch.from_numpy(lab)
    is_lab = torch.zeros(n, dtype=torch.bool)
    is_lab[labelled] = True
    unlabelled = torch.nonzero(~is_lab).squeeze(1)
    bank_y = torch.full((n,), -1, dtype=torch.int64)  # stored pseudo-labels
    bank_y[labelled] = y_true[labelled]
    bank_c = torch.zeros(n)
    bank_c[labelled] = 1.0
    lab_y = y_true[labelled]

    probe = probe_channels_last(cfg["width"]) if cfg["channels_last"] == "probe" else None
    channels_last = probe["channels_last"] if probe else bool(cfg["channels_last"])
    net = SmallCNN(cfg["width"])
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    decay = [p for p in net.parameters() if p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0}], lr=0.03, momentum=0.9)

    def normalize(xb):  # uint8 [b, 1, 28, 28] -> float
        x = (xb.float() / 255 - mean) / std
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def embed_all(x_all):
        net.eval()
        vs, ls = [], []
        with torch.no_grad():
            for s in range(0, len(x_all), 512):
                v, lg = net(normalize(x_all[s : s + 512]))
                vs.append(v)
                ls.append(lg)
        net.train()
        return torch.cat(vs), torch.cat(ls)

    V = embed_all(x_train)[0]  # [N, D] the memory bank, filled once (not part of the epoch)
    ar28 = torch.arange(28)

    def augment(idx):  # pad 4 with zeros, random 28x28 crop, flip with p 1/2: one gather
        b = len(idx)
        xp = F.pad(x_train[idx], (4, 4, 4, 4))  # [b, 1, 36, 36]
        dy = torch.randint(0, 9, (b, 1))
        dx = torch.randint(0, 9, (b, 1))
        flip = torch.rand(b, 1) < 0.5
        rows = dy + ar28  # [b, 28]
        cols = torch.where(flip, dx + 27 - ar28, dx + ar28)  # [b, 28]
        out = xp[torch.arange(b)[:, None, None], 0, rows[:, :, None], cols[:, None, :]]  # [b, 28, 28]
        return normalize(out.unsqueeze(1))

    def cutout(x):  # a random 14x14 square zeroed (clipped at the border)
        b = x.shape[0]
        top = torch.randint(0, 28, (b, 1)) - 7
        left = torch.randint(0, 28, (b, 1)) - 7
        r = (ar28 >= top) & (ar28 < top + 14)  # [b, 28]
        c = (ar28 >= left) & (ar28 < left + 14)
        mask = ~(r[:, :, None] & c[:, None, :])  # [b, 28, 28]
        return x * mask.unsqueeze(1)

    def log_density():  # Eq. 7: log sum of exp(top-T scores / tau) over the whole bank
        with torch.no_grad():
            out = []
            for s in range(0, len(labelled), 256):
                top = (V[labelled[s : s + 256]] @ V.T).topk(T, dim=1).values
                out.append(torch.logsumexp(top / TAU, dim=1))
            return torch.cat(out)

    def knn_top1(v, y):
        out = 0
        for s in range(0, len(v), 4096):
            scores = v[s : s + 4096] @ V[labelled].T / TAU
            top, who = scores.topk(K, dim=1)
            w = (top - top[:, :1]).exp()
            W = torch.zeros(len(top), C).scatter_add_(1, lab_y[who], w)
            out += (W.argmax(1) == y[s : s + 4096]).sum().item()
        return out / len(v)

    closed_form = cfg.get("la", "autograd") == "closed"

    @torch.no_grad()
    def closed_form_la(v, y, index, weight):
        """dL/dv of mean_i(weight_i L_A,i), L_A = log sum_j E_ij - log sum_{j in A_i} E_ij:
        row i = weight_i / (B tau) * sum_j (E_ij / S_i - [j in A_i] E_ij / S_A,i) V_j."""
        b = len(y)
        E = (v @ V.T / TAU).exp_()  # [B, N]
        col = bank_y + 1  # [N] class column, 0 = none
        member = F.one_hot(col, C + 2).float()  # [N, C+2]
        member[:, C + 1] = 1  # a ones column: the row sums
        sums = E @ member  # [B, C+2]
        valid = (y >= 0).float()
        own = E.gather(1, index.unsqueeze(1)).squeeze(1)
        own_out = ((bank_y[index] != y) | (y < 0)).float()
        mass_a = sums.gather(1, (y + 1).unsqueeze(1)).squeeze(1) * valid + own * own_out
        wt = weight / (b * TAU)
        table = (wt / sums[:, C + 1]).unsqueeze(1).repeat(1, C + 1)  # [B, C+1]
        table.scatter_add_(1, (y + 1).unsqueeze(1), (-valid * wt / mass_a).unsqueeze(1))
        E.mul_(table[:, col])
        E.scatter_add_(1, index.unsqueeze(1), (-own * own_out * wt / mass_a).unsqueeze(1))
        return E @ V

    lpb = cfg["labelled_per_batch"]
    steps = cfg["steps"]
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "channels_last": channels_last,
                      "start_s": time.perf_counter() - t_start, "probe": probe, "la": "closed" if closed_form else "autograd", "allocator": allocator_state(), "n": n}), flush=True)

    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            return
        tm = Timer()
        t_epoch = time.perf_counter()
        t = t_epoch
        log_rho = log_density()  # [M]
        t = tm.add("density", t)
        order = unlabelled[torch.randperm(len(unlabelled))]
        lab_draw = labelled[torch.randint(0, len(labelled), (steps * lpb,))]
        for step in range(steps):
            t = time.perf_counter()
            u = order[step * (B - lpb) : (step + 1) * (B - lpb)]
            index = torch.cat([lab_draw[step * lpb : (step + 1) * lpb], u])  # [B]
            x = augment(index)  # [B, 1, 28, 28]
            xs = cutout(x)
            t = tm.add("data", t)
            with torch.no_grad():
                v_weak, logits_weak = net(x)  # pseudo-labels and bank rows from the weak view
                t = tm.add("network", t)
                LV = V[labelled]  # [M, D]
                s = v_weak @ LV.T / TAU - log_rho  # [B, M] log P^L + const
                top, who = s.topk(K, dim=1)
                w = (top - top[:, :1]).exp()
                W = torch.zeros(B, C).scatter_add_(1, lab_y[who], w)
                p = (W / W.sum(1, keepdim=True) + logits_weak.softmax(1)) / 2  # llp+classifier
                c_fresh, y_fresh = p.max(1)
                y = bank_y[index]  # the stored targets (labelled points keep theirs)
                c = bank_c[index]
                t = tm.add("propagation", t)
            v, logits = net(xs)
            t = tm.add("network", t)
            # Eq. 4: c [L_C + L_A]; L_A = -log sum_{i in A} P(i|v), A = the bank rows of class y (+ own row)
            weight = torch.where(y >= 0, c, torch.ones_like(c))  # [B] L_A's weight in Eq. 4
            lc = F.cross_entropy(logits, y.clamp(min=0), reduction="none") * (y >= 0)
            if closed_form:
                grad_v = closed_form_la(v.detach(), y, index, weight)  # [B, D] d(mean of weight * L_A)/dv
                t = tm.add("bank loss", t)
                loss = (lc * c).mean() + (v * grad_v).sum()
            else:
                E = ((v @ V.T - 1) / TAU).exp()  # [B, N]
                with torch.no_grad():
                    member = F.one_hot(bank_y + 1, C + 1).float()  # [N, C+1], column 0: no label
                    own_counted = (bank_y[index] == y) & (y >= 0)
                mass = (E @ member).gather(1, (y + 1).unsqueeze(1)).squeeze(1) * (y >= 0)
                own = E.gather(1, index.unsqueeze(1)).squeeze(1)
                la = E.sum(1).log() - (mass + torch.where(own_counted, torch.zeros_like(own), own)).log()
                t = tm.add("bank loss", t)
                loss = (lc * c).mean() + (la * weight).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_value = loss.item()
            t = tm.add("network", t)
            with torch.no_grad():
                V[index] = F.normalize(M_BANK * V[index] + (1 - M_BANK) * v_weak, dim=1)
                fresh = ~is_lab[index]
                bank_y[index[fresh]] = y_fresh[fresh]
                bank_c[index[fresh]] = c_fresh[fresh]
            t = tm.add("write-back", t)
        t = time.perf_counter()
        v_val, logits_val = embed_all(x_val)
        top1 = (logits_val.argmax(1) == y_val).float().mean().item()
        knn = knn_top1(v_val, y_val)
        tm.add("evaluation", t)
        print(json.dumps({"epoch_s": time.perf_counter() - t_epoch, "sections": tm.s, "steps": steps, "val_top1": top1,
                          "val_knn": knn, "loss": loss_value}), flush=True)


if __name__ == "__main__":
    main()
