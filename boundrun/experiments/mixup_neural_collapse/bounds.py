"""Theory curves of spec 30 (reconstructed: the paper's closed form could not be read)."""

from __future__ import annotations

import numpy as np


def log_odds(lam: np.ndarray) -> np.ndarray:
    """The small-mu limit of the UFM logit gap z_c - z_c': log(lam / (1 - lam)), for lam in (0, 1)."""
    lam = np.asarray(lam, dtype=float)
    return np.log(lam / (1.0 - lam))


def ufm_logit_gap(lam: np.ndarray, K: int, beta: float, mu: float) -> np.ndarray:
    """The logit gap beta^2 (a - b) K/(K-1) of the exact UFM optimum h* = a w_c + b w_c' (2-D solve)."""
    from boundrun.experiments.mixup_neural_collapse.algorithms import plane_logit_gap, solve_plane

    return plane_logit_gap(solve_plane(np.asarray(lam, dtype=float), K, beta, mu), K, beta)
