"""The comp-sum H-consistency bound: the error transformation T_tau and its inverse Gamma_tau = T_tau^{-1}.

For H symmetric and complete (here: every tabular score function, so both minimizability gaps vanish),
    R_01(h) - R*_01 <= Gamma_tau(R_tau(h) - R*_tau),
with, for t in [0, 1] and a = 1/(2 - tau) (spec 24's statement of the paper's comp-sum bound; the theorem
text itself could not be read, so the tau > 1 branches are `reconstructed`):
    tau in [0, 1):  T(t) = 2^(1-tau)/(1-tau) * [1 - (((1+t)^a + (1-t)^a)/2)^(2-tau)]
    tau = 1:        T(t) = (1+t)/2 log(1+t) + (1-t)/2 log(1-t)
    tau in (1, 2):  T(t) = 1/((tau-1) n^(tau-1)) * [(((1+t)^a + (1-t)^a)/2)^(2-tau) - 1]
    tau >= 2:       T(t) = t / ((tau-1) n^(tau-1))
`scale` multiplies T (1 in the paper; other values only exist as negative controls).
"""

from __future__ import annotations

import math

import numpy as np


def regime(tau: float) -> str:
    """Which branch of T_tau (and which claims) a tau belongs to."""
    if tau <= 1:
        return "tau<=1"
    return "1<tau<2" if tau < 2 else "tau>=2"


def T_tau(t: np.ndarray | float, tau: float, n: int, scale: float = 1.0) -> np.ndarray:
    """The error transformation T_tau(t) on [0, 1] (t is clipped there), vectorised over t."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if tau == 1:
            # (1-t) log(1-t) -> 0 at t = 1
            inner = np.where(t < 1, t, 0.0)
            val = np.where(t < 1, 0.5 * (1 + t) * np.log1p(t) + 0.5 * (1 - t) * np.log1p(-inner), math.log(2.0))
        elif tau < 2:
            a = 1.0 / (2.0 - tau)
            # d = ((1+t)^a + (1-t)^a)/2 - 1 and g = (1+d)^(2-tau) - 1, both without cancellation near t = 0
            d = 0.5 * (np.expm1(a * np.log1p(t)) + np.expm1(a * np.log1p(-t)))
            g = np.expm1((2.0 - tau) * np.log1p(d))
            if tau < 1:
                val = 2.0 ** (1.0 - tau) / (1.0 - tau) * (-g)
            else:
                val = g / ((tau - 1.0) * n ** (tau - 1.0))
        else:
            val = t / ((tau - 1.0) * n ** (tau - 1.0))
    return scale * np.asarray(val, dtype=float)


def Gamma_tau(x: np.ndarray | float, tau: float, n: int, scale: float = 1.0) -> np.ndarray:
    """Gamma_tau = T_tau^{-1} (brentq per value); 1 for x >= T_tau(1), 0 for x <= 0."""
    from scipy.optimize import brentq

    x = np.atleast_1d(np.asarray(x, dtype=float))
    top = float(T_tau(1.0, tau, n, scale))
    out = np.empty_like(x)
    for i, v in enumerate(x):
        if v <= 0:
            out[i] = 0.0
        elif v >= top:
            out[i] = 1.0
        else:
            out[i] = brentq(lambda t, v=v: float(T_tau(t, tau, n, scale)) - v, 0.0, 1.0, xtol=1e-15, rtol=1e-13)
    return out
