"""Paper 35 — GradSign: Model Performance Inference with Theoretical Insights (arXiv 2110.08616, ICLR 2022).

Claim on trial: the dispersion Psi of the sample-wise minima theta*_i bounds the training loss from above, and
GradSign = sum_k |sum_i sign(g_ik)| (per-sample gradient sign agreement at initialisation, a proxy for small
Psi) ranks architectures by trained accuracy better than other gradient-at-init metrics.

Bound (part A, `reconstructed`: the paper's Section 3 statement and constants could not be read; spec 35
proves this form): for beta-smooth l_i, min L <= L(theta_bar*) <= (1/n) sum_i l_i(theta*_i) + (beta/2) Psi
(bounds.psi_bound). Checked exactly on L2-regularised logistic regression (rho = 1e-2,
beta = max_i ||x_i||^2/4 + rho), where theta*_i = c_i y_i x_i comes from a 1-D root (algorithms.py), on
Gaussian data over D x n x r with `seeds` datasets per cell; L(theta_hat) by L-BFGS. The population loss is
exact (a 1-D Gauss-Hermite integral, since y x^T theta = (r/2) theta_1 + ||theta|| g); the tests check it
against the spec's 10^5 fresh samples.

GradSign (part B, from the authors' code): a mini NAS benchmark stands in for NAS-Bench-101/201/NDS, whose
accuracy tables cannot be downloaded (feasibility C): MLPs (depth 1-4, width 8-256, relu/tanh/sigmoid,
`nas_archs` sampled with seed 0) trained with Adam on digits; Spearman/Kendall of every metric against test
accuracy, train loss and the Psi estimate (32 samples, 50 SGD steps on l_i alone), one value per seed
(seed = initialisation, metric batch and training order; the architecture sample and data split are fixed).

Scaled / substituted: scikit-learn is not installed, so `digits` is replaced by 1797 generated 8x8 glyph
digits (boundrun/datasets.py); the smoke profile shrinks both parts (one A cell, 6 architectures, N = 16, 2 epochs), and
its part-B claims are reported inconclusive (decide_in). `nas_seeds` (3 by default) replicates part B to give
the Spearman claims a bootstrap interval; the spec has one benchmark run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from boundrun.claims import Above, Below, Close, Lead
from boundrun.config import RunConfig
from boundrun.registry import Panel, experiment
from boundrun.results import Result

PARTS = ("psi-bound", "mini-nas")
SCORES = ("gradsign_sum", "gradsign_mean", "grad_norm", "snip", "synflow", "params", "random", "psi")
TARGETS = ("test_acc", "train_loss", "psi")
NO_TARGET = "-"


@dataclass
class GradSignConfig(RunConfig):
    parts: list[str] = field(default_factory=lambda: list(PARTS))
    seeds: int = 20  # datasets per cell of part A
    rho: float = 1e-2
    a_D: list[int] = field(default_factory=lambda: [5, 20, 100])
    a_n: list[int] = field(default_factory=lambda: [20, 50, 200])
    a_r: list[float] = field(default_factory=lambda: [0.0, 1.0, 3.0])
    root_xtol: float = 1e-14  # brentq tolerance of the sample-wise root (coarse only in negative controls)
    beta_scale: float = 1.0  # multiplies beta in the bound; != 1 only in negative controls
    nas_archs: int = 40
    nas_seeds: int = 3
    batch_N: int = 64
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 64
    psi_samples: int = 32
    psi_steps: int = 50
    psi_lr: float = 0.05
    n_digits: int = 1797

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [p for p in self.parts if p not in PARTS]
        if bad or not self.parts:
            raise ValueError(f"parts must be a non-empty subset of {list(PARTS)}, got {self.parts}")
        if self.rho <= 0:
            raise ValueError(f"rho must be > 0 (the per-sample minimiser exists only with ridge), got {self.rho}")
        if not self.a_D or min(self.a_D) < 1 or not self.a_n or min(self.a_n) < 2:
            raise ValueError(f"a_D must be >= 1 and a_n >= 2 (non-empty), got a_D={self.a_D}, a_n={self.a_n}")
        if not self.a_r or min(self.a_r) < 0:
            raise ValueError(f"a_r (class separations) must be >= 0, got {self.a_r}")
        if not 0 < self.root_xtol < 1:
            raise ValueError(f"root_xtol must be in (0, 1), got {self.root_xtol}")
        if self.beta_scale < 0:
            raise ValueError(f"beta_scale must be >= 0, got {self.beta_scale}")
        from_space = 4 * 6 * 3
        if not 3 <= self.nas_archs <= from_space:
            raise ValueError(f"nas_archs must be in [3, {from_space}] (the search space), got {self.nas_archs}")
        if self.nas_seeds < 1 or self.epochs < 1 or self.batch_size < 1 or self.psi_steps < 0:
            raise ValueError("nas_seeds, epochs and batch_size must be >= 1 and psi_steps >= 0")
        if not 2 <= self.psi_samples <= self.batch_N:
            raise ValueError(f"psi_samples must be in [2, batch_N={self.batch_N}], got {self.psi_samples}")
        if self.n_digits < 100 or self.batch_N > 0.8 * self.n_digits:
            raise ValueError(f"n_digits must be >= 100 and batch_N fit in the training split, got {self.n_digits}")
        if self.lr <= 0 or self.psi_lr <= 0:
            raise ValueError(f"lr and psi_lr must be > 0, got {self.lr}, {self.psi_lr}")


SRC_BOUND = "reconstructed (spec 35 derivation of the Psi bound; paper Section 3 not read)"
SRC_CODE = "authors' code cmu-catalyst/GradSign (naswot-code/gradsign.py) + abstract: GradSign best MPI"
BIG = ("default", "paper")
A = {"part": "psi-bound"}
NAS_ACC = {"part": "mini-nas", "target": "test_acc"}
CLAIMS = [
    Above("psi_bound_every_dataset", metric="slack", value=-1e-9, over_seeds="min", per=("method",), where=A,
          min_seeds=1, source=SRC_BOUND,
          text="V1: in every dataset, mean_i l_i(theta*_i) + (beta/2) Psi - L(theta_hat) >= -1e-9"),
    Below("psi_bound_mean", metric="train_loss", bound="psi_bound", where=A, source=SRC_BOUND,
          text="V1 on means: mean L(theta_hat) / mean bound <= 1 at every (D, n, r)"),
    Below("root_is_stationary", metric="root_grad_max", value=1e-8, over_seeds="max", where=A, min_seeds=1,
          source="spec 35 V2 (first-order condition of l_i)",
          text="V2: ||grad l_i(theta*_i)|| <= 1e-8 for every sample of every dataset"),
    Close("psi_zero_when_identical", metric="psi_degenerate", expected=0.0, atol=1e-12, over_seeds="max",
          where=A, min_seeds=1, source="spec 35 V2 (definition of Psi)",
          text="V2: Psi = 0 when every y_i x_i is the same vector"),
    Above("gradsign_ranks_accuracy", metric="spearman", value=0.3, methods=("gradsign_sum",), where=NAS_ACC,
          gated=False, decide_in=BIG, source=SRC_CODE,
          text="V3 (soft): Spearman rho(GradSign_sum, test accuracy) >= 0.3 over the architectures"),
    Above("gradsign_beyond_size", metric="partial_spearman", value=0.0, methods=("gradsign_sum",), where=NAS_ACC,
          gated=False, decide_in=BIG, source="spec 35 open question (partial correlation given #parameters)",
          text="report: partial Spearman of GradSign_sum and accuracy given #parameters is > 0"),
    *[Lead(f"gradsign_beats_{b}", metric="spearman", better="gradsign_sum", than=b, where=NAS_ACC, gated=False,
           decide_in=BIG, source=SRC_CODE,
           text=f"report (paper: GradSign best): rho(GradSign_sum, acc) >= rho({b}, acc)")
      for b in ("grad_norm", "snip", "synflow", "params")],
    Below("gradsign_vs_psi", metric="spearman", value=0.0, methods=("gradsign_sum",),
          where={"part": "mini-nas", "target": "psi"}, gated=False, decide_in=BIG,
          source="spec 35 V4 (theory link)", text="V4: Spearman(GradSign_sum, Psi estimate) < 0"),
    Above("psi_vs_train_loss", metric="spearman", value=0.0, methods=("psi",),
          where={"part": "mini-nas", "target": "train_loss"}, gated=False, decide_in=BIG,
          source="spec 35 V4 (theory link)", text="V4: Spearman(Psi estimate, final train loss) > 0"),
]

COLS = ("method", "n_samples", "part", "D", "r", "target", "seed", "metric", "value")


@experiment(
    name="gradsign-mpi",
    paper=35,
    title="GradSign: Model Performance Inference with Theoretical Insights",
    arxiv="2110.08616",
    family="optimization",
    x="n_samples",
    facets=("part", "D", "r", "target"),
    metric="train_loss",
    schema=GradSignConfig,
    claims=CLAIMS,
    panels=(
        *[Panel("train_loss", facet="r", where={"part": "psi-bound", "D": d}, title=f"logistic, D={d}: L vs bound")
          for d in (5, 20, 100)],
        Panel("spearman", facet="target", where={"part": "mini-nas"}, logx=False, logy=False,
              title="mini-NAS: Spearman rho of each metric"),
    ),
    summary="Psi (dispersion of sample-wise minima) bounds the training loss; GradSign ranks MLPs on digits.",
)
def run(cfg: GradSignConfig, ctx) -> Result:  # noqa: ANN001
    import pandas as pd

    frames, bounds, notes = [], [], []
    if "psi-bound" in cfg.parts:
        res, bnd, nt = _part_a(cfg, ctx)
        frames.append(res)
        bounds.append(bnd)
        notes += nt
    if "mini-nas" in cfg.parts:
        res, nt = _part_b(cfg, ctx)
        frames.append(res)
        notes += nt
    bcols = ["bound", "side", "constant", "n_samples", "part", "D", "r", "target", "metric", "value"]
    bdf = pd.concat(bounds, ignore_index=True) if bounds else pd.DataFrame(columns=bcols)
    return Result(measurements=pd.concat(frames, ignore_index=True), bounds=bdf, notes=notes)


def _part_a(cfg: GradSignConfig, ctx):  # noqa: ANN001, ANN202
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    from boundrun.experiments.gradsign_mpi import algorithms as alg
    from boundrun.experiments.gradsign_mpi import bounds as B

    rho, S = cfg.rho, cfg.seeds
    cells = [(D, n, r) for D in cfg.a_D for n in cfg.a_n for r in cfg.a_r]
    task = ctx.task("psi-bound (logistic)", total=len(cells))
    rows, brows, corr = [], [], []
    for ci, (D, n, r) in enumerate(cells):
        X, y = alg.make_data(ctx.generator(1, ci), S, n, D, r)
        th_star = alg.sample_minimisers(X, y, rho, cfg.root_xtol)  # (S, n, D)
        Psi = B.psi(th_star)
        beta = B.smoothness(X, rho)
        sample_min = alg.per_sample_loss(th_star, X, y, rho).mean(axis=1)
        bound = B.psi_bound(sample_min, beta, Psi, cfg.beta_scale)
        th_hat = np.stack([alg.fit_lbfgs(X[s], y[s], rho) for s in range(S)])
        L_hat = alg.train_loss(th_hat, X, y, rho)
        L_bar = alg.train_loss(th_star.mean(axis=1), X, y, rho)
        gmax = np.linalg.norm(alg.per_sample_grad(th_star, X, y, rho), axis=-1).max(axis=1)
        # identical y_i x_i (= y_1 x_1 for every i): the sample-wise minima coincide
        Xd = y[:, :, None] * (y[:, :1, None] * X[:, :1, :])
        psi_deg = B.psi(alg.sample_minimisers(Xd, y, rho, cfg.root_xtol))
        pop = alg.population_loss(th_hat, r, rho)
        corr.append(spearmanr(Psi, pop).statistic if S > 2 else np.nan)
        metrics = {"train_loss": L_hat, "bound": bound, "slack": bound - L_hat, "psi": Psi, "beta": beta,
                   "mean_sample_min": sample_min, "loss_at_mean_minimiser": L_bar, "lbfgs_gap": L_bar - L_hat,
                   "root_grad_max": gmax, "psi_degenerate": psi_deg, "pop_loss": pop}
        for m, v in metrics.items():
            rows += [("logreg", n, "psi-bound", D, float(r), NO_TARGET, s, m, float(v[s])) for s in range(S)]
        for name, side, v in (("psi_bound", "upper", bound.mean()), ("sample_min_floor", "lower", sample_min.mean())):
            brows.append((name, side, "given", n, "psi-bound", D, float(r), NO_TARGET, "train_loss", float(v)))
        task.advance(1)
    c = np.asarray(corr, dtype=float)
    notes = []
    if np.isfinite(c).any():
        notes.append(f"Spearman(Psi, population loss) across the datasets of a cell: median {np.nanmedian(c):.2f}, "
                     f"range [{np.nanmin(c):.2f}, {np.nanmax(c):.2f}] over {np.isfinite(c).sum()} cells")
    res = pd.DataFrame(rows, columns=list(COLS))
    bnd = pd.DataFrame(brows, columns=["bound", "side", "constant", "n_samples", "part", "D", "r", "target",
                                       "metric", "value"])
    return res, bnd, notes


def _part_b(cfg: GradSignConfig, ctx):  # noqa: ANN001, ANN202
    import numpy as np
    import pandas as pd
    import torch
    from scipy.stats import kendalltau, spearmanr

    from boundrun import datasets as digits
    from boundrun.experiments.gradsign_mpi import nas

    torch.set_num_threads(1)
    Ximg, yimg = digits.make_digits(np.random.default_rng(0), cfg.n_digits)  # the dataset is fixed (seed 0)
    tr, te = digits.stratified_split(yimg, 0.2, np.random.default_rng(0))
    T = (torch.tensor(Ximg[tr], dtype=torch.float32), torch.tensor(yimg[tr]),
         torch.tensor(Ximg[te], dtype=torch.float32), torch.tensor(yimg[te]))
    archs = nas.sample_archs(cfg.nas_archs, seed=0)
    K = len(archs)
    task = ctx.task("mini-nas (train + score)", total=cfg.nas_seeds * K)
    rows = []
    table = []
    for s in range(cfg.nas_seeds):
        rng = ctx.generator(2, s)
        bidx = rng.choice(len(tr), size=cfg.batch_N, replace=False)  # one fixed metric batch per seed
        Xb, yb = T[0][bidx], T[1][bidx]
        sc = {k: np.empty(K) for k in (*SCORES, "train_loss", "test_acc")}
        for a_i, a in enumerate(archs):
            torch.manual_seed(int(ctx.generator(3, s, a_i).integers(2**31)))
            gen = torch.Generator().manual_seed(int(ctx.generator(4, s, a_i).integers(2**31)))
            out = nas.score_architecture(a, Xb, yb, T, cfg, gen)
            for k, v in out.items():
                sc[k][a_i] = v
            table.append((s, a.label, out["gradsign_sum"], out["psi"], out["test_acc"]))
            task.advance(1)
        sc["random"] = rng.random(K)
        for target in TARGETS:
            for m in SCORES:
                if m == target:
                    continue
                rs, kt = spearmanr(sc[m], sc[target]).statistic, kendalltau(sc[m], sc[target]).statistic
                rows += [(m, K, "mini-nas", 0, 0.0, target, s, "spearman", _finite(rs)),
                         (m, K, "mini-nas", 0, 0.0, target, s, "kendall", _finite(kt))]
        for m in ("gradsign_sum", "gradsign_mean", "grad_norm", "snip", "synflow", "psi"):
            rows.append((m, K, "mini-nas", 0, 0.0, "test_acc", s, "partial_spearman",
                         _finite(_partial_spearman(sc[m], sc["test_acc"], sc["params"]))))
        for m in ("test_acc", "train_loss"):
            rows.append(("benchmark", K, "mini-nas", 0, 0.0, m, s, f"median_{m}", float(np.median(sc[m]))))
    best = pd.DataFrame(table, columns=["seed", "arch", "gradsign_sum", "psi", "test_acc"])
    top = best.groupby("arch")["test_acc"].mean().sort_values()
    notes = [f"mini-nas: {K} architectures x {cfg.nas_seeds} seeds; test accuracy from {top.iloc[0]:.3f} "
             f"({top.index[0]}) to {top.iloc[-1]:.3f} ({top.index[-1]})"]
    return pd.DataFrame(rows, columns=list(COLS)), notes


def _finite(v: float) -> float:
    """A rank correlation of a constant score is undefined; it carries no ranking information (0)."""
    import math

    return float(v) if math.isfinite(v) else 0.0


def _partial_spearman(a, b, z) -> float:  # noqa: ANN001
    """Spearman correlation of a and b given z: the partial correlation of their ranks."""
    from scipy.stats import spearmanr

    r_ab, r_az, r_bz = (spearmanr(u, v).statistic for u, v in ((a, b), (a, z), (b, z)))
    den = ((1 - r_az**2) * (1 - r_bz**2)) ** 0.5
    return (r_ab - r_az * r_bz) / den if den > 1e-12 else 0.0
