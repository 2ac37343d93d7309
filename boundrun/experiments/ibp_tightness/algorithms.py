"""Propagation tightness (paper 28, "Understanding Certified Training with Interval Bound Propagation").

tau = r_opt / r_IBP per output coordinate: r_opt is the radius of the tightest box around the exact image of
the input box (for a linear map A: |A| eps), r_IBP the radius interval bound propagation returns
(|W_L| ... |W_1| eps). ReLU nets use the *local* linearisation: every ReLU replaced by its 0/1 activation
pattern D_l at the clean input (the authors' relu_adjust="local"). With the specification matrix C (rows
e_y - e_k, k != y: "elision") the last layer is C W_L, merged before taking absolute values, as IBP does.
Numerators are computed from the product matrix, not from sign arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# -- the tightness routines --------------------------------------------------------------------------------


def elision_rows(y: np.ndarray, n_classes: int) -> np.ndarray:
    """C for every input: (B, K-1, K) with rows e_y - e_k, k != y."""
    B = len(y)
    C = np.zeros((B, n_classes - 1, n_classes))
    others = np.array([[k for k in range(n_classes) if k != yi] for yi in y])  # (B, K-1)
    C[np.arange(B)[:, None], np.arange(n_classes - 1)[None, :], y[:, None]] = 1.0
    C[np.arange(B)[:, None], np.arange(n_classes - 1)[None, :], others] = -1.0
    return C


def tightness_dln(Ws: Sequence[np.ndarray], C: np.ndarray | None = None) -> np.ndarray:
    """Deep linear net f(x) = W_L ... W_1 x: tau_i = (|W_L...W_1| 1)_i / (|W_L|...|W_1| 1)_i.

    Ws = [W_1, ..., W_L] (W_l has shape n_l x n_{l-1}). C: None (C = I, one row per output) or (B, R, n_L)
    per-input specification rows, merged into the last layer. Returns (R,) or (B, R) tightness values."""
    P = Ws[0]
    for W in Ws[1:]:
        P = W @ P  # the exact product W_L ... W_1
    v = np.abs(Ws[0]).sum(axis=1)  # |W_1| 1
    for W in Ws[1:-1]:
        v = np.abs(W) @ v  # |W_{L-1}| ... |W_1| 1
    if C is None:
        return np.abs(P).sum(axis=1) / (np.abs(Ws[-1]) @ v)
    num = np.abs(C @ P).sum(axis=2)  # |C W_L ... W_1| 1
    den = np.abs(C @ Ws[-1]) @ v  # |C W_L| |W_{L-1}| ... |W_1| 1
    return num / den


def activation_patterns(Ws: Sequence[np.ndarray], X: np.ndarray, bs: Sequence[np.ndarray] | None = None
                        ) -> list[np.ndarray]:
    """The 0/1 ReLU patterns D_1..D_{L-1} at the clean inputs X (B, d_0): list of (B, n_l) float arrays."""
    D, h = [], X
    for i, W in enumerate(Ws[:-1]):
        z = h @ W.T + (bs[i] if bs is not None else 0.0)
        D.append((z > 0).astype(float))
        h = np.maximum(z, 0.0)
    return D


def tightness_relu_local(Ws: Sequence[np.ndarray], D: Sequence[np.ndarray], C: np.ndarray | None = None,
                         eps: np.ndarray | None = None, dtype: type = np.float64) -> np.ndarray:
    """Local tightness of a ReLU net: |C W_L D_{L-1} ... D_1 W_1| eps / (|C W_L| D_{L-1} ... D_1 |W_1| eps).

    The numerator is propagated backwards from the output rows: the (B * R) x n_l row matrices pass through
    each layer as one GEMM (the budget note of spec 28 A), the patterns are row-wise masks; the denominator
    is a matrix-vector chain and runs forwards. dtype: of the numerator's GEMMs (float32 halves part A's cost;
    the cancellation happens layer by layer, each a sum of n terms, so float32 keeps ~1e-5 relative accuracy
    even where tau ~ 1e-7, which a test checks against float64). eps: None (uniform) or (B, d_0)
    per-coordinate effective radii (input clipping). Returns (B, R). Where the IBP radius is 0 (a whole hidden
    layer inactive, the output constant on the box) both radii vanish and tau = 1, the authors' convention
    (their ratio clamps numerator and denominator at 1e-8)."""
    B = D[0].shape[0] if D else (C.shape[0] if C is not None else 1)
    WL = Ws[-1]
    A = np.broadcast_to(WL, (B, *WL.shape)) if C is None else C @ WL  # (B, R, n_{L-1}): C W_L
    R = A.shape[1]
    e = np.ones((B, Ws[0].shape[1])) if eps is None else eps
    # r_opt: the exact local map |C W_L D_{L-1} ... D_1 W_1| needs the whole row matrix, propagated backwards
    num = A.reshape(B * R, -1).astype(dtype)
    for ell in range(len(Ws) - 2, -1, -1):  # hidden layer ell+1 has pattern D[ell], then weights Ws[ell]
        num = (num * np.repeat(D[ell].astype(dtype), R, axis=0)) @ Ws[ell].astype(dtype)
    r_opt = np.einsum("brd,bd->br", np.abs(num).reshape(B, R, -1).astype(np.float64), e)
    # r_IBP: |C W_L| D_{L-1} |W_{L-1}| ... D_1 |W_1| eps is a product with a vector: propagate it forwards
    u = e
    for ell in range(len(Ws) - 1):
        u = (u @ np.abs(Ws[ell]).T) * D[ell]
    r_ibp = np.einsum("brn,bn->br", np.abs(A), u)
    tau = np.ones((B, R))
    np.divide(r_opt, r_ibp, out=tau, where=r_ibp > 0)
    return tau


def kaiming_normal(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))


# -- B: exactness (T1) ---------------------------------------------------------------------------------------

CONSTRUCTIONS = ("nonneg", "rank1", "fullrank")


def sign_consistent_net(rng: np.random.Generator, kind: str, d0: int = 20, n: int = 30, dL: int = 10
                        ) -> tuple[np.ndarray, np.ndarray]:
    """A 2-layer DLN (W1: n x d0, W2: dL x n) satisfying the T1 sign condition.

    nonneg: W1, W2 >= 0. rank1: W2_ik = a_i |b_k|, W1_kj = |c_k| e_j. fullrank: sign(W2_ik) = sign(a_i),
    sign(W1_kj) = sign(e_j) with |N(0,1)| magnitudes. In the last two every product W2_ik W1_kj has the sign
    of a_i e_j whatever k is."""
    if kind == "nonneg":
        return np.abs(rng.normal(size=(n, d0))), np.abs(rng.normal(size=(dL, n)))
    a, e = rng.choice([-1.0, 1.0], size=dL), rng.choice([-1.0, 1.0], size=d0)
    if kind == "rank1":
        a = a * np.abs(rng.normal(size=dL))
        e = e * np.abs(rng.normal(size=d0))
        b, c = rng.normal(size=n), rng.normal(size=n)
        return np.abs(c)[:, None] * e[None, :], a[:, None] * np.abs(b)[None, :]
    if kind == "fullrank":
        return (np.abs(rng.normal(size=(n, d0))) * e[None, :], np.abs(rng.normal(size=(dL, n))) * a[:, None])
    raise ValueError(f"unknown construction {kind!r}")


def flip_signs(rng: np.random.Generator, W: np.ndarray, q: float) -> np.ndarray:
    """Flip the sign of round(q * size) distinct random entries of W (at least one when q > 0)."""
    m = int(round(q * W.size))
    m = max(m, 1) if q > 0 else 0
    idx = rng.choice(W.size, size=m, replace=False)
    out = W.copy().ravel()
    out[idx] = -out[idx]
    return out.reshape(W.shape)


# -- C: the embedding experiment ----------------------------------------------------------------------------


def embedding_data(rng: np.random.Generator, N: int, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """X = E V^T with E ~ N(0, I_k) (N x k) and V (d x k) with orthonormal columns (SVD of a Gaussian)."""
    U, _, _ = np.linalg.svd(rng.normal(size=(d, k)), full_matrices=False)
    return rng.normal(size=(N, k)) @ U.T, U


def train_embedding(X: np.ndarray, w: int, eps_train: float, epochs: int, relu: bool, seed: int,
                    lr: float = 1e-2, ramp: float = 0.4) -> tuple[np.ndarray, ...]:
    """d -> w -> d net, default PyTorch Linear init: bias-free DLN, or with a ReLU hidden layer (biased, as
    in the authors' embedding script), trained full-batch with Adam on the IBP reconstruction loss
    mean_x || max(|lb - x|, |ub - x|) ||_2 with eps ramped linearly 0 -> eps_train over the first `ramp`
    fraction of epochs (eps_train = 0: standard training). Returns (W1, W2, b1, b2) (zero biases for DLN)."""
    import torch

    torch.manual_seed(seed)
    d = X.shape[1]
    l1, l2 = torch.nn.Linear(d, w, bias=relu), torch.nn.Linear(w, d, bias=relu)  # float32: trained only
    opt = torch.optim.Adam([*l1.parameters(), *l2.parameters()], lr=lr)
    x = torch.as_tensor(X, dtype=torch.float32)
    n_ramp = max(int(ramp * epochs), 1)
    zero = (torch.zeros(w, dtype=x.dtype), torch.zeros(d, dtype=x.dtype))
    for t in range(epochs):
        eps = eps_train * min((t + 1) / n_ramp, 1.0)
        b1, b2 = (l1.bias, l2.bias) if relu else zero
        loss = ibp_recon_loss_torch(l1.weight, l2.weight, x, eps, relu, p=2, b1=b1, b2=b2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    def out(t):  # noqa: ANN001, ANN202  (measured in float64 by the numpy routines)
        return t.detach().numpy().astype(np.float64)

    b1, b2 = (out(l1.bias), out(l2.bias)) if relu else (np.zeros(w), np.zeros(d))
    return out(l1.weight), out(l2.weight), b1, b2


def ibp_recon_loss_torch(W1, W2, x, eps: float, relu: bool, p: int, b1=0.0, b2=0.0):  # noqa: ANN001, ANN201
    """mean over samples of the L_p norm of max(|lb - x|, |ub - x|) for the box x +- eps."""
    import torch

    c, r = x @ W1.T + b1, eps * W1.abs().sum(dim=1)
    if relu:
        lo, hi = torch.relu(c - r), torch.relu(c + r)
        c, r = (hi + lo) / 2, (hi - lo) / 2
    c, r = c @ W2.T + b2, r @ W2.abs().T
    worst = (c - x).abs() + r  # = max(|lb - x|, |ub - x|)
    return worst.norm(p=p, dim=1).mean()


def ibp_recon_loss(W1: np.ndarray, W2: np.ndarray, X: np.ndarray, eps: float, relu: bool, p: int,
                   b1: np.ndarray | float = 0.0, b2: np.ndarray | float = 0.0) -> float:
    """numpy twin of ibp_recon_loss_torch (for the measurements)."""
    c, r = X @ W1.T + b1, eps * np.abs(W1).sum(axis=1)
    if relu:
        lo, hi = np.maximum(c - r, 0), np.maximum(c + r, 0)
        c, r = (hi + lo) / 2, (hi - lo) / 2
    worst = np.abs(c @ W2.T + b2 - X) + r @ np.abs(W2).T
    return float(np.linalg.norm(worst, ord=p, axis=1).mean())


def embedding_radii(W1: np.ndarray, W2: np.ndarray, X: np.ndarray | None, b1: np.ndarray | float = 0.0
                    ) -> tuple[float, float, float]:
    """(tau, r_opt/eps, r_IBP/eps) averaged over output coordinates (C = I), and over inputs for ReLU
    (X given: local activation pattern at each input)."""
    if X is None:
        P = W2 @ W1
        ro, ri = np.abs(P).sum(axis=1), np.abs(W2) @ np.abs(W1).sum(axis=1)
    else:
        D = (X @ W1.T + b1 > 0).astype(float)  # (B, w)
        ro = np.abs((W2[None] * D[:, None, :]) @ W1).sum(axis=2)  # (B, d)
        ri = (np.abs(W2)[None] * D[:, None, :]) @ np.abs(W1).sum(axis=1)
    tau = np.ones_like(ri)  # both radii 0 (all hidden units dead): tau = 1 by the authors' convention
    np.divide(ro, ri, out=tau, where=ri > 0)
    return float(tau.mean()), float(ro.mean()), float(ri.mean())


# -- D: certified training on 8x8 digits --------------------------------------------------------------------

def _mlp(n: int):  # noqa: ANN202
    import torch

    return torch.nn.Sequential(torch.nn.Linear(64, n), torch.nn.ReLU(), torch.nn.Linear(n, n), torch.nn.ReLU(),
                               torch.nn.Linear(n, 10))


def ibp_margins(net, x, y, eps: float):  # noqa: ANN001, ANN201
    """IBP lower bounds of the logit differences z_y - z_k (k != y), last layer merged with C (elision);
    the input box is clipped to [0, 1]. Returns (B, 9)."""
    import torch

    lo, hi = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
    c, r = (hi + lo) / 2, (hi - lo) / 2
    layers = list(net)
    for layer in layers[:-1]:
        if isinstance(layer, torch.nn.Linear):
            c, r = layer(c), r @ layer.weight.abs().T
        else:
            lo, hi = torch.relu(c - r), torch.relu(c + r)
            c, r = (hi + lo) / 2, (hi - lo) / 2
    last = layers[-1]
    K = last.weight.shape[0]
    others = torch.stack([torch.cat([torch.arange(0, int(t)), torch.arange(int(t) + 1, K)]) for t in y])
    Wd = last.weight[y][:, None, :] - last.weight[others]  # (B, 9, n): rows of C W_L
    bd = last.bias[y][:, None] - last.bias[others]
    return (Wd @ c[:, :, None])[..., 0] + bd - (Wd.abs() @ r[:, :, None])[..., 0]


def pgd_attack(net, x, y, eps: float, steps: int, step: float, gen):  # noqa: ANN001, ANN201
    """L_inf PGD on the cross-entropy with a uniform random start, projected to the box and to [0, 1]."""
    import torch

    F = torch.nn.functional
    delta = (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1) * eps
    xa = (x + delta).clamp(0.0, 1.0)
    for _ in range(steps):
        xa.requires_grad_(True)
        g, = torch.autograd.grad(F.cross_entropy(net(xa), y), xa)
        xa = torch.min(torch.max(xa.detach() + step * g.sign(), x - eps), x + eps).clamp(0.0, 1.0)
    return xa.detach()


def train_mlp(X: np.ndarray, y: np.ndarray, n: int, method: str, eps: float, epochs: int, seed: int,
              batch: int = 128, lr: float = 1e-3, ramp: tuple[int, int] = (5, 30), pgd_steps: int = 10):  # noqa: ANN201
    """Standard, PGD (10 steps of eps/4, random start) or IBP training (loss kappa CE_clean + (1 - kappa)
    CE_IBP, eps ramped linearly from 0 at epoch ramp[0] to eps at ramp[1], kappa = 1 - eps_t/eps).
    Trained in float32 (torch's default); evaluate_mlp re-evaluates in float64."""
    import torch

    F = torch.nn.functional
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    net = _mlp(n)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    N = len(Xt)
    steps_per_epoch = (N + batch - 1) // batch
    e0, e1 = ramp
    for ep in range(epochs):
        perm = torch.randperm(N, generator=gen)
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            xb, yb = Xt[idx], yt[idx]
            if method == "standard":
                loss = F.cross_entropy(net(xb), yb)
            elif method == "pgd":
                xa = pgd_attack(net, xb, yb, eps, pgd_steps, eps / 4, gen)
                loss = F.cross_entropy(net(xa), yb)
            elif method == "ibp":
                t = ep + b / steps_per_epoch  # fractional epoch: the ramp is linear per step
                eps_t = eps * float(np.clip((t - e0) / (e1 - e0), 0.0, 1.0))
                kappa = 1.0 - eps_t / eps
                clean = F.cross_entropy(net(xb), yb)
                if eps_t > 0:
                    m = ibp_margins(net, xb, yb, eps_t)
                    worst = torch.cat([torch.zeros(len(xb), 1, dtype=m.dtype), -m], dim=1)
                    robust = F.cross_entropy(worst, torch.zeros(len(xb), dtype=torch.long))
                    loss = kappa * clean + (1 - kappa) * robust
                else:
                    loss = clean
            else:
                raise ValueError(f"unknown trainer {method!r}")
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def evaluate_mlp(net, X: np.ndarray, y: np.ndarray, eps: float, seed: int, pgd_steps: int = 20
                 ) -> dict[str, float]:  # noqa: ANN001
    """Test-split clean accuracy, IBP-certified accuracy, PGD-20 accuracy and local tightness at eps."""
    import torch

    net = net.double()
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        clean = (net(Xt).argmax(1) == yt).double().mean().item()
        cert = (ibp_margins(net, Xt, yt, eps) > 0).all(dim=1).double().mean().item()
    xa = pgd_attack(net, Xt, yt, eps, pgd_steps, eps / 4, gen)
    with torch.no_grad():
        robust = (net(xa).argmax(1) == yt).double().mean().item()
    Ws = [m.weight.detach().numpy() for m in net if isinstance(m, torch.nn.Linear)]
    bs = [m.bias.detach().numpy() for m in net if isinstance(m, torch.nn.Linear)]
    D = activation_patterns(Ws, X, bs)
    eps_eff = (np.minimum(X + eps, 1.0) - np.maximum(X - eps, 0.0)) / 2  # input clipping (authors' code)
    tau = tightness_relu_local(Ws, D, elision_rows(y, 10), eps_eff)
    return {"clean_acc": clean, "cert_acc": cert, "pgd_acc": robust, "tau": float(np.nanmean(tau))}
