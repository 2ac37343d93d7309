"""Bound curves of spec 14 (reconstructed: the paper's theorem constants could not be read).

Reg_g(T) <= Reg_SE,g(T_g) + Reg_A(T_g) (the reduction, convex loss), with
- AdaNormalHedge (Luo & Schapire 2015) for the sleeping-experts term, losses in [0, 1]:
      anh_term = sqrt(3 T_g (ln|G| + 2 ln(1 + ln(1 + T_g)) + ln 2))
- Vovk–Azoury–Warmuth online ridge regression for the base learner, squared loss / 4, ||x|| <= X,
  |y| <= Y, against the comparator u with ||u|| = Theta:
      vaw_term = (1/4) [lam Theta^2 + d Y^2 ln(1 + T_g X^2 / (lam d))]
B_g = anh_term + vaw_term, evaluated with Theta = ||theta_hat_g||, the comparator actually used.
"""

from __future__ import annotations

import numpy as np


def anh_term(T_g: np.ndarray, n_groups: int) -> np.ndarray:
    """AdaNormalHedge regret to one expert after T_g awake rounds, prior 1/|G| (spec 14 B_g, first term)."""
    T_g = np.asarray(T_g, dtype=float)
    return np.sqrt(3.0 * T_g * (np.log(n_groups) + 2.0 * np.log1p(np.log1p(T_g)) + np.log(2.0)))


def vaw_term(T_g: np.ndarray, Theta: np.ndarray, d: int, lam: float = 1.0, X: float = 1.0, Y: float = 1.0
             ) -> np.ndarray:
    """VAW regret for loss (yhat - y)^2/4 against a comparator of norm Theta (spec 14 B_g, second term)."""
    T_g = np.asarray(T_g, dtype=float)
    return 0.25 * (lam * np.asarray(Theta, dtype=float) ** 2 + d * Y**2 * np.log1p(T_g * X**2 / (lam * d)))


def bound_g(T_g: np.ndarray, Theta: np.ndarray, n_groups: int, d: int, lam: float = 1.0) -> np.ndarray:
    """B_g(T_g) of spec 14: the upper bound on Reg_g, valid for every group simultaneously."""
    return anh_term(T_g, n_groups) + vaw_term(T_g, Theta, d, lam)


def fit_sqrt_rate(T_g: np.ndarray, reg: np.ndarray) -> float:
    """c_hat of c sqrt(T_g) by least squares through the origin on the given points (the spec fits it on
    the first half of the checkpoints): c_hat = sum reg sqrt(T_g) / sum T_g."""
    T_g = np.asarray(T_g, dtype=float)
    return float(np.sum(np.asarray(reg) * np.sqrt(T_g)) / np.sum(T_g))


def loglog_slope_rows(T_g: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Spec 14 check 2/4 statistic per replicate: least-squares slope of log max(Reg, 1) against log T_g.
    T_g, reg: (n_points, ...) -> slopes of shape (...)."""
    lx = np.log(np.asarray(T_g, dtype=float))
    ly = np.log(np.maximum(np.asarray(reg, dtype=float), 1.0))
    lxc = lx - lx.mean(axis=0)
    return (lxc * (ly - ly.mean(axis=0))).sum(axis=0) / (lxc**2).sum(axis=0)
