"""One batch of runs of one algorithm: episodes in the nominal environment, exact regret bookkeeping.

Episode k runs pi_k (pi_1 = pi_ref); its exact robust regularized value is compared with V*; the
learner then adds the episode's transitions and updates to pi_{k+1}. Cumulative regrets and the robust
value (lam = 0) of pi_k are recorded at the episodes of `grid`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from boundrun.experiments.dr_rpo_robust import algorithms as alg


@dataclass
class BatchOutput:
    records: dict[str, np.ndarray]  # metric -> (B, len(grid))
    final: np.ndarray  # log pi_{K+1}, (B, H, S, A): the output policy


def run_batch(env: alg.LinearRMDP, method: str, rho: np.ndarray, lam: float, regret_lams: Mapping[str, float],
              v_star: Callable[[float, float], float], K: int, grid: list[int], eta: float, beta: float,
              n_alpha: int, ridge: float, rng: np.random.Generator,
              advance: Callable[[int], None] = lambda n: None) -> BatchOutput:
    """Run `method` for K episodes on B = len(rho) independent runs in lock-step.

    lam: the KL weight the learner optimises (dr_rpo); regret_lams: metric name -> the lam of the
    objective in which that cumulative regret is measured.
    """
    B = len(rho)
    vs = {m: np.array([v_star(r, lm) for r in rho]) for m, lm in regret_lams.items()}
    learner = None
    if method != "random":
        mode = "value" if method == "dr_lsvi_ucb" else "policy"
        rho_l = np.zeros(B) if method == "oppo" else rho  # oppo is the non-robust special case
        lam_l = 0.0 if method in ("oppo", "dr_lsvi_ucb") else lam
        learner = alg.Learner(env, B, mode, rho_l, lam_l, eta, beta, n_alpha, ridge)
    uniform = np.full((B, env.H, env.S, env.A), -np.log(env.A))
    on_grid = set(grid)
    cum = {m: np.zeros(B) for m in regret_lams}
    rec: dict[str, list[np.ndarray]] = {m: [] for m in (*regret_lams, "robust_value")}
    done = 0
    for k in range(1, K + 1):
        logpi = learner.logpi if learner is not None else uniform
        values: dict[float, np.ndarray] = {}  # one exact evaluation per distinct lam
        for m, lm in regret_lams.items():
            if lm not in values:
                values[lm] = alg.robust_policy_value(env, logpi, rho, lm)
            cum[m] += vs[m] - values[lm]
        if learner is not None:
            for h, (s, a, s_next) in enumerate(alg.sample_episode(env, logpi, rng)):
                learner.observe(h, s, a, s_next)
        if k in on_grid:
            for m in regret_lams:
                rec[m].append(cum[m].copy())
            rec["robust_value"].append(values[0.0] if 0.0 in values else alg.robust_policy_value(env, logpi, rho, 0.0))
            advance(k - done)
            done = k
        if learner is not None:
            learner.update()
    final = learner.logpi if learner is not None else uniform
    return BatchOutput({m: np.stack(v, axis=1) for m, v in rec.items()}, final)
