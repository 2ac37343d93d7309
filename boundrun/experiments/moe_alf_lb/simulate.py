"""The online loop: fresh router scores every iteration, every method routed on the same batch.

All methods and seeds of a mode run in lock-step: prices P have shape (S, M, E) and one partial sort per
iteration routes them all (common random numbers across methods, independent token streams across seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from boundrun.experiments.moe_alf_lb.algorithms import (
    Method,
    dual_grad,
    dual_value,
    lp_balanced,
    max_vio,
    method_steps,
    route,
    scores,
)


@dataclass
class Instance:
    """The surrogate router: expert vectors w (E, h) and popularities beta (E,)."""

    w: np.ndarray
    beta: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, E: int, h: int) -> Instance:
        return cls(w=rng.normal(0.0, 1.0 / np.sqrt(h), size=(E, h)), beta=rng.normal(0.0, 1.0, size=E))

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...], w: np.ndarray | None = None) -> np.ndarray:
        """Scores (*shape, E) of fresh tokens z ~ N(0, I_h); w may carry the leading seed axis (drift mode)."""
        w = self.w if w is None else w
        z = rng.normal(size=(*shape, w.shape[-1]))
        return scores(z, w, self.beta)


@dataclass
class OnlineTrace:
    """Per recorded iteration (grid of t) and per (seed, method)."""

    grid: np.ndarray  # (G,) recorded iterations t
    regret: np.ndarray  # (G, S, M) cumulative sum_{s<=t} f_s(p_s) - f_s(p*)   (per token)
    maxvio: np.ndarray  # (G, S, M)
    idle: np.ndarray  # (G, S, M)
    affinity: np.ndarray  # (G, S, M) routed affinity sum_{i in J} s per token
    maxvio_tail: np.ndarray  # (S, M) mean MaxVio over the last 10% of iterations
    gnorm_max: np.ndarray  # (S, M) max_t ||c_bar - c_t||_2 / N
    lp: dict[int, tuple[np.ndarray, np.ndarray]]  # t -> (maxvio (S,), affinity (S,)) of lp_balanced


def run_online(inst: Instance, methods: list[Method], p_star: np.ndarray | None, *, N: int, K: int, T: int,
               seeds: int, rng: np.random.Generator, grid: np.ndarray, direction: int = 1,
               drift_sd: float = 0.0, lp_at: frozenset[int] = frozenset(), progress=None) -> OnlineTrace:  # noqa: ANN001
    """Play T iterations. Method kind "fixed" routes with p*; regret is measured against p* when given.

    Drift mode (drift_sd > 0): each seed's w performs a random walk with sd drift_sd/sqrt(h) per entry."""
    E, h = inst.w.shape
    S, M = seeds, len(methods)
    c_bar = N * K / E
    P = np.zeros((S, M, E))
    for j, m in enumerate(methods):
        if m.kind == "fixed":
            if p_star is None:
                raise ValueError("a fixed-price method needs p*")
            P[:, j] = p_star
    fixed = [j for j, m in enumerate(methods) if m.kind == "fixed"]
    w = np.broadcast_to(inst.w, (S, E, h)).copy() if drift_sd > 0 else inst.w
    gi = {int(t): k for k, t in enumerate(grid)}
    G = len(grid)
    out = {k: np.zeros((G, S, M)) for k in ("regret", "maxvio", "idle", "affinity")}
    regret = np.zeros((S, M))
    tail = np.zeros((S, M))
    gmax = np.zeros((S, M))
    tail_start = T - max(T // 10, 1) + 1
    lp: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for t in range(1, T + 1):
        s = inst.sample(rng, (S, N), w)  # (S, N, E)
        sb = s[:, None]
        r = route(sb, P, K)
        f = dual_value(sb, P, K, r)  # (S, M)
        if p_star is not None:  # the fixed-price run already routed on p*: reuse its dual value
            ref = f[:, fixed[0]] if fixed else dual_value(s, p_star, K)
            regret += f - ref[:, None]
        mv = max_vio(r.loads, c_bar)
        gmax = np.maximum(gmax, np.linalg.norm(dual_grad(r.loads, N, K), axis=-1))
        if t >= tail_start:
            tail += mv
        if t in gi:
            k = gi[t]
            out["regret"][k] = regret
            out["maxvio"][k] = mv
            out["idle"][k] = (r.loads == 0).sum(axis=-1)
            out["affinity"][k] = (s[:, None] * r.mask).sum(axis=-1).mean(axis=-1)
        if t in lp_at:
            masks = [lp_balanced(s[i], K) for i in range(S)]
            lp[t] = (np.array([max_vio(x.sum(axis=0), c_bar) for x in masks]),
                     np.array([(s[i] * x).sum(axis=-1).mean() for i, x in enumerate(masks)]))
        P = P + method_steps(methods, t, r.loads, N, K, direction)
        if drift_sd > 0:
            w = w + rng.normal(0.0, drift_sd / np.sqrt(h), size=w.shape)
        if progress is not None:
            progress.advance(1)
    return OnlineTrace(grid=np.asarray(grid), regret=out["regret"], maxvio=out["maxvio"], idle=out["idle"],
                       affinity=out["affinity"], maxvio_tail=tail / (T - tail_start + 1), gnorm_max=gmax, lp=lp)


def time_grid(T: int, points: int) -> np.ndarray:
    """About `points` geometrically spaced iterations in 1..T, always containing T/10 and T."""
    g = np.unique(np.round(np.geomspace(1, T, points)).astype(int))
    return np.unique(np.concatenate([g, [max(T // 10, 1), T]]))
