"""ALF-LB (Wang et al. 2024) and its primal-dual reading (Han & Zhong, arXiv 2512.03915), vectorised.

Notation (spec 32): N tokens, E experts, top-K routing, affinity scores s[n, i] in (0, 1), target load
c_bar = N K / E, prices p = -b (b = the ALF-LB bias, used only for the top-K *selection*).

Dual function of one batch, divided by N (spec 32, "Primal-dual reading"):
    f(p)/N = mean_n max_{|J|=K} sum_{i in J} (s[n, i] - p_i) + (K/E) sum_i p_i,
    d(f/N)/dp_i = (c_bar - c_i(p)) / N,
and its Lagrangian best response is top-K routing on s - p. Every array below may carry leading batch axes
(seeds, methods), so one call routes every run of an iteration at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def scores(z: np.ndarray, w: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """s[n, i] = sigmoid(z_n . w_i + beta_i) (the surrogate router logits of spec 32).

    z: (..., N, h) token features; w: (..., E, h) expert vectors; beta: (E,) popularities."""
    logits = z @ np.swapaxes(w, -1, -2) + beta
    return 1.0 / (1.0 + np.exp(-logits))


@dataclass
class Routing:
    """Top-K routing of a batch on s - p: per-token top-K sums, the selection mask and the loads."""

    topsum: np.ndarray  # (..., N)   max_{|J|=K} sum_{i in J} (s - p)
    mask: np.ndarray  # (..., N, E) True where the token is routed to the expert
    loads: np.ndarray  # (..., E)   c_i = number of tokens routed to expert i


def route(s: np.ndarray, p: np.ndarray, K: int) -> Routing:
    """Top-K of s[..., n, :] - p[..., None, :] per token (one partial sort, no full sort).

    s: (..., N, E); p broadcastable to (..., E). Scores are continuous, so ties have probability zero and
    the mask has exactly K entries per token."""
    X = s - p[..., None, :]
    E = X.shape[-1]
    part = np.partition(X, E - K, axis=-1)
    kth = part[..., E - K : E - K + 1]
    mask = X >= kth
    return Routing(topsum=part[..., E - K :].sum(axis=-1), mask=mask, loads=mask.sum(axis=-2))


def dual_value(s: np.ndarray, p: np.ndarray, K: int, r: Routing | None = None) -> np.ndarray:
    """f(p)/N: the batch dual function divided by the number of tokens."""
    r = route(s, p, K) if r is None else r
    E = s.shape[-1]
    return r.topsum.mean(axis=-1) + (K / E) * p.sum(axis=-1)


def dual_grad(loads: np.ndarray, N: int, K: int) -> np.ndarray:
    """Subgradient of f/N: (c_bar - c)/N (minus the normalised load excess)."""
    E = loads.shape[-1]
    return (N * K / E - loads) / N


def max_vio(loads: np.ndarray, c_bar: float) -> np.ndarray:
    """MaxVio = max_i c_i / c_bar - 1 (Wang et al. 2024's balance metric)."""
    return loads.max(axis=-1) / c_bar - 1.0


def project_mean_zero(p: np.ndarray) -> np.ndarray:
    """Projection onto the subspace sum_i p_i = 0: f is flat along the all-ones direction."""
    return p - p.mean(axis=-1, keepdims=True)


# -- the comparator p* and the curvature estimate ---------------------------------------------------------

@dataclass
class Comparator:
    p_star: np.ndarray  # (E,) minimiser of the empirical dual on the comparator sample, sum = 0
    F_star: float  # F_hat(p*) (per token)
    F_trace: np.ndarray  # F_hat at every subgradient iterate (diagnostics)


def comparator(s: np.ndarray, K: int, steps: int) -> Comparator:
    """p* = argmin of the empirical dual F_hat on an independent sample of scores s (n, E), by full-batch
    projected subgradient descent with step 2/sqrt(i) (spec 32, default profile); the best iterate is kept
    (a subgradient method is not a descent method)."""
    n, E = s.shape
    p = np.zeros(E)
    best_p, best_F = p.copy(), np.inf
    trace = np.empty(steps)
    for i in range(1, steps + 1):
        r = route(s, p, K)
        F = float(dual_value(s, p, K, r))
        trace[i - 1] = F
        if F < best_F:
            best_F, best_p = F, p.copy()
        p = project_mean_zero(p - (2.0 / np.sqrt(i)) * dual_grad(r.loads, n, K))
    r = route(s, p, K)
    F = float(dual_value(s, p, K, r))
    if F < best_F:
        best_F, best_p = F, p.copy()
    return Comparator(p_star=best_p, F_star=best_F, F_trace=trace)


def fd_hessian(grad, p: np.ndarray, h: float) -> np.ndarray:  # noqa: ANN001
    """Central finite-difference Hessian: H[:, j] = [grad(p + h e_j) - grad(p - h e_j)] / (2h), symmetrised."""
    E = p.shape[0]
    H = np.empty((E, E))
    for j in range(E):
        e = np.zeros(E)
        e[j] = h
        H[:, j] = (grad(p + e) - grad(p - e)) / (2 * h)
    return 0.5 * (H + H.T)


def curvature_on_subspace(H: np.ndarray) -> tuple[float, float]:
    """(mu_hat, largest eigenvalue) of P H P with P = I - 11^T/E; mu_hat is the smallest eigenvalue on the
    subspace orthogonal to 1, i.e. the second smallest of PHP (the smallest belongs to 1 itself)."""
    E = H.shape[0]
    P = np.eye(E) - np.ones((E, E)) / E
    ev = np.linalg.eigvalsh(P @ H @ P)
    return float(ev[1]), float(ev[-1])


def empirical_curvature(s: np.ndarray, K: int, p_star: np.ndarray, h: float) -> tuple[float, float]:
    """mu_hat of the empirical F at p* on the comparator sample, with grad F_hat = (c_bar - c(p))/n."""
    n = s.shape[0]
    return curvature_on_subspace(fd_hessian(lambda p: dual_grad(route(s, p, K).loads, n, K), p_star, h))


# -- the balanced-assignment reference ---------------------------------------------------------------------

def lp_balanced(s: np.ndarray, K: int) -> np.ndarray:
    """Exact balanced assignment of one batch: max sum s x s.t. sum_i x[n,i] = K, sum_n x[n,i] <= c_bar,
    0 <= x <= 1, solved by HiGHS. The constraint matrix is that of a bipartite b-matching (totally
    unimodular), so a vertex optimum is integral; returns the (N, E) boolean assignment."""
    from scipy import sparse
    from scipy.optimize import linprog

    N, E = s.shape
    c_bar = N * K / E
    rows = np.repeat(np.arange(N), E)
    cols = np.arange(N * E)
    A_eq = sparse.csr_matrix((np.ones(N * E), (rows, cols)), shape=(N, N * E))
    A_ub = sparse.csr_matrix((np.ones(N * E), (np.tile(np.arange(E), N), cols)), shape=(E, N * E))
    res = linprog(-s.ravel(), A_ub=A_ub, b_ub=np.full(E, c_bar), A_eq=A_eq, b_eq=np.full(N, float(K)),
                  bounds=(0.0, 1.0), method="highs-ds")
    if res.status != 0:
        raise RuntimeError(f"balanced-assignment LP failed: {res.message}")
    x = res.x.reshape(N, E)
    if np.abs(x - np.round(x)).max() > 1e-6:
        raise RuntimeError("balanced-assignment LP returned a fractional vertex")
    return x > 0.5


# -- ALF-LB bias updates (in prices p = -b) ----------------------------------------------------------------

@dataclass(frozen=True)
class Method:
    """One bias-update rule. kind: none | fixed (route with a fixed price) | sign | grad | harmonic.

    sign:     b += u sign(c_bar - c)            (Wang et al. 2024; u = 1e-3 in DeepSeek)
    grad:     b += u (c_bar - c) / N            (dual subgradient step, constant step)
    harmonic: b += (c0 / t) (c_bar - c) / N     (the log-regret step family u_t = c0/t)
    """

    label: str
    kind: str
    u: float = 0.0

    def step(self, t: int, loads: np.ndarray, N: int, K: int, direction: int) -> np.ndarray:
        """The increment of p (= -increment of b) after iteration t; direction = -1 flips the update
        (the negative control: b -= u sign(c_bar - c))."""
        if self.kind in ("none", "fixed"):
            return np.zeros(loads.shape)
        g = dual_grad(loads, N, K)
        if self.kind == "sign":
            db = self.u * np.sign(g)
        elif self.kind == "grad":
            db = self.u * g
        elif self.kind == "harmonic":
            db = (self.u / t) * g
        else:
            raise ValueError(f"unknown update kind {self.kind!r}")
        return -direction * db


def method_steps(methods: list[Method], t: int, loads: np.ndarray, N: int, K: int, direction: int) -> np.ndarray:
    """Price increments of every method at once; loads has shape (S, M, E), methods along axis 1."""
    g = dual_grad(loads, N, K)
    coef_sign = np.array([m.u if m.kind == "sign" else 0.0 for m in methods])[None, :, None]
    coef_grad = np.array([m.u if m.kind == "grad" else (m.u / t if m.kind == "harmonic" else 0.0)
                          for m in methods])[None, :, None]
    return -direction * (coef_sign * np.sign(g) + coef_grad * g)


# -- the deterministic sub-experiment (claim 1 of the abstract) -------------------------------------------

@dataclass
class DeterministicTrace:
    dual: np.ndarray  # (steps + 1, ...) f(p_t)/N along the iterates
    maxvio: np.ndarray  # (steps + 1, ...)
    pref_ok: np.ndarray  # (steps, ..., E) the preference rule held for (step, expert)
    band: np.ndarray  # (...) final max_i |c_i - c_bar|


def deterministic_sign(s: np.ndarray, K: int, us: np.ndarray, steps: int, direction: int = 1) -> DeterministicTrace:
    """Iterate the sign rule on one fixed batch per seed. s: (S, N, E); us: (U,) step sizes.

    Preference rule (step t -> t+1): an overloaded expert's load does not increase and an underloaded
    expert's load does not decrease; experts exactly at c_bar are ties and count as satisfied."""
    S, N, E = s.shape
    c_bar = N * K / E
    sb = s[:, None]  # (S, 1, N, E): every step size routes the same batch
    p = np.zeros((S, len(us), E))
    dual = np.empty((steps + 1, S, len(us)))
    mv = np.empty((steps + 1, S, len(us)))
    pref = np.empty((steps, S, len(us), E), dtype=bool)
    r = route(sb, p, K)
    for t in range(steps + 1):
        dual[t] = dual_value(sb, p, K, r)
        mv[t] = max_vio(r.loads, c_bar)
        if t == steps:
            break
        c_old = r.loads
        p = p - direction * us[None, :, None] * np.sign(dual_grad(c_old, N, K))
        r = route(sb, p, K)
        over, under = c_old > c_bar, c_old < c_bar
        pref[t] = ~((over & (r.loads > c_old)) | (under & (r.loads < c_old)))
    return DeterministicTrace(dual=dual, maxvio=mv, pref_ok=pref, band=np.abs(r.loads - c_bar).max(axis=-1))
