"""Paper 09 (aiops-model-recycle): the per-period oracle ("theoretical upper bound") of model selection.

Spec 09 (reconstructed from the abstract): U_t = max_{j<t} AUC(M_j; D_t), computed with the target period's
labels, so no online mechanism can attain it; any mechanism that returns one of M_1..M_{t-1} has
A_t <= U_t. The gap U_t - A_t is what the paper calls the remaining performance gap.
"""

from __future__ import annotations

import numpy as np


def oracle_upper(A_full: np.ndarray, first_target: int = 3) -> np.ndarray:
    """U_t for t = first_target..P from the model-by-period AUC matrix A_full[j, s] = AUC(M_{j+1}; D_{s+1})
    (rows: models M_1..M_{P-1}; columns: periods 1..P). Only models trained before t are candidates."""
    P = A_full.shape[1]
    return np.array([A_full[: t - 1, t - 1].max() for t in range(first_target, P + 1)])


def oracle_gap(U: np.ndarray, A: np.ndarray) -> np.ndarray:
    """gap_t = U_t - A_t (>= 0 for single-model selectors)."""
    return U - A


def bound_excess(A: np.ndarray, U: np.ndarray) -> float:
    """max_t max(0, A_t - U_t): zero iff the mechanism never beats the oracle (check 1)."""
    return float(np.maximum(A - U, 0.0).max(initial=0.0))


def frac_above(A: np.ndarray, U: np.ndarray, tol: float = 1e-12) -> float:
    """Fraction of periods with A_t > U_t + tol (reported for the pooled and ensemble mechanisms)."""
    return float(np.mean(A > U + tol))
