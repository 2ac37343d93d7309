"""Bounds of spec 49 (reconstructed: the paper's Theorems 3.1/3.3 were not readable; the form comes from
the abstract, a third-party review and Doss, Wu, Yang, Zhou 2021)."""

from __future__ import annotations

import numpy as np


def effective_sizes(s: np.ndarray, k: int = 2) -> tuple[float, float]:
    """n_4 = sum s_i^-4 (dimension term) and n_{4k-2} = sum s_i^-(4k-2) (fine-grained term)."""
    s = np.asarray(s, dtype=float)
    return float(np.sum(s**-4.0)), float(np.sum(s ** -(4.0 * k - 2)))


def bracket(n4: np.ndarray | float, n_fine: np.ndarray | float, d: int, k: int = 2) -> np.ndarray:
    """(d / n_4)^(1/4) + n_{4k-2}^(-1/(4k-2)): the W1 rate up to its unspecified constant."""
    return (d / np.asarray(n4, dtype=float)) ** 0.25 + np.asarray(n_fine, dtype=float) ** (-1.0 / (4 * k - 2))


def fit_constant(mean_w1: np.ndarray, br: np.ndarray, points: int) -> float:
    """C = max over the first `points` grid points of mean W1 / bracket (spec 49, E1)."""
    return float(np.max(np.asarray(mean_w1)[:points] / np.asarray(br)[:points]))


def n_eff(n_clean: float, n_noisy: float, s: float, q: float = 6.0) -> float:
    """Clean-equivalent size of a mixed set: a noisy sample of scale s is worth s^-q clean ones (P1, P3)."""
    return n_clean + n_noisy * s ** (-q)


def loglog_interp(x_grid: np.ndarray, y_grid: np.ndarray, x: float) -> float:
    """Log-log linear interpolation of y(x) (the clean E1 curve at n_eff); extrapolates linearly outside."""
    lx, ly = np.log(np.asarray(x_grid, float)), np.log(np.asarray(y_grid, float))
    i = int(np.clip(np.searchsorted(lx, np.log(x)) - 1, 0, len(lx) - 2))
    t = (np.log(x) - lx[i]) / (lx[i + 1] - lx[i])
    return float(np.exp(ly[i] + t * (ly[i + 1] - ly[i])))
