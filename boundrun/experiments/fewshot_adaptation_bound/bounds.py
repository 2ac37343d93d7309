"""Bounds of spec 20: Ben-David et al. (2010), Theorem 3, and the shape fit of curve (b)."""

from __future__ import annotations

import numpy as np


def thm3_rhs(alpha: float | np.ndarray, beta: float | np.ndarray, m: float | np.ndarray, m_prime: float,
             d_vc: float | np.ndarray, delta: float, eps_star: float | np.ndarray, d_hdh: float | np.ndarray,
             lam: float | np.ndarray) -> np.ndarray:
    """Ben-David et al. (2010), Thm 3: with prob. >= 1 - delta the alpha-weighted ERM satisfies
    eps_T(h) <= eps_T(h*_T) + 4 sqrt(a^2/b + (1-a)^2/(1-b)) sqrt((2 d log(2(m+1)) + 2 log(8/delta)) / m)
                + 2 (1-a) (1/2 d_HdH + 4 sqrt((2 d log(2 m') + log(8/delta)) / m') + lambda)."""
    alpha, beta, m = np.asarray(alpha, float), np.asarray(beta, float), np.asarray(m, float)
    est = 4 * np.sqrt(alpha**2 / beta + (1 - alpha) ** 2 / (1 - beta)) * np.sqrt(
        (2 * d_vc * np.log(2 * (m + 1)) + 2 * np.log(8 / delta)) / m)
    gap = 2 * (1 - alpha) * (0.5 * np.asarray(d_hdh) + 4 * np.sqrt(
        (2 * d_vc * np.log(2 * m_prime) + np.log(8 / delta)) / m_prime) + np.asarray(lam))
    return np.asarray(eps_star) + est + gap


def shape_basis(K: np.ndarray, d_vc: float) -> np.ndarray:
    """Curve (b): sqrt(d_VC log(2K) / (2K))."""
    K = np.asarray(K, float)
    return np.sqrt(d_vc * np.log(2 * K) / (2 * K))


def shape_fit(K: np.ndarray, err: np.ndarray, d_vc: float, n_fit: int) -> tuple[float, float]:
    """Least squares a, b of err(K) = a + b sqrt(d_VC log(2K)/(2K)) on the first n_fit grid points."""
    A = np.stack([np.ones(n_fit), shape_basis(K[:n_fit], d_vc)], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, err[:n_fit], rcond=None)
    return float(a), float(b)
