"""Bound curves and the competitive-ratio formulas of spec 10.

The paper's theorem statements could not be read (spec 10): its exact formulas for Virtual+ and for the
stochastic setting are not available, so the curves here are the classical 1/e guarantee (Babaioff et al.
2007, Virtual; the k = 1 optimum), the exact finite-N value of the k = 1 secretary rule, and the
competitive ratios written in terms of p_j = P(the j-th largest item is selected).
"""

from __future__ import annotations

import math

import numpy as np

ONE_OVER_E = 1.0 / math.e


def one_over_e(k: np.ndarray | float) -> np.ndarray:
    """Virtual's guarantee for every k, and the k = 1 optimum (Babaioff et al. 2007)."""
    return np.full(np.shape(k), ONE_OVER_E)


def cr_worst(p: np.ndarray) -> float:
    """Worst-case value competitive ratio of a rank-based algorithm: min_m (1/m) sum_{j<=m} p_j (spec 10;
    the minimum over values is attained at v = (1,...,1,0,...,0) with m ones)."""
    p = np.asarray(p, dtype=float)
    return float(np.min(np.cumsum(p) / np.arange(1, len(p) + 1)))


def cr_ind(p: np.ndarray) -> float:
    """Indicator competitive ratio (1/k) sum_{j<=k} p_j = E|S cap top-k| / k [code compute_competitive_ratio]."""
    p = np.asarray(p, dtype=float)
    return float(p.mean())


def secretary_k1(N: int, t: int) -> float:
    """Exact P(best selected) of the k = 1 rule 'skip positions 0..t, then take the first item beating all
    before it' (Virtual, Virtual+ and Single-Ref with r = 1 at k = 1): sum_{i=t+1}^{N-1} (1/N)(t+1)/i."""
    return float(sum((t + 1) / (N * i) for i in range(t + 1, N)))


def secretary_k1_best(N: int) -> float:
    """max_t secretary_k1(N, t): the finite-N optimum of the classical secretary problem (-> 1/e)."""
    return max(secretary_k1(N, t) for t in range(N - 1))


def naive_margin(random_fool_rate: np.ndarray | float, add: float = 0.05, mult: float = 1.2) -> np.ndarray:
    """Spec 10 verdict 5: the fool rate virtual_plus must reach, max(random + 0.05, 1.2 x random)."""
    r = np.asarray(random_fool_rate, dtype=float)
    return np.maximum(r + add, mult * r)
