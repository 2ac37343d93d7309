"""Part A (exact UFM theory) and part B (mixup-trained MLPs) of spec 30; rows are appended to tidy lists."""

from __future__ import annotations

import numpy as np

from boundrun.experiments.mixup_neural_collapse import algorithms as A
from boundrun.experiments.mixup_neural_collapse import bounds as B


def _lam(v: float) -> float:
    return round(float(v), 10)


def run_ufm(cfg, ctx, rows: list, brows: list) -> None:  # noqa: ANN001
    task = ctx.task("UFM (part A)", total=len(cfg.ufm_K) * len(cfg.mus))
    lam = np.linspace(0.0, 1.0, cfg.n_lam)
    lamj = np.linspace(0.0, 1.0, cfg.n_lam_joint)
    for ki, K in enumerate(cfg.ufm_K):
        d = K + 2  # directions outside span(W) exist
        W = A.simplex_etf(K, d, cfg.beta, ctx.generator(1, ki))
        for mi, mu in enumerate(cfg.mus):
            ab = A.solve_plane(lam, K, cfg.beta, mu)
            gap = A.plane_logit_gap(ab, K, cfg.beta)

            def add(method: str, x: float, metric: str, value: float, K: int = K, mu: float = mu) -> None:
                rows.append((method, _lam(x), "ufm", K, float(mu), 0, metric, float(value)))

            for i, lm in enumerate(lam):
                add("ufm_2d", lm, "a", ab[i, 0])
                add("ufm_2d", lm, "b", ab[i, 1])
                add("ufm_2d", lm, "logit_gap", gap[i])
                if i + 1 < len(lam):
                    add("ufm_2d", lm, "ab_step", (ab[i + 1, 0] - ab[i + 1, 1]) - (ab[i, 0] - ab[i, 1]))
                if 0.1 - 1e-9 <= lm <= 0.9 + 1e-9:
                    add("ufm_2d", lm, "gap_dev", abs(gap[i] - B.log_odds(lm)))
            mid = len(lam) // 2
            add("ufm_2d", lam[mid], "sym_gap", abs(ab[mid, 0] - ab[mid, 1]))

            # the independent joint solve: every ordered pair (c, c'), c = c' included, in R^d
            H, _, gnorm = A.joint_ufm(W, lamj, mu, ctx.generator(2, ki, mi), maxiter=cfg.joint_maxiter,
                                      newton_steps=cfg.joint_newton)
            abj = A.solve_plane(lamj, K, cfg.beta, mu)
            a_same = A.solve_plane(lamj[:1], K, cfg.beta, mu, same=True)[0, 0]
            rel = np.zeros(len(lamj))
            off = np.zeros(len(lamj))
            zgap = np.zeros(len(lamj))
            jsym = 0.0  # the joint solve's own |a(1/2) - b(1/2)| (coordinates of h in {w_c, w_c'})
            mj = len(lamj) // 2
            for c in range(K):
                for c2 in range(K):
                    if c == c2:
                        hstar = np.outer(np.full(len(lamj), a_same), W[c])
                        Bs = W[[c]].T
                    else:
                        hstar = np.outer(abj[:, 0], W[c]) + np.outer(abj[:, 1], W[c2])
                        Bs = W[[c, c2]].T
                        zgap += (H[c, c2] @ (W[c] - W[c2])) / (K * (K - 1))
                        coef = np.linalg.lstsq(Bs, H[c, c2, mj], rcond=None)[0]
                        jsym = max(jsym, abs(coef[0] - coef[1]))
                    h = H[c, c2]
                    rel = np.maximum(rel, np.linalg.norm(h - hstar, axis=1) / np.linalg.norm(hstar, axis=1))
                    P = Bs @ np.linalg.pinv(Bs)  # orthogonal projector onto span{w_c, w_c'}
                    off = np.maximum(off, np.linalg.norm(h - h @ P, axis=1) / np.linalg.norm(h, axis=1))
            jgap = A.plane_logit_gap(abj, K, cfg.beta)
            for i, lm in enumerate(lamj):
                add("ufm_joint", lm, "rel_err", rel[i])
                add("ufm_joint", lm, "off_span", off[i])
                add("ufm_joint", lm, "logit_gap", zgap[i])
                brows.append(("ufm_optimum", "exact", "given", _lam(lm), "ufm", K, float(mu), "logit_gap",
                              float(jgap[i])))
                if 0 < lm < 1:
                    brows.append(("log_odds", "exact", "given", _lam(lm), "ufm", K, float(mu), "logit_gap",
                                  float(B.log_odds(lm))))
            add("ufm_joint", 0.5, "grad_norm", gnorm)
            add("ufm_joint", lamj[mj], "sym_gap", jsym)
            task.advance(1)


def run_network(cfg, ctx, rows: list, brows: list, notes: list) -> None:  # noqa: ANN001
    import torch

    torch.set_num_threads(1)
    if not cfg.net_K or not cfg.variants:
        return
    task = ctx.task("networks (part B)", total=len(cfg.net_K) * len(cfg.variants) * cfg.seeds)
    from boundrun.datasets import make_digits, stratified_split

    X_all, y_all = make_digits(ctx.generator(5), cfg.n_images)
    lams = np.linspace(0.0, 1.0, 21)
    for ki, K in enumerate(cfg.net_K):
        keep = y_all < K
        X, y = X_all[keep], y_all[keep]
        tr, te = stratified_split(y, 0.2, ctx.generator(6, ki))
        g_theory = {mu: B.ufm_logit_gap(lams, K, 1.0, mu) for mu in cfg.mus}
        for seed in range(cfg.seeds):
            for vi, variant in enumerate(cfg.variants):
                rng = ctx.generator(7, ki, seed, vi)
                body, head = A.train(X[tr], y[tr], K, variant, cfg.epochs, rng, alpha=cfg.alpha)
                m = _measure(body, head, X[tr], y[tr], X[te], y[te], K, lams, cfg.n_probe,
                             ctx.generator(8, ki, seed), g_theory)

                def add(x: float, metric: str, value: float, variant: str = variant, K: int = K,
                        seed: int = seed) -> None:
                    rows.append((variant, _lam(x), "network", K, 0.0, seed, metric, float(value)))

                for metric in ("m1_cos", "top2_frac", "spearman", "m3_r2", "m4_r2", "ece", "train_acc",
                               "test_acc"):
                    add(0.5, metric, m[metric])
                for i, lm in enumerate(lams):
                    add(lm, "gap_median", m["gap_median"][i])
                    add(lm, "m1_cos_lam", m["m1_cos_lam"][i])
                    if seed == 0:
                        brows.append((f"ufm_fit_{variant}", "exact", "fitted", _lam(lm), "network", K, 0.0,
                                      "gap_median", float(m["fit_curve"][i])))
                if seed == 0:
                    notes.append(f"K={K} {variant}: M1={m['m1_cos']:.3f} top2={m['top2_frac']:.3f} "
                                 f"spearman={m['spearman']:.3f} M3 R2={m['m3_r2']:.3f} (mu={m['m3_mu']:g}, "
                                 f"s={m['m3_s']:.3g}) M4 R2={m['m4_r2']:.3f} ECE={m['ece']:.4f} "
                                 f"train/test acc={m['train_acc']:.3f}/{m['test_acc']:.3f}")
                task.advance(1)


def _measure(body, head, Xtr, ytr, Xte, yte, K: int, lams: np.ndarray, n_probe: int,  # noqa: ANN001
             rng: np.random.Generator, g_theory: dict) -> dict:
    """The spec-30 measures M1-M5 of one trained network."""
    W = head.weight.detach().double().numpy()
    Htr, Ztr = A.features(body, head, Xtr)
    mu_G = Htr.mean(axis=0)  # global mean of unmixed training features
    means = np.stack([Htr[ytr == k].mean(axis=0) for k in range(K)])
    Xp, idx = A.probe_inputs(Xtr, ytr, K, lams, n_probe, rng)
    h, z = A.features(body, head, Xp)
    c, c2, li = idx[:, 0], idx[:, 1], idx[:, 2]
    lam = lams[li]
    out: dict = {}
    # M1: cosine of centred same-class mixes with w_c
    same = c == c2
    hc = h[same] - mu_G
    cos = np.sum(hc * W[c[same]], axis=1) / (np.linalg.norm(hc, axis=1) * np.linalg.norm(W[c[same]], axis=1))
    out["m1_cos"] = float(cos.mean())
    out["m1_cos_lam"] = np.array([cos[li[same] == i].mean() for i in range(len(lams))])
    # M2: top-2 logits are {c, c'} for lam in [0.2, 0.8]; Spearman of z_c - z_c' with logit(lam) on (0, 1)
    diff = ~same
    top2 = np.argsort(-z, axis=1)[:, :2]
    hit = ((top2[:, 0] == c) & (top2[:, 1] == c2)) | ((top2[:, 0] == c2) & (top2[:, 1] == c))
    band = diff & (lam >= 0.2 - 1e-9) & (lam <= 0.8 + 1e-9)
    out["top2_frac"] = float(hit[band].mean())
    gap = z[np.arange(len(z)), c] - z[np.arange(len(z)), c2]
    inner = diff & (lam > 0) & (lam < 1)
    out["spearman"] = A.spearman(gap[inner], B.log_odds(lam[inner]))
    # M3: one scale s on the UFM gap (mu from the grid) against the median network gap per lam
    out["gap_median"] = np.array([np.median(gap[diff & (li == i)]) for i in range(len(lams))])
    fits = {mu: A.fit_scale(g, out["gap_median"]) for mu, g in g_theory.items()}
    best = max(fits, key=lambda mu: fits[mu][1])
    out["m3_mu"], (out["m3_s"], out["m3_r2"]) = best, fits[best]
    out["fit_curve"] = out["m3_s"] * g_theory[best]
    # M4: R^2 of h ~ lam h_c + (1 - lam) h_c' (class means of unmixed features), c != c'
    pred = lam[diff, None] * means[c[diff]] + (1 - lam[diff, None]) * means[c2[diff]]
    out["m4_r2"] = A.r_squared(h[diff], pred)
    # M5: test ECE (15 bins)
    _, Zte = A.features(body, head, Xte)
    P = np.exp(Zte - Zte.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    out["ece"] = A.ece(P, yte, 15)
    out["train_acc"] = float((Ztr.argmax(axis=1) == ytr).mean())
    out["test_acc"] = float((Zte.argmax(axis=1) == yte).mean())
    return out
