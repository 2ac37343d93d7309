"""The bounds of paper 28 as small pure functions.

T2 (initialisation, spec 28; the paper's theorem text could not be read, the constant is the spec author's
Gaussian derivation, `reconstructed`): for i.i.d. zero-mean Gaussian weights and hidden widths n_1..n_{L-1},
    E tau_DLN  ~= prod_l sqrt(pi / (2 n_l)),     E tau_ReLU-local ~= prod_l sqrt(pi / n_l)
(ReLU keeps about half of each hidden layer active, hence the factor sqrt(2) per hidden layer).
T1 (exactness): IBP is exact iff |W_L...W_1| = |W_L|...|W_1| elementwise, so tau <= 1 always and tau = 1
exactly for sign-consistent nets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def tau_init(widths: Sequence[int], relu: bool) -> float:
    """T2: expected propagation tightness at initialisation for hidden widths `widths` (L-1 of them)."""
    c = math.pi if relu else math.pi / 2  # active width n/2 for ReLU: sqrt(pi/(2 n/2)) = sqrt(pi/n)
    return float(np.prod([math.sqrt(c / n) for n in widths])) if len(widths) else 1.0


def tau_init_equal(n: int, L: int, relu: bool) -> float:
    """T2 for L weight layers and equal hidden width n: (pi/(2n))^((L-1)/2) (DLN), (pi/n)^((L-1)/2) (ReLU)."""
    return tau_init([n] * (L - 1), relu)


def t2_slope(L: int) -> float:
    """T2: the log-log slope of tau against the hidden width, -(L-1)/2 (DLN and ReLU alike)."""
    return -(L - 1) / 2


def sign_consistent(W1: np.ndarray, W2: np.ndarray) -> bool:
    """T1 for two layers: for every (i, j) the products W2_ik W1_kj share one sign over k (zeros allowed)."""
    P = W2[:, :, None] * W1[None, :, :]  # (i, k, j)
    return bool(np.all((P >= 0).all(axis=1) | (P <= 0).all(axis=1)))
