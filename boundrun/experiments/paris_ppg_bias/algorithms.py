"""PaRIS, PaRIS particle Gibbs (PPG) and stochastic approximation on a scalar linear-Gaussian HMM.

Model (spec 53): x_0 ~ N(0, sigma_x^2 / (1 - a^2)), x_{t+1} = a x_t + sigma_x eps_t, y_t = x_t + sigma_y eta_t.
Everything is vectorised over R independent replicates (rows) and N particles (columns); the parameter `a`
may differ between rows (stochastic approximation runs several chains at once).

Additive functionals h_n = sum_{t=0}^{n-1} h~_t(x_t, x_{t+1}); three are carried at once (FUNCTIONALS):
  "xx1":  h~_t = x_t x_{t+1}     (sufficient statistic for a)
  "x2":   h~_t = x_t^2
  "x0sq": h~_t = x_0^2 1{t = 0}  (needed by the gradient of log chi_a, Fisher's identity)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FUNCTIONALS = ("xx1", "x2", "x0sq")
M_TILDE = 2  # PaRIS backward draws per particle (spec: M~ = 2)
AR_ROUNDS = 8  # accept-reject rounds before the remaining draws fall back to the exact categorical
EXACT_MAX = 300_000  # R N^2 up to which the exact O(N^2) backward kernel is cheaper than accept-reject


@dataclass(frozen=True)
class Model:
    a: float = 0.9
    sigma_x: float = 0.5
    sigma_y: float = 1.0


def simulate(model: Model, n: int, rng: np.random.Generator) -> np.ndarray:
    """One record y_{0:n} (length n + 1) of the model."""
    a, sx, sy = model.a, model.sigma_x, model.sigma_y
    x = np.empty(n + 1)
    x[0] = rng.normal(0.0, sx / np.sqrt(1 - a * a))
    for t in range(n):
        x[t + 1] = a * x[t] + sx * rng.normal()
    return x + sy * rng.normal(size=n + 1)


# -- exact Kalman filter / RTS smoother, vectorised over a vector of parameters a ------------------------------

@dataclass(frozen=True)
class Smoothed:
    m: np.ndarray  # (P, n+1) smoothed means m_{t|n}
    P: np.ndarray  # (P, n+1) smoothed variances P_{t|n}
    C: np.ndarray  # (P, n) lag-one covariances P_{t,t+1|n} = G_t P_{t+1|n}
    loglik: np.ndarray  # (P,)


def kalman_smoother(y: np.ndarray, a: np.ndarray | float, sigma_x: float, sigma_y: float) -> Smoothed:
    """Kalman filter + Rauch-Tung-Striebel smoother for every a in the vector `a` at once."""
    a = np.atleast_1d(np.asarray(a, dtype=float))[:, None]
    n1 = len(y)
    Q, Rv = sigma_x**2, sigma_y**2
    mf = np.empty((a.shape[0], n1))
    Pf = np.empty_like(mf)
    Pp = np.empty_like(mf)  # predicted variances P_{t|t-1}
    ll = np.zeros(a.shape[0])
    m_pred, P_pred = np.zeros(a.shape[0]), (Q / (1 - a * a))[:, 0]
    for t in range(n1):
        S = P_pred + Rv
        ll += -0.5 * (np.log(2 * np.pi * S) + (y[t] - m_pred) ** 2 / S)
        K = P_pred / S
        mf[:, t] = m_pred + K * (y[t] - m_pred)
        Pf[:, t] = (1 - K) * P_pred
        Pp[:, t] = P_pred
        m_pred, P_pred = a[:, 0] * mf[:, t], a[:, 0] ** 2 * Pf[:, t] + Q
    ms, Ps = mf.copy(), Pf.copy()
    C = np.empty((a.shape[0], n1 - 1))
    for t in range(n1 - 2, -1, -1):
        G = a[:, 0] * Pf[:, t] / Pp[:, t + 1]  # G_t = a P_{t|t} / P_{t+1|t}
        ms[:, t] = mf[:, t] + G * (ms[:, t + 1] - a[:, 0] * mf[:, t])
        Ps[:, t] = Pf[:, t] + G**2 * (Ps[:, t + 1] - Pp[:, t + 1])
        C[:, t] = G * Ps[:, t + 1]
    return Smoothed(ms, Ps, C, ll)


def exact_functionals(y: np.ndarray, a: np.ndarray | float, sigma_x: float, sigma_y: float) -> np.ndarray:
    """phi_n(h) for FUNCTIONALS, shape (P, 3): E[x_t x_{t+1} | y] = P_{t,t+1|n} + m_{t|n} m_{t+1|n}."""
    s = kalman_smoother(y, a, sigma_x, sigma_y)
    xx1 = (s.C + s.m[:, :-1] * s.m[:, 1:]).sum(axis=1)
    x2 = (s.P[:, :-1] + s.m[:, :-1] ** 2).sum(axis=1)
    x0 = s.P[:, 0] + s.m[:, 0] ** 2
    return np.stack([xx1, x2, x0], axis=1)


def score_from_functionals(S: np.ndarray, a: np.ndarray, sigma_x: float) -> np.ndarray:
    """Fisher's identity: d/da log p_a(y) = E[sum_t (x_{t+1} - a x_t) x_t]/sigma_x^2 + a E[x_0^2]/sigma_x^2
    - a/(1 - a^2), from smoothed (or estimated) functionals S = (xx1, x2, x0sq)."""
    q = sigma_x**2
    return (S[:, 0] - a * S[:, 1]) / q + a * S[:, 2] / q - a / (1 - a * a)


def exact_score(y: np.ndarray, a: np.ndarray | float, sigma_x: float, sigma_y: float) -> np.ndarray:
    a = np.atleast_1d(np.asarray(a, dtype=float))
    return score_from_functionals(exact_functionals(y, a, sigma_x, sigma_y), a, sigma_x)


def loglik(y: np.ndarray, a: np.ndarray | float, sigma_x: float, sigma_y: float) -> np.ndarray:
    return kalman_smoother(y, a, sigma_x, sigma_y).loglik


# -- sampling helpers --------------------------------------------------------------------------------------

def row_cdf(w: np.ndarray) -> np.ndarray:
    """Normalised cumulative weights of every row, shifted by the row index so that all rows can be searched
    at once in one sorted array (row r occupies (r, r + 1])."""
    cdf = np.cumsum(w, axis=1)
    cdf = cdf / cdf[:, -1:]
    cdf[:, -1] = 1.0
    return (cdf + np.arange(w.shape[0])[:, None]).ravel()


def draw_from_cdf(cdf: np.ndarray, N: int, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per entry of `rows`, drawn from that row's categorical (cdf from row_cdf)."""
    idx = np.searchsorted(cdf, rows + rng.random(rows.shape), side="right") - rows * N
    return np.minimum(idx, N - 1)


def categorical_rows(w: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `size` indices per row of the (unnormalised, non-negative) weight matrix w (R, N); O(R N log N)."""
    R, N = w.shape
    rows = np.repeat(np.arange(R), size)
    return draw_from_cdf(row_cdf(w), N, rows, rng).reshape(R, size)


def backward_draws(xi_t: np.ndarray, w_t: np.ndarray, xi_next: np.ndarray, a: np.ndarray, sigma_x: float,
                   rng: np.random.Generator) -> np.ndarray:
    """M~ indices J ~ Lambda_t(i, .) propto w_t^l q(xi_t^l, xi_{t+1}^i) for every particle i, shape (R, N, M~).

    Accept-reject (Olsson & Westerborn 2017, Sec. 3): propose l ~ w_t, accept with q / q_max where
    q_max = (2 pi sigma_x^2)^{-1/2}; draws still pending after AR_ROUNDS rounds use the exact categorical,
    which keeps the draw exact and the cost O(N) per draw on average. Small systems (R N^2 <= EXACT_MAX)
    draw from the full kernel Lambda_t directly, which has the same law and less Python overhead."""
    R, N = xi_t.shape
    if R * N * N <= EXACT_MAX:  # small systems: the exact categorical over the full kernel (same law)
        Lam = backward_kernel_exact(xi_t, w_t, xi_next, a, sigma_x).reshape(R * N, N)
        return categorical_rows(Lam, M_TILDE, rng).reshape(R, N, M_TILDE)
    cdf = row_cdf(w_t)
    J = np.empty(R * N * M_TILDE, dtype=np.int64)
    pend = np.arange(R * N * M_TILDE)  # flat index (r, i, k)
    r_of = pend // (N * M_TILDE)
    target = np.repeat(xi_next.ravel(), M_TILDE)
    for _ in range(AR_ROUNDS):
        if pend.size == 0:
            return J.reshape(R, N, M_TILDE)
        r = r_of[pend]
        prop = draw_from_cdf(cdf, N, r, rng)
        d = target[pend] - a[r] * xi_t[r, prop]
        acc = rng.random(pend.size) < np.exp(-0.5 * d * d / sigma_x**2)
        J[pend[acc]] = prop[acc]
        pend = pend[~acc]
    if pend.size:  # exact categorical for the few remaining draws
        r = r_of[pend]
        logL = np.log(w_t[r]) - 0.5 * (target[pend][:, None] - a[r, None] * xi_t[r]) ** 2 / sigma_x**2
        L = np.exp(logL - logL.max(axis=1, keepdims=True))
        J[pend] = categorical_rows(L, 1, rng)[:, 0]
    return J.reshape(R, N, M_TILDE)


def backward_kernel_exact(xi_t: np.ndarray, w_t: np.ndarray, xi_next: np.ndarray, a: np.ndarray,
                          sigma_x: float) -> np.ndarray:
    """Lambda_t(i, l) normalised, shape (R, N_next, N) (tests and backward sampling of one path)."""
    logL = np.log(w_t)[:, None, :] - 0.5 * (xi_next[:, :, None] - a[:, None, None] * xi_t[:, None, :]) ** 2 \
        / sigma_x**2
    L = np.exp(logL - logL.max(axis=2, keepdims=True))
    return L / L.sum(axis=2, keepdims=True)


def h_tilde(t: int, x_t: np.ndarray, x_next: np.ndarray) -> np.ndarray:
    """The three additive terms h~_t(x_t, x_{t+1}), stacked on the last axis."""
    x0 = x_t * x_t if t == 0 else np.zeros_like(x_t)
    return np.stack([x_t * x_next, x_t * x_t, x0], axis=-1)


# -- one PaRIS pass, unconditional or conditional (the PPG move) -------------------------------------------

@dataclass
class Pass:
    estimate: np.ndarray  # (R, 3) Pi(h) = sum_i w_n^i tau_n^i / sum_i w_n^i for FUNCTIONALS
    reference: np.ndarray | None  # (R, n+1) next reference path by backward sampling, if asked


def paris_pass(y: np.ndarray, a: np.ndarray, model: Model, N: int, rng: np.random.Generator,
               reference: np.ndarray | None = None, conditional: np.ndarray | None = None,
               backward_sample: bool = False) -> Pass:
    """PaRIS with a bootstrap filter (multinomial resampling every step) for R replicates.

    reference (R, n+1) and conditional (R,) bool: rows with conditional=True run conditional SMC, particle N-1
    clamped to the reference at every t (the N-1 free particles resample from all N and propagate); the PaRIS
    statistics of all N particles use the same backward draws (spec 53, algorithm 2, our reading).
    backward_sample: draw the next reference I_n ~ w_n, I_t ~ Lambda_t(I_{t+1}, .) (needs all particles kept)."""
    sx, sy = model.sigma_x, model.sigma_y
    R, n1 = len(a), len(y)
    a = np.asarray(a, dtype=float)
    clamp = np.zeros(R, dtype=bool) if conditional is None else np.asarray(conditional, dtype=bool)
    if clamp.any() and reference is None:
        raise ValueError("conditional rows need a reference path")
    rows_c = np.flatnonzero(clamp)

    def logg(t: int, x: np.ndarray) -> np.ndarray:
        return -0.5 * (y[t] - x) ** 2 / sy**2

    xi = rng.normal(size=(R, N)) * (sx / np.sqrt(1 - a * a))[:, None]  # chi_a
    if rows_c.size:
        xi[rows_c, N - 1] = reference[rows_c, 0]
    lw = logg(0, xi)
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    tau = np.zeros((R, N, 3))
    keep_xi = [xi] if backward_sample else None
    keep_w = [w] if backward_sample else None
    ar = np.arange(R)[:, None, None]
    for t in range(n1 - 1):
        A = categorical_rows(w, N, rng)  # multinomial resampling
        xi_next = a[:, None] * np.take_along_axis(xi, A, axis=1) + sx * rng.normal(size=(R, N))
        if rows_c.size:
            xi_next[rows_c, N - 1] = reference[rows_c, t + 1]
        J = backward_draws(xi, w, xi_next, a, sx, rng)  # (R, N, M~)
        xJ = xi[ar, J]  # (R, N, M~)
        tau = (tau[ar, J] + h_tilde(t, xJ, xi_next[:, :, None])).mean(axis=2)  # PaRIS update
        xi = xi_next
        lw = logg(t + 1, xi)
        w = np.exp(lw - lw.max(axis=1, keepdims=True))
        if backward_sample:
            keep_xi.append(xi)
            keep_w.append(w)
    est = (w[:, :, None] * tau).sum(axis=1) / w.sum(axis=1)[:, None]
    ref = None
    if backward_sample:
        ref = np.empty((R, n1))
        I = categorical_rows(w, 1, rng)[:, 0]
        ref[:, -1] = keep_xi[-1][np.arange(R), I]
        for t in range(n1 - 2, -1, -1):
            Lam = backward_kernel_exact(keep_xi[t], keep_w[t], ref[:, t + 1:t + 2], a, sx)[:, 0, :]
            I = categorical_rows(Lam, 1, rng)[:, 0]
            ref[:, t] = keep_xi[t][np.arange(R), I]
    return Pass(est, ref)


def ppg_chain(y: np.ndarray, model: Model, N: int, K: int, R: int, rng: np.random.Generator,
              conditional: bool = True) -> np.ndarray:
    """R independent PPG chains on the record y: returns Pi_k(h) for k = 0..K, shape (K+1, R, 3).

    k = 0 is the unconditional PaRIS pass that also draws the initial reference; k >= 1 are PPG iterations.
    conditional=False (negative control) drops the clamping, so every iteration is a fresh PaRIS pass."""
    a = np.full(R, model.a)
    out = np.empty((K + 1, R, 3))
    p = paris_pass(y, a, model, N, rng, backward_sample=K > 0)
    out[0], ref = p.estimate, p.reference
    cond = np.full(R, conditional)
    for k in range(1, K + 1):
        p = paris_pass(y, a, model, N, rng, reference=ref, conditional=cond, backward_sample=k < K)
        out[k], ref = p.estimate, p.reference
    return out


def stochastic_approximation(y: np.ndarray, model: Model, N: int, steps: int, gamma0: float, a0: float,
                             ppg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SA on a with gradients from Fisher's identity: a_{m+1} = clip(a_m + gamma0/sqrt(m) g_m, -0.99, 0.99).

    ppg (R,) bool: True = PPG-SA (one conditional pass per step, the reference carried over across parameter
    updates), False = PaRIS-SGD (a fresh PaRIS pass per step). Returns the iterates a_1..a_steps, (steps, R)."""
    R = len(ppg)
    a = np.full(R, float(a0))
    traj = np.empty((steps, R))
    ref = paris_pass(y, a, model, N, rng, backward_sample=True).reference  # initial reference at a_0
    for m in range(1, steps + 1):
        p = paris_pass(y, a, model, N, rng, reference=ref, conditional=ppg, backward_sample=bool(ppg.any()))
        if p.reference is not None:
            ref = p.reference
        g = score_from_functionals(p.estimate, a, model.sigma_x)
        a = np.clip(a + gamma0 / np.sqrt(m) * g, -0.99, 0.99)
        traj[m - 1] = a
    return traj
