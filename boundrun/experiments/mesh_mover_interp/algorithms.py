"""Paper 42 algorithms: the 2-D Burgers generator, the monitor, and the four meshes (uniform, DMM, OT reference,
de Boor), written next to spec 42 (monitor and MA loss from the authors' code `Peiyannn/MM-PDE`, `mesh/dmm*.py`).

Geometry: fields are periodic samples at x_i = i/M on the unit square (array index [i, j] <-> (x_i, y_j));
meshes are (n, n, 2) node arrays X[a, b] = x(xi_a, eta_b), xi_a = a/(n-1), nodes on the boundary of [0, 1]^2.
"""

from __future__ import annotations

import numpy as np

from boundrun.experiments.mesh_mover_interp.bounds import proxy_bounds

# -- data: 2-D viscous Burgers u_t + u (u_x + u_y) = nu Lap u, periodic, pseudo-spectral + RK4 ------------------

def initial_condition(rng: np.random.Generator, B: int, M: int, n_bumps: int = 4) -> np.ndarray:
    """B fields of sum of 4 periodic Gaussian bumps a exp(-|x-c|^2/(2w^2)), a = +-U(.5, 1), c ~ U(.2, .8)^2,
    w ~ U(.05, .12), |x - c| the minimum-image distance (spec 42)."""
    x = np.arange(M) / M
    a = rng.uniform(0.5, 1.0, (B, n_bumps)) * rng.choice([-1.0, 1.0], (B, n_bumps))
    c = rng.uniform(0.2, 0.8, (B, n_bumps, 2))
    w = rng.uniform(0.05, 0.12, (B, n_bumps))
    u = np.zeros((B, M, M))
    for k in range(n_bumps):
        dx = x[None, :] - c[:, k, 0:1]
        dy = x[None, :] - c[:, k, 1:2]
        dx -= np.round(dx)  # minimum image
        dy -= np.round(dy)
        r2 = dx[:, :, None] ** 2 + dy[:, None, :] ** 2
        u += a[:, k, None, None] * np.exp(-r2 / (2 * w[:, k, None, None] ** 2))
    return u


def burgers(u0: np.ndarray, nu: float, dt: float, T: float, n_snap: int, workers: int = 1) -> np.ndarray:
    """Integrate a batch (B, M, M) to t = T; returns (B, n_snap, M, M) snapshots at t = k T/(n_snap-1).
    Nonlinear term u (u_x + u_y) = (d_x + d_y)(u^2/2), 2/3-rule de-aliasing, classical RK4."""
    from scipy import fft

    B, M, _ = u0.shape
    k = np.fft.fftfreq(M, 1.0 / M) * 2 * np.pi
    kr = np.fft.rfftfreq(M, 1.0 / M) * 2 * np.pi
    KX, KY = k[:, None], kr[None, :]
    lap = -(KX**2 + KY**2)
    kmax = 2 * np.pi * (M // 2)
    dealias = (np.abs(KX) < 2 / 3 * kmax) & (np.abs(KY) < 2 / 3 * kmax)
    ik = 1j * (KX + KY)

    def rhs(uh: np.ndarray) -> np.ndarray:
        u = fft.irfft2(uh, s=(M, M), workers=workers)
        return -0.5 * ik * dealias * fft.rfft2(u * u, workers=workers) + nu * lap * uh

    # the step is shortened (never lengthened) so that the snapshots t = k T/(n_snap-1) fall on steps
    every = int(np.ceil(T / (n_snap - 1) / dt - 1e-9))
    n_steps = every * (n_snap - 1)
    dt = T / n_steps
    uh = fft.rfft2(u0, workers=workers) * dealias
    out = np.empty((B, n_snap, M, M))
    out[:, 0] = fft.irfft2(uh, s=(M, M), workers=workers)
    for s in range(1, n_steps + 1):
        k1 = rhs(uh)
        k2 = rhs(uh + 0.5 * dt * k1)
        k3 = rhs(uh + 0.5 * dt * k2)
        k4 = rhs(uh + dt * k3)
        uh = uh + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if s % every == 0:
            out[:, s // every] = fft.irfft2(uh, s=(M, M), workers=workers)
    return out


# -- monitor M = (1 + |grad u| / alpha') I, rho = sqrt(det M) -----------------------------------------------------

def grad_periodic(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences on the periodic grid of the last two axes (spacing 1/M)."""
    M = u.shape[-1]
    ux = (np.roll(u, -1, -2) - np.roll(u, 1, -2)) * (M / 2)
    uy = (np.roll(u, -1, -1) - np.roll(u, 1, -1)) * (M / 2)
    return ux, uy


def hessian_periodic(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ux, uy = grad_periodic(u)
    uxx, uxy = grad_periodic(ux)
    _, uyy = grad_periodic(uy)
    return uxx, uxy, uyy


def monitor_density(u: np.ndarray, alpha_frac: float = 0.01) -> np.ndarray:
    """rho = 1 + |grad u| / alpha', alpha' = 0.01 * mean |grad u| (authors' monitor, per field)."""
    ux, uy = grad_periodic(u)
    g = np.hypot(ux, uy)
    alpha = g.mean(axis=(-2, -1), keepdims=True)
    return 1.0 + g / (alpha_frac * alpha)


def sample_periodic(f: np.ndarray, pts: np.ndarray, order: int = 3) -> np.ndarray:
    """Periodic interpolation (bicubic by default) of one field f (M, M) at points pts (..., 2) in [0,1]^2."""
    from scipy.ndimage import map_coordinates

    M = f.shape[0]
    c = np.moveaxis(pts, -1, 0) * M
    return map_coordinates(f, c.reshape(2, -1), order=order, mode="grid-wrap").reshape(pts.shape[:-1])


# -- meshes ------------------------------------------------------------------------------------------------------

def computational_grid(n: int) -> np.ndarray:
    s = np.linspace(0.0, 1.0, n)
    return np.stack(np.meshgrid(s, s, indexing="ij"), axis=-1)


def uniform_mesh(n: int) -> np.ndarray:
    return computational_grid(n)


def snap_boundary(X: np.ndarray) -> np.ndarray:
    """Put boundary nodes back on the boundary (nodes slide along it: dpsi/dn = 0) and keep them in [0, 1]."""
    X = X.copy()
    X[0, :, 0], X[-1, :, 0], X[:, 0, 1], X[:, -1, 1] = 0.0, 1.0, 0.0, 1.0
    for e in (X[0], X[-1], X[:, 0], X[:, -1]):
        np.clip(e, 0.0, 1.0, out=e)
    return X


def de_boor_mesh(rho: np.ndarray, n: int) -> np.ndarray:
    """Tensor-product 1-D equidistribution: x-coordinates equidistribute int rho dy, y-coordinates int rho dx
    (invert the cumulative integral at equally spaced levels). rho: periodic samples (M, M) at i/M."""
    M = rho.shape[0]
    edges = np.arange(M + 1) / M

    def equi(m: np.ndarray) -> np.ndarray:
        # piecewise-constant density on cells [i/M, (i+1)/M) -> piecewise-linear cumulative; invert it
        C = np.concatenate([[0.0], np.cumsum(m)]) / m.sum()
        return np.interp(np.linspace(0, 1, n), C, edges)

    xs, ys = equi(rho.mean(axis=1)), equi(rho.mean(axis=0))
    return np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1)


def trapezoid_masses(n: int) -> np.ndarray:
    """Node (a, b) carries the mass of its dual cell: 1/2 on edges, 1/4 at corners, normalised."""
    w = np.ones(n)
    w[0] = w[-1] = 0.5
    m = np.outer(w, w)
    return m / m.sum()


def sinkhorn_barycentric(a: np.ndarray, Y: np.ndarray, b: np.ndarray, Xs: np.ndarray, eps_final: float,
                         n_iter: int) -> np.ndarray:
    """Barycentric projection of the (entropic, eps -> eps_final) optimal transport plan from source points Xs
    with masses a to target points Y with masses b, cost |x - y|^2. Log-domain Sinkhorn with eps-scaling;
    stands in for POT's exact `ot.emd` (not installed). Returns T(x_i) = sum_j P_ij y_j / a_i."""
    import torch

    torch.set_num_threads(1)
    Cm = torch.as_tensor(((Xs[:, None, :] - Y[None, :, :]) ** 2).sum(-1), dtype=torch.float32)
    la = torch.as_tensor(np.log(a), dtype=torch.float32)[:, None]
    lb = torch.as_tensor(np.log(b), dtype=torch.float32)[None, :]
    f = torch.zeros(len(a), 1, dtype=torch.float32)
    g = torch.zeros(1, len(b), dtype=torch.float32)
    n_anneal = max(n_iter // 2, 1)
    eps_sched = np.concatenate([np.geomspace(0.1, eps_final, n_anneal), np.full(n_iter - n_anneal, eps_final)])
    for eps in eps_sched:
        f = -eps * torch.logsumexp((g - Cm) / eps + lb, dim=1, keepdim=True)
        g = -eps * torch.logsumexp((f - Cm) / eps + la, dim=0, keepdim=True)
    # row-normalised plan: the barycentric projection T(x_i) = sum_j P_ij y_j / a_i
    P = torch.softmax((g - Cm) / eps_final + lb, dim=1).double().numpy()
    return P @ Y


def ot_mesh(rho_target: np.ndarray, n: int, eps_final: float, n_iter: int) -> np.ndarray:
    """Reference M-uniform mesh: discrete OT from the n x n computational nodes (trapezoid masses) to the
    target cells (centres (i+1/2)/m) weighted by rho/sigma; node = barycentric projection; boundary snapped."""
    m = rho_target.shape[0]
    c = (np.arange(m) + 0.5) / m
    Y = np.stack(np.meshgrid(c, c, indexing="ij"), axis=-1).reshape(-1, 2)
    b = rho_target.reshape(-1) / rho_target.sum()
    Xi = computational_grid(n)
    X = sinkhorn_barycentric(trapezoid_masses(n).reshape(-1), Y, b, Xi.reshape(-1, 2), eps_final, n_iter)
    return snap_boundary(X.reshape(n, n, 2))


# -- DMM: data-free mesh mover, psi(u, xi) = head([branch(u), trunk(xi)]), trained on the MA residual -------------

def make_dmm(width: int = 128, trunk_hidden: int = 32, head_hidden: int = 128, dense: int = 1024):  # noqa: ANN201
    import torch
    from torch import nn

    class Branch(nn.Module):
        """Authors' CNN: 4 conv 5x5 (tanh), layer-3 output added to layer-1 output (residual), 12x12 -> dense."""

        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(1, 8, 5, stride=2, padding=2)
            self.c2 = nn.Conv2d(8, 16, 5, padding=2)
            self.c3 = nn.Conv2d(16, 8, 5, padding=2)
            self.c4 = nn.Conv2d(8, 1, 5, stride=2, padding=2)
            self.d1 = nn.Linear(144, dense)
            self.d2 = nn.Linear(dense, width)

        def forward(self, u: torch.Tensor) -> torch.Tensor:  # u: (B, 48, 48)
            h1 = self.c1(u[:, None])
            h = torch.tanh(self.c3(torch.tanh(self.c2(torch.tanh(h1)))) + h1)
            h = torch.tanh(self.c4(h)).flatten(1)
            return self.d2(torch.tanh(self.d1(h)))

    class DMM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.branch = Branch()
            self.trunk = nn.Sequential(nn.Linear(2, trunk_hidden), nn.Tanh(), nn.Linear(trunk_hidden, width))
            self.head = nn.Sequential(nn.Linear(2 * width, head_hidden), nn.Tanh(), nn.Linear(head_hidden, 1))

        def forward(self, u: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:  # xi: (B, P, 2) -> psi (B, P)
            # head(cat[b, t]) with the first layer split as W_b b + W_t t + c: the same function, but W_b b is
            # computed once per field instead of once per point (the per-point matmuls dominate the cost)
            W, c = self.head[0].weight, self.head[0].bias
            hb = self.branch(u) @ W[:, :width].T + c
            h = torch.tanh(hb[:, None, :] + self.trunk(xi) @ W[:, width:].T)
            return self.head[2](h)[..., 0]

    return DMM()


def psi_derivatives(model, u, xi):  # noqa: ANN001, ANN201
    """psi, grad psi (B, P, 2) and Hessian entries (psi_xx, psi_xy, psi_yy) by autograd."""
    import torch

    xi = xi.requires_grad_(True)
    psi = model(u, xi)
    g = torch.autograd.grad(psi.sum(), xi, create_graph=True)[0]
    gx = torch.autograd.grad(g[..., 0].sum(), xi, create_graph=True)[0]
    gy = torch.autograd.grad(g[..., 1].sum(), xi, create_graph=True)[0]
    return psi, g, gx[..., 0], gx[..., 1], gy[..., 1]


def bilinear_periodic_torch(f, pts):  # noqa: ANN001, ANN201
    """Bilinear periodic interpolation of fields f (B, m, m) at points pts (B, P, 2) (differentiable in pts)."""
    import torch

    m = f.shape[-1]
    s = pts * m
    i0 = torch.floor(s).detach()
    t = s - i0
    i0 = i0.long()
    B = torch.arange(f.shape[0])[:, None]

    def at(di: int, dj: int):  # noqa: ANN202
        return f[B, (i0[..., 0] + di) % m, (i0[..., 1] + dj) % m]

    tx, ty = t[..., 0], t[..., 1]
    return ((1 - tx) * (1 - ty) * at(0, 0) + tx * (1 - ty) * at(1, 0) + (1 - tx) * ty * at(0, 1)
            + tx * ty * at(1, 1))


def dmm_loss(model, u, ux, uy, alpha_p, sigma, xi, xb, nb, w=(1.0, 1000.0, 1.0), pullback=False):  # noqa: ANN001, ANN201
    """Authors' MA loss: w0 mean((rho(x(xi)) det(I + D^2 psi)/sigma - 1)^2) + w1 mean((dpsi/dn)^2 on the boundary)
    + w2 mean(min(0, 1 + psi_xx)^2 + min(0, 1 + psi_yy)^2); x(xi) = xi + grad psi (Brenier map)."""
    import torch

    # one pass over interior and boundary points: the branch runs once, only the interior needs D^2 psi
    P = xi.shape[1]
    pts = torch.cat([xi, xb], 1).requires_grad_(True)
    psi = model(u, pts)
    G = torch.autograd.grad(psi.sum(), pts, create_graph=True)[0]
    g, gb = G[:, :P], G[:, P:]
    Hx = torch.autograd.grad(g[..., 0].sum(), pts, create_graph=True)[0][:, :P]
    Hy = torch.autograd.grad(g[..., 1].sum(), pts, create_graph=True)[0][:, :P]
    pxx, pxy, pyy = Hx[..., 0], Hx[..., 1], Hy[..., 1]
    x = xi + g
    gx, gy = bilinear_periodic_torch(ux, x), bilinear_periodic_torch(uy, x)
    if pullback:  # authors' code: the monitor of the pulled-back gradient J^T grad u
        gx, gy = gx * (1 + pxx) + gy * pxy, gx * pxy + gy * (1 + pyy)
    rho = 1 + torch.sqrt(gx**2 + gy**2 + 1e-12) / alpha_p[:, None]
    det = (1 + pxx) * (1 + pyy) - pxy**2
    l_ma = ((rho * det / sigma[:, None] - 1) ** 2).mean()
    l_bc = ((gb * nb).sum(-1) ** 2).mean()
    l_cvx = (torch.clamp(1 + pxx, max=0) ** 2 + torch.clamp(1 + pyy, max=0) ** 2).mean()
    return w[0] * l_ma + w[1] * l_bc + w[2] * l_cvx


def boundary_points(n_side: int) -> tuple[np.ndarray, np.ndarray]:
    s = (np.arange(n_side) + 0.5) / n_side
    z, o = np.zeros(n_side), np.ones(n_side)
    xb = np.concatenate([np.stack([z, s], 1), np.stack([o, s], 1), np.stack([s, z], 1), np.stack([s, o], 1)])
    nb = np.concatenate([np.tile([-1.0, 0], (n_side, 1)), np.tile([1.0, 0], (n_side, 1)),
                         np.tile([0, -1.0], (n_side, 1)), np.tile([0, 1.0], (n_side, 1))])
    return xb, nb


def bilinear_periodic_np(f: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """numpy twin of bilinear_periodic_torch: f (B, m, m), pts (B, P, 2)."""
    m = f.shape[-1]
    s = pts * m
    i0 = np.floor(s).astype(int)
    t = s - i0
    B = np.arange(f.shape[0])[:, None]

    def at(di: int, dj: int) -> np.ndarray:
        return f[B, (i0[..., 0] + di) % m, (i0[..., 1] + dj) % m]

    tx, ty = t[..., 0], t[..., 1]
    return ((1 - tx) * (1 - ty) * at(0, 0) + tx * (1 - ty) * at(1, 0) + (1 - tx) * ty * at(0, 1)
            + tx * ty * at(1, 1))


def importance_points(rng: np.random.Generator, rho: np.ndarray, n_pts: int, n_cand: int) -> np.ndarray:
    """Authors' sampling: n_cand uniform candidates per field, keep n_pts without replacement with prob. ~ rho
    (Gumbel top-k = sequential sampling without replacement)."""
    B = rho.shape[0]
    cand = rng.uniform(0, 1, (B, n_cand, 2))
    keys = np.log(bilinear_periodic_np(rho, cand)) + rng.gumbel(size=(B, n_cand))
    idx = np.argpartition(-keys, n_pts - 1, axis=1)[:, :n_pts]
    return np.take_along_axis(cand, idx[..., None], axis=1)


def train_dmm(fields: np.ndarray, steps: int, batch: int, n_pts: int, n_cand: int, lr: float, wd: float,
              rng: np.random.Generator, torch_seed: int, width: int, trunk_hidden: int, head_hidden: int,
              dense: int, pullback: bool = False, task=None):  # noqa: ANN001, ANN201
    """Adam on the MA loss over training fields (F, m, m) at solver resolution (48 x 48)."""
    import torch

    torch.manual_seed(torch_seed)
    model = make_dmm(width, trunk_hidden, head_hidden, dense)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    ux, uy = grad_periodic(fields)
    gnorm = np.hypot(ux, uy)
    alpha_p = 0.01 * gnorm.mean(axis=(1, 2))
    rho = 1 + gnorm / alpha_p[:, None, None]
    sigma = rho.mean(axis=(1, 2))
    T = {k: torch.tensor(v, dtype=torch.float32) for k, v in
         dict(u=fields, ux=ux, uy=uy, a=alpha_p, s=sigma).items()}
    xb, nb = boundary_points(max(n_pts // 8, 4))
    losses = []
    for _ in range(steps):
        idx = rng.choice(len(fields), size=min(batch, len(fields)), replace=False)
        xi = torch.tensor(importance_points(rng, rho[idx], n_pts, n_cand), dtype=torch.float32)
        Bn = len(idx)
        xbt = torch.tensor(np.broadcast_to(xb, (Bn, *xb.shape)).copy(), dtype=torch.float32)
        nbt = torch.tensor(np.broadcast_to(nb, (Bn, *nb.shape)).copy(), dtype=torch.float32)
        it = torch.as_tensor(idx)
        loss = dmm_loss(model, T["u"][it], T["ux"][it], T["uy"][it], T["a"][it], T["s"][it], xi, xbt, nbt,
                        pullback=pullback)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if task is not None:
            task.advance(1)
    return model, np.array(losses)


def dmm_mesh(model, fields: np.ndarray, n: int) -> np.ndarray:  # noqa: ANN001
    """Nodes x = xi + grad psi(u, xi) on the n x n computational grid for fields (B, m, m); boundary snapped."""
    import torch

    Xi = computational_grid(n).reshape(1, -1, 2)
    xi = torch.tensor(np.broadcast_to(Xi, (len(fields), *Xi.shape[1:])).copy(), dtype=torch.float32)
    _, g, *_ = psi_derivatives(model, torch.tensor(fields, dtype=torch.float32), xi)
    X = (xi + g).detach().numpy().astype(float).reshape(len(fields), n, n, 2)
    return np.stack([snap_boundary(x) for x in X])


# -- measurements -------------------------------------------------------------------------------------------------

def triangles(n: int) -> np.ndarray:
    """Logical-grid connectivity, 2 triangles per cell (counter-clockwise on the uniform mesh)."""
    a, b = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    p00, p10, p01, p11 = a * n + b, (a + 1) * n + b, a * n + b + 1, (a + 1) * n + b + 1
    t = np.concatenate([np.stack([p00, p10, p11], -1).reshape(-1, 3), np.stack([p00, p11, p01], -1).reshape(-1, 3)])
    return t


def signed_areas(X: np.ndarray) -> np.ndarray:
    P = X.reshape(-1, 2)[triangles(X.shape[0])]
    e1, e2 = P[:, 1] - P[:, 0], P[:, 2] - P[:, 0]
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def equidistribution(X: np.ndarray, rho: np.ndarray) -> tuple[float, float, float]:
    """Authors' `evaluate`: cell area x rho at the cell centre, over sigma/N_cells (ideal 1): mean, std, max-min."""
    A = signed_areas(X)
    nt = len(A) // 2
    area = A[:nt] + A[nt:]  # the two triangles of each logical cell
    n = X.shape[0]
    centre = 0.25 * (X[:-1, :-1] + X[1:, :-1] + X[:-1, 1:] + X[1:, 1:]).reshape(-1, 2)
    q = area * sample_periodic(rho, centre) / (rho.mean() / (n - 1) ** 2)
    return float(q.mean()), float(q.std()), float(q.max() - q.min())


def interpolation_errors(X: np.ndarray, u: np.ndarray) -> dict[str, float]:
    """P1 interpolation of u on the mesh X back to the fine grid (periodic samples at i/M): E_L2, E_H1 (gradient
    seminorm) and the proxy bounds B1 = sqrt(sum_K diam^2 int_K |grad u|^2), B2 = sqrt(sum_K diam^4 int_K |D^2u|^2)."""
    import matplotlib.tri as mtri

    M = u.shape[0]
    n = X.shape[0]
    tri_idx = triangles(n)
    nodes = X.reshape(-1, 2)
    tri = mtri.Triangulation(nodes[:, 0], nodes[:, 1], tri_idx)
    g = np.arange(M) / M
    PX, PY = np.meshgrid(g, g, indexing="ij")
    uval = sample_periodic(u, nodes)
    interp = mtri.LinearTriInterpolator(tri, uval)
    finder = interp._trifinder
    t_of = finder(PX, PY)
    Ih = interp(PX, PY)
    miss = np.ma.getmaskarray(Ih) | (t_of < 0)
    if miss.any():
        raise ValueError(f"{int(miss.sum())} fine points lie outside the mesh")
    dIx, dIy = interp.gradient(PX, PY)
    ux, uy = grad_periodic(u)
    uxx, uxy, uyy = hessian_periodic(u)
    e_l2 = float(np.sqrt(np.mean((u - np.asarray(Ih)) ** 2)))
    e_h1 = float(np.sqrt(np.mean((ux - np.asarray(dIx)) ** 2 + (uy - np.asarray(dIy)) ** 2)))
    P = nodes[tri_idx]
    diam = np.max(np.stack([np.linalg.norm(P[:, i] - P[:, j], axis=1) for i, j in ((0, 1), (1, 2), (0, 2))]), 0)
    b1, b2 = proxy_bounds(diam[t_of], ux, uy, uxx, uxy, uyy)
    return {"E_L2": e_l2, "E_H1": e_h1, "B1": b1, "B2": b2}


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall tau-a between two rankings (no tie correction; ties count 0)."""
    i, j = np.triu_indices(len(a), 1)
    return float(np.mean(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])))
