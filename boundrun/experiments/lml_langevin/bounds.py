"""Bound formulas of the lml-langevin experiment (spec 43: ours, the paper's theorem text could not be read)."""

from __future__ import annotations

import numpy as np


def t1_upper(lam_rel: np.ndarray | float) -> np.ndarray:
    """T1 damping limit, with lambda = rho |v|^2: |d_hat(lambda) - g_hat| <= 2 |d - g| / |g|
    (|a/|a| - b/|b|| <= 2|a - b|/|b|) and |d - g| = |v||v.g|/(lambda + |v|^2) <= |v|^2 |g|/(lambda + |v|^2),
    so the normalised deviation is at most 2 / (rho + 1) = O(|v|^2 / lambda)."""
    return 2.0 / (np.asarray(lam_rel, dtype=float) + 1.0)
