# The Python side of `npm run bench:propagation` (Debian's python3-numpy and python3-sklearn; never a
# runtime dependency of llp). Modes, each printing one JSON line:
#   data DIR            Fashion-MNIST PCA-128 (60k, 1% labelled) and synthetic clustered embeddings
#                       (N = 250k and 1M, 10% labelled) as .npy, written once
#   sgemm               numpy's float32 matmul rate (GFLOP/s): 4096^3 and the propagation's own shape
#   sklearn MODEL X Y   LabelSpreading / LabelPropagation (kernel='knn') from scikit-learn
#   numpy X Y           the same rule as llp (density over T nearest bank rows, Eq. 8 vote over K),
#                       blocked, as a competent numpy user writes it
#   measure CMD...      runs CMD, reports its wall seconds and peak RSS (children's maxrss)
import json, os, resource, subprocess, sys, time
import numpy as np


def out(**kw):
    print(json.dumps(kw), flush=True)


def accuracy(pred, truth_file, labels):
    truth = np.load(truth_file)
    u = labels < 0
    return float((pred[u] == truth[u]).mean())


def data(d):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    if not os.path.exists(f"{d}/fmnist.npy"):
        import gzip
        src = "/usr/share/datasets/fashion-mnist"
        def idx(name):
            f = [x for x in os.listdir(src) if name in x][0]
            raw = open(f"{src}/{f}", "rb").read()
            return gzip.decompress(raw) if f.endswith(".gz") else raw
        img = np.frombuffer(idx("train-images"), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
        y = np.frombuffer(idx("train-labels"), np.uint8, offset=8).astype(np.int64)
        mu = img.mean(0)
        _, _, vt = np.linalg.svd(img[rng.choice(len(img), 10000, replace=False)] - mu, full_matrices=False)
        X = ((img - mu) @ vt[:128].T).astype(np.float32)
        lab = np.full(len(y), -1, np.int64)
        for c in range(10):  # 1% labelled, 60 per class
            lab[rng.choice(np.where(y == c)[0], 60, replace=False)] = c
        np.save(f"{d}/fmnist.npy", X); np.save(f"{d}/fmnist.labels.npy", lab); np.save(f"{d}/fmnist.truth.npy", y)
    for n, name in [(250_000, "s250k"), (1_000_000, "s1m")]:
        if os.path.exists(f"{d}/{name}.npy"):
            continue
        C, D = 100, 128
        centres = rng.standard_normal((C, D)).astype(np.float32)
        y = rng.integers(0, C, n)
        X = np.empty((n, D), np.float32)
        for s in range(0, n, 100_000):  # clusters of noisy points, written in blocks
            e = min(n, s + 100_000)
            X[s:e] = centres[y[s:e]] + 1.5 * rng.standard_normal((e - s, D)).astype(np.float32)
        lab = np.full(n, -1, np.int64)
        lab[rng.choice(n, n // 10, replace=False)] = 1
        lab[lab == 1] = y[lab == 1]
        for c in range(C):  # every class labelled at least once
            if not (lab == c).any():
                lab[np.where(y == c)[0][0]] = c
        np.save(f"{d}/{name}.npy", X); np.save(f"{d}/{name}.labels.npy", lab); np.save(f"{d}/{name}.truth.npy", y)
    out(dir=d)


def sgemm():
    rates = {}
    for (m, k, n) in [(4096, 4096, 4096), (256, 128, 4096)]:
        a = np.random.rand(m, k).astype(np.float32); b = np.random.rand(k, n).astype(np.float32)
        a @ b
        reps = max(3, int(2e10 / (2 * m * k * n)))
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(reps):
                a @ b
            ts.append((time.perf_counter() - t) / reps)
        rates[f"{m}x{k}x{n}"] = 2 * m * k * n / min(ts) / 1e9
    out(numpy=np.__version__, gflops=rates)


def sk(model, xf, yf):
    from sklearn.semi_supervised import LabelPropagation, LabelSpreading
    X = np.load(xf); y = np.load(yf)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    t = time.perf_counter()
    m = (LabelSpreading if model == "spreading" else LabelPropagation)(kernel="knn", n_neighbors=7, n_jobs=int(os.environ.get("THREADS", "2")))
    m.fit(X, y)
    pred = m.transduction_
    out(seconds=time.perf_counter() - t, accuracy=accuracy(pred, yf.replace(".labels.", ".truth."), y))


def llp_numpy(xf, yf, K=10, T=25, tau=0.07, block=4096):
    X = np.load(xf, mmap_mode="r"); y = np.load(yf)
    t = time.perf_counter()
    n = len(y)
    L = np.where(y >= 0)[0]
    VL = np.asarray(X[L], np.float32); VL /= np.linalg.norm(VL, axis=1, keepdims=True)
    yl = y[L]
    C = int(y.max()) + 1
    # density: running top-T of each labelled point over bank blocks (labelled points in chunks too)
    top = np.empty((len(L), T), np.float32)
    for a in range(0, len(L), block):
        run = np.full((min(block, len(L) - a), T), -np.inf, np.float32)
        for s in range(0, n, block):
            B = np.array(X[s:s + block], np.float32); B /= np.linalg.norm(B, axis=1, keepdims=True)
            both = np.concatenate([run, VL[a:a + block] @ B.T], axis=1)
            run = np.partition(both, both.shape[1] - T, axis=1)[:, -T:]
        top[a:a + block] = run
    m = top.max(1, keepdims=True)
    logrho = (m[:, 0] / tau + np.log(np.exp((top - m) / tau).sum(1))).astype(np.float32)
    pred = np.empty(n, np.int64)
    for s in range(0, n, block):
        B = np.array(X[s:s + block], np.float32); B /= np.linalg.norm(B, axis=1, keepdims=True)
        S = (B @ VL.T) / tau - logrho
        idx = np.argpartition(S, -K, axis=1)[:, -K:]
        top = np.take_along_axis(S, idx, 1)
        w = np.exp(top - top.max(1, keepdims=True))
        W = np.zeros((len(B), C), np.float32)
        np.add.at(W, (np.arange(len(B))[:, None], yl[idx]), w)
        pred[s:s + block] = W.argmax(1)
    pred[L] = yl
    out(seconds=time.perf_counter() - t, accuracy=accuracy(pred, yf.replace(".labels.", ".truth."), y))


def acc_file(pred_file, yf):
    y = np.load(yf)
    out(accuracy=accuracy(np.load(pred_file), yf.replace(".labels.", ".truth."), y))


def count(yf):
    out(labelled=int((np.load(yf) >= 0).sum()))


def measure(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out(wall=time.perf_counter() - t, peak_rss_mb=ru.ru_maxrss / 1024, rc=r.returncode, stdout=r.stdout[-2000:], stderr=r.stderr[-2000:])


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"data": lambda: data(*args), "sgemm": sgemm, "sklearn": lambda: sk(*args), "numpy": lambda: llp_numpy(*args), "measure": lambda: measure(args),
     "accuracy": lambda: acc_file(*args), "count": lambda: count(*args)}[mode]()
