"""Paper 01 — Information-Theoretic Generalization Bounds for Deep Neural Networks (arXiv 2404.03176).

Claim on trial: the generalization error of a deep network is bounded layer by layer; the KL-type bound
shrinks with depth (data processing), a Wasserstein-type bound has a "funnel" layer, and Dropout /
DropConnect / Gaussian-noise layers contract information by an SDPI coefficient.

Only the abstract could be read (spec 01), so every bound is `reconstructed` in the standard form the
abstract describes; each gated inequality is proved in the spec or exact for the instance:
- C1 (hierarchical KL bound, the paper's first theorem, reconstructed): |gen| <= (1/n) sum_i sqrt(2 sigma^2 D_k^(i)),
  sigma = 1/2, D_k = I(w; V_k^(i)) here (exact Gaussian log-determinants, bounds.gaussian_mi); D_0 = I(W; Z_i).
- C2 (Wasserstein bound, Kantorovich-Rubinstein, reconstructed, conditional form): gen <= E_w[Lip_k(w) W_1(...)],
  evaluated with W_2 >= W_1 (Gelbrich) and a Monte-Carlo average over R_w draws of w.
- C3 (SDPI, Doeblin/Dobrushin, reconstructed): eta <= 1 - p^d (Dropout), 1 - p^{d d'} (DropConnect),
  2 Phi(D / 2s) - 1 (Gaussian noise injection; tested, not swept).
C4 (finite parameter space + Gibbs algorithm) is not implemented (optional in the spec).

Part A (`gauss-linear`): a fully Gaussian member of the paper's model class: fixed random linear layers
A_k (entries N(0, 1/d_{k-1}), from `net_seed`), Gaussian noise injection N(0, s^2 I) after each layer, a
noisy class-mean-difference readout w, loss phi(y w^T t_L) = 1 / (1 + e^{y w^T t_L}). gen is measured by
Monte Carlo over R = `seeds` training sets (exact sufficient statistics, 40-node Gauss-Hermite risks).
Part B (`sdpi`): exact output laws of Dropout / DropConnect layers with 6 generic inputs, by enumeration of
the masks; r = KL(PK || QK) / KL(P || Q) for Dirichlet(1) pairs (P, Q).

Scaled: the paper's own binary-Gaussian linear-DNN example (which weights are trained, dimensions) could not
be read; this instance was built by the spec so every term is exact. DropConnect runs only where
d d' <= 12 (2^{d d'} masks). W_2 replaces W_1 (keeps the bound valid, slightly loose).

Claims expressed with the engine's kinds:
- V1 `gen` <= `kl_bound` and <= `w_bound_ucb` (= W bound + 3 SE of its Monte-Carlo average, spec V1) at every
  (architecture, n, k) via Below on bound curves (mean/bound, bootstrapped over training sets).
- V2 D_k non-increasing: per (arch, n, k >= 1) the deterministic relative rise (D_k - D_{k-1}) / D_{k-1} as a
  one-seed metric `dk_rise`, Below 1e-9.
- V3 slope of `kl_bound_L` (one-seed metric) vs n in [-0.6, -0.4]; report: slope of gen vs n near -1.
- V4 r - bound <= 1e-9 over the worst pair (over_seeds="max"); Dropout |r - (1 - p^d)| <= 1e-6 for d <= 6.
- V5 (report) `w_over_kl` <= 1 everywhere, and `w_nonmonotone` (1 if the W bound is not monotone in k).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from boundrun.claims import Below, Rate
from boundrun.config import RunConfig
from boundrun.registry import Panel, experiment
from boundrun.results import Result

PARTS = ("gauss-linear", "sdpi")
MASKS = ("dropout", "dropconnect")
METHOD = "noisy-mean-diff"
ERASURE_MAX_D = 6  # spec V4: the erasure identity r = 1 - p^d is checked for d <= 6
DROPCONNECT_MAX_ENTRIES = 12  # spec: keep d d' <= 12 (2^{d d'} masks)


def parse_arch(spec: str) -> tuple[list[int], float]:
    """'16-16-2@1.0' -> ([16, 16, 2], 1.0): widths d_0..d_L and the noise scale s."""
    try:
        w, s = spec.split("@")
        widths, s_val = [int(v) for v in w.split("-")], float(s)
    except ValueError:
        raise ValueError(f"extra_archs entries must look like '16-16-2@1.0' (widths@s), got {spec!r}") from None
    return widths, s_val


def _check_widths(widths: list[int], s: float, what: str) -> None:
    if len(widths) < 2 or any(d < 1 for d in widths):
        raise ValueError(f"{what} must list >= 2 positive layer widths d_0..d_L, got {widths}")
    if not s > 0:
        raise ValueError(f"{what}: the noise scale s must be > 0 (the bound needs a noisy channel), got {s}")


@dataclass
class DnnLayerGenBoundsConfig(RunConfig):
    parts: list[str] = field(default_factory=lambda: list(PARTS))
    seeds: int = 3000  # R: independent training sets per (architecture, n)
    widths: list[int] = field(default_factory=lambda: [32, 16, 8, 4, 2])
    s: float = 0.5
    sigma_x: float = 1.0
    m_norm: float = 1.0
    sigma_xi: float = 0.0
    n_grid: list[int] = field(default_factory=lambda: [5, 10, 20, 50, 100, 200])
    n_layer: int = 20  # the n whose layer sweep is drawn
    extra_archs: list[str] = field(default_factory=lambda: ["16-16-16-16-16-2@1.0", "32-24-16-8-4-2@2.0"])
    extra_n: int = 20
    R_w: int = 400
    gh_nodes: int = 40
    net_seed: int = 0
    sdpi_d: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8])
    sdpi_p: list[float] = field(default_factory=lambda: [0.2, 0.5, 0.8])
    sdpi_pairs: int = 200
    sdpi_n_in: int = 6
    sdpi_d_out: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [p for p in self.parts if p not in PARTS]
        if bad or not self.parts:
            raise ValueError(f"parts must be a non-empty subset of {list(PARTS)}, got {self.parts}")
        _check_widths(self.widths, self.s, "widths")
        for a in self.extra_archs:
            _check_widths(*parse_arch(a), f"extra_archs entry {a!r}")
        if self.sigma_x <= 0 or self.m_norm < 0 or self.sigma_xi < 0:
            raise ValueError(f"need sigma_x > 0, m_norm >= 0, sigma_xi >= 0, got {self.sigma_x}, {self.m_norm}, "
                             f"{self.sigma_xi}")
        if not self.n_grid or any(n < 1 for n in self.n_grid) or len(set(self.n_grid)) != len(self.n_grid):
            raise ValueError(f"n_grid must list distinct positive sample sizes, got {self.n_grid}")
        if self.n_layer not in self.n_grid:
            raise ValueError(f"n_layer must be one of n_grid {self.n_grid}, got {self.n_layer}")
        if self.extra_n < 1:
            raise ValueError(f"extra_n must be a positive sample size, got {self.extra_n}")
        if self.seeds < 2 or self.R_w < 2 or self.sdpi_pairs < 2:
            raise ValueError(f"seeds, R_w and sdpi_pairs must be >= 2, got {self.seeds}, {self.R_w}, "
                             f"{self.sdpi_pairs}")
        if self.gh_nodes < 2:
            raise ValueError(f"gh_nodes must be >= 2, got {self.gh_nodes}")
        if not self.sdpi_d or any(not 1 <= d <= 10 for d in self.sdpi_d):
            raise ValueError(f"sdpi_d must list input widths in 1..10 (2^d masks are enumerated), got {self.sdpi_d}")
        if not self.sdpi_p or any(not 0 < p < 1 for p in self.sdpi_p):
            raise ValueError(f"sdpi_p must list drop probabilities in (0, 1), got {self.sdpi_p}")
        if self.sdpi_n_in < 2 or self.sdpi_d_out < 1:
            raise ValueError(f"need sdpi_n_in >= 2 and sdpi_d_out >= 1, got {self.sdpi_n_in}, {self.sdpi_d_out}")

    def archs(self) -> list[tuple[str, list[int], float, list[int]]]:
        """(role, widths, s, n values) of every architecture of Part A."""
        out = [("main", list(self.widths), float(self.s), sorted(self.n_grid))]
        out += [("extra", *parse_arch(a), [self.extra_n]) for a in self.extra_archs]
        return out


SRC = "reconstructed (spec 01 {}; only the abstract could be read)"
A_PART = {"part": "gauss-linear"}
B_PART = {"part": "sdpi"}
BIG = ("default", "paper")
CLAIMS = [
    Below("kl_bound_holds", metric="gen", bound="kl_bound", methods=(METHOD,), where=A_PART,
          source=SRC.format("C1, hierarchical KL bound; V1"),
          text="gen <= sqrt(D_k / 2) at every (architecture, n, layer k)"),
    Below("w_bound_holds", metric="gen", bound="w_bound_ucb", methods=(METHOD,), where=A_PART,
          source=SRC.format("C2, Wasserstein bound (conditional form, W_2 >= W_1); V1"),
          text="gen <= E_w[Lip_k(w) W_2] + 3 SE at every (architecture, n, layer k)"),
    Below("kl_term_monotone", metric="dk_rise", value=1e-9, min_seeds=1, where=A_PART, per=("method",),
          source=SRC.format("C1, data processing D_0 >= ... >= D_L; V2"),
          text="(D_k - D_{k-1}) / D_{k-1} <= 1e-9 for every architecture, n and k >= 1"),
    Rate("kl_bound_rate_n", metric="kl_bound_L", x="n_train", band=(-0.6, -0.4), fit="all", min_seeds=1,
         where={**A_PART, "role": "main"}, per=("method",), reduce={"shown": "max", "panel": "max"},
         source=SRC.format("C1 at k = L; V3"),
         text="log-log slope of the output-layer KL bound vs n in [-0.6, -0.4]"),
    Rate("gen_rate_n", metric="gen", x="n_train", exponent=-1.0, tol=0.15, fit="all", gated=False,
         methods=(METHOD,), where={**A_PART, "role": "main"},
         reduce={"k": "max", "layer": "max", "shown": "max", "panel": "max"},
         decide_in=BIG, source=SRC.format("V3 report: gen of the mean-difference rule ~ 1/n"),
         text="(report) log-log slope of gen vs n near -1, so the bound is loose by sqrt(n)"),
    Below("sdpi_bound_holds", metric="r_excess", value=1e-9, over_seeds="max", min_seeds=1, where=B_PART,
          per=("method",), source=SRC.format("C3, Doeblin coefficients 1 - p^d, 1 - p^{d d'}; V4"),
          text="max over pairs of KL(PK||QK)/KL(P||Q) - eta <= 1e-9 for every (d, p), Dropout and DropConnect"),
    Below("dropout_is_erasure", metric="erasure_gap", value=1e-6, over_seeds="max", min_seeds=1,
          methods=("dropout",), where=B_PART, per=("method",), source=SRC.format("C3; V4 sanity"),
          text="Dropout on generic inputs: |r - (1 - p^d)| <= 1e-6 for every pair, d <= 6 (coefficient attained)"),
    Below("w_below_kl", metric="w_over_kl", value=1.0, min_seeds=1, gated=False, where=A_PART, per=("method",),
          source=SRC.format("V5 report; 'W bound well below the KL bound'"),
          text="(report) W bound / KL bound <= 1 at every (architecture, n, k)"),
    Below("w_funnel_nonmonotone", metric="w_monotone", value=0.5, min_seeds=1, gated=False, where=A_PART,
          per=("method",), source=SRC.format("C2 funnel; V5 report"),
          text="(report) the W bound is not monotone in k (indicator of monotonicity is 0) for every arch and n"),
]

FACETS = ("part", "role", "arch", "n_train", "layer", "shown", "d", "p", "mask", "panel")


@experiment(
    name="dnn-layer-gen-bounds",
    paper=1,
    title="Information-Theoretic Generalization Bounds for Deep Neural Networks",
    arxiv="2404.03176",
    family="info-theory",
    x="k",
    facets=FACETS,
    metric="gen",
    schema=DnnLayerGenBoundsConfig,
    claims=CLAIMS,
    panels=(
        Panel("gen", x="k", facet="panel", where={"part": "gauss-linear", "shown": "yes"}, logx=False,
              title="gen vs layer k"),
        Panel("gen", x="n_train", facet="layer", where={"part": "gauss-linear", "role": "main",
                                                         "layer": ["input", "output"]}, title="gen vs n"),
        Panel("r", x="d", facet="panel", where={"part": "sdpi"}, logx=False, logy=False,
              title="SDPI ratio KL(PK||QK)/KL(P||Q)"),
    ),
    summary="Layerwise KL / Wasserstein generalization bounds and SDPI contraction in a Gaussian noisy linear DNN.",
)
def run(cfg: DnnLayerGenBoundsConfig, ctx) -> Result:  # noqa: ANN001
    import numpy as np
    import pandas as pd

    from boundrun.experiments.dnn_layer_gen_bounds import algorithms as alg
    from boundrun.experiments.dnn_layer_gen_bounds import bounds as bd

    rows: list[pd.DataFrame] = []
    brows: list[dict] = []
    notes: list[str] = []
    blank = dict(part="", role="-", arch="-", n_train=0, layer="-", shown="no", d=0, p=0.0, mask="-", panel="-")

    def frame(method: str, k: int, cell: dict, metric: str, values) -> None:  # noqa: ANN001
        v = np.atleast_1d(np.asarray(values, dtype=float))
        rows.append(pd.DataFrame({"method": method, "k": k, **cell, "seed": np.arange(len(v)), "metric": metric,
                                  "value": v}))

    def bound(name: str, k: int, cell: dict, metric: str, value: float) -> None:
        brows.append({"bound": name, "side": "upper", "constant": "given", "k": k, **cell, "metric": metric,
                      "value": float(value)})

    if "gauss-linear" in cfg.parts:
        archs = cfg.archs()
        task = ctx.task("gauss-linear", total=sum(len(a[3]) for a in archs))
        for a, (role, widths, s, ns) in enumerate(archs):
            A = alg.make_network(widths, np.random.default_rng(np.random.SeedSequence(cfg.net_seed, spawn_key=(a,))))
            B, S = bd.chain_moments(A, s)
            L = len(A)
            m = np.zeros(widths[0])
            m[0] = cfg.m_norm
            label = f"{'-'.join(map(str, widths))} s={s:g}"
            for j, n in enumerate(ns):
                gen = alg.generalization_gap(ctx.generator(1, a, j), cfg.seeds, n, B[L], S[L], m, cfg.sigma_x,
                                             cfg.sigma_xi, cfg.gh_nodes)
                C_ww = bd.joint_blocks(B, S, L, n, cfg.sigma_x, cfg.sigma_xi)[0]
                w = ctx.generator(2, a, j).multivariate_normal(B[L] @ m, C_ww, size=cfg.R_w, method="eigh")
                D = np.array([bd.gaussian_mi(*bd.joint_blocks(B, S, k, n, cfg.sigma_x, cfg.sigma_xi))
                              for k in range(L + 1)])
                kl = bd.kl_bound(D)
                wd = np.stack([bd.wasserstein_bound_draws(A, B, S, k, n, cfg.sigma_x, cfg.sigma_xi, m, w)
                               for k in range(L + 1)])
                wb, wse = wd.mean(axis=1), wd.std(axis=1, ddof=1) / np.sqrt(cfg.R_w)
                shown = "yes" if (role == "main" and n == cfg.n_layer) or role == "extra" else "no"
                for k in range(L + 1):
                    cell = dict(blank, part="gauss-linear", role=role, arch=label, n_train=n, shown=shown,
                                layer="input" if k == 0 else "output" if k == L else "hidden",
                                panel=f"{label} n={n}")
                    frame(METHOD, k, cell, "gen", gen)
                    frame("bound", k, cell, "D_k", D[k])
                    frame("bound", k, cell, "w_over_kl", wb[k] / kl[k])
                    if k >= 1:
                        frame("bound", k, cell, "dk_rise", (D[k] - D[k - 1]) / D[k - 1])
                    if k == L:
                        frame("bound", k, cell, "kl_bound_L", kl[k])
                        steps = np.diff(wb)
                        frame("bound", k, cell, "w_monotone", float((steps <= 0).all() or (steps >= 0).all()))
                    bound("kl_bound", k, cell, "gen", kl[k])
                    bound("w_bound", k, cell, "gen", wb[k])
                    bound("w_bound_ucb", k, cell, "gen", wb[k] + 3 * wse[k])
                notes.append(f"{label}, n={n}: gen={gen.mean():.3g} (SE {gen.std(ddof=1) / np.sqrt(len(gen)):.2g}), "
                             f"KL bound_k={np.round(kl, 4).tolist()}, W bound_k={np.round(wb, 4).tolist()}, "
                             f"W funnel argmin_k={int(np.argmin(wb))}")
                task.advance(1)

    if "sdpi" in cfg.parts:
        d_out = cfg.sdpi_d_out
        cells = [(mask, d, p) for mask in MASKS for d in sorted(set(cfg.sdpi_d)) for p in cfg.sdpi_p
                 if mask == "dropout" or d * d_out <= DROPCONNECT_MAX_ENTRIES]
        task = ctx.task("sdpi", total=len(cells))
        for c, (mask, d, p) in enumerate(cells):
            net = np.random.default_rng(np.random.SeedSequence(cfg.net_seed, spawn_key=(100, d)))
            t = net.standard_normal((cfg.sdpi_n_in, d))  # fixed generic inputs
            W = net.standard_normal((d_out, d))
            K = alg.channel_matrix(t, W, p, mask)
            rng = ctx.generator(3, c)
            P = rng.dirichlet(np.ones(cfg.sdpi_n_in), size=cfg.sdpi_pairs)
            Q = rng.dirichlet(np.ones(cfg.sdpi_n_in), size=cfg.sdpi_pairs)
            r = alg.contraction_ratios(K, P, Q)
            eta = float(bd.eta_dropout(p, d) if mask == "dropout" else bd.eta_dropconnect(p, d, d_out))
            cell = dict(blank, part="sdpi", d=d, p=p, mask=mask, panel=f"{mask} p={p:g}")
            frame(mask, 0, cell, "r", r)
            frame(mask, 0, cell, "r_excess", r - eta)
            if mask == "dropout" and d <= ERASURE_MAX_D:
                frame(mask, 0, cell, "erasure_gap", np.abs(r - eta))
            bound("sdpi_bound", 0, cell, "r", eta)
            task.advance(1)
        skipped = [d for d in cfg.sdpi_d if d * d_out > DROPCONNECT_MAX_ENTRIES]
        if skipped:
            notes.append(f"DropConnect skipped for d in {skipped} (d d' > {DROPCONNECT_MAX_ENTRIES})")
        for p in cfg.sdpi_p:
            splits = {"1x12": [12], "2x6": [6, 6], "3x4": [4, 4, 4], "4x3": [3] * 4, "6x2": [2] * 6}
            prods = {k: round(bd.contraction_product(v, p), 4) for k, v in splits.items()}
            notes.append(f"Dropout contraction product prod_j (1 - p^d_j), 12 hidden units, p={p:g}: {prods}")

    res = pd.concat(rows, ignore_index=True)
    bounds_df = pd.DataFrame(brows)
    return Result(measurements=res, bounds=bounds_df, notes=notes)
