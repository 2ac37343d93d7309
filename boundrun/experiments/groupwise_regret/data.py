"""Streams for the groupwise-regret experiment: the spec's synthetic generator and the diabetes surrogate.

Both return X (S, T, d), Y (S, T) in [-1, 1], member (S, T, G) bool and the group names; group 0 is
"all" (everyone). Rows of X lie in the unit ball (X = 1 in the VAW bound).
"""

from __future__ import annotations

import numpy as np


def parse_attributes(specs: list[str]) -> list[np.ndarray]:
    """"0.7/0.3" -> array([0.7, 0.3]): the level probabilities of one categorical attribute."""
    return [np.array([float(v) for v in s.split("/")]) for s in specs]


def synthetic(rng: np.random.Generator, S: int, T: int, d: int, attributes: list[np.ndarray],
              theta_scale: float = 0.6, delta_scale: float = 0.5, noise: float = 0.1
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Spec 14 "Data": x = z/||z|| U^(1/d) (uniform in the unit ball), categorical attributes, groups
    {all} + {a_k = v}, and y = clip(x.theta_0 + sum_{g contains x, g != all} x.delta_g + N(0, noise^2), -1, 1)
    with theta_0 uniform on the sphere of radius theta_scale and delta_g ~ N(0, delta_scale^2/d I).
    Each replicate s draws its own theta_0 and delta_g."""
    z = rng.standard_normal((S, T, d))
    r = rng.random((S, T)) ** (1.0 / d)
    X = z / np.linalg.norm(z, axis=-1, keepdims=True) * r[..., None]
    names = ["all"]
    cols = [np.ones((S, T), dtype=bool)]
    for k, probs in enumerate(attributes, start=1):
        level = rng.choice(len(probs), size=(S, T), p=probs / probs.sum())
        for v in range(len(probs)):
            names.append(f"a{k}={v}")
            cols.append(level == v)
    member = np.stack(cols, axis=-1)
    G = len(names)
    theta0 = rng.standard_normal((S, d))
    theta0 *= theta_scale / np.linalg.norm(theta0, axis=-1, keepdims=True)
    delta = rng.standard_normal((S, G, d)) * (delta_scale / np.sqrt(d))
    delta[:, 0] = 0.0  # the group of everyone carries theta_0 only
    signal = np.einsum("std,sd->st", X, theta0) + np.einsum("stg,std,sgd->st", member.astype(float), X, delta)
    Y = np.clip(signal + noise * rng.standard_normal((S, T)), -1.0, 1.0)
    return X, Y, member, names


def diabetes_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 442 x 10 diabetes data (Efron et al. 2004) with scikit-learn's `load_diabetes` feature scaling
    (every column centred and scaled to unit Euclidean norm). Returns (F, target, raw 442 x 11 table)."""
    from boundrun.experiments.groupwise_regret._diabetes import table

    raw = np.array(table())
    F = raw[:, :10] - raw[:, :10].mean(axis=0)
    F /= np.linalg.norm(F, axis=0)
    return F, raw[:, 10], raw


def diabetes(rng: np.random.Generator, n_perm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Spec 14 real-data surrogate: target min–max rescaled to [-1, 1], rows divided by the largest row norm,
    groups all, sex (2), age at or below / above the median (2), bmi tertiles (3); n_perm random orders of
    the 442 rows (one pass each)."""
    F, target, raw = diabetes_table()
    x = F / np.linalg.norm(F, axis=1).max()
    y = 2.0 * (target - target.min()) / (target.max() - target.min()) - 1.0
    age, sex, bmi = raw[:, 0], raw[:, 1], raw[:, 2]
    t1, t2 = np.quantile(bmi, [1 / 3, 2 / 3])
    groups = {
        "all": np.ones(len(y), dtype=bool),
        "sex=1": sex == sex.min(),
        "sex=2": sex == sex.max(),
        "age<=med": age <= np.median(age),
        "age>med": age > np.median(age),
        "bmi_t1": bmi <= t1,
        "bmi_t2": (bmi > t1) & (bmi <= t2),
        "bmi_t3": bmi > t2,
    }
    m = np.stack(list(groups.values()), axis=-1)
    order = np.stack([rng.permutation(len(y)) for _ in range(n_perm)])
    return x[order], y[order], m[order], list(groups)
