"""Paper 13 algorithms: data laws, the OU forward process, the potential network u_theta(t, x), the
Fokker-Planck residual, joint DSM + FP training, the reverse-SDE / probability-flow-ODE samplers and the
grid-histogram W2 of the authors' measurement. Notation of spec 13: d = 2, dx = -x dt + dW, s = grad_x u."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

D = 2
T_END = 10.0
EPS = 1e-5
BLOB_SCALE = 0.65
BLOB_VAR = 0.2
BLOB_CENTRES = np.array([(2, -2), (-2, 2), (2, 2), (-2, -2), (0, 0), (4, 0), (-4, 0), (0, 4), (0, -4)], dtype=float)
CHECKER_SHIFTS = np.array([(0, 0), (0.5, 0), (0.25, 0.25), (0.75, 0.25), (0, 0.5), (0.5, 0.5), (0.25, 0.75),
                           (0.75, 0.75)])
BOXES = {"blob": 5.5, "checker": 3.5, "circles2": 3.5}


# -- data laws (spec: data_dists.py) ---------------------------------------------------------------------
def sample_data(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if name == "blob":  # 9 Gaussians, covariance 0.2 I, then everything x 0.65
        j = rng.integers(0, 9, n)
        return BLOB_SCALE * (BLOB_CENTRES[j] + np.sqrt(BLOB_VAR) * rng.standard_normal((n, D)))
    if name == "checker":  # uniform on 8 squares of side 0.25, then x 6
        j = rng.integers(0, 8, n)
        return 6.0 * (-0.5 + CHECKER_SHIFTS[j] + 0.25 * rng.random((n, D)))
    if name == "circles2":  # a shared angle for an (inner, outer) pair, radii N(0.65, .1^2), N(1.4, .1^2), x 2
        m = (n + 1) // 2
        th = rng.uniform(0, 2 * np.pi, m)
        r = np.concatenate([rng.normal(0.65, 0.1, m), rng.normal(1.4, 0.1, m)])
        th = np.concatenate([th, th])
        return (2.0 * r[:, None] * np.stack([np.cos(th), np.sin(th)], axis=1))[:n]
    raise ValueError(f"unknown dataset {name!r}")


def ou_kernel(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x_t | x_0 ~ N(x_0 e^{-t}, var_t I), var_t = (1 - e^{-2t}) / 2."""
    return np.exp(-t), 0.5 * (1 - np.exp(-2 * t))


# -- exact-score control: blob perturbed by the OU process (float64, log-sum-exp) ----------------------------
def blob_moments(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Component means m_j(t) = 0.65 mu_j e^{-t}, common variance sig2(t) = 0.2*0.65^2 e^{-2t} + (1-e^{-2t})/2
    and their time derivatives (m' = -m, sig2' = -2*0.2*0.65^2 e^{-2t} + e^{-2t})."""
    e2 = np.exp(-2 * t)
    m = BLOB_SCALE * BLOB_CENTRES[None] * np.exp(-t)[:, None, None]  # (n, 9, 2)
    sig2 = BLOB_VAR * BLOB_SCALE**2 * e2 + 0.5 * (1 - e2)
    dsig2 = -2 * BLOB_VAR * BLOB_SCALE**2 * e2 + e2
    return m, -m, sig2, dsig2


def blob_log_density(t: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    """u = log p_t(x) of the perturbed blob law with its analytic derivatives u_t, grad u and lap u.

    With l_j the component log-densities and w_j = softmax(l): grad u = sum w_j grad l_j,
    lap u = sum w_j (lap l_j + |grad l_j|^2) - |grad u|^2 and u_t = sum w_j d_t l_j."""
    t = np.broadcast_to(np.asarray(t, dtype=float), x.shape[:1])
    m, dm, sig2, dsig2 = blob_moments(t)
    r = x[:, None, :] - m  # (n, 9, 2)
    r2 = (r**2).sum(-1)
    s2 = sig2[:, None]
    ll = -r2 / (2 * s2) - 0.5 * D * np.log(2 * np.pi * s2) - np.log(9.0)
    lmax = ll.max(axis=1, keepdims=True)
    w = np.exp(ll - lmax)
    Z = w.sum(axis=1, keepdims=True)
    u = (lmax + np.log(Z))[:, 0]
    w = w / Z
    g = -r / s2[..., None]  # grad l_j
    grad = (w[..., None] * g).sum(axis=1)
    lap = (w * (-D / s2 + (g**2).sum(-1))).sum(axis=1) - (grad**2).sum(-1)
    dl = (r * dm).sum(-1) / s2 + r2 * dsig2[:, None] / (2 * s2**2) - 0.5 * D * dsig2[:, None] / s2
    return {"u": u, "u_t": (w * dl).sum(axis=1), "grad": grad, "lap": lap}


def blob_score(x: np.ndarray, t: float) -> np.ndarray:
    """grad log p_t(x) alone (the sampler's hot path): responsibilities by a stable softmax."""
    e2 = np.exp(-2 * t)
    m = BLOB_SCALE * BLOB_CENTRES * np.exp(-t)
    sig2 = BLOB_VAR * BLOB_SCALE**2 * e2 + 0.5 * (1 - e2)
    r = x[:, None, :] - m[None]
    ll = -(r**2).sum(-1) / (2 * sig2)
    w = np.exp(ll - ll.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return -(w[..., None] * r).sum(axis=1) / sig2


def fp_residual_from_derivs(x: np.ndarray, u_t: np.ndarray, grad: np.ndarray, lap: np.ndarray) -> np.ndarray:
    """R = u_t - [d + x.grad u + |grad u|^2 / 2 + lap u / 2] (log form of p_t = div(x p) + lap p / 2)."""
    return u_t - (D + (x * grad).sum(-1) + 0.5 * (grad**2).sum(-1) + 0.5 * lap)


# -- torch: the potential network, its residual, training -------------------------------------------------
def make_net(width: int = 80, depth: int = 3, dtype=None):  # noqa: ANN001, ANN201
    """MLP (t, x1, x2) -> width x depth -> 1 with Softplus(beta=100) (spec: models.py)."""
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    n_in = 1 + D
    for _ in range(depth):
        layers += [nn.Linear(n_in, width), nn.Softplus(beta=100)]
        n_in = width
    layers.append(nn.Linear(n_in, 1))
    net = nn.Sequential(*layers)
    return net.to(dtype or torch.get_default_dtype())


def torch_blob_u(t, x):  # noqa: ANN001, ANN201
    """The exact blob log-density as a torch function (log-sum-exp), for the autograd residual."""
    import math

    import torch

    mu = torch.as_tensor(BLOB_SCALE * BLOB_CENTRES, dtype=x.dtype)
    e1, e2 = torch.exp(-t), torch.exp(-2 * t)
    s2 = BLOB_VAR * BLOB_SCALE**2 * e2 + 0.5 * (1 - e2)  # (n, 1)
    r2 = ((x[:, None, :] - mu[None] * e1[:, :, None]) ** 2).sum(-1)  # (n, 9)
    ll = -r2 / (2 * s2) - 0.5 * D * torch.log(2 * math.pi * s2) - math.log(9.0)
    return torch.logsumexp(ll, dim=1, keepdim=True)


def torch_residual(u_fn: Callable, t, x, create_graph: bool = False):  # noqa: ANN001, ANN201
    """R_theta(t, x) by autograd: u_t, grad u and the two second derivatives for lap u."""
    import torch

    t = t.detach().requires_grad_(True)
    x = x.detach().requires_grad_(True)
    u = u_fn(t, x)
    u_t, grad = torch.autograd.grad(u.sum(), (t, x), create_graph=True)
    lap = sum(torch.autograd.grad(grad[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(D))
    R = u_t[:, 0] - (D + (x * grad).sum(-1) + 0.5 * (grad**2).sum(-1) + 0.5 * lap)
    return R if create_graph else R.detach()


def net_u(net):  # noqa: ANN001, ANN201
    import torch

    return lambda t, x: net(torch.cat([t, x], dim=1))


def net_score(net, x: np.ndarray, t: float) -> np.ndarray:  # noqa: ANN001
    """s_theta = grad_x u_theta(t, x) (conservative by construction)."""
    import torch

    xt = torch.as_tensor(x, dtype=torch.float32).requires_grad_(True)
    tt = torch.full((len(x), 1), float(t), dtype=torch.float32)
    u = net(torch.cat([tt, xt], dim=1))
    (g,) = torch.autograd.grad(u.sum(), xt)
    return g.numpy().astype(float)


def collocation(n: int, box: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform (t, x) on [eps, T] x [-box, box]^2."""
    return rng.uniform(EPS, T_END, n), rng.uniform(-box, box, (n, D))


def boundary_points(n_b: int, box: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n_b points on each of the 4 spatial boundaries of the box, t uniform on [eps, T]."""
    s = rng.uniform(-box, box, (4, n_b))
    x = np.concatenate([np.stack([np.full(n_b, -box), s[0]], 1), np.stack([np.full(n_b, box), s[1]], 1),
                        np.stack([s[2], np.full(n_b, -box)], 1), np.stack([s[3], np.full(n_b, box)], 1)])
    return rng.uniform(EPS, T_END, 4 * n_b), x


def train(net, dataset: str, w_R: float, iters: int, batch: int, n_x: int, n_b: int, lr: float,  # noqa: ANN001
          rng: np.random.Generator, w_b: float = 1.0, tick: Callable[[], None] | None = None) -> None:
    """Joint training, loss = L_DSM + w_R L_FP (spec 13 'Training'), Adam."""
    import torch

    box = BOXES[dataset]
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    u_fn = net_u(net)
    f32 = torch.float32
    for _ in range(iters):
        # L_DSM: t = T Beta(1, 2) + eps, x_t from the kernel, target = grad log q(x_t | x_0) = -z / sqrt(var_t)
        x0 = sample_data(dataset, batch, rng)
        t = T_END * rng.beta(1, 2, batch) + EPS
        a, var = ou_kernel(t)
        z = rng.standard_normal((batch, D))
        xt = torch.as_tensor(a[:, None] * x0 + np.sqrt(var)[:, None] * z, dtype=f32).requires_grad_(True)
        tt = torch.as_tensor(t[:, None], dtype=f32)
        u = u_fn(tt, xt)
        (s,) = torch.autograd.grad(u.sum(), xt, create_graph=True)
        target = torch.as_tensor(-z / np.sqrt(var)[:, None], dtype=f32)
        loss = ((s - target) ** 2).sum(-1).mean()
        if w_R > 0:
            tc, xc = collocation(n_x, box, rng)
            R = torch_residual(u_fn, torch.as_tensor(tc[:, None], dtype=f32), torch.as_tensor(xc, dtype=f32),
                               create_graph=True)
            tb, xb = boundary_points(n_b, box, rng)
            ub = u_fn(torch.as_tensor(tb[:, None], dtype=f32), torch.as_tensor(xb, dtype=f32))
            loss = loss + w_R * ((R**2).mean() + w_b * (torch.exp(ub) ** 2).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if tick is not None:
            tick()


def residual_stats(u_fn: Callable, t: np.ndarray, x: np.ndarray, dtype, n_bins: int = 10,  # noqa: ANN001
                   chunk: int = 5000) -> tuple[float, float, np.ndarray]:
    """||R|| = sqrt(mean R^2), max |R| and the RMS residual in n_bins equal time bins of [eps, T]."""
    import torch

    R = np.concatenate([
        torch_residual(u_fn, torch.as_tensor(t[i:i + chunk, None], dtype=dtype),
                       torch.as_tensor(x[i:i + chunk], dtype=dtype)).numpy().astype(float)
        for i in range(0, len(t), chunk)])
    b = np.minimum(((t - EPS) / (T_END - EPS) * n_bins).astype(int), n_bins - 1)
    per_bin = np.sqrt(np.bincount(b, R**2, n_bins) / np.maximum(np.bincount(b, minlength=n_bins), 1))
    return float(np.sqrt((R**2).mean())), float(np.abs(R).max()), per_bin


# -- samplers (spec: simulate_rsde / simulate_rode) ----------------------------------------------------------
def time_steps(nfe: int, T: float = T_END) -> np.ndarray:
    """nfe - 10 steps of T/nfe, then 100 steps of T/(10 nfe) (finer near t = 0); they add up to T."""
    return np.concatenate([np.full(nfe - 10, T / nfe), np.full(100, T / (10 * nfe))])


def sample(score: Callable[[np.ndarray, float], np.ndarray], n: int, nfe: int, rng: np.random.Generator,
           sde: bool, ode_factor: float = 0.5, tick: Callable[[float], None] | None = None) -> np.ndarray:
    """Integrate backward from x_T ~ N(0, I/2). SDE: x += (x + s) h + sqrt(h) z (last step noise-free);
    probability-flow ODE: x += (x + s/2) h (ode_factor = 1/2)."""
    x = np.sqrt(0.5) * rng.standard_normal((n, D))
    hs = time_steps(nfe)
    t = T_END
    for k, h in enumerate(hs):
        s = score(x, t)
        if sde:
            x = x + (x + s) * h
            if k < len(hs) - 1:
                x = x + np.sqrt(h) * rng.standard_normal((n, D))
        else:
            x = x + (x + ode_factor * s) * h
        t = t - h
        if tick is not None:
            tick(1)
    return x


# -- measurement: W2 between grid histograms (authors: nearest node on a G x G grid over [-4, 4]^2, ot.emd2) --
def grid_histogram(x: np.ndarray, G: int, L: float = 4.0) -> np.ndarray:
    """Nearest-node histogram of the samples with |x1|, |x2| < L (the authors' filter). When no sample is
    inside (an untrained score lets the reverse dynamics blow up like e^T), the samples are clipped to the
    box instead, so the distance stays defined; `kept_fraction` reports how often that filter bites."""
    keep = (np.abs(x) < L).all(axis=1)
    x = x[keep] if keep.any() else np.clip(x, -L, L)
    i = np.rint((x + L) / (2 * L) * (G - 1)).astype(int)
    h = np.bincount(i[:, 0] * G + i[:, 1], minlength=G * G).astype(float)
    return h / h.sum()


def kept_fraction(x: np.ndarray, L: float = 4.0) -> float:
    return float((np.abs(x) < L).all(axis=1).mean())


def grid_nodes(G: int, L: float = 4.0) -> np.ndarray:
    g = np.linspace(-L, L, G)
    X, Y = np.meshgrid(g, g, indexing="ij")
    return np.stack([X.ravel(), Y.ravel()], axis=1)


def emd2(a: np.ndarray, b: np.ndarray, Pa: np.ndarray, Pb: np.ndarray) -> float:
    """Exact discrete OT cost with squared Euclidean ground cost (the transport LP, HiGHS; POT's emd2 is not
    installed). Only atoms with mass enter the LP."""
    from scipy import sparse
    from scipy.optimize import linprog

    ia, ib = np.flatnonzero(a), np.flatnonzero(b)
    M = ((Pa[ia][:, None, :] - Pb[ib][None, :, :]) ** 2).sum(-1)
    n, m = len(ia), len(ib)
    A = sparse.vstack([sparse.kron(sparse.eye(n), np.ones((1, m))), sparse.kron(np.ones((1, n)), sparse.eye(m))])
    bb = np.concatenate([a[ia], b[ib]])
    bb[n:] *= a[ia].sum() / b[ib].sum()  # exact equal masses despite rounding
    res = linprog(M.ravel(), A_eq=A.tocsr(), b_eq=bb, bounds=(0, None), method="highs-ds",
                  options={"presolve": False})
    if res.status != 0:
        raise RuntimeError(f"transport LP failed: {res.message}")
    return float(max(res.fun, 0.0))


def w2sq(x: np.ndarray, y: np.ndarray, G: int) -> float:
    P = grid_nodes(G)
    return emd2(grid_histogram(x, G), grid_histogram(y, G), P, P)
