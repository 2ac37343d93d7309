"""The groupwise-regret reduction (Acharya et al. 2023, arXiv 2310.04652), vectorised across replicates.

One external-regret learner A_g per group g (here the Vovk–Azoury–Warmuth forecaster, i.e. online ridge
regression), each fed only the rounds with x_t in g, and AdaNormalHedge (Luo & Schapire 2015) as the
sleeping-experts aggregator over the |G| learners (expert g is awake iff x_t in g).

Shapes: S replicates (seeds or permutations) run in lock-step, T rounds, d features, G groups.
Loss: l(yhat, y) = (yhat - y)^2 / 4 on [-1, 1] x [-1, 1], so l is in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_HALF = float(np.log(0.5))


def loss(yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared loss scaled into [0, 1]: (yhat - y)^2 / 4."""
    return 0.25 * (yhat - y) ** 2


def anh_log_weight(R: np.ndarray, C: np.ndarray) -> np.ndarray:
    """log w(R, C) for AdaNormalHedge, w(R, C) = 1/2 [Phi(R+1, C+1) - Phi(R-1, C+1)],
    Phi(R, C) = exp([R]_+^2 / (3C)). Returns -inf where w = 0 (R <= -1).

    Computed in log space: Phi overflows float64 once [R]_+^2/(3C) > 709, i.e. after a few thousand
    rounds of an expert that is doing well. With a = [R+1]_+^2/(3(C+1)) and b = [R-1]_+^2/(3(C+1)),
    log w = log 1/2 + a + log(1 - e^(b-a)), and b - a < 0 whenever R > -1.
    """
    R = np.asarray(R, dtype=float)
    C1 = np.asarray(C, dtype=float) + 1.0
    a = np.maximum(R + 1.0, 0.0) ** 2 / (3.0 * C1)
    b = np.maximum(R - 1.0, 0.0) ** 2 / (3.0 * C1)
    alive = R > -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = LOG_HALF + a + np.log(-np.expm1(np.where(alive, b - a, -1.0)))
    return np.where(alive, out, -np.inf)


def anh_probabilities(R: np.ndarray, C: np.ndarray, awake: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """p_t(g) proportional to pi_g w(R_g, C_g) over the awake experts; uniform over the awake experts when
    every awake weight is 0. Rows (last axis = experts) with no awake expert get all zeros."""
    lw = np.where(awake, anh_log_weight(R, C) + log_prior, -np.inf)
    top = lw.max(axis=-1, keepdims=True)
    some = np.isfinite(top)
    with np.errstate(invalid="ignore"):
        e = np.where(some, np.exp(lw - np.where(some, top, 0.0)), awake.astype(float))
    z = e.sum(axis=-1, keepdims=True)
    return np.divide(e, z, out=np.zeros_like(e), where=z > 0)


@dataclass
class StreamRecord:
    """Cumulative per-group quantities at each checkpoint; arrays of shape (n_checkpoints, S, G)."""

    t: np.ndarray  # (n_checkpoints,) global rounds seen
    T_g: np.ndarray  # rounds with x_t in g
    L_mix: np.ndarray  # the reduction's loss on g's rounds (its actual prediction, the p-mixture)
    L_flip: np.ndarray  # the same with sign-flipped base learners (negative control); zeros if not run
    L_base: np.ndarray  # A_g's own loss on g's rounds
    L_global: np.ndarray  # one VAW learner on every round (= A_all), counted on g's rounds
    R_anh: np.ndarray  # AdaNormalHedge regret to expert g (in expected loss): the R_g of the potential
    C_anh: np.ndarray  # sum of |r_g|


def vaw_predict(P: np.ndarray, b: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VAW forecast x^T (A + x x^T)^{-1} b for every learner, with P = A^{-1} (A = lam I + sum x x^T).

    By Sherman–Morrison, x^T (A + x x^T)^{-1} b = x^T P b / (1 + x^T P x) (P is symmetric).
    Returns (forecast, P x, x^T P x)."""
    Px = np.matmul(P, x[:, None, :, None])[..., 0]  # (S, G, d)
    q = np.einsum("sgi,si->sg", Px, x)
    return np.einsum("sgi,sgi->sg", Px, b) / (1.0 + q), Px, q


def run_stream(
    X: np.ndarray,
    Y: np.ndarray,
    member: np.ndarray,
    checkpoints: np.ndarray,
    lam: float = 1.0,
    base_sign: float = 1.0,
    flipped: bool = True,
    progress=None,  # noqa: ANN001 - a boundrun Task or None
) -> StreamRecord:
    """Run the reduction (and its baselines) on S streams at once.

    X (S, T, d), Y (S, T), member (S, T, G) bool with member[..., 0] = the group "everyone" (so A_0 is
    also the `global_ridge` baseline). base_sign = -1 makes every A_g output -yhat_g (negative control).
    flipped=True also runs a second AdaNormalHedge over the sign-flipped learners' forecasts (the
    control of spec check 1). checkpoints: sorted global round counts (1-based) at which to record.
    """
    S, T, d = X.shape
    G = member.shape[2]
    if not np.all(member[:, :, 0]):
        raise ValueError("group 0 must be the group of everyone")
    P = np.broadcast_to(np.eye(d) / lam, (S, G, d, d)).copy()  # (lam I + sum_{s<t, s in g} x x^T)^{-1}
    b = np.zeros((S, G, d))  # sum_{s<t, s in g} y_s x_s
    log_prior = np.full(G, -np.log(G))  # pi_g = 1/|G|
    n_agg = 2 if flipped else 1
    signs = [base_sign, -base_sign][:n_agg]
    R = np.zeros((n_agg, S, G))
    C = np.zeros((n_agg, S, G))
    L_agg = np.zeros((n_agg, S, G))
    L_base = np.zeros((S, G))
    L_glob = np.zeros((S, G))
    cnt = np.zeros((S, G))
    ck = np.asarray(checkpoints, dtype=int)
    n_ck = len(ck)
    rec = {k: np.zeros((n_ck, S, G)) for k in ("T_g", "L_mix", "L_flip", "L_base", "L_global", "R", "C")}
    j = 0
    step = max(T // 100, 1)
    for t in range(T):
        x, y = X[:, t], Y[:, t]
        awake = member[:, t]
        a = awake.astype(float)
        f, Px, q = vaw_predict(P, b, x)
        yhat_vaw = np.clip(f, -1.0, 1.0)  # y in [-1, 1], so clipping never hurts
        l_vaw = loss(yhat_vaw, y[:, None])
        L_glob += a * l_vaw[:, :1]
        for k, sgn in enumerate(signs):
            yhat_g = sgn * yhat_vaw
            l_g = l_vaw if sgn > 0 else loss(yhat_g, y[:, None])
            p = anh_probabilities(R[k], C[k], awake, log_prior)
            yhat = (p * yhat_g).sum(axis=1)  # the learner's prediction
            L_agg[k] += a * loss(yhat, y)[:, None]
            r = a * ((p * l_g).sum(axis=1, keepdims=True) - l_g)  # instantaneous regret, awake experts only
            R[k] += r
            C[k] += np.abs(r)
            if k == 0:
                L_base += a * l_g
        # update the awake learners: Sherman–Morrison on P, and b += y x
        u = Px / np.sqrt(1.0 + q)[..., None]
        P -= a[..., None, None] * (u[..., :, None] * u[..., None, :])
        b += a[..., None] * (y[:, None, None] * x[:, None, :])
        cnt += a
        while j < n_ck and ck[j] == t + 1:
            rec["T_g"][j] = cnt
            rec["L_mix"][j] = L_agg[0]
            rec["L_flip"][j] = L_agg[1] if flipped else 0.0
            rec["L_base"][j] = L_base
            rec["L_global"][j] = L_glob
            rec["R"][j] = R[0]
            rec["C"][j] = C[0]
            j += 1
        if progress is not None and (t + 1) % step == 0:
            progress.advance(step)
    if progress is not None and T % step:
        progress.advance(T % step)
    return StreamRecord(t=ck, T_g=rec["T_g"], L_mix=rec["L_mix"], L_flip=rec["L_flip"], L_base=rec["L_base"],
                        L_global=rec["L_global"], R_anh=rec["R"], C_anh=rec["C"])


def group_sums(X: np.ndarray, Y: np.ndarray, member: np.ndarray, checkpoints: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group running sums at each checkpoint: Sxx (n_ck, S, G, d, d), Sxy (n_ck, S, G, d), Syy (n_ck, S, G),
    accumulated segment by segment so the whole pass costs O(S T G d^2)."""
    S, T, d = X.shape
    G = member.shape[2]
    ck = np.asarray(checkpoints, dtype=int)
    Sxx = np.zeros((len(ck), S, G, d, d))
    Sxy = np.zeros((len(ck), S, G, d))
    Syy = np.zeros((len(ck), S, G))
    acc_xx, acc_xy, acc_yy = np.zeros((S, G, d, d)), np.zeros((S, G, d)), np.zeros((S, G))
    t0 = 0
    for j, t1 in enumerate(ck):
        Xs, Ys, Ms = X[:, t0:t1], Y[:, t0:t1], member[:, t0:t1].astype(float)
        XM = np.swapaxes(Ms, 1, 2)[..., None] * Xs[:, None]  # (S, G, n, d): x_s 1[s in g]
        acc_xx += np.matmul(np.swapaxes(XM, 2, 3), Xs[:, None])
        acc_xy += np.einsum("sgnd,sn->sgd", XM, Ys)
        acc_yy += np.einsum("sng,sn->sg", Ms, Ys**2)
        Sxx[j], Sxy[j], Syy[j] = acc_xx, acc_xy, acc_yy
        t0 = t1
    return Sxx, Sxy, Syy


def comparator(Sxx: np.ndarray, Sxy: np.ndarray, Syy: np.ndarray, lam_cmp: float = 1e-6
               ) -> tuple[np.ndarray, np.ndarray]:
    """The per-group comparator (`oracle_group_best`): theta_hat = (Sxx + lam_cmp I)^{-1} Sxy, and its loss
    sum_{t in g} (theta_hat . x_t - y_t)^2 / 4 = (Syy - 2 theta^T Sxy + theta^T Sxx theta) / 4.
    Returns (loss, ||theta_hat||), both of shape Sxx.shape[:-2]."""
    d = Sxx.shape[-1]
    theta = np.linalg.solve(Sxx + lam_cmp * np.eye(d), Sxy[..., None])[..., 0]
    quad = np.einsum("...i,...ij,...j->...", theta, Sxx, theta)
    L = 0.25 * (Syy - 2.0 * np.einsum("...i,...i->...", theta, Sxy) + quad)
    return np.maximum(L, 0.0), np.linalg.norm(theta, axis=-1)
