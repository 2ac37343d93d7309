"""Bounds of paper 50 on the masking surrogate (spec 50). Constants of the paper could not be read; B2's
approximation part is the exact inequality derived in the spec, the estimation part C/n is fitted."""

from __future__ import annotations

import numpy as np


def kappa_sq(alpha: float | np.ndarray, L: int) -> float | np.ndarray:
    """Augmentation complexity kappa^2 = sup_x K_X(x, x) = (2 - alpha)^L for random masking."""
    return (2.0 - np.asarray(alpha, dtype=float)) ** L


def b2_approx_bound(eps: float, f_norm_sq: float, lam_next: float) -> float:
    """B2: sum_{i>d} c_i^2 <= eps ||f*||^2 / (1 - lambda_{d+1}) (top-d eigenspace encoder)."""
    return float(eps * f_norm_sq / (1.0 - lam_next))


def topd_approx_error(c: np.ndarray, deg: np.ndarray, q: int) -> float:
    """Exact approximation error of f* by the top-d eigenspace (degree <= q): sum_{|S|>q} c_S^2."""
    return float(np.sum(c[deg > q] ** 2))


def usable_split(n_grid: list[int] | np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Usable grid {n >= 2d} (spec V3): its first floor(u/2) points fix C, the remaining ceil(u/2) points
    carry the slope."""
    u = np.sort(np.asarray([n for n in n_grid if n >= 2 * d], dtype=int))
    h = len(u) // 2
    return u[:h], u[h:]


def fit_estimation_constant(n: np.ndarray, excess_mean: np.ndarray) -> float:
    """C of the estimation curve C/n: least squares of log(excess) against log(C/n) with the slope fixed
    at -1, i.e. the geometric mean of n * excess over the fitting points."""
    n = np.asarray(n, dtype=float)
    return float(np.exp(np.mean(np.log(n * np.asarray(excess_mean, dtype=float)))))
