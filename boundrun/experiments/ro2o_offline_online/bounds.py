"""Bounds of spec 45 as small pure functions.

- `beta`, `pevi_bound`: Jin, Yang, Wang (ICML 2021), "Is Pessimism Provably Efficient for Offline RL?",
  Theorem 4.2: SubOpt(pi-hat) <= 2 beta sum_{h=1}^H E_{pi*}[ ||phi(s_h, a_h)||_{Lambda_h^{-1}} ] with
  beta = c d H sqrt(ln(2 d H N / xi)). RO2O's own linear-MDP theorem could not be read (spec 45); the spec
  instantiates this bound with each learner's Lambda_h (for `ro2o_linear` including its pseudo-samples).
- `improvement_target`: spec 45 verdict 4, max(0.85 x offline SubOpt, 0.02 H) (thresholds of the spec, not
  of the paper).
"""

from __future__ import annotations

import numpy as np


def beta(c: float, d: int, H: int, N: int, xi: float) -> float:
    """beta = c d H sqrt(ln(2 d H N / xi)), N = the number of real episodes in the data."""
    return float(c * d * H * np.sqrt(np.log(2 * d * H * N / xi)))


def expected_norms(phi: np.ndarray, Lam: np.ndarray, pi_star: np.ndarray, occ: np.ndarray) -> np.ndarray:
    """E_{pi*}[ ||phi(s_h, a_h)||_{Lambda_h^{-1}} ] per step, computed exactly on pi*'s occupancy.

    phi (B, S, A, d); Lam (B, H, d, d); pi_star (B, H, S) actions; occ (B, H, S) = d^{pi*}_h(s). Returns (B, H).
    """
    B, S, A, d = phi.shape
    f = np.take_along_axis(phi[:, None], pi_star[..., None, None], axis=3)[:, :, :, 0]  # (B, H, S, d)
    x = np.linalg.solve(Lam[:, :, None], f[..., None])[..., 0]  # Lambda_h^{-1} phi
    norms = np.sqrt(np.maximum((f * x).sum(-1), 0.0))  # (B, H, S)
    return (occ * norms).sum(-1)


def pevi_bound(beta_: float, phi: np.ndarray, Lam: np.ndarray, pi_star: np.ndarray, occ: np.ndarray) -> np.ndarray:
    """2 beta sum_h E_{pi*} ||phi||_{Lambda_h^{-1}} (Jin et al. 2021, Thm 4.2), one value per MDP (B,)."""
    return 2.0 * beta_ * expected_norms(phi, Lam, pi_star, occ).sum(-1)


def improvement_target(offline_subopt: float, H: int, factor: float = 0.85, floor: float = 0.02) -> float:
    """Spec 45 verdict 4: the end-of-online SubOpt must be <= 0.85 x offline SubOpt or <= 0.02 H."""
    return max(factor * offline_subopt, floor * H)
