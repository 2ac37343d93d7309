"""Paper 07 algorithms: the in-process dataset, the binned information estimates, the 12-10-7-5-4-3-2 network
trained with Adam (numpy, manual backprop, runs in lock-step), and the iterative IB equations.

All information quantities are in bits. X is uniform over the 4096 patterns and every layer T is a deterministic
function of X, so I(X;T) = H(T_binned) exactly; I(T;Y) uses the true p(y|x), so Y - X - T holds exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BITS = 12
N_BINS = 30  # np.linspace(-1, 1, 30) as in the authors' information_process.py


# -- entropies ------------------------------------------------------------------------------------------------

def h2(p: np.ndarray) -> np.ndarray:
    """Binary entropy in bits, 0 log 0 = 0 (saturated p(y|x), exactly 0 or 1 in floating point, gives 0)."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(q > 0, q * np.log2(q), 0.0))


def entropy(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=float)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


# -- the dataset (spec 07 "Data") ----------------------------------------------------------------------------

def icosahedron() -> np.ndarray:
    """The 12 vertices: cyclic permutations of (0, +-1, +-phi), normalised to unit length."""
    phi = (1 + 5**0.5) / 2
    V = [np.roll([0.0, a, b], k) for a in (1.0, -1.0) for b in (phi, -phi) for k in range(3)]
    V = np.array(V)
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def all_patterns() -> np.ndarray:
    """X: the 4096 vectors of {0,1}^12 (row i is the binary expansion of i)."""
    return ((np.arange(2**N_BITS)[:, None] >> np.arange(N_BITS)) & 1).astype(float)


def mutual_info_xy(py1: np.ndarray) -> float:
    """I(X;Y) for uniform X and p(y=1|x) = py1: H(Y) - E_x H(Y|x)."""
    return float(h2(py1.mean()) - h2(py1).mean())


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray  # (4096, 12) in {0,1}
    f: np.ndarray  # rotation-invariant score
    s: np.ndarray  # index of x's group of equal f (the minimal sufficient statistic S), 0..19
    theta: float
    gamma: float
    py1: np.ndarray  # p(y=1|x)
    y: np.ndarray  # one fixed label per pattern
    I_XY: float

    @property
    def ps(self) -> np.ndarray:
        return np.bincount(self.s) / len(self.s)

    @property
    def py1_s(self) -> np.ndarray:
        """p(y=1|s) per group (constant inside a group)."""
        return np.bincount(self.s, weights=self.py1) / np.bincount(self.s)


def make_dataset(I_target: float, rng: np.random.Generator) -> Dataset:
    from scipy.optimize import brentq

    X = all_patterns()
    f = (((2 * X - 1) @ icosahedron()) ** 2).sum(axis=1)
    levels, s = np.unique(np.round(f, 9), return_inverse=True)
    # theta: midpoint of the two adjacent f-levels that straddle the median of f. Here the median falls on a
    # level, so two adjacent pairs straddle it; the one giving p(f > theta) closer to 1/2 is taken (spec: "gives
    # p(y=1) close to 1/2").
    med = np.median(f)
    pairs = [(a, b) for a, b in zip(levels[:-1], levels[1:], strict=True) if a <= med <= b]
    theta = min((0.5 * (a + b) for a, b in pairs), key=lambda t: abs((f > t).mean() - 0.5))

    def excess(log_gamma: float) -> float:
        with np.errstate(over="ignore"):
            return mutual_info_xy(1 / (1 + np.exp(-np.exp(log_gamma) * (f - theta)))) - I_target

    gamma = float(np.exp(brentq(excess, np.log(1e-4), np.log(1e4), xtol=1e-14)))
    with np.errstate(over="ignore"):
        py1 = 1 / (1 + np.exp(-gamma * (f - theta)))
    y = (rng.random(len(py1)) < py1).astype(int)
    return Dataset(X=X, f=f, s=s, theta=float(theta), gamma=gamma, py1=py1, y=y, I_XY=mutual_info_xy(py1))


# -- binned information estimates (spec 07 "Information estimates") ------------------------------------------

def bin_codes(T: np.ndarray, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """One integer per pattern naming its cell: digitize every unit on np.linspace(lo, hi, 30), then read the
    tuple of bin indices as a base-31 number (the tuple itself when it would not fit in int64)."""
    edges = np.linspace(lo, hi, N_BINS)
    d = np.digitize(T, edges).astype(np.int64)  # 0..30
    base = N_BINS + 1
    if d.shape[1] * np.log2(base) < 62:
        return d @ (base ** np.arange(d.shape[1], dtype=np.int64))
    return np.unique(d, axis=0, return_inverse=True)[1].ravel()


def plane_point(codes: np.ndarray, py1: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(I(X;T), I(T;Y), I(T;Y_emp)) for a deterministic T of uniform X given as cell codes.

    I(X;T) = H(T) (uniform X, distinct patterns); I(T;Y) = H(Y) - sum_t p(t) H(p(y|t)) with p(y=1|t) the mean
    of the true p(y=1|x) over the cell; I(T;Y_emp) the same with the fixed labels."""
    _, inv, counts = np.unique(codes, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    n = len(codes)
    pt = counts / n
    I_XT = entropy(pt)
    I_TY = float(h2(py1.mean()) - (pt * h2(np.bincount(inv, weights=py1) / counts)).sum())
    I_TYe = float(h2(y.mean()) - (pt * h2(np.bincount(inv, weights=y.astype(float)) / counts)).sum())
    return I_XT, I_TY, I_TYe


# -- the network (authors' code defaults) --------------------------------------------------------------------

@dataclass
class TrainLog:
    epochs: np.ndarray  # the information epochs
    plane: np.ndarray  # (R, n_info, n_layers, 3): I(X;T), I(T;Y), I(T;Y_emp)
    grad_mean: np.ndarray  # (R, n_info, n_layers): ||mean over batches of dL/dW||_F
    grad_std: np.ndarray  # (R, n_info, n_layers): sqrt(mean over batches ||g_b - mean||_F^2)
    loss: np.ndarray  # (R, epochs): mean training cross-entropy of each epoch


def info_epochs(epochs: int, n_info: int) -> np.ndarray:
    """n_info epochs log-uniform in [1, epochs] (rounded, duplicates dropped)."""
    return np.unique(np.round(np.logspace(0, np.log10(epochs), n_info)).astype(int))


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], sd: float) -> np.ndarray:
    """TF's truncated_normal: N(0, sd^2) redrawn outside two standard deviations."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return z * sd


def forward(W: list[np.ndarray], b: list[np.ndarray], x: np.ndarray, activation: str) -> list[np.ndarray]:
    """Activations [x, T_1, ..., T_L] of R networks at once (x: (R, B, 12)); the last layer is the softmax."""
    hs = [x]
    L = len(W)
    for ell in range(L):
        z = hs[-1] @ W[ell] + b[ell]
        if ell < L - 1:
            hs.append(np.tanh(z) if activation == "tanh" else np.maximum(z, 0.0))
        else:
            z = z - z.max(axis=2, keepdims=True)
            e = np.exp(z)
            hs.append(e / e.sum(axis=2, keepdims=True))
    return hs


def loss_and_grads(W: list[np.ndarray], b: list[np.ndarray], x: np.ndarray, T1: np.ndarray, activation: str,
                   gW: list[np.ndarray], gb: list[np.ndarray]) -> np.ndarray:
    """Mean cross-entropy per network (R,) of one mini-batch; its gradients are written into gW, gb (backprop)."""
    hs = forward(W, b, x, activation)
    P = hs[-1]
    B = x.shape[1]
    loss = -(T1 * np.log(np.clip(P, 1e-300, None))).sum(axis=(1, 2)) / B
    delta = (P - T1) / B  # d(mean CE)/d logits of a softmax output
    for ell in range(len(W) - 1, -1, -1):
        np.matmul(hs[ell].transpose(0, 2, 1), delta, out=gW[ell])
        gb[ell][...] = delta.sum(axis=1, keepdims=True)
        if ell > 0:
            back = delta @ W[ell].transpose(0, 2, 1)
            h = hs[ell]
            delta = back * (1 - h**2) if activation == "tanh" else back * (h > 0)  # tanh' = 1 - tanh^2
    return loss


def train(data: Dataset, hidden: list[int], activation: str, R: int, train_frac: float, epochs: int,
          n_info: int, rng: np.random.Generator, lr: float = 4e-4, batch: int = 256,
          record: bool = True) -> TrainLog:
    """Train R independent networks 12-hidden-2 in lock-step (each its own init, split and batch order).

    Adam (beta1 0.9, beta2 0.999, eps 1e-8) on softmax cross-entropy of the fixed labels, no regularisation.
    At each information epoch (after that epoch's updates) the activations of every layer on all 4096 patterns
    are binned and the plane point computed; the epoch's per-batch weight gradients give the gradient statistics.
    """
    X, Y1 = data.X, np.eye(2)[data.y]
    n = len(X)
    sizes = [N_BITS, *hidden, 2]
    L = len(sizes) - 1
    # every parameter is a view into one flat buffer, so that one Adam update touches one array (speed)
    shapes = [(R, a, c) for a, c in zip(sizes[:-1], sizes[1:], strict=True)] + [(R, 1, c) for c in sizes[1:]]
    offs = np.cumsum([0] + [int(np.prod(sh)) for sh in shapes])
    params, grad = np.zeros(offs[-1]), np.zeros(offs[-1])
    views = [params[o:o2].reshape(sh) for o, o2, sh in zip(offs[:-1], offs[1:], shapes, strict=True)]
    gviews = [grad[o:o2].reshape(sh) for o, o2, sh in zip(offs[:-1], offs[1:], shapes, strict=True)]
    W, b, gW, gb = views[:L], views[L:], gviews[:L], gviews[L:]
    for ell in range(L):  # weights ~ truncated normal(0, 1/sqrt(fan_in)), zero biases
        W[ell][...] = truncated_normal(rng, shapes[ell], 1 / np.sqrt(sizes[ell]))
    m1, m2 = np.zeros_like(params), np.zeros_like(params)
    b1, b2, eps = 0.9, 0.999, 1e-8
    n_train = int(round(train_frac * n))
    train_idx = np.stack([rng.permutation(n)[:n_train] for _ in range(R)])  # (R, n_train)
    rec = set(info_epochs(epochs, n_info).tolist()) if record else set()
    E = sorted(rec)
    stored: list[list[np.ndarray]] = []  # per info epoch, per layer: activations (R, 4096, width)
    plane = np.zeros((R, len(E), L, 3))
    gm = np.zeros((R, len(E), L))
    gs = np.zeros((R, len(E), L))
    loss = np.zeros((R, epochs))
    step = 0

    for epoch in range(1, epochs + 1):
        perm = rng.permuted(train_idx, axis=1)  # a fresh batch order per run and epoch
        track = epoch in rec
        if track:
            gsum = [np.zeros_like(w) for w in W]
            gsq = np.zeros((R, L))
            nb = 0
        ep_loss = np.zeros(R)
        for start in range(0, n_train, batch):
            idx = perm[:, start:start + batch]
            B = idx.shape[1]
            ep_loss += B * loss_and_grads(W, b, X[idx], Y1[idx], activation, gW, gb)
            if track:
                for ell in range(L):
                    gsum[ell] += gW[ell]
                    gsq[:, ell] += (gW[ell] ** 2).sum(axis=(1, 2))
                nb += 1
            step += 1
            m1 *= b1
            m1 += (1 - b1) * grad
            m2 *= b2
            m2 += (1 - b2) * grad * grad
            # Adam (Kingma & Ba, Algorithm 1) with the bias corrections folded into the step size
            params -= (lr * np.sqrt(1 - b2**step) / (1 - b1**step)) * m1 / (np.sqrt(m2) + eps * np.sqrt(1 - b2**step))
        loss[:, epoch - 1] = ep_loss / n_train
        if track:
            j = E.index(epoch)
            for ell in range(L):
                gbar = gsum[ell] / nb
                mean_sq = (gbar**2).sum(axis=(1, 2))
                gm[:, j, ell] = np.sqrt(mean_sq)
                gs[:, j, ell] = np.sqrt(np.maximum(gsq[:, ell] / nb - mean_sq, 0.0))
            layers = forward(W, b, np.broadcast_to(X, (R, n, N_BITS)), activation)[1:]
            if activation == "relu":  # the ReLU bin range needs every recorded epoch first: keep the activations
                stored.append([h.astype(np.float32) for h in layers])
            else:  # tanh: the fixed range [-1, 1] allows binning now (memory stays O(one epoch))
                for ell, H in enumerate(layers):
                    for r in range(R):
                        plane[r, j, ell] = plane_point(bin_codes(H[r]), data.py1, data.y)
    if activation == "relu":
        plane = _relu_plane(data, stored, R, L)
    return TrainLog(epochs=np.array(E, dtype=int), plane=plane, grad_mean=gm, grad_std=gs, loss=loss)


def _relu_plane(data: Dataset, stored: list[list[np.ndarray]], R: int, L: int) -> np.ndarray:
    """Plane points of ReLU nets: hidden units binned on [0, M], M the layer's max over the run's recorded epochs
    (spec 07); the softmax output on [-1, 1] like the tanh nets."""
    plane = np.zeros((R, len(stored), L, 3))
    hi = np.ones((R, L))
    lo = -np.ones((R, L))
    if stored:
        for ell in range(L - 1):
            hi[:, ell] = np.max(np.stack([s[ell].reshape(R, -1).max(axis=1) for s in stored]), axis=0)
            hi[:, ell] = np.where(hi[:, ell] > 0, hi[:, ell], 1.0)
            lo[:, ell] = 0.0
    for j, layers in enumerate(stored):
        for ell, H in enumerate(layers):
            for r in range(R):
                plane[r, j, ell] = plane_point(bin_codes(H[r], lo[r, ell], hi[r, ell]), data.py1, data.y)
    return plane


def convergence_epoch(loss: np.ndarray, rel: float = 0.02) -> int:
    """First epoch (1-based) whose training loss is within `rel` of the final epoch's loss."""
    final = loss[-1]
    return int(np.flatnonzero(loss <= final * (1 + rel))[0]) + 1


# -- the IB curve (spec 07 "IB curve F") ---------------------------------------------------------------------

def _ib_point(ps: np.ndarray, pys: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(I(S;T), I(T;Y)) in bits for encoders pts (..., S, T)."""
    joint = ps[:, None] * pts  # p(s, t)
    pt = joint.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(joint > 0, np.log2(joint / (ps[:, None] * pt[..., None, :])), 0.0)
    I_ST = (joint * r).sum(axis=(-2, -1))
    py = ps @ pys
    pyt = np.einsum("...st,sy->...ty", joint, pys)  # p(t, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(pyt > 0, np.log2(pyt / (pt[..., None] * py)), 0.0)
    return I_ST, (pyt * r).sum(axis=(-2, -1))


def iterative_ib(ps: np.ndarray, pys: np.ndarray, betas: np.ndarray, n_t: int, restarts: int,
                 rng: np.random.Generator, tol: float = 1e-10, max_iter: int = 5000,
                 jitter: float = 0.05) -> np.ndarray:
    """Tishby-Pereira-Bialek self-consistent equations, restarts run side by side, beta ascending with warm starts:
    p(t|s) ∝ p(t) exp(-beta KL(p(y|s) || p(y|t))), p(t) = sum_s p(s) p(t|s), p(y|t) = sum_s p(y|s) p(s|t).

    A warm start is jittered (multiplied by exp(jitter * N(0,1)) and renormalised) before each beta: merged
    clusters are an exact fixed point at every beta, so without it the solution never splits.
    Returns the points (I(S;T), I(T;Y)) of every restart at every beta, shape (len(betas) * restarts, 2)."""
    S = len(ps)
    logp = np.log(rng.dirichlet(np.ones(n_t), size=(restarts, S)))
    lpys = np.log(np.clip(pys, 1e-300, None))
    out = []
    for beta in betas:
        logp = logp + jitter * rng.standard_normal(logp.shape)
        logp -= np.logaddexp.reduce(logp, axis=2, keepdims=True)
        p = np.exp(logp)
        for _ in range(max_iter):
            joint = ps[:, None] * p  # (K, S, T)
            pt = joint.sum(axis=1)  # (K, T)
            pyt = np.einsum("kst,sy->kty", joint, pys) / np.maximum(pt, 1e-300)[..., None]
            lpyt = np.log(np.clip(pyt, 1e-300, None))
            # KL(p(y|s) || p(y|t)) = sum_y p(y|s) (log p(y|s) - log p(y|t))
            D = (pys * lpys).sum(axis=1)[None, :, None] - np.einsum("sy,kty->kst", pys, lpyt)
            with np.errstate(divide="ignore"):
                logp_new = np.log(pt)[:, None, :] - beta * D
            logp_new -= np.logaddexp.reduce(logp_new, axis=2, keepdims=True)
            p_new = np.exp(logp_new)
            done = np.abs(p_new - p).max() < tol
            p, logp = p_new, logp_new
            if done:
                break
        I_ST, I_TY = _ib_point(ps, pys, p)
        out.append(np.stack([I_ST, I_TY], axis=1))
        logp = np.log(np.clip(p, 1e-300, None))
    return np.concatenate(out)


def contiguous_partitions(ps: np.ndarray, pys: np.ndarray, max_cells: int = 4) -> np.ndarray:
    """(I(S;T), I(T;Y)) of every deterministic partition of S, sorted by p(y=1|s), into <= max_cells contiguous
    groups (the best deterministic quantisers of a binary Y are contiguous in the posterior)."""
    from itertools import combinations

    order = np.argsort(pys[:, 1], kind="stable")
    S = len(ps)
    pts = []
    for k in range(max_cells):
        for cuts in combinations(range(1, S), k):
            lab = np.zeros(S, dtype=int)
            for c in cuts:
                lab[order[c:]] += 1
            pts.append(np.eye(max_cells)[lab])
    I_ST, I_TY = _ib_point(ps, pys, np.array(pts))
    return np.stack([I_ST, I_TY], axis=1)


def upper_concave_envelope(points: np.ndarray) -> np.ndarray:
    """Vertices (sorted by x) of the upper concave hull of 2-D points (monotone chain)."""
    P = points[np.lexsort((-points[:, 1], points[:, 0]))]
    hull: list[np.ndarray] = []
    for q in P:
        if hull and q[0] == hull[-1][0]:
            continue  # same x, lower y (sorted by -y within x)
        while len(hull) >= 2:
            a, b_ = hull[-2], hull[-1]
            if (b_[0] - a[0]) * (q[1] - a[1]) - (b_[1] - a[1]) * (q[0] - a[0]) >= 0:
                hull.pop()  # b_ lies on or below the chord a-q
            else:
                break
        hull.append(q)
    return np.array(hull)


@dataclass(frozen=True)
class IBCurve:
    vertices: np.ndarray  # hull vertices (R, I) from (0, 0) to (H(S), I(X;Y))
    H_S: float
    I_XY: float

    def __call__(self, R: np.ndarray | float) -> np.ndarray:
        """F(R): the envelope, flat at I(X;Y) beyond H(S)."""
        return np.interp(R, self.vertices[:, 0], self.vertices[:, 1], right=self.I_XY)


def ib_curve(ps: np.ndarray, pys: np.ndarray, betas: np.ndarray, restarts: int, rng: np.random.Generator,
             n_t: int = 21) -> IBCurve:
    pts = [iterative_ib(ps, pys, betas, n_t, restarts, rng), contiguous_partitions(ps, pys)]
    H_S = entropy(ps)
    py = ps @ pys
    I_XY = float(entropy(py) - (ps * np.array([entropy(r) for r in pys])).sum())
    anchors = np.array([[0.0, 0.0], [H_S, I_XY]])
    allp = np.clip(np.concatenate([*pts, anchors]), 0.0, None)  # mutual informations are >= 0 (round-off)
    allp = np.unique(np.round(allp, 13), axis=0)
    allp = allp[allp[:, 0] <= H_S + 1e-12]
    return IBCurve(upper_concave_envelope(allp), H_S, I_XY)
