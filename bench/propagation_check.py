# Re-propagates the pseudo-labels of a finished llp run (Fashion-MNIST) from its checkpointed
# memory bank, with numpy, under several rules (tau, K, with/without the density rho), and prints
# how accurate and how calibrated the stored and re-propagated labels are.
# A reference analysis, not part of llp: python3 bench/propagation_check.py RUN_DIR [--graph]
# --graph adds votes that use the pseudo-labelled points too (a 20-NN graph over the whole bank,
# about a minute at N = 55,000): one hop with every stored label voting (weight P(i|v) c_i, own
# row out), that vote iterated, and label spreading (Zhou et al. 2004) from the labelled points.
import json, struct, gzip, sys, numpy as np
run = sys.argv[1]
graph = '--graph' in sys.argv[2:]
buf = open(f'{run}/checkpoint.safetensors','rb').read()
n = struct.unpack('<Q', buf[:8])[0]; hdr = json.loads(buf[8:8+n]); base = 8+n
def get(k):
    h = hdr[k]; a,b = h['data_offsets']; dt = {'F32':np.float32,'I32':np.int32,'I64':np.int64,'U8':np.uint8}[h['dtype']]
    return np.frombuffer(buf[base+a:base+b], dtype=dt).reshape(h['shape'])
V = get('bank.V'); ys = get('labels.y'); cs = get('labels.c')
split = json.load(open(f'{run}/split.json'))
import os
d='/usr/share/datasets/fashion-mnist'
f=[x for x in os.listdir(d) if 'train-labels' in x][0]
raw = open(f'{d}/{f}','rb').read()
if f.endswith('.gz'): raw = gzip.decompress(raw)
truth_all = np.frombuffer(raw[8:], dtype=np.uint8)
train = np.array(split['train']); lab = set(split['labelled'])
truth = truth_all[train].astype(int)
isl = np.array([i in lab for i in train])
print('N', len(train), 'labelled', isl.sum())
# stored labels accuracy
u = ~isl
print('stored pseudo acc', (ys[u]==truth[u]).mean(), 'mean c', cs[u].mean())
# calibration of stored
for lo,hi in [(0,.5),(.5,.7),(.7,.9),(.9,.99),(.99,1.01)]:
    m = u & (cs>=lo) & (cs<hi)
    if m.sum(): print(f'  c in [{lo},{hi}): n={m.sum()} acc={(ys[m]==truth[m]).mean():.3f}')
# fresh propagation from bank with various tau / K, with and without density
L = np.where(isl)[0]; VL = V[L]; yL = truth[L]
S = V[u] @ VL.T  # [U, M]
# density (T=25 over whole bank, self included)
G = VL @ V.T
def logrho(tau, T=25):
    top = np.sort(G, axis=1)[:, -T:]
    return np.log(np.exp((top-1)/tau).sum(1))
for tau in [0.07, 0.1, 0.2]:
  for K in [10, 50]:
    for dens in [False, True]:
        lw = (S-1)/tau - (logrho(tau) if dens else 0)
        idx = np.argsort(-lw, axis=1)[:, :K]
        w = np.exp(np.take_along_axis(lw, idx, 1)); cls = yL[idx]
        W = np.zeros((len(S), 10))
        for j in range(10): W[:, j] = (w*(cls==j)).sum(1)
        p = W / W.sum(1, keepdims=True); y = p.argmax(1); c = p.max(1)
        acc = (y==truth[u]).mean()
        hi = c>0.9
        print(f'tau={tau} K={K} density={dens}: acc={acc:.4f} meanc={c.mean():.3f} acc|c>.9={ (y[hi]==truth[u][hi]).mean():.3f} frac={hi.mean():.2f}  acc|c<.6={(y[c<.6]==truth[u][c<.6]).mean():.3f} frac={(c<.6).mean():.2f}')

if graph:
    N, C, k = len(V), int(truth.max()) + 1, 20
    Vf = V.astype(np.float32)
    nbr = np.zeros((N, k), np.int64); sim = np.zeros((N, k), np.float32)
    for s0 in range(0, N, 2048):
        Sb = Vf[s0:s0+2048] @ Vf.T
        Sb[np.arange(Sb.shape[0]), s0 + np.arange(Sb.shape[0])] = -9  # no self-loops
        part = np.argpartition(-Sb, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(Sb, part, 1), axis=1)
        nbr[s0:s0+2048] = np.take_along_axis(part, order, 1); sim[s0:s0+2048] = np.take_along_axis(Sb, nbr[s0:s0+2048], 1)
    tau, K = 0.07, 10
    y = np.where(isl, truth, ys).astype(int); c = np.where(isl, 1.0, cs)
    nb, sm = nbr[:, :K], sim[:, :K]
    for it in range(5):
        w = np.exp((sm - 1) / tau) * np.where(y[nb] >= 0, c[nb], 0)
        W = np.stack([(w * (y[nb] == j)).sum(1) for j in range(C)], 1)
        p = W / np.maximum(W.sum(1, keepdims=True), 1e-30)
        y = np.where(isl, truth, p.argmax(1)); c = np.where(isl, 1.0, p.max(1))
        print(f'all stored labels vote (tau={tau} K={K}), hop {it + 1}: acc={(y[u]==truth[u]).mean():.4f} meanc={c[u].mean():.3f}')
    rows = np.repeat(np.arange(N), k); cols = nbr.ravel(); w = np.exp((sim.ravel() - 1) / tau)
    deg = np.bincount(rows, w, N) + np.bincount(cols, w, N)
    wn = w / np.sqrt(deg[rows] * deg[cols])  # symmetric normalisation of W + W^T
    Y0 = np.zeros((N, C)); Y0[isl, truth[isl]] = 1
    F = Y0.copy()
    for _ in range(30):
        F = 0.99 * np.stack([np.bincount(rows, wn * F[cols, j], N) + np.bincount(cols, wn * F[rows, j], N) for j in range(C)], 1) + 0.01 * Y0
    print(f'label spreading (20-NN graph, tau={tau}, alpha=0.99, 30 iterations): acc={(F.argmax(1)[u]==truth[u]).mean():.4f}')
