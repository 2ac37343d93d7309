"""Exact information measures, the BROJA PID solver and the paper's pipeline on discrete tables.

Every function works on a batch of tables: a joint p(x1, x2, y) is an array of shape (B, |X1|, |X2|, |Y|).
All information quantities are in bits; entropies use 0 log 0 = 0.

The convex programs (spec 05, "Solver"). The PID needs q* = argmax_{q in Delta_p} H_q(Y | X1, X2) and the
shared-information bound needs argmax_{r in Delta^(i)} H_r(X_i | X_-i, Y). Both are one program with the
axes permuted: for a joint p(t, u, v) with target T,

    maximise H_q(T | U, V)  over  q >= 0 with  q(t, u) = p(t, u),  q(t, v) = p(t, v).

We solve its Lagrange dual, a geometric program (derivation in `max_cond_entropy`), with a batched
log-barrier Newton method, recover the primal q from the central-path multipliers, polish q onto the
constraint set with iterative proportional fitting, and report the duality gap f(q) - D(lambda, mu) as a
certificate of optimality (weak duality: a feasible q and a dual-feasible (lambda, mu) bracket the optimum).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LN2 = float(np.log(2.0))


# ------------------------------------------------------------------------------------------ info measures
def xlogx(p: np.ndarray) -> np.ndarray:
    """p log p (natural log) elementwise with 0 log 0 = 0."""
    p = np.asarray(p, dtype=float)
    pos = p > 0
    return np.where(pos, p * np.log(np.where(pos, p, 1.0)), 0.0)


def entropy(p: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Shannon entropy in bits of the distribution(s) spread over `axes` (the others are batch axes)."""
    return -xlogx(p).sum(axis=axes) / LN2


def H(P: np.ndarray, keep: str) -> np.ndarray:
    """Entropy (bits) of the marginal of P (B, X1, X2, Y) on the variables named in `keep` ('1', '2', 'y')."""
    drop = tuple(1 + i for i, c in enumerate("12y") if c not in keep)
    M = P.sum(axis=drop) if drop else P
    return entropy(M, tuple(range(1, M.ndim)))


def mi(P: np.ndarray, a: str, b: str, given: str = "") -> np.ndarray:
    """I(A; B | C) in bits for variable groups named by '1', '2', 'y' (e.g. mi(P, '12', 'y'))."""
    c = given
    h_c = H(P, c) if c else 0.0
    return H(P, a + c) + H(P, b + c) - H(P, a + b + c) - h_c


# ------------------------------------------------------------------------------------------ the solver
@dataclass
class Solution:
    q: np.ndarray  # (B, T, U, V) the maximiser, polished onto the constraints
    h_max: np.ndarray  # (B,) max H_q(T | U, V) in bits, evaluated at q
    gap: np.ndarray  # (B,) certificate f(q) - D >= 0 in bits (optimality error bound)
    infeasibility: np.ndarray  # (B,) max marginal error of q after polishing


def _dual_parts(lam: np.ndarray, mu: np.ndarray, valid: np.ndarray, active: np.ndarray):  # noqa: ANN202
    """s_tuv = lam_tu + mu_tv on the valid cells; F_uv = log sum_t exp(s_tuv); pi = softmax_t(s)."""
    s = lam[:, :, :, None] + mu[:, :, None, :]
    s = np.where(valid, s, -np.inf)
    smax = s.max(axis=1, keepdims=True)
    smax = np.where(np.isfinite(smax), smax, 0.0)
    e = np.exp(s - smax)
    tot = e.sum(axis=1, keepdims=True)
    F = np.where(active, (np.log(np.where(tot > 0, tot, 1.0)) + smax)[:, 0], -1.0)
    pi = np.where(valid, e / np.where(tot > 0, tot, 1.0), 0.0)
    return F, pi


def max_cond_entropy(P: np.ndarray, tau_final: float = 1e9, mu_step: float = 10.0, max_newton: int = 60,
                     polish_iters: int = 500) -> Solution:
    """max H_q(T|U,V) over {q >= 0 : q(t,u) = p(t,u), q(t,v) = p(t,v)} for a batch P of shape (B, T, U, V).

    Primal (nats): minimise f(q) = sum_tuv q log(q_tuv / q_.uv)  (= -H_q(T|U,V)), convex.
    Dual: f restricted to one (u, v) is the perspective of negative entropy, whose conjugate is the
    indicator of {s : log sum_t exp(s_t) <= 0}; hence
        D* = max_{lam, mu}  sum_tu lam_tu p(t,u) + sum_tv mu_tv p(t,v)
             s.t.  F_uv = log sum_t exp(lam_tu + mu_tv) <= 0  for every pair (u, v),
    where the sum runs over the t with p(t,u) > 0 and p(t,v) > 0 (other cells are forced to 0 in Delta).
    Barrier: minimise -tau * D(lam, mu) - sum_uv log(-F_uv); on the central path
    q_tuv = softmax_t(s_uv)_t / (tau * (-F_uv)) meets both marginals exactly (stationarity in lam, mu).
    Gauge: (lam_t. + c_t, mu_t. - c_t) leaves everything unchanged, so one mu per t is pinned at 0.
    """
    P = np.asarray(P, dtype=float)
    B, nt, nu, nv = P.shape
    a = P.sum(axis=3)  # (B, T, U) the fixed q(t, u)
    b = P.sum(axis=2)  # (B, T, V) the fixed q(t, v)
    valid = (a[:, :, :, None] > 0) & (b[:, :, None, :] > 0)
    active = valid.any(axis=1)  # (B, U, V) pairs whose constraint matters
    m = active.sum(axis=(1, 2)).astype(float)
    lam_free = a > 0
    mu_free = b > 0
    v0 = b.argmax(axis=2)  # pin the gauge on the heaviest v of every t
    pin = np.zeros_like(mu_free)
    np.put_along_axis(pin, v0[:, :, None], True, axis=2)
    mu_free &= ~pin
    free = np.concatenate([lam_free.reshape(B, -1), mu_free.reshape(B, -1)], axis=1)
    n_l = nt * nu

    # strictly feasible start: every s = -log T - 1, so F <= -1 < 0
    lam = np.where(lam_free, -np.log(nt) - 1.0, 0.0)
    mu = np.zeros((B, nt, nv))

    def split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[:, :n_l].reshape(B, nt, nu), x[:, n_l:].reshape(B, nt, nv)

    def phi(x: np.ndarray, tau: np.ndarray) -> np.ndarray:
        lm, mm = split(x)
        F, _ = _dual_parts(lm, mm, valid, active)
        dual = (a * lm).sum(axis=(1, 2)) + (b * mm).sum(axis=(1, 2))
        bad = (active & (F >= 0)).any(axis=(1, 2))
        barrier = -np.log(np.where(active, -np.where(F < 0, F, -1.0), 1.0)).sum(axis=(1, 2))
        return np.where(bad, np.inf, -tau * dual + barrier)

    x = np.concatenate([lam.reshape(B, -1), mu.reshape(B, -1)], axis=1)
    tau = np.maximum(m, 1.0)  # start where the central path has F_uv ~ -1/(tau q_uv) = O(1)
    eye_u, eye_v, eye_t = np.eye(nu), np.eye(nv), np.eye(nt)
    tau_stop = tau_final * np.maximum(m, 1.0)  # duality gap m / tau <= 1 / tau_final nats
    while True:
        done = np.zeros(B, dtype=bool)
        for _ in range(max_newton):
            lm, mm = split(x)
            F, pi = _dual_parts(lm, mm, valid, active)
            w = np.where(active, 1.0 / -np.where(active, F, -1.0), 0.0)  # (B, U, V)
            wpi = w[:, None] * pi  # (B, T, U, V)
            g_l = -tau[:, None, None] * a + wpi.sum(axis=3)
            g_m = -tau[:, None, None] * b + wpi.sum(axis=2)
            g = np.concatenate([g_l.reshape(B, -1), g_m.reshape(B, -1)], axis=1)
            g = np.where(free, g, 0.0)
            # Hessian of -log(-F_uv) in s: w (diag pi - pi pi^T) + w^2 pi pi^T = w diag pi + (w^2 - w) pi pi^T
            KK = np.einsum("buv,btuv,bsuv->btsuv", w * w - w, pi, pi)  # (B, T, T, U, V)
            H_ll = np.einsum("btsuv,uw->btusw", KK, eye_u) + np.einsum(
                "btu,ts,uw->btusw", wpi.sum(axis=3), eye_t, eye_u)
            H_mm = np.einsum("btsuv,vw->btvsw", KK, eye_v) + np.einsum(
                "btv,ts,vw->btvsw", wpi.sum(axis=2), eye_t, eye_v)
            H_lm = np.einsum("btsuv->btusv", KK) + np.einsum("btuv,ts->btusv", wpi, eye_t)
            Hs = np.empty((B, n_l + nt * nv, n_l + nt * nv))
            Hs[:, :n_l, :n_l] = H_ll.reshape(B, n_l, n_l)
            Hs[:, n_l:, n_l:] = H_mm.reshape(B, nt * nv, nt * nv)
            Hs[:, :n_l, n_l:] = H_lm.reshape(B, n_l, nt * nv)
            Hs[:, n_l:, :n_l] = np.swapaxes(Hs[:, :n_l, n_l:], 1, 2)
            fm = free[:, :, None] & free[:, None, :]
            Hs = np.where(fm, Hs, 0.0)
            idx = np.arange(Hs.shape[1])
            Hs[:, idx, idx] = np.where(free, Hs[:, idx, idx], 1.0)
            # Jacobi scaling keeps the Newton systems well conditioned as tau grows
            d = 1.0 / np.sqrt(np.maximum(Hs[:, idx, idx], 1e-300))
            # the small ridge handles dual optima that are not unique (flat faces of the dual, e.g. AND), where
            # the scaled Hessian is singular to machine precision once the active constraints dominate
            Hsc = Hs * d[:, :, None] * d[:, None, :] + 1e-11 * np.eye(Hs.shape[1])
            dx = -d * np.linalg.solve(Hsc, (d * g)[:, :, None])[:, :, 0]
            dx = np.where(free & ~done[:, None], dx, 0.0)
            dec = -(g * dx).sum(axis=1)  # Newton decrement squared
            done |= dec / 2 <= 1e-10
            if done.all():
                break
            phi0 = phi(x, tau)
            step = np.ones(B)
            ok = done.copy()
            for k in range(40):
                cand = phi(x + step[:, None] * dx, tau)
                # near the centre (small decrement) Newton converges quadratically and a feasible full step is
                # taken without Armijo, whose test drowns in the rounding of phi ~ tau once tau is large
                quad = (dec < 1e-3) & np.isfinite(cand) if k == 0 else False
                ok = ok | quad | (cand <= phi0 - 0.25 * step * dec)
                if ok.all():
                    break
                step = np.where(ok, step, step * 0.5)
            stuck = ~ok  # no decrease within rounding: this tau is as good as it gets
            step = np.where(stuck, 0.0, step)
            done |= stuck
            x = x + step[:, None] * dx
        if (tau >= tau_stop).all():
            break
        tau = np.minimum(tau * mu_step, tau_stop)

    lm, mm = split(x)
    F, pi = _dual_parts(lm, mm, valid, active)
    w = np.where(active, 1.0 / -np.where(active, F, -1.0), 0.0)
    q = w[:, None] * pi / tau[:, None, None, None]
    dual = (a * lm).sum(axis=(1, 2)) + (b * mm).sum(axis=(1, 2))  # D(lam, mu) <= f* (dual feasible)
    q = ipf(q, a, b, polish_iters)
    f = (xlogx(q).sum(axis=(1, 2, 3)) - xlogx(q.sum(axis=1)).sum(axis=(1, 2)))
    err = np.maximum(np.abs(q.sum(axis=3) - a).max(axis=(1, 2)), np.abs(q.sum(axis=2) - b).max(axis=(1, 2)))
    return Solution(q=q, h_max=-f / LN2, gap=(f - dual) / LN2, infeasibility=err)


def ipf(q: np.ndarray, a: np.ndarray, b: np.ndarray, iters: int) -> np.ndarray:
    """Iterative proportional fitting of every t-slice of q onto row sums a(t, u) and column sums b(t, v)."""
    q = np.where((a[:, :, :, None] > 0) & (b[:, :, None, :] > 0), q, 0.0)
    for _ in range(iters):
        rs = q.sum(axis=3, keepdims=True)
        q = q * np.where(rs > 0, a[:, :, :, None] / np.where(rs > 0, rs, 1.0), 0.0)
        cs = q.sum(axis=2, keepdims=True)
        q = q * np.where(cs > 0, b[:, :, None, :] / np.where(cs > 0, cs, 1.0), 0.0)
        if np.abs(q.sum(axis=3) - a).max() < 1e-15 and np.abs(cs[:, :, 0] - b).max() < 1e-15:
            break
    return q


# ------------------------------------------------------------------------------------------ PID
def cond_independent_coupling(P: np.ndarray) -> np.ndarray:
    """q(x1, x2, y) = p(x1|y) p(x2|y) p(y): a point of Delta_p, NOT its optimum (negative control only)."""
    p1y = P.sum(axis=2)
    p2y = P.sum(axis=1)
    py = P.sum(axis=(1, 2))
    return np.where(py[:, None, None, :] > 0, p1y[:, :, None, :] * p2y[:, None, :, :]
                    / np.where(py > 0, py, 1.0)[:, None, None, :], 0.0)


@dataclass
class PID:
    R: np.ndarray
    U1: np.ndarray
    U2: np.ndarray
    S: np.ndarray
    I_q: np.ndarray  # I_{q*}(X1, X2; Y)
    gap: np.ndarray  # optimality certificate of q* (bits)


def pid(P: np.ndarray, coupling: str = "broja") -> PID:
    """BROJA PID (spec 05): q* = argmin_{q in Delta_p} I_q(X1,X2;Y); R = I(X1;Y) + I(X2;Y) - I_q*,
    U1 = I_q* - I(X2;Y), U2 = I_q* - I(X1;Y), S = I_p(X1,X2;Y) - I_q*."""
    if coupling == "broja":
        sol = max_cond_entropy(np.moveaxis(P, 3, 1))  # target Y, conditioners X1, X2
        q = np.moveaxis(sol.q, 1, 3)
        gap = sol.gap
    elif coupling == "cond_independent":
        q = cond_independent_coupling(P)
        gap = np.zeros(len(P))
    else:
        raise ValueError(f"unknown coupling {coupling!r}")
    I_q = mi(q, "12", "y")
    I1, I2 = mi(P, "1", "y"), mi(P, "2", "y")
    return PID(R=I1 + I2 - I_q, U1=I_q - I2, U2=I_q - I1, S=mi(P, "12", "y") - I_q, I_q=I_q, gap=gap)
