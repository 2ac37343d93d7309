"""Paper 13 bound-side quantities. The theorem's exact functional of the residual could not be read
(spec 13), so nothing here carries the paper's constants: the envelope is `reconstructed` (a bound of the
form W2 <= C ||R||, C fitted on the two smallest w_R, spec V3) and the anchor uses the spec's 2 x floor."""

from __future__ import annotations

import numpy as np

V3_SLACK = 1.2  # spec V3: x 1.2 slack on the fitted envelope


def envelope_constant(w_R: np.ndarray, w2: np.ndarray, resid: np.ndarray) -> float:
    """C = max over the two smallest w_R of W2_ODE-SDE / ||R_theta|| (spec V3)."""
    order = np.argsort(w_R, kind="stable")[:2]
    return float(np.max(w2[order] / resid[order]))


def envelope_w2sq(C: float, resid: np.ndarray, slack: float = V3_SLACK) -> np.ndarray:
    """The envelope on the scale of the measurement (W2^2): (slack * C * ||R||)^2."""
    return (slack * C * np.asarray(resid, dtype=float)) ** 2


def anchor_w2sq(floor_mean: float, factor: float = 2.0) -> float:
    """V1: the exact score's ODE-SDE W2^2 may not exceed factor x the Monte-Carlo/discretisation floor."""
    return factor * floor_mean


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (no ties expected; ties get average ranks)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")
