"""LMDP instances of spec 52, generated in-process.

An LMDP is M MDPs (S, A, H, nu_m, P_m, R_m) sharing S and A, mixed with weights w_m. Rewards are
deterministic: 1 for being in the context's goal state g_m at the last step H, else 0, so the total
reward of an episode is at most 1 and has the same scale for every H (the horizon-free normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LMDP:
    P: np.ndarray  # (M, S, A, S): P_m(s' | s, a)
    w: np.ndarray  # (M,): mixing weights
    nu: np.ndarray  # (M, S): initial-state distributions
    goals: np.ndarray  # (M,): the context-specific goal state g_m

    @property
    def M(self) -> int:
        return self.P.shape[0]

    @property
    def S(self) -> int:
        return self.P.shape[1]

    @property
    def A(self) -> int:
        return self.P.shape[2]

    @property
    def Gamma(self) -> int:
        """Maximum transition degree max_{m,s,a} |supp P_m(.|s,a)|."""
        return int((self.P > 0).sum(axis=-1).max())

    def rewards(self, H: int) -> np.ndarray:
        """R (M, H, S, A): R_{m,h}(s, a) = 1[h = H, s = g_m] (reward only at the last step)."""
        R = np.zeros((self.M, H, self.S, self.A))
        R[np.arange(self.M), H - 1, self.goals, :] = 1.0
        return R


def _common(rng: np.random.Generator, M: int, S: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = np.full(M, 1.0 / M)
    nu = np.zeros((M, S))
    nu[:, 0] = 1.0  # nu_m = point mass on state 0
    goals = rng.permutation(S)[:M]  # distinct goals (M <= S is checked by the schema)
    return w, nu, goals


def stochastic(rng: np.random.Generator, M: int, S: int, A: int, gap: float = 0.3) -> LMDP:
    """Every P_m(.|s,a) is supported on Gamma = 2 random states with probabilities 0.5 + gap, 0.5 - gap;
    the contexts draw their transitions independently, so observed transitions reveal the context."""
    w, nu, goals = _common(rng, M, S)
    P = np.zeros((M, S, A, S))
    for m in range(M):
        for s in range(S):
            for a in range(A):
                two = rng.choice(S, size=2, replace=False)
                P[m, s, a, two[0]] = 0.5 + gap
                P[m, s, a, two[1]] += 0.5 - gap
    return LMDP(P, w, nu, goals)


def deterministic(rng: np.random.Generator, M: int, S: int, A: int, gap: float = 0.3) -> LMDP:
    """Every P_m(.|s,a) is a point mass on a random state (Var* = 0)."""
    w, nu, goals = _common(rng, M, S)
    P = np.zeros((M, S, A, S))
    nxt = rng.integers(0, S, size=(M, S, A))
    P[np.arange(M)[:, None, None], np.arange(S)[None, :, None], np.arange(A)[None, None, :], nxt] = 1.0
    return LMDP(P, w, nu, goals)


INSTANCES = {"stochastic": stochastic, "deterministic": deterministic}
