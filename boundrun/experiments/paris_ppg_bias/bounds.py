"""Bound curves of spec 53. The paper's constants could not be read, so every curve has a fitted constant:
fit on the first half of its grid, extrapolate over the rest (spec 53, "Bound curves")."""

from __future__ import annotations

import numpy as np


def first_half(x: np.ndarray) -> np.ndarray:
    """Mask of the grid points in the first half (x at or below the median)."""
    x = np.asarray(x, dtype=float)
    return x <= np.median(x)


def fit_geometric(k: np.ndarray, bias: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of log|bias_k| = log c + k log rho on the points given; returns (c, rho).
    Non-positive values carry no log and are left out (at least two points are needed)."""
    k, b = np.asarray(k, dtype=float), np.asarray(bias, dtype=float)
    ok = b > 0
    if ok.sum() < 2:
        return float("nan"), float("nan")
    slope, icpt = np.polyfit(k[ok], np.log(b[ok]), 1)
    return float(np.exp(icpt)), float(np.exp(slope))


def geometric(k: np.ndarray, c: float, rho: float) -> np.ndarray:
    """bias_k ~ c rho^k (geometric mixing of the PPG chain)."""
    return c * rho ** np.asarray(k, dtype=float)


def fit_power(x: np.ndarray, y: np.ndarray, exponent: float) -> float:
    """The constant c of y ~ c x^exponent fitted in log space (geometric mean of y / x^exponent) on the
    positive points given."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = y > 0
    if not ok.any():
        return float("nan")
    return float(np.exp(np.mean(np.log(y[ok]) - exponent * np.log(x[ok]))))


def power(x: np.ndarray, c: float, exponent: float) -> np.ndarray:
    """c x^exponent: PaRIS bias c n/N (exponent -1 in N), variance c n/N (exponent 1 in n),
    mean squared gradient c m^{-1/2}."""
    return c * np.asarray(x, dtype=float) ** exponent
