"""Bound curves of paper 47 (arXiv 2510.14246). The theorem's statement, constants and (d, H) exponents
could not be read (spec 47): the claimed rate is Regret(K) = O~(poly(d, H) sqrt(K)) (abstract), so the
constant is fitted and every claim is `reconstructed`.

- sqrt_fit    c_hat sqrt(k), c_hat fitted by least squares in log space on the first half of the episodes
              (spec 47, "Bound curves").
- linear_ref  (V* - V^random) k: the trivial linear regret of the uniform policy, for scale.
"""

from __future__ import annotations

import numpy as np


def sqrt_fit_constant(k: np.ndarray, R: np.ndarray) -> float:
    """c_hat minimising sum (log R(k) - log c - log sqrt(k))^2 over k <= K / 2 (the first half)."""
    k = np.asarray(k, dtype=float)
    R = np.asarray(R, dtype=float)
    keep = (k <= k.max() / 2) & (R > 0)
    if keep.sum() == 0:
        keep = R > 0
    if keep.sum() == 0:
        return 0.0
    return float(np.exp(np.mean(np.log(R[keep]) - 0.5 * np.log(k[keep]))))


def sqrt_curve(k: np.ndarray, c: float) -> np.ndarray:
    return c * np.sqrt(np.asarray(k, dtype=float))


def linear_ref(k: np.ndarray, gap: float) -> np.ndarray:
    return gap * np.asarray(k, dtype=float)
