"""The four parts of spec 10 (imported inside `run()` only): each appends tidy rows to a `Rows`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from boundrun.experiments.online_attack_secretary import algorithms as alg_mod
from boundrun.experiments.online_attack_secretary import bounds

ONLINE = alg_mod.ONLINE


class Rows:
    """Column lists of the measurement frame. Parts A and B pass per-permutation arrays, which are cut into
    `seeds` equal batches (one row per batch mean); Part C passes one value per run."""

    def __init__(self, seeds: int):
        self.seeds = seeds
        self.cols: dict[str, list] = {c: [] for c in
                                      ("method", "k", "part", "c", "sigma", "attack", "seed", "metric", "value")}

    def batch(self, per_perm: np.ndarray) -> np.ndarray:
        return np.asarray(per_perm, dtype=float).reshape(self.seeds, -1).mean(axis=1)

    def add(self, method: str, k: int, part: str, c: float, metric: str, values: np.ndarray,
            sigma: float = 0.0, attack: str = "none") -> None:
        v = np.asarray(values, dtype=float)
        n = len(v)
        self.cols["method"] += [method] * n
        self.cols["k"] += [int(k)] * n
        self.cols["part"] += [part] * n
        self.cols["c"] += [round(float(c), 6)] * n
        self.cols["sigma"] += [float(sigma)] * n
        self.cols["attack"] += [attack] * n
        self.cols["seed"] += list(range(n))
        self.cols["metric"] += [metric] * n
        self.cols["value"] += list(v)


def permutations(rng: np.random.Generator, P: int, N: int) -> np.ndarray:
    """P random arrival orders of the rank values 0..N-1 (the toy stream [code ToyDatastream])."""
    return np.argsort(rng.random((P, N)), axis=1).astype(float)


def rank_metrics(sel: np.ndarray, values: np.ndarray, k: int) -> dict[str, Any]:
    """Per-permutation cr_worst (prefix ratio at the m minimising the pooled prefix curve), cr_ind and
    knapsack ratio, plus the pooled CR_worst."""
    prefix = alg_mod.prefix_ratios(alg_mod.rank_hits(sel, values, k))
    m_star = int(np.argmin(prefix.mean(axis=0)))
    return {
        "cr_worst": prefix[:, m_star],
        "cr_ind": prefix[:, k - 1],
        "knapsack": alg_mod.knapsack_ratio(sel, values, k),
        "pooled_worst": float(prefix.mean(axis=0)[m_star]),
    }


def virtual_label(c: float) -> str:
    return "virtual@1/e" if abs(c - 1 / math.e) < 1e-9 else f"virtual@{c:g}"


def part_a(cfg: Any, ctx: Any, rows: Rows, refs: dict) -> None:
    """Part A: every algorithm at its default c (and Virtual at the extra c's) for every k."""
    algs = list(cfg.algorithms)
    extra = list(cfg.virtual_extra_c) if "virtual" in algs else []
    task = ctx.task("A: k-secretary", total=len(cfg.k))
    for k in cfg.k:
        rng = ctx.generator(1, k)
        vals = permutations(rng, cfg.perms, cfg.N)  # common random numbers for every algorithm at this k
        variants = [(a, cfg.default_c(a, k), a) for a in algs] + [("virtual", c, virtual_label(c)) for c in extra]
        for ai, (a, c, label) in enumerate(variants):
            sel = alg_mod.select(a, vals, k, c, ctx.generator(1, k, 1 + ai), paper_code=cfg.paper_code)
            m = rank_metrics(sel, vals, k)
            for metric in ("cr_worst", "cr_ind", "knapsack"):
                rows.add(label, k, "A", c, metric, rows.batch(m[metric]))
        task.advance(1)


def part_sweep(cfg: Any, ctx: Any, rows: Rows, refs: dict) -> None:
    """Threshold sweep (Virtual and Virtual+ by default), then each best c re-run on a fresh batch of
    permutations together with Single-Ref at its tabulated c_k."""
    swept = [a for a in cfg.sweep_algorithms if a in cfg.algorithms]
    if not cfg.sweep_k or not cfg.sweep_c or not swept:
        return
    best_algs = [*swept, *(["single_ref"] if "single_ref" in cfg.algorithms else [])]
    task = ctx.task("A: threshold sweep", total=len(cfg.sweep_k))
    refs["best"] = {}
    for k in cfg.sweep_k:
        vals = permutations(ctx.generator(2, k), cfg.sweep_perms, cfg.N)
        best_c: dict[str, float] = {}
        for a in swept:
            scores = []
            for c in cfg.sweep_c:
                m = rank_metrics(alg_mod.run_online(a, vals, k, c, paper_code=cfg.paper_code), vals, k)
                scores.append(m["pooled_worst"])
                for metric in ("cr_worst", "cr_ind"):
                    rows.add(a, k, "A_sweep", c, metric, rows.batch(m[metric]))
            best_c[a] = float(cfg.sweep_c[int(np.argmax(scores))])
        best_c["single_ref"] = alg_mod.single_ref_c(k)
        fresh = permutations(ctx.generator(3, k), cfg.best_perms, cfg.N)  # removes the max-over-grid bias
        got = {}
        for a in best_algs:
            sel = alg_mod.run_online(a, fresh, k, best_c[a], paper_code=cfg.paper_code)
            got[a] = m = rank_metrics(sel, fresh, k)
            refs["best"][(a, k)] = m["pooled_worst"]
            for metric in ("cr_worst", "cr_ind"):
                rows.add(a, k, "A_best", best_c[a], metric, rows.batch(m[metric]))
        # verdict 3 compares algorithms on the same permutations: the paired per-batch difference keeps the
        # benefit of common random numbers (the engine bootstraps cells independently)
        for other in ("single_ref", "virtual"):
            if "virtual_plus" in got and other in got:
                lead = got["virtual_plus"]["cr_worst"] - got[other]["cr_worst"]
                rows.add("virtual_plus", k, "A_best", best_c["virtual_plus"], f"lead_over_{other}", rows.batch(lead))
        task.advance(1)


def part_b(cfg: Any, ctx: Any, rows: Rows, refs: dict) -> None:
    """Part B: observed value = rank + N(0, sigma^2); selection on observations, ratios on true ranks."""
    algs = [a for a in cfg.algorithms if a in ONLINE]
    if not cfg.stoch_k or not cfg.sigmas or not algs:
        return
    sigmas = sorted(set(float(s) for s in cfg.sigmas))
    task = ctx.task("B: stochastic k-secretary", total=len(cfg.stoch_k))
    refs["exh"] = {}
    for k in cfg.stoch_k:
        rng = ctx.generator(4, k)
        vals = permutations(rng, cfg.stoch_perms, cfg.N)
        Z = rng.standard_normal(vals.shape)  # the same noise draw scaled for every sigma and algorithm
        for a in algs:
            c = cfg.default_c(a, k)
            by_sigma = {}
            for s in sigmas:
                sel = alg_mod.run_online(a, vals + s * Z, k, c, exhaust=cfg.stoch_exhaust, paper_code=cfg.paper_code)
                by_sigma[s] = rows.batch(alg_mod.prefix_ratios(alg_mod.rank_hits(sel, vals, k))[:, k - 1])
                rows.add(a, k, "B", c, "cr_ind", by_sigma[s], sigma=s)
            for s0, s1 in zip(sigmas, sigmas[1:], strict=False):  # paired: same permutations and noise
                rows.add(a, k, "B", c, "cr_ind_rise", by_sigma[s1] - by_sigma[s0], sigma=s1)
            # the matching Part A run (exhaust = True) on the same permutations (common random numbers)
            sel_a = alg_mod.run_online(a, vals, k, c, exhaust=True, paper_code=cfg.paper_code)
            cr_a = rows.batch(alg_mod.prefix_ratios(alg_mod.rank_hits(sel_a, vals, k))[:, k - 1])
            rows.add(a, k, "A_exh", c, "cr_ind", cr_a)
            refs["exh"][(a, k)] = float(cr_a.mean())
            if 0.0 in by_sigma:
                rows.add(a, k, "B", c, "sigma0_gap", by_sigma[0.0] - cr_a, sigma=0.0)
        task.advance(1)


def part_c(cfg: Any, ctx: Any, rows: Rows) -> list[str]:
    """Part C: online transfer attacks; returns notes (model accuracies, stream fool rates)."""
    import torch

    from boundrun.experiments.online_attack_secretary import attack

    torch.set_num_threads(1)
    X, y = attack.make_digits(cfg.n_digits, cfg.digit_noise, ctx.generator(6, 0))
    order = ctx.generator(6, 1).permutation(cfg.n_digits)
    n_train = int(0.6 * cfg.n_digits)
    tr, te = order[:n_train], order[n_train:]
    Xte = torch.as_tensor(X[te], dtype=torch.float32)
    yte = torch.as_tensor(y[te], dtype=torch.long)
    n_models = cfg.n_models
    task = ctx.task("C: train models + attacks", total=n_models * (1 + len(cfg.attacks)) + len(cfg.attacks))
    models, notes = [], []
    for i in range(n_models):
        kind = "mlp" if i % 2 == 0 else "cnn"
        seed = int(ctx.generator(6, 2, i).integers(2**31))
        torch.manual_seed(seed)
        model = attack.train(attack.make_model(kind), X[tr], y[tr], cfg.epochs, cfg.lr, seed)
        models.append(model)
        acc = 1.0 - attack.misclassified(model, Xte, yte).mean()
        notes.append(f"model {i} ({kind}): clean test accuracy {acc:.3f}")
        task.advance(1)
    R, N = cfg.attack_runs, len(te)
    pick = ctx.generator(7, 0)
    src = pick.integers(0, n_models, size=R)
    tgt = (src + 1 + pick.integers(0, n_models - 1, size=R)) % n_models  # a different target model
    arrival = np.argsort(pick.random((R, N)), axis=1)  # the same streams for both attacks
    for ai, atk in enumerate(cfg.attacks):
        gen = torch.Generator().manual_seed(int(ctx.generator(7, 1, ai).integers(2**31)))
        loss = np.empty((n_models, N))
        fooled = np.empty((n_models, n_models, N), dtype=bool)
        for s, model in enumerate(models):  # eps-ball attack computed on the SOURCE model
            if atk == "fgsm":
                xa = attack.fgsm(model, Xte, yte, cfg.eps)
            else:
                xa = attack.pgd(model, Xte, yte, cfg.eps, cfg.pgd_steps, gen)
            loss[s] = attack.per_item_loss(model, xa, yte)  # the item's value [code LossTransform]
            for t, target in enumerate(models):
                fooled[s, t] = attack.misclassified(target, xa, yte)
            task.advance(1)
        obs = np.take_along_axis(loss[src], arrival, axis=1)
        hit = np.take_along_axis(fooled[src, tgt], arrival, axis=1)
        notes.append(f"{atk}: stream fool rate on the target {hit.mean():.3f} (eps={cfg.eps})")
        for k in cfg.attack_k:
            for gi, a in enumerate(cfg.algorithms):
                c = cfg.default_c(a, k)
                sel = alg_mod.select(a, obs, k, c, ctx.generator(8, ai, k, gi), exhaust=True,
                                     paper_code=cfg.paper_code)
                rows.add(a, k, "C", c, "fool_rate", (sel & hit).sum(axis=1) / k, attack=atk)
                rows.add(a, k, "C", c, "cr_ind", alg_mod.rank_hits(sel, obs, k).mean(axis=1), attack=atk)
        task.advance(1)
    return notes


def bound_frame(cfg: Any, res: Any, refs: dict) -> Any:
    """Bound and reference curves on the measurement grids (see bounds.py)."""
    import pandas as pd

    out: list[tuple] = []

    def add(bound: str, side: str, const: str, k: int, part: str, metric: str, value: float, c: float = 0.0,
            sigma: float = 0.0, attack: str = "none") -> None:
        out.append((bound, side, const, int(k), part, round(float(c), 6), float(sigma), attack, metric,
                    float(value)))

    e = float(bounds.ONE_OVER_E)
    for k in cfg.k:
        for metric in ("cr_worst", "cr_ind"):
            add("one_over_e", "lower", "given", k, "A", metric, e)
    best = refs.get("best", {})
    for k in cfg.sweep_k if best else []:
        add("one_over_e", "lower", "given", k, "A_best", "cr_worst", e)
        if ("virtual_plus", k) in best and k in cfg.k:
            add("vplus_best", "upper", "fitted", k, "A", "cr_worst", best[("virtual_plus", k)])
        if ("single_ref", k) in best and k in cfg.k:
            add("single_ref_best", "exact", "fitted", k, "A", "cr_worst", best[("single_ref", k)])
        for c in cfg.sweep_c:
            add("one_over_e", "lower", "given", k, "A_sweep", "cr_worst", e, c=c)
            if k == 1:  # exact finite-N value of the k = 1 rule at this threshold
                t = alg_mod.threshold("virtual", c, cfg.N)
                add("secretary_exact", "exact", "given", 1, "A_sweep", "cr_worst", bounds.secretary_k1(cfg.N, t), c=c)
        if k == 1:
            add("secretary_opt_N", "exact", "given", 1, "A_best", "cr_worst", bounds.secretary_k1_best(cfg.N))
    for (a, k), v in refs.get("exh", {}).items():
        for s in cfg.sigmas:
            add(f"fit_{a}", "exact", "fitted", k, "B", "cr_ind", v, c=cfg.default_c(a, k), sigma=s)
    fr = res[(res["part"] == "C") & (res["metric"] == "fool_rate") & (res["method"] == "random")]
    for (atk, k), g in fr.groupby(["attack", "k"]):
        add("naive_margin", "lower", "fitted", k, "C", "fool_rate", float(bounds.naive_margin(g["value"].mean())),
            attack=atk)
    return pd.DataFrame(out, columns=["bound", "side", "constant", "k", "part", "c", "sigma", "attack", "metric",
                                      "value"])
