"""A plain per-pull reference simulator of the seven algorithms: one seed at a time, every pull one
Bernoulli draw, the algorithms written as straight loops from the spec. It is slow (cost grows with
the exploration pulls) and exists as the oracle the fast lock-step Binomial simulator is tested against,
and as the benchmark's baseline. Only the default (bug-fixed) behaviour is implemented.
"""

from __future__ import annotations

import math

import numpy as np

from boundrun.experiments.bandit_stream import algorithms as fast


class Budget:
    """One seed's pulls: each pull is a Bernoulli(mu) draw; regret charged to the arm pulled."""

    def __init__(self, mu: np.ndarray, T: int, rng: np.random.Generator):
        self.mu, self.T, self.rng = mu, T, rng
        self.mu_star = float(mu.max())
        self.t = 0
        self.regret = 0.0

    def pull(self, arm: int, n: int) -> float | None:
        n = min(n, self.T - self.t)
        if n <= 0:
            return None
        rewards = self.rng.random(n) < self.mu[arm]  # n separate Bernoulli pulls
        self.t += n
        self.regret += n * (self.mu_star - self.mu[arm])
        return float(rewards.mean())

    def commit(self, arm: int) -> float:
        self.regret += (self.T - self.t) * (self.mu_star - self.mu[arm])
        self.t = self.T
        return self.regret


def uniform_like(mu: np.ndarray, T: int, m: int, rng: np.random.Generator) -> float:
    b = Budget(mu, T, rng)
    stored, stored_mean = None, -math.inf
    for i in range(len(mu)):
        mean = b.pull(i, m)
        if mean is None:
            break
        if stored is None or mean > stored_mean:
            stored, stored_mean = i, mean
    return b.commit(0 if stored is None else stored)


class GoA:
    def __init__(self, b: Budget, K: int, eps: float):
        self.b, self.eps = b, eps
        self.B0, self.dB = math.ceil(1.2 / eps**2), math.ceil(1 / eps**2)
        self.L = max(int(math.floor(10 * math.log(math.log(K)))), 0)
        self.king, self.kappa, self.budget, self.samples = 0, 0.0, 0, 0

    def pull(self, arm: int, n: int) -> float | None:
        before = self.b.t
        mean = self.b.pull(arm, n)
        self.samples += self.b.t - before
        return mean

    def crown(self, arm: int) -> None:
        mean = self.pull(arm, self.B0)
        if mean is not None:
            self.kappa = mean
        self.king, self.budget = arm, self.B0

    def arrive(self, arm: int) -> None:
        self.budget += self.dB
        if self.b.t >= self.b.T:
            return
        for l in range(self.L):
            s = math.ceil(2**l / self.eps**2)
            if self.budget < s:
                self.crown(arm)
                return
            mean = self.pull(arm, s)
            self.budget -= s
            if mean is None or mean <= self.kappa - self.eps / 5 or self.b.t >= self.b.T:
                return  # discarded (or the budget is gone and nothing matters any more)
        self.crown(arm)


def goa_hp(mu: np.ndarray, T: int, eps: float, rng: np.random.Generator) -> float:
    b = Budget(mu, T, rng)
    g = GoA(b, len(mu), eps)
    g.crown(0)
    for i in range(1, len(mu)):
        g.arrive(i)
    return b.commit(g.king)


def goa_frac(mu: np.ndarray, T: int, eps: float, rng: np.random.Generator) -> float:
    K = len(mu)
    b = Budget(mu, T, rng)
    g = GoA(b, K, eps)
    C_full = 10 * K / eps**2
    p = min(1.5 / math.log(K), 1.0)
    n_f = math.ceil(math.log(K) / eps**2)
    fking, fkappa = 0, -math.inf
    for i in range(K):
        if g.samples <= C_full:
            g.crown(0) if i == 0 else g.arrive(i)
        if i == 0 or rng.random() < p:
            mean = b.pull(i, n_f)
            if mean is not None and mean > fkappa:
                fking, fkappa = i, mean
    return b.commit(g.king if g.samples <= C_full else fking)


def tower(mu: np.ndarray, T: int, spec: fast.TowerSpec, rng: np.random.Generator) -> float:
    b = Budget(mu, T, rng)
    L = spec.L
    king: list[int | None] = [None] * L
    kappa = [-math.inf] * L
    n = [0] * L

    def place(l: int, arm: int) -> None:
        if king[l] is None:
            mean = b.pull(arm, spec.b[l])
            king[l], kappa[l] = arm, (mean if mean is not None else -math.inf)
            if l == 0:
                n[0] += spec.b[0]
        elif 0 < l < L - 1 and n[l] > spec.c[l]:
            m_new = b.pull(arm, spec.b[l])
            m_king = b.pull(king[l], spec.b[l])
            winner = arm if (m_new is not None and m_king is not None and m_new > m_king) else king[l]
            king[l], kappa[l], n[l] = None, -math.inf, 0
            place(l + 1, winner)
        else:
            mean = b.pull(arm, spec.b[l])
            n[l] += spec.b[l]
            if mean is not None and mean > kappa[l]:
                king[l], kappa[l] = arm, mean

    for i in range(len(mu)):
        if L > 1 and king[0] is not None and n[0] > spec.c[0]:
            promoted = king[0]
            king[0], kappa[0], n[0] = None, -math.inf, 0
            place(1, promoted)
        place(0, i)
        if b.t >= b.T:
            break
    best, best_mean = None, -math.inf
    for l in range(L):
        if king[l] is None:
            continue
        mean = b.pull(king[l], spec.b[0])
        if best is None or (mean is not None and mean >= best_mean):
            best, best_mean = king[l], (mean if mean is not None else best_mean)
    return b.commit(best)


def regret(alg: str, mu: np.ndarray, T: int, rng: np.random.Generator) -> float:
    """Pseudo-regret of one seed of `alg` on means `mu` (in stream order) with budget T."""
    K = len(mu)
    eps = fast.eps_of(K, T)
    if alg == "uniform":
        return uniform_like(mu, T, fast.ue_pulls(K, T), rng)
    if alg == "naive_eps":
        return uniform_like(mu, T, fast.naive_pulls(K, eps), rng)
    if alg == "goa_hp":
        return goa_hp(mu, T, eps, rng)
    if alg == "goa_frac":
        return goa_frac(mu, T, eps, rng)
    if alg in fast.TOWERS:
        return tower(mu, T, fast.TOWERS[alg](K, eps), rng)
    raise ValueError(f"unknown algorithm {alg!r}")
