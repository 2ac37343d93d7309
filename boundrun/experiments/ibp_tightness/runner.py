"""The four parts of spec 28 as functions of the config and the run context; tidy frames out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from boundrun.experiments.ibp_tightness import algorithms as A
from boundrun.experiments.ibp_tightness import bounds as B

COLS = ("method", "width", "part", "L", "q", "seed", "metric", "value")
BCOLS = ("bound", "side", "constant", "width", "part", "L", "q", "metric", "value")


class Rows:
    def __init__(self, cols: tuple[str, ...]) -> None:
        self.cols = cols
        self.rows: list[tuple[Any, ...]] = []

    def add(self, *row: Any) -> None:
        self.rows.append(row)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(self.cols))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(y) == 0:
        return 0.0  # a constant sequence has no trend
    return float(spearmanr(x, y).statistic)


def part_init(cfg, ctx, out: Rows, bnd: Rows) -> None:  # noqa: ANN001
    """A: tightness of Kaiming-normal DLN and ReLU MLPs at initialisation (T2)."""
    task = ctx.task("A init", total=cfg.seeds * len(cfg.depths))
    K = cfg.n_classes
    for s in range(cfg.seeds):
        rng = ctx.generator(1, s)
        X = rng.normal(size=(cfg.n_inputs, cfg.input_dim))  # Gaussian inputs (spec allows them; no `digits`)
        y = rng.integers(0, K, size=cfg.n_inputs)
        C = A.elision_rows(y, K)
        for L in cfg.depths:
            for n in cfg.widths:
                dims = [cfg.input_dim] + [n] * (L - 1) + [K]
                Ws = [A.kaiming_normal(rng, dims[i + 1], dims[i]) for i in range(L)]
                # one weight draw serves both: tau_DLN ignores the ReLU, tau_ReLU uses the pattern
                tau = {"dln": A.tightness_dln(Ws, C).mean(),
                       "relu": np.mean(A.tightness_relu_local(Ws, A.activation_patterns(Ws, X), C, dtype=np.float32))}
                for arch, t in tau.items():
                    t2 = cfg.init_const * B.tau_init_equal(n, L, arch == "relu")
                    out.add(arch, n, "init", L, 0.0, s, "tau", float(t))
                    out.add(arch, n, "init", L, 0.0, s, "tau_over_t2", float(t / t2))
            task.advance(1)
    for L in cfg.depths:
        for n in cfg.widths:
            for arch in ("dln", "relu"):
                bnd.add(f"t2_{arch}", "exact", "given", n, "init", L, 0.0, "tau",
                        cfg.init_const * B.tau_init_equal(n, L, arch == "relu"))


def part_exactness(cfg, ctx, out: Rows, bnd: Rows) -> None:  # noqa: ANN001
    """B: sign-consistent 2-layer DLNs (20 -> 30 -> 10) are exact; sign flips in W1 break exactness (T1)."""
    qs = [0.0, *sorted(cfg.flip_q)]
    task = ctx.task("B exactness", total=len(A.CONSTRUCTIONS))
    for ci, kind in enumerate(A.CONSTRUCTIONS):
        for s in range(cfg.exact_nets):
            rng = ctx.generator(2, ci, s)
            W1, W2 = A.sign_consistent_net(rng, kind)
            if cfg.flip_sign_consistent > 0:  # negative control: the "consistent" net is not
                W1 = A.flip_signs(rng, W1, cfg.flip_sign_consistent)
            prev = None
            for q in qs:
                W1q = A.flip_signs(rng, W1, q) if q > 0 else W1
                t = float(A.tightness_dln([W1q, W2]).mean())
                out.add(kind, 30, "exactness", 2, q, s, "tau", t)
                if prev is not None:
                    out.add(kind, 30, "exactness", 2, q, s, "tau_step", t - prev)
                prev = t
        task.advance(1)
    for q in qs:
        bnd.add("ibp_upper", "upper", "given", 30, "exactness", 2, q, "tau", 1.0)


def part_embedding(cfg, ctx, out: Rows, bnd: Rows) -> list[str]:  # noqa: ANN001
    """C: PCA-optimal vs trained d -> w -> d reconstruction nets on a k = w dimensional subspace."""
    notes = []
    trained = sorted(set(cfg.emb_trained_widths)) if cfg.emb_variants else []
    task = ctx.task("C embedding", total=cfg.emb_seeds * (len(cfg.emb_widths) + len(trained) * len(cfg.emb_variants)))
    ws = sorted(set(cfg.emb_widths) | set(trained))
    for s in range(cfg.emb_seeds):
        pca_tau = {}
        for w in ws:
            rng = ctx.generator(3, s, w)
            X, V = A.embedding_data(rng, cfg.emb_N, cfg.emb_d, w)
            nets = {"pca": (V.T, V, 0.0, 0.0, False)}
            if w in trained:
                for vi, v in enumerate(cfg.emb_variants):
                    eps = cfg.emb_eps_train if v.startswith("ibp") else 0.0
                    relu = v.endswith("_relu")
                    seed = int(ctx.generator(4, s, w, vi).integers(2**31))
                    nets[v] = (*A.train_embedding(X, w, eps, cfg.emb_epochs, relu, seed), relu)
                    task.advance(1)
            for v, (W1, W2, b1, b2, relu) in nets.items():
                tau, ro, ri = A.embedding_radii(W1, W2, X if relu else None, b1)
                m = {"tau": tau, "r_opt": ro, "r_ibp": ri,
                     "ibp_loss": A.ibp_recon_loss(W1, W2, X, 0.01, relu, 1, b1, b2),
                     "std_loss": A.ibp_recon_loss(W1, W2, X, 0.0, relu, 2, b1, b2)}
                if v == "pca":
                    pca_tau[w] = tau
                elif v == "std":
                    m["tau_minus_pca"] = tau - pca_tau[w]
                for k, val in m.items():
                    out.add(v, w, "embedding", 2, 0.0, s, k, float(val))
            if w in cfg.emb_widths:
                task.advance(1)
        grid = [w for w in ws if w in cfg.emb_widths]
        if len(grid) >= 2:
            rho = spearman(np.array(grid), np.array([pca_tau[w] for w in grid]))
            out.add("pca", max(grid), "embedding", 2, 0.0, s, "pca_spearman", rho)
    for w in ws:
        bnd.add("ibp_upper", "upper", "given", w, "embedding", 2, 0.0, "tau", 1.0)
    if trained:
        notes.append(f"embedding: trained variants {cfg.emb_variants} at w = {trained}, eps_train = "
                     f"{cfg.emb_eps_train}, {cfg.emb_epochs} Adam epochs")
    return notes


def part_training(cfg, ctx, out: Rows, bnd: Rows) -> list[str]:  # noqa: ANN001
    """D: standard / PGD / IBP-trained 64 -> n -> n -> 10 MLPs on generated 8x8 digits (T3)."""
    from boundrun.datasets import make_digits, stratified_split

    X, y = make_digits(ctx.generator(5, 0), cfg.n_digits)
    tr, te = stratified_split(y, 0.2, np.random.default_rng(0))  # the spec's fixed split (seed 0)
    task = ctx.task("D training", total=cfg.train_seeds * len(cfg.train_widths) * len(cfg.trainers))
    for s in range(cfg.train_seeds):
        per: dict[str, dict[str, list[float]]] = {}
        for n in cfg.train_widths:
            for mi, method in enumerate(cfg.trainers):
                seed = int(ctx.generator(6, s, n, mi).integers(2**31))
                net = A.train_mlp(X[tr], y[tr], n, method, cfg.train_eps, cfg.train_epochs, seed)
                ev = A.evaluate_mlp(net, X[te], y[te], cfg.train_eps, seed + 7)
                for k, val in ev.items():
                    out.add(method, n, "training", 3, 0.0, s, k, float(val))
                d = per.setdefault(method, {"tau": [], "cert": []})
                d["tau"].append(ev["tau"])
                d["cert"].append(ev["cert_acc"])
                task.advance(1)
        if len(cfg.train_widths) >= 2:
            for method, d in per.items():
                wmax = max(cfg.train_widths)
                out.add(method, wmax, "training", 3, 0.0, s, "tau_spearman",
                        spearman(np.array(cfg.train_widths), np.array(d["tau"])))
                out.add(method, wmax, "training", 3, 0.0, s, "cert_spearman",
                        spearman(np.array(cfg.train_widths), np.array(d["cert"])))
    for n in cfg.train_widths:
        bnd.add("ibp_upper", "upper", "given", n, "training", 3, 0.0, "tau", 1.0)
    return [f"training: generated 8x8 digits ({cfg.n_digits}; sklearn `digits` is not installed), "
            f"{len(tr)}/{len(te)} split, eps = {cfg.train_eps}, {cfg.train_epochs} epochs, {cfg.train_seeds} seed(s)"]


def run_all(cfg, ctx) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:  # noqa: ANN001
    if ("embedding" in cfg.parts and cfg.emb_variants and cfg.emb_trained_widths) or "training" in cfg.parts:
        import torch

        torch.set_num_threads(1)
    out, bnd, notes = Rows(COLS), Rows(BCOLS), []
    if "init" in cfg.parts:
        part_init(cfg, ctx, out, bnd)
    if "exactness" in cfg.parts:
        part_exactness(cfg, ctx, out, bnd)
    if "embedding" in cfg.parts:
        notes += part_embedding(cfg, ctx, out, bnd)
    if "training" in cfg.parts:
        notes += part_training(cfg, ctx, out, bnd)
    return out.frame(), bnd.frame(), notes
