"""Stream instances of paper 02, as in the authors' code: arm means per seed, in stream order."""

from __future__ import annotations

import numpy as np

CLEAR_CUT_BEST = 0.82


def clear_cut(rng: np.random.Generator, S: int, K: int) -> np.ndarray:
    """K-1 means from Normal(0.5, 0.1^2) truncated to [0, 0.8], one arm at 0.82, in random stream order."""
    from scipy.stats import truncnorm

    loc, scale = 0.5, 0.1
    rest = truncnorm.rvs((0 - loc) / scale, (0.8 - loc) / scale, loc=loc, scale=scale,
                         size=(S, K - 1), random_state=rng)
    mu = np.concatenate([rest, np.full((S, 1), CLEAR_CUT_BEST)], axis=1)
    return rng.permuted(mu, axis=1)


def mix_in(rng: np.random.Generator, S: int, K: int) -> np.ndarray:
    """All K means i.i.d. Uniform[0, 1]."""
    return rng.random((S, K))


def needle(rng: np.random.Generator, S: int, K: int, gap: float) -> np.ndarray:
    """Sweep 3 (the spec's hard family, not necessarily the paper's): all arms Bernoulli(1/2) but one
    random arm with mean 1/2 + gap, gap = c_eta (K/T)^(1/3)."""
    mu = np.full((S, K), 0.5)
    mu[np.arange(S), rng.integers(0, K, size=S)] = min(0.5 + gap, 1.0)
    return mu


SETTINGS = {"clear_cut": clear_cut, "mix_in": mix_in}
