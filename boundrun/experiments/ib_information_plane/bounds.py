"""Paper 07 bounds on the information plane (bits).

* IB bound: I(T;Y) <= F(I(X;T)), F(R) = max{I(T;Y): p(t|x), I(X;T) <= R} (Tishby, Pereira & Bialek 1999; the
  curve the paper draws against its layers). F is computed numerically (algorithms.ib_curve) as the upper concave
  envelope of achievable points, so it can only under-estimate the true F.
* Trivial bound (data processing): I(T;Y) <= min(I(X;T), I(X;Y)).
* Sanity: I(X;T) <= H(X) = 12 bits for uniform X on 4096 patterns.
"""

from __future__ import annotations

import numpy as np

H_X = 12.0


def trivial_ib(R: np.ndarray, I_XY: float) -> np.ndarray:
    """min(I(X;T), I(X;Y)): both sides of the Markov chain Y - X - T bound I(T;Y) (data processing)."""
    return np.minimum(np.asarray(R, dtype=float), I_XY)


def ib_excess(I_XT: np.ndarray, I_TY: np.ndarray, F) -> np.ndarray:  # noqa: ANN001 - F: IBCurve
    """I(T;Y) - F(I(X;T)): <= 0 for every representation (up to the numerical curve's deficit)."""
    return np.asarray(I_TY, dtype=float) - F(np.asarray(I_XT, dtype=float))
