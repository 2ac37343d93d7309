"""Bound curves of paper 02 (arXiv 2306.02208). The paper's constants could not be read (spec): every
constant here is derived in the spec or fitted, and the claims carry `reconstructed` as their source.

- opt_rate  K^(1/3) T^(2/3): the optimal rate (abstract claims 1, 3, 5), constant 1, reference line.
- ue_upper  3 K^(1/3) T^(2/3) (ln T)^(1/3) + K + 2: uniform exploration with m = (T/K)^(2/3)(ln T)^(1/3)
  pulls per arm, by Hoeffding (constant 3 derived in the spec; +K for integer pull counts).
- fit_<alg> c_hat K^(1/3) T^(2/3), c_hat fitted by least squares in log space on the first half of the grid.
- lower_shape c_lb K^(1/3) T^(2/3), c_lb the smallest worst-case-over-instances ratio of sweep 3
  (abstract claim 1, Omega(K^(1/3) T^(2/3)); the Omega constant is unknown, visual only).
"""

from __future__ import annotations

import numpy as np


def opt_rate(K: np.ndarray | float, T: np.ndarray | float) -> np.ndarray:
    return np.asarray(K, dtype=float) ** (1 / 3) * np.asarray(T, dtype=float) ** (2 / 3)


def ue_upper(K: np.ndarray | float, T: np.ndarray | float, const: float = 3.0) -> np.ndarray:
    T = np.asarray(T, dtype=float)
    return const * opt_rate(K, T) * np.log(T) ** (1 / 3) + np.asarray(K, dtype=float) + 2.0


def fit_constant(K: float, T: np.ndarray, R: np.ndarray) -> float:
    """c_hat minimising sum (log R - log c - log K^(1/3) T^(2/3))^2 over the first half of the T grid."""
    order = np.argsort(T)
    T, R = np.asarray(T, dtype=float)[order], np.asarray(R, dtype=float)[order]
    half = max(int(np.ceil(len(T) / 2)), 1)
    T, R = T[:half], R[:half]
    ok = R > 0
    if not ok.any():
        return 0.0
    return float(np.exp(np.mean(np.log(R[ok]) - np.log(opt_rate(K, T[ok])))))
