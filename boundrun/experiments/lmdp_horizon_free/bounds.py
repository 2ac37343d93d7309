"""Bound curves of paper 52 (arXiv 2210.11604). Only the abstract and the problem setup were readable
(spec 52): the theorem numbers and the constants hidden in O~ / Omega are unknown, so every curve here has
its constant fitted as the spec says, and the claims carry `reconstructed` where that matters.

- iota = 2 ln(2 M S A H K / delta)                    the log term of the setup section (delta = 0.05).
- ub_shape  c sqrt(Var* M Gamma S A k) + c2 M S A Gamma iota   (abstract: O~(sqrt(Var* M Gamma S A K)) plus a
  lower-order term); (c, c2) >= 0 fitted by non-negative least squares on the grid points k <= K/2.
- lb_shape  c_lb sqrt(Var* M S A k)                      (abstract: Omega(sqrt(Var* M S A K)), Gamma = 2), visual.
- kwon_shape  c_k sqrt(M S^2 A H K)                      (Kwon et al. 2021 rescaled to total reward <= 1),
  fitted at the smallest H of the horizon sweep: shows the prior bound's sqrt(H) growth.
"""

from __future__ import annotations

import numpy as np


def iota(M: int, S: int, A: int, H: int, K: int, delta: float) -> float:
    return float(2.0 * np.log(2.0 * M * S * A * H * K / delta))


def ub_shape(k: np.ndarray, var: float, M: int, Gamma: int, S: int, A: int, iota_: float,
             c: float, c2: float) -> np.ndarray:
    k = np.asarray(k, dtype=float)
    return c * np.sqrt(var * M * Gamma * S * A * k) + c2 * M * S * A * Gamma * iota_


def fit_ub(k: np.ndarray, R: np.ndarray, var: float, M: int, Gamma: int, S: int, A: int,
           iota_: float) -> tuple[float, float]:
    """(c, c2) >= 0 minimising sum (R - ub_shape)^2 over the first half of the episodes (k <= K/2)."""
    from scipy.optimize import nnls

    k = np.asarray(k, dtype=float)
    keep = k <= k.max() / 2
    if keep.sum() < 1:
        keep = k <= k.min()
    X = np.stack([np.sqrt(var * M * Gamma * S * A * k[keep]), np.full(keep.sum(), M * S * A * Gamma * iota_)],
                 axis=1)
    coef, _ = nnls(X, np.asarray(R, dtype=float)[keep])
    return float(coef[0]), float(coef[1])


def lb_shape(k: np.ndarray, var: float, M: int, S: int, A: int, c: float) -> np.ndarray:
    return c * np.sqrt(var * M * S * A * np.asarray(k, dtype=float))


def fit_lb(k: np.ndarray, R: np.ndarray, var: float, M: int, S: int, A: int) -> float:
    """c_lb: the largest constant keeping lb_shape under the mean regret on the first half of the grid."""
    k = np.asarray(k, dtype=float)
    keep = k <= k.max() / 2
    return float(np.min(np.asarray(R)[keep] / lb_shape(k[keep], var, M, S, A, 1.0)))


def kwon_shape(H: np.ndarray, K: int, M: int, S: int, A: int, c: float) -> np.ndarray:
    return c * np.sqrt(M * S**2 * A * np.asarray(H, dtype=float) * K)
