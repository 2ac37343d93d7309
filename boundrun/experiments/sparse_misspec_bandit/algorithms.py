"""Instances and algorithms of paper 16 (sparse misspecified linear bandits, pure exploration).

Notation follows the spec / paper abstract: actions a in A subset R^d (||a||_2 <= 1), an s-sparse theta*
(||theta*||_2 = 1), rewards r(a) = <theta*, a> + eta(a) with |eta| <= eps, queries return r(a) (plus optional
N(0, sigma^2 / n_rep) noise). Every algorithm returns an action index into A and the set of queried actions.

- `sparse_cover` (our instantiation of the O(eps^-s d^s) upper bound): an eps-net D_S of the projections
  {a_S : a in A} for every support S, query the union, return the best observed action (<= 3 eps, noise-free).
- `ls_gopt` (Lattimore, Szepesvari, Weisz 2020): least squares on a Frank-Wolfe G-optimal design over A.
- `sparse_ls` (our instantiation of the poly(s/eps) regime): `ls_gopt` inside every support, best candidate.
- `random_search`: the sparse_cover budget spent on uniformly random actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

TIE = 1e-9  # slack for comparisons of squared lattice norms / distances that are exact in theory


# ----------------------------------------------------------------------------------------------------
# The action set A(d, s, eps): the cubic lattice h Z^s (h = eps / sqrt(s)) on every support, plus decoys
# ----------------------------------------------------------------------------------------------------
def lattice_ball(s: int, eps: float) -> np.ndarray:
    """Integer coordinates k of the lattice points h k (h = eps/sqrt(s)) in the closed unit ball of R^s
    with no zero coordinate, in lexicographic order. Norm test in integers: sum k^2 <= s / eps^2."""
    R2 = s / eps**2
    m = int(math.floor(math.sqrt(R2) + TIE))
    vals = np.array([v for v in range(-m, m + 1) if v != 0], dtype=np.int64)
    K = np.stack(np.meshgrid(*([vals] * s), indexing="ij"), axis=-1).reshape(-1, s)
    return K[(K**2).sum(axis=1) <= R2 + TIE]


def _codes(K: np.ndarray, m: int) -> np.ndarray:
    """A unique integer per lattice vector with entries in [-m, m] (mixed-radix code)."""
    base = (2 * m + 1) ** np.arange(K.shape[1])
    return (K + m) @ base


@dataclass
class Grid:
    """The deterministic part of A(d, s, eps) and everything about it that does not depend on the seed.

    G_int: integer lattice coordinates of the grid actions (C(d,s) * n_lat rows, support-major order);
    P_int: the canonical projected set {a_S : a in grid} expressed in the s coordinates of any support S
           (the grid is invariant under coordinate permutations, so this set is the same for every S);
    rep:   rep[k, j] = index of a grid action whose projection on support k is P[j] (exists by construction);
    net:   indices into P of the greedy radius-rho net of P (fixed scan order), shared by every support.
    """

    d: int
    s: int
    eps: float
    rho: float
    supports: np.ndarray  # (C, s) int
    G_int: np.ndarray  # (n_grid, d) int8
    A_grid: np.ndarray  # (n_grid, d) float
    P_int: np.ndarray  # (n_P, s) int
    rep: np.ndarray  # (C, n_P) int
    net: np.ndarray  # indices into P
    cover_queries: np.ndarray = field(default_factory=lambda: np.empty(0, int))  # grid actions of the nets
    p_design: tuple | None = None  # (weights over P, V) of the G-optimal design on P (sparse_ls warm start)

    @property
    def h(self) -> float:
        return self.eps / math.sqrt(self.s)

    @property
    def n_grid(self) -> int:
        return len(self.G_int)

    @property
    def P(self) -> np.ndarray:
        return self.P_int * self.h


def build_grid(d: int, s: int, eps: float, rho: float, fw_tol: float, fw_max_iter: int) -> Grid:
    """Build the grid part of A, the canonical projected set P with its representatives, the greedy
    rho-net of P (scan order: a fixed permutation) and the G-optimal design on P."""
    lat = lattice_ball(s, eps)
    n_lat = len(lat)
    m = int(np.abs(lat).max())
    supports = np.array(list(combinations(range(d), s)), dtype=np.int64)
    C = len(supports)
    G_int = np.zeros((C * n_lat, d), dtype=np.int8)
    for k, S in enumerate(supports):
        G_int[k * n_lat:(k + 1) * n_lat][:, S] = lat
    h = eps / math.sqrt(s)

    # canonical projected set: project the grid onto the first s coordinates (any S gives the same set)
    P_int = np.unique(G_int[:, :s].astype(np.int64), axis=0)

    # representatives: a point p of P on support S with nonzero pattern J lifts to the grid action whose
    # support is S_J plus the first s-|J| coordinates outside S, with value +1 (one lattice step) there;
    # its squared norm |p|^2 + (s-|J|) h^2 is <= 1 because some grid action projects onto p.
    lat_lookup = -np.ones((2 * m + 1) ** s, dtype=np.int64)
    lat_lookup[_codes(lat, m)] = np.arange(n_lat)
    comb_index = {tuple(S): k for k, S in enumerate(supports.tolist())}
    pattern = P_int != 0
    pat_id = pattern @ (2 ** np.arange(s))
    rep = np.empty((C, len(P_int)), dtype=np.int64)
    for k, S in enumerate(supports.tolist()):
        outside = [c for c in range(d) if c not in S]
        for pid in np.unique(pat_id):
            rows = np.flatnonzero(pat_id == pid)
            J = [i for i in range(s) if pid >> i & 1]
            extra = outside[: s - len(J)]
            S2 = sorted([S[i] for i in J] + extra)
            vals = np.ones((len(rows), s), dtype=np.int64)
            for pos, c in enumerate(S2):
                if c in S:
                    vals[:, pos] = P_int[rows, S.index(c)]
            idx = lat_lookup[_codes(vals, m)]
            assert (idx >= 0).all(), "a projected point has no representative"
            rep[k, rows] = comb_index[tuple(S2)] * n_lat + idx

    # greedy rho-net of P, exact in integer arithmetic: keep p iff |p - q| > rho for every kept q
    order = np.random.default_rng(0).permutation(len(P_int))  # the fixed scan order (cached net)
    r2 = (rho / h) ** 2
    D2 = ((P_int[:, None, :] - P_int[None, :, :]) ** 2).sum(axis=-1)
    net = greedy_net_from_sqdist(D2, r2, order)
    grid = Grid(d, s, eps, rho, supports, G_int, G_int * h, P_int, rep, net)
    grid.cover_queries = np.unique(rep[:, net].ravel())
    P = grid.P
    w, V, _ = g_optimal_design(P, fw_tol, fw_max_iter)
    grid.p_design = (w, V)
    return grid


def greedy_net_from_sqdist(D2: np.ndarray, r2: float, order: np.ndarray) -> np.ndarray:
    """Scan points in `order`; keep a point iff its squared distance to every kept point exceeds r2.
    The kept set is a radius-sqrt(r2) cover of the scanned points and is sqrt(r2)-separated."""
    covered = np.zeros(len(D2), dtype=bool)
    kept = []
    for i in order:
        if not covered[i]:
            kept.append(i)
            covered |= D2[i] <= r2 + TIE
    return np.array(sorted(kept), dtype=np.int64)


@dataclass
class Instance:
    A: np.ndarray  # (n, d) actions: grid part first, then decoys
    theta: np.ndarray  # (d,) theta*, s-sparse, unit norm
    support: np.ndarray  # supp(theta*)
    n_grid: int


def make_instance(grid: Grid, rng: np.random.Generator, n_rand: int) -> Instance:
    """theta* with a uniformly random support and entries +-1/sqrt(s); n_rand dense unit decoys."""
    d, s = grid.d, grid.s
    support = np.sort(rng.choice(d, size=s, replace=False))
    theta = np.zeros(d)
    theta[support] = rng.choice([-1.0, 1.0], size=s) / math.sqrt(s)
    X = rng.standard_normal((n_rand, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return Instance(np.vstack([grid.A_grid, X]), theta, support, grid.n_grid)


# ----------------------------------------------------------------------------------------------------
# Misspecification families
# ----------------------------------------------------------------------------------------------------
def eta_needle(inst: Instance, eps: float, rng: np.random.Generator) -> tuple[Instance, np.ndarray]:
    """eta = -eps everywhere, +eps on one decoy whose linear value is within eps of L* = max <theta*, a>.
    If no decoy qualifies, one decoy is replaced by (L* - eps/2) theta* + sqrt(1 - (L* - eps/2)^2) u,
    u a random unit vector orthogonal to theta* (spec fallback). Returns the (possibly new) instance."""
    lin = inst.A @ inst.theta
    L = lin.max()
    ok = np.flatnonzero(lin[inst.n_grid:] >= L - eps) + inst.n_grid
    if len(ok):
        needle = int(rng.choice(ok))
    else:
        needle = inst.n_grid + int(rng.integers(len(inst.A) - inst.n_grid))
        u = rng.standard_normal(len(inst.theta))
        u -= (u @ inst.theta) * inst.theta
        u /= np.linalg.norm(u)
        c = L - eps / 2
        A = inst.A.copy()
        A[needle] = c * inst.theta + math.sqrt(max(1 - c * c, 0.0)) * u
        inst = Instance(A, inst.theta, inst.support, inst.n_grid)
    eta = np.full(len(inst.A), -eps)
    eta[needle] = eps
    return inst, eta


@dataclass
class Adversary:
    eta: np.ndarray
    iota: float  # max over candidates of sum_i w_i |b^T V^-1 a_i|
    b: int


def eta_adversarial_ls(inst: Instance, design: Design, eps: float, rng: np.random.Generator,
                       n_candidates: int, rule: str = "realized", chunk: int = 64) -> Adversary:
    """The adversary against `ls_gopt` (spec family iii): for a candidate b, eta(a_i) = eps sign(b^T V^-1 a_i)
    on the design points, eta(b) = -eps, 0 elsewhere; that inflates <theta_hat, b> by eps * iota(b),
    iota(b) = sum_i w_i |b^T V^-1 a_i| <= ||b||_{V^-1}. Candidates: n_candidates actions off the design.
    rule='realized' picks the b maximising ls_gopt's realised suboptimality (spec, changed in review);
    rule='inflation' the original eps*iota(b) - gap(b) (kept as a negative control)."""
    A, theta = inst.A, inst.theta
    supp, w = design.support, design.weights
    off = np.setdiff1d(np.arange(len(A)), supp)
    cand = rng.choice(off, size=min(n_candidates, len(off)), replace=False)
    Vinv = np.linalg.inv(design.V)
    M = Vinv @ A[supp].T  # (d, n_supp): columns V^-1 a_i
    coef = A[cand] @ M  # (n_c, n_supp): b^T V^-1 a_i
    sgn = np.sign(coef)
    iota_b = np.abs(coef) @ w
    lin = A @ theta
    if rule == "inflation":
        b_pos = int(np.argmax(eps * iota_b - (lin.max() - lin[cand])))
    else:
        # theta_hat_b = theta* + eps V^-1 sum_i w_i a_i sign_i   (weighted LS on exact design responses)
        Delta = eps * (M * w) @ sgn.T  # (d, n_c)
        a_hat = np.empty(len(cand), dtype=np.int64)
        At = np.ascontiguousarray(A.T)
        for lo in range(0, len(cand), chunk):  # rows = candidates, so the argmax runs along memory
            a_hat[lo:lo + chunk] = np.argmax((theta[:, None] + Delta[:, lo:lo + chunk]).T @ At, axis=1)
        # r*_b = max(best linear value off the design and off b, design values +- eps, lin(b) - eps)
        mask = np.ones(len(A), dtype=bool)
        mask[supp] = False
        lin_off = np.where(mask, lin, -np.inf)
        i1 = int(np.argmax(lin_off))
        v2 = np.max(np.delete(lin_off, i1))
        base = np.where(cand == i1, v2, lin_off[i1])
        r_star = np.maximum.reduce([base, (lin[supp][None, :] + eps * sgn).max(axis=1), lin[cand] - eps])
        pos_in_supp = -np.ones(len(A), dtype=np.int64)
        pos_in_supp[supp] = np.arange(len(supp))
        j = pos_in_supp[a_hat]
        eta_hat = np.where(j >= 0, eps * sgn[np.arange(len(cand)), np.maximum(j, 0)], 0.0)
        eta_hat = np.where(a_hat == cand, -eps, eta_hat)
        b_pos = int(np.argmax(r_star - (lin[a_hat] + eta_hat)))
    b = int(cand[b_pos])
    eta = np.zeros(len(A))
    eta[supp] = eps * sgn[b_pos]
    eta[b] = -eps
    return Adversary(eta, float(iota_b.max()), b)


# ----------------------------------------------------------------------------------------------------
# Queries
# ----------------------------------------------------------------------------------------------------
class Oracle:
    """Answers queries of action indices with r(a) (+ Gaussian noise of variance sigma^2 / n_rep, the mean
    of n_rep repeated queries); repeated queries of one action are cached (same answer, counted once)."""

    def __init__(self, r: np.ndarray, sigma: float, n_rep: int, rng: np.random.Generator):
        self.r, self.sigma, self.n_rep, self.rng = r, sigma, n_rep, rng
        self.seen: dict[int, float] = {}

    def query(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        new = np.setdiff1d(idx, np.fromiter(self.seen, dtype=np.int64, count=len(self.seen)))
        noise = (self.sigma / math.sqrt(self.n_rep)) * self.rng.standard_normal(len(new)) if self.sigma else 0.0
        self.seen.update(zip(new.tolist(), (self.r[new] + noise).tolist(), strict=True))
        return np.array([self.seen[i] for i in idx.tolist()])

    @property
    def n_queries(self) -> int:
        """Distinct actions queried."""
        return len(self.seen)


def best_observed(idx: np.ndarray, y: np.ndarray) -> int:
    return int(idx[int(np.argmax(y))])


# ----------------------------------------------------------------------------------------------------
# sparse_cover
# ----------------------------------------------------------------------------------------------------
def sparse_cover_queries(grid: Grid, inst: Instance, rng: np.random.Generator) -> np.ndarray:
    """The union over supports S of the greedy eps-nets D_S of {a_S : a in A}.

    The grid part of every net is cached (`grid.net`, scanned first in a fixed order); the decoys are then
    scanned in a random order: a decoy whose projection is within rho of the cached net is covered, the
    others go through the sequential greedy step among themselves (spec, cost note)."""
    from scipy.spatial import cKDTree

    rho = grid.rho
    dec = inst.A[grid.n_grid:]
    n_rand = len(dec)
    C, s = grid.supports.shape
    X = dec[:, grid.supports]  # (n_rand, C, s): projections of every decoy on every support
    dist, _ = cKDTree(grid.P[grid.net]).query(X.reshape(-1, s), k=1)
    uncovered = (dist > rho * (1 + TIE)).reshape(n_rand, C)
    order = rng.permutation(n_rand)
    rank = np.empty(n_rand, dtype=np.int64)
    rank[order] = np.arange(n_rand)
    kept_decoys = []
    for k in np.flatnonzero(uncovered.any(axis=0)):
        u = np.flatnonzero(uncovered[:, k])
        u = u[np.argsort(rank[u])]  # scan order
        Y = X[u, k]
        D2 = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(axis=-1)
        kept = greedy_net_from_sqdist(D2, rho**2, np.arange(len(u)))
        kept_decoys.append(u[kept])
    dq = np.unique(np.concatenate(kept_decoys)) if kept_decoys else np.empty(0, np.int64)
    return np.concatenate([grid.cover_queries, grid.n_grid + dq])


def sparse_cover(queries: np.ndarray, oracle: Oracle) -> int:
    """Query every action of the union of nets and return the best observed one."""
    return best_observed(queries, oracle.query(queries))


def random_search(n_actions: int, budget: int, oracle: Oracle, rng: np.random.Generator) -> int:
    idx = rng.choice(n_actions, size=min(budget, n_actions), replace=False)
    return best_observed(idx, oracle.query(idx))


# ----------------------------------------------------------------------------------------------------
# G-optimal design (Frank-Wolfe / Fedorov-Wynn) and least squares
# ----------------------------------------------------------------------------------------------------
@dataclass
class Design:
    support: np.ndarray  # indices of points with positive weight
    weights: np.ndarray  # their weights (sum 1)
    V: np.ndarray  # sum_i w_i a_i a_i^T
    g_max: float  # max_a ||a||^2_{V^-1} at termination (Kiefer-Wolfowitz optimum: the dimension)
    iterations: int


def spanning_start(X: np.ndarray) -> np.ndarray:
    """p = dim points picked greedily to span R^p: repeatedly the point of largest residual norm after
    projecting out the directions of the points already picked (spec start rule)."""
    R = np.array(X, dtype=float, copy=True)
    picked = []
    for _ in range(X.shape[1]):
        nrm = np.einsum("ij,ij->i", R, R)
        j = int(np.argmax(nrm))
        if nrm[j] <= 1e-12:
            raise ValueError("the action set does not span R^d: no G-optimal design")
        picked.append(j)
        q = R[j] / math.sqrt(nrm[j])
        R -= np.outer(R @ q, q)
    return np.array(picked, dtype=np.int64)


def _leverages(X: np.ndarray, Vinv: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X @ Vinv, X)


def g_optimal_design(X: np.ndarray, tol: float, max_iter: int, w0: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Frank-Wolfe (Fedorov-Wynn) for the G-optimal design on the rows of X (n, p): start from uniform
    weights on a spanning set (or w0), step w <- (1-gamma) w + gamma e_j with j = argmax ||x||^2_{V^-1}
    and the exact line-search step gamma = (g_max/p - 1)/(g_max - 1); stop when g_max <= tol * p.
    Returns (dense weights, V, iterations). V^-1 and the leverages follow rank-one (Sherman-Morrison)
    updates, recomputed exactly every 25 steps to stop round-off drift."""
    n, p = X.shape
    if w0 is None:
        w = np.zeros(n)
        w[spanning_start(X)] = 1.0 / p
    else:
        w = np.array(w0, dtype=float)
    V = (X.T * w) @ X
    it = 0
    while True:
        if it % 25 == 0:
            Vinv = np.linalg.inv(V)
            g = _leverages(X, Vinv)
        j = int(np.argmax(g))
        gm = float(g[j])
        if gm <= tol * p or it >= max_iter:
            return w, V, it
        gamma = (gm / p - 1) / (gm - 1)
        x = X[j]
        if gamma >= 1 - 1e-12:  # p = 1: the whole mass moves to the point of largest |x|
            w[:] = 0.0
            w[j] = 1.0
            V = np.outer(x, x)
            it += 1
            Vinv = np.linalg.inv(V)
            g = _leverages(X, Vinv)
            continue
        # V' = (1-gamma)(V + t x x^T), t = gamma/(1-gamma):  V'^-1 = (V^-1 - c u u^T)/(1-gamma)
        t = gamma / (1 - gamma)
        u = Vinv @ x
        c = t / (1 + t * gm)
        Xu = X @ u
        g = (g - c * Xu**2) / (1 - gamma)
        Vinv = (Vinv - c * np.outer(u, u)) / (1 - gamma)
        w *= 1 - gamma
        w[j] += gamma
        V = (1 - gamma) * V + gamma * np.outer(x, x)
        it += 1


def design_of(X: np.ndarray, tol: float, max_iter: int) -> Design:
    w, V, it = g_optimal_design(X, tol, max_iter)
    supp = np.flatnonzero(w > 0)
    g_max = float(_leverages(X, np.linalg.inv(V)).max())
    return Design(supp, w[supp], V, g_max, it)


def ls_gopt(inst: Instance, design: Design, oracle: Oracle) -> int:
    """Query the design support, weighted least squares theta_hat = V^-1 sum_i w_i a_i y_i, return
    argmax_a <theta_hat, a>."""
    Ad = inst.A[design.support]
    y = oracle.query(design.support)
    theta_hat = np.linalg.solve(design.V, (Ad.T * design.weights) @ y)
    return int(np.argmax(inst.A @ theta_hat))


@dataclass
class SparseDesigns:
    """One G-optimal design per support S on the projected points X_S = [P ; decoys_S] (indices into X_S)."""

    supports: list[np.ndarray]
    weights: list[np.ndarray]
    V: np.ndarray  # (C, s, s)
    iterations: int


def sparse_designs(grid: Grid, inst: Instance, tol: float, max_iter: int) -> SparseDesigns:
    """`ls_gopt` restricted to each support: Frank-Wolfe on X_S, warm-started from the design of the
    canonical projected grid P (identical for every S); extra steps only where a decoy's projection has
    leverage above tol * s. Any start is valid for Frank-Wolfe; this one avoids C(d,s) cold starts."""
    wP, VP = grid.p_design
    P = grid.P
    n_P = len(P)
    dec = inst.A[grid.n_grid:]
    C, s = grid.supports.shape
    Xd = dec[:, grid.supports]  # (n_rand, C, s)
    lev = np.einsum("ncs,st,nct->nc", Xd, np.linalg.inv(VP), Xd)
    need = lev.max(axis=0) > tol * s
    suppP = np.flatnonzero(wP > 0)
    supports, weights, Vs, iters = [], [], np.empty((C, s, s)), 0
    for k in range(C):
        if not need[k]:
            supports.append(suppP)
            weights.append(wP[suppP])
            Vs[k] = VP
            continue
        X = np.vstack([P, Xd[:, k]])
        w0 = np.concatenate([wP, np.zeros(len(dec))])
        w, V, it = g_optimal_design(X, tol, max_iter, w0=w0)
        iters += it
        sp = np.flatnonzero(w > 0)
        supports.append(sp)
        weights.append(w[sp])
        Vs[k] = V
    assert all((sp < n_P + len(dec)).all() for sp in supports)
    return SparseDesigns(supports, weights, Vs, iters)


def sparse_ls(grid: Grid, inst: Instance, sd: SparseDesigns, oracle: Oracle) -> int:
    """For every support S: query the design support's representative actions, least squares in R^s,
    candidate c_S = argmax over A of <theta_hat_S, a_S>; query the candidates, return the best observed."""
    P = grid.P
    n_P = len(P)
    C, s = grid.supports.shape
    dec = inst.A[grid.n_grid:]

    def action(k: int, j: np.ndarray) -> np.ndarray:  # point j of X_S -> an action of A with that projection
        return np.where(j < n_P, grid.rep[k, np.minimum(j, n_P - 1)], grid.n_grid + (j - n_P))

    theta_hat = np.empty((C, s))
    for k, S in enumerate(grid.supports):
        j = sd.supports[k]
        X = np.where((j < n_P)[:, None], P[np.minimum(j, n_P - 1)], dec[np.maximum(j - n_P, 0)][:, S])
        y = oracle.query(action(k, j))
        theta_hat[k] = np.linalg.solve(sd.V[k], (X.T * sd.weights[k]) @ y)
    scores_P = P @ theta_hat.T  # (n_P, C)
    scores_D = np.einsum("ncs,cs->nc", dec[:, grid.supports], theta_hat)  # (n_rand, C)
    best_P, best_D = scores_P.max(axis=0), scores_D.max(axis=0)
    cand = np.where(best_P >= best_D, grid.rep[np.arange(C), scores_P.argmax(axis=0)],
                    grid.n_grid + scores_D.argmax(axis=0))
    cand = np.unique(cand)
    return best_observed(cand, oracle.query(cand))
