"""Bound curves of spec 16 (all `reconstructed`: the paper's theorem statements and constants could not be
read; the explicit forms below are the spec's derivations). Suboptimality bounds are normalised by eps.
"""

from __future__ import annotations

import math

import numpy as np


def q_upper(d: int, s: int, eps: float) -> float:
    """Query upper bound of the covering algorithm: C(d, s) * (1 + 2/eps)^s, the number of supports times
    the volumetric bound on an eps-separated subset of the unit ball of R^s (constant 1, derived)."""
    return math.comb(d, s) * (1 + 2 / eps) ** s


def err_cover() -> float:
    """Normalised error guarantee of `sparse_cover` (noise-free): max r - r(a_hat) <= 3 eps."""
    return 3.0


def err_ls(d: int | np.ndarray) -> float | np.ndarray:
    """`ls_gopt` (Lattimore et al. 2020 with a G-optimal design, max ||a||^2_{V^-1} <= 2d): 2 + 2 sqrt(2d)."""
    return 2 + 2 * np.sqrt(2 * np.asarray(d, dtype=float))


def err_sparse_ls(s: int | np.ndarray) -> float | np.ndarray:
    """`sparse_ls`: the same argument inside the true support, in R^s: 2 + 2 sqrt(2s)."""
    return 2 + 2 * np.sqrt(2 * np.asarray(s, dtype=float))


def iota_upper(d: int | np.ndarray, g_ratio: float) -> float | np.ndarray:
    """Worst inflation factor of the LS adversary: iota(b) = sum_i w_i |b^T V^-1 a_i| <= ||b||_{V^-1}
    <= sqrt(g_max) <= sqrt(g_ratio * d) (Cauchy-Schwarz with sum_i w_i a_i a_i^T = V)."""
    return np.sqrt(g_ratio * np.asarray(d, dtype=float))


def lb_shape(s: int | np.ndarray, c_hat: float) -> float | np.ndarray:
    """Shape of the Omega(exp(s)) lower bound; the constant is unknown, c_hat is fitted (visual only)."""
    return c_hat * np.exp(np.asarray(s, dtype=float))


def n_rep(sigma: float, eps: float) -> int:
    """Repetitions per query so that the noise of a mean observation has standard deviation <= eps/4."""
    return 1 if sigma == 0 else max(1, math.ceil((4 * sigma / eps) ** 2))
