"""Bound curves of spec 32 on the iteration grid t (all `reconstructed`: the paper's theorem could not be read).

log_bound: online gradient descent on a mu-strongly convex F with gradient bound G and steps u_t = c0/t,
c0 >= 1/mu (Hazan, Agarwal & Kale 2007, Thm 1 argument; spec 32 claim 2):
    Regret_t <= (c0 G^2 / 2) (1 + ln t)      (= G^2/(2 mu) (1 + ln t) at c0 = 1/mu).
log_fit / sqrt_fit: the two candidate shapes a + b ln t and a' sqrt(t), least squares on the first half of
the grid (the verdict compares them on the second half).
"""

from __future__ import annotations

import numpy as np


def log_bound(t: np.ndarray, c0: float, G: float) -> np.ndarray:
    """(c0 G^2 / 2)(1 + ln t): the OGD log-regret curve for steps c0/t with c0 >= 1/mu."""
    return 0.5 * c0 * G**2 * (1.0 + np.log(np.asarray(t, dtype=float)))


def first_half(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    return t <= t.max() / 2


def log_fit(t: np.ndarray, R: np.ndarray) -> np.ndarray:
    """a + b ln t fitted by least squares on t <= T/2, evaluated on the whole grid."""
    t = np.asarray(t, dtype=float)
    k = first_half(t)
    A = np.column_stack([np.ones(k.sum()), np.log(t[k])])
    (a, b), *_ = np.linalg.lstsq(A, np.asarray(R, dtype=float)[k], rcond=None)
    return a + b * np.log(t)


def sqrt_fit(t: np.ndarray, R: np.ndarray) -> np.ndarray:
    """a' sqrt(t) fitted by least squares (through the origin) on t <= T/2, evaluated on the whole grid."""
    t = np.asarray(t, dtype=float)
    k = first_half(t)
    x = np.sqrt(t[k])
    a = float(x @ np.asarray(R, dtype=float)[k] / (x @ x))
    return a * np.sqrt(t)


def log_shape_ratio(R_T: float, R_T10: float, T: int) -> float:
    """Verdict 1's statistic: (Regret_T / ln T) / (Regret_{T/10} / ln(T/10)); about 1 for a log curve and
    sqrt(10) ln(T/10)/ln T (2.2 at T = 2000) for a sqrt(T) curve."""
    return (R_T / np.log(T)) / (R_T10 / np.log(T // 10))
