"""The two parts of spec 40's experiment, vectorised over seeds: Part 1 (the bound on a t grid) and Part 2
(the samplers against the exact posterior). Each appends tidy rows; the runner in __init__ builds the frames."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from boundrun.experiments.stsl_tweedie_bound import algorithms as alg
from boundrun.experiments.stsl_tweedie_bound import bounds as bnd

TOL = 1e-9  # spec 40 V1: Q_a <= Q_b + 1e-9 max(1, |Q_b|)


def settings(cfg: Any, dims: list[int]) -> list[tuple[int, str, float]]:
    """(d, operator, sigma_y); the blur operator exists only for d >= 8 (spec 40)."""
    return [(d, op, sy) for d in dims for op in cfg.ops if not (op == "blur" and d < 8) for sy in cfg.sigma_ys]


def label(d: int, op: str, sy: float) -> str:
    return f"d{d}-{op}-sy{sy:g}"


def m_of(d: int) -> int:
    return max(1, d // 2)


def prior_and_ops(cfg: Any, ctx: Any, d: int) -> tuple[alg.GMM, dict[str, np.ndarray]]:
    """The fixed prior of dimension d and its operators (shared by both parts and all seeds)."""
    g = alg.make_prior(ctx.generator(1, d), d, cfg.k)
    ops = {op: alg.make_operator(ctx.generator(2, d, i), op, d, m_of(d))
           for i, op in enumerate(alg.OPERATORS) if op in cfg.ops and not (op == "blur" and d < 8)}
    return g, ops


def _row(rows: list[dict], method: str, t: int, part: str, setting: str, d: int, op: str, sy: float,
         n_probe: int, delta: float, pool: str, nfe: int, metric: str, values: np.ndarray) -> None:
    for seed, v in enumerate(np.asarray(values, dtype=float)):
        rows.append(dict(method=method, t=t, part=part, setting=setting, d=d, op=op, sigma_y=sy, n_probe=n_probe,
                         delta=delta, pool=pool, nfe=nfe, seed=seed, metric=metric, value=float(v)))


def run_bound_part(cfg: Any, ctx: Any, rows: list[dict], bounds_rows: list[dict]) -> None:
    abar = alg.alpha_bar(1000)
    S, P = cfg.seeds, cfg.pairs
    N = S * P
    grid = cfg.t_grid()
    p_max = max(cfg.probes, default=0)
    # pooled violation counts per seed: key -> (count (S,), total)
    pooled: dict[tuple, np.ndarray] = {}
    totals: dict[tuple, int] = {}

    def pool_add(key: tuple, viol: np.ndarray) -> None:
        pooled[key] = pooled.get(key, 0) + viol.reshape(S, P).sum(axis=1)
        totals[key] = totals.get(key, 0) + P

    task = ctx.task("part 1: the bound on the t grid", total=len(cfg.dims) * len(grid))
    for d in cfg.dims:
        g, ops = prior_and_ops(cfg, ctx, d)
        m = m_of(d)
        for t in grid:
            ab = float(abar[t])
            rng = ctx.generator(3, d, t)
            x0 = g.sample(rng, N)  # seed s owns rows s*P .. (s+1)*P - 1
            xt = math.sqrt(ab) * x0 + math.sqrt(1.0 - ab) * rng.standard_normal((N, d))
            noise = rng.standard_normal((N, m))
            s, H, r = alg.score_hessian(g, xt, ab)
            x0_bar, Sigma = alg.tweedie(xt, s, H, ab)
            S_post, m_post = alg.posterior_components(g, xt, ab)
            trace_form = d + (1.0 - ab) * np.trace(H, axis1=1, axis2=2)
            if cfg.surrogate == "first_order":
                trace_form = np.zeros(N)  # negative control: the surrogate loses its second-order term
            est: dict[tuple, np.ndarray] = {}
            if p_max:
                eps = rng.standard_normal((N, p_max, d))
                for dl in cfg.deltas:
                    for p in cfg.probes:
                        T_hat, cv = alg.hutchinson(g, xt, s, ab, eps[:, :p], dl)
                        est[("hutch_plain", p, dl)] = d + (1.0 - ab) * T_hat
                        est[("hutch_cv", p, dl)] = cv
            for op, A in ops.items():
                a2 = float(np.linalg.norm(A, 2) ** 2)
                for sy in cfg.sigma_ys:
                    if (d, op, sy) not in settings(cfg, [d]):
                        continue
                    y = x0 @ A.T + sy * noise
                    Q1 = alg.exact_loglik(y, A, sy, r, S_post, m_post)
                    Q0 = bnd.q0_first_order(y, A, x0_bar, sy)
                    Q2 = bnd.q2_second_order(y, A, x0_bar, Sigma, sy)
                    Q3 = bnd.q3_surrogate(y, A, x0_bar, trace_form, ab, sy, a2)
                    lab = label(d, op, sy)
                    chain = bnd.excess(Q3, Q2, TOL) | bnd.excess(Q2, Q1, TOL)
                    over = Q0 > Q1
                    per_seed = {
                        "logp_y": Q1, "gap_12": Q1 - Q2, "gap_23": Q2 - Q3, "gap_10": Q1 - Q0,
                        "chain_viol": chain.astype(float), "q0_over": over.astype(float),
                    }
                    for metric, v in per_seed.items():
                        _row(rows, "exact_trace", t, "bound", lab, d, op, sy, 0, 0.0, "cell", 0, metric,
                             v.reshape(S, P).mean(axis=1))
                    pool_add(("exact_trace", 0, 0.0, "chain_viol", "all"), chain)
                    pool_add(("exact_trace", 0, 0.0, "q0_over", sy), over)
                    curves = {"Q2_second_order": ("lower", Q2), "Q3_surrogate": ("lower", Q3),
                              "Q0_first_order": ("exact", Q0)}
                    for (form, p, dl), tf in est.items():
                        Q3h = bnd.q3_surrogate(y, A, x0_bar, tf, ab, sy, a2)
                        viol = bnd.excess(Q3h, Q1, TOL)
                        _row(rows, form, t, "bound", lab, d, op, sy, p, dl, "cell", 0, "viol_q1",
                             viol.reshape(S, P).mean(axis=1))
                        pool_add((form, p, dl, "viol_q1", "all"), viol)
                        if form == "hutch_cv" and p == max(cfg.probes) and dl == min(cfg.deltas):
                            curves[f"Q3_cv_p{p}_delta{dl:g}"] = ("lower", Q3h)
                    for name, (side, v) in curves.items():
                        bounds_rows.append(dict(bound=name, side=side, constant="given", t=t, part="bound",
                                                setting=lab, d=d, op=op, sigma_y=sy, n_probe=0, delta=0.0,
                                                pool="cell", nfe=0, metric="logp_y", value=float(v.mean())))
            task.advance(1)
    # pooled rates (one value per seed): V1's chain over everything, V2 per estimator, V3 per sigma_y
    for (method, p, dl, metric, sy), count in pooled.items():
        pool_sy = 0.0 if sy == "all" else sy
        _row(rows, method, 0, "bound", "pooled" if sy == "all" else f"pooled-sy{sy:g}", 0, "all", pool_sy, p, dl,
             "all", 0, metric, count / totals[(method, p, dl, metric, sy)])


def run_sampler_part(cfg: Any, ctx: Any, rows: list[dict]) -> list[str]:
    """Part 2: STSL (eta > 0, K inner steps), first-order (eta = 0), DPS-style (K = 1) at 50 and 1000 steps.

    Per (d, operator) one batch per method holds every sigma_y and step size c (tuning, on a held-out
    measurement per sigma_y) or every sigma_y and seed (the final runs): particles do not interact."""
    import torch

    torch.set_num_threads(1)
    abar = alg.alpha_bar(1000)
    methods = {"stsl": (cfg.ddim_steps, cfg.K_inner, cfg.eta), "first_order": (cfg.ddim_steps, cfg.K_inner, 0.0)}
    for n in cfg.dps_steps:
        methods[f"dps{n}"] = (n, 1, 0.0)
    pairs = sorted({(d, op) for d, op, _ in settings(cfg, list(cfg.sampler_dims))}, key=lambda p: (p[0], p[1]))
    sys_ = list(cfg.sigma_ys)
    task = ctx.task("part 2: samplers", total=len(pairs) * len(methods) * 2)
    notes: list[str] = []
    w2: dict[tuple[str, str], np.ndarray] = {}
    C, S, n_tune, n_fin = len(cfg.c_grid), cfg.sampler_seeds, cfg.tune_samples, cfg.sampler_samples
    for pi_, (d, op) in enumerate(pairs):
        g, ops = prior_and_ops(cfg, ctx, d)
        A = ops[op]

        def measurement(rng: np.random.Generator, sy: float, g: alg.GMM = g, A: np.ndarray = A) -> np.ndarray:
            return A @ g.sample(rng, 1)[0] + sy * rng.standard_normal(A.shape[0])

        # held-out measurement per sigma_y for tuning c (sliced W2, tune_samples samples; spec 40 budget note)
        rng_h = ctx.generator(4, d, pi_)
        y_h = [measurement(rng_h, sy) for sy in sys_]
        ref_h = [alg.sample_mixture(rng_h, *alg.exact_posterior(g, A, yh, sy), n_tune) for yh, sy in zip(y_h, sys_,
                                                                                                        strict=True)]
        Y = np.concatenate([np.repeat(yh[None], C * n_tune, axis=0) for yh in y_h])
        lam = np.concatenate([np.repeat([c / sy**2 for c in cfg.c_grid], n_tune) for sy in sys_])
        chosen: dict[tuple[str, float], float] = {}
        for name, (steps, K, eta) in methods.items():
            X, _ = alg.run_sampler(g, A, Y, lam, ctx.generator(5, d, pi_), abar, steps, K, eta)
            X = X.reshape(len(sys_), C, n_tune, d)
            for k, sy in enumerate(sys_):
                sc = [alg.w2_sliced(X[k, c], ref_h[k], ctx.generator(6, d, pi_)) if np.isfinite(X[k, c]).all()
                      else math.inf for c in range(C)]
                chosen[(name, sy)] = cfg.c_grid[int(np.argmin(sc))]
                if not np.isfinite(min(sc)):
                    notes.append(f"{label(d, op, sy)} {name}: every c in c_grid diverged in tuning")
            task.advance(1)
        # final runs: every sigma_y and seed in one batch per method
        ys, posts, refs = [], [], []
        for sy in sys_:
            for seed in range(S):
                rng = ctx.generator(7, d, pi_, seed)
                y = measurement(rng, sy)
                post = alg.exact_posterior(g, A, y, sy)
                ys.append(y)
                posts.append(post)
                refs.append(alg.sample_mixture(rng, *post, n_fin))
        Y = np.concatenate([np.repeat(y[None], n_fin, axis=0) for y in ys])
        vals: dict[str, dict[str, np.ndarray]] = {}
        nfes: dict[str, int] = {"posterior_ref": 0}
        for name, (steps, K, eta) in methods.items():
            lam = np.concatenate([np.full(S * n_fin, chosen[(name, sy)] / sy**2) for sy in sys_])
            X, nfes[name] = alg.run_sampler(g, A, Y, lam, ctx.generator(8, d, pi_), abar, steps, K, eta)
            # a diverged particle keeps a huge but finite position, so W2 reports the failure
            X = np.nan_to_num(X, nan=1e6, posinf=1e6, neginf=-1e6).reshape(len(sys_) * S, n_fin, d)
            vals[name] = _distances(X, refs, posts)
            task.advance(1)
        # the sampling-noise floor of W2: a second exact posterior sample against the reference
        rng = ctx.generator(9, d, pi_)
        vals["posterior_ref"] = _distances([alg.sample_mixture(rng, *p, n_fin) for p in posts], refs, posts)
        for k, sy in enumerate(sys_):
            lab = label(d, op, sy)
            notes.append(f"{lab}: c chosen " + ", ".join(f"{m}={chosen[(m, sy)]:g}" for m in methods))
            for name, mv in vals.items():
                steps = methods[name][0] if name in methods else 0
                for metric, v in mv.items():
                    _row(rows, name, steps, "sampler", lab, d, op, sy, 0, 0.0, "cell", nfes[name], metric,
                         v[k * S:(k + 1) * S])
                w2[(lab, name)] = mv["w2"][k * S:(k + 1) * S]
    labs = sorted({lab for lab, _ in w2})
    wins = np.mean([w2[(lab, "stsl")] <= w2[(lab, "first_order")] for lab in labs], axis=0)
    _row(rows, "stsl", cfg.ddim_steps, "sampler", "pooled", 0, "all", 0.0, 0, 0.0, "all", 0, "stsl_win_frac", wins)
    return notes


def _distances(X: Any, refs: list[np.ndarray], posts: list[tuple]) -> dict[str, np.ndarray]:
    """Exact W2 to the posterior reference sample and the error of the sample mean, per measurement."""
    w2 = np.array([alg.w2_exact(x, r) for x, r in zip(X, refs, strict=True)])
    err = np.array([np.linalg.norm(x.mean(0) - p[0] @ p[1]) for x, p in zip(X, posts, strict=True)])
    return {"w2": w2, "mean_err": err}
