"""Paper 30 — Pushing Boundaries: Mixup's Influence on Neural Collapse (Fisher, Meng, Papyan; arXiv 2402.06171).

Claim on trial (spec 30): in the unconstrained-features model (UFM) with a simplex-ETF classifier, the optimal
mixup feature of classes (c, c') with weight lam is unique and lies in span{w_c, w_c'}: h*(lam) = a w_c + b w_c',
with a(1/2) = b(1/2), a - b increasing, and for small mu a logit gap z_c - z_c' ~ log(lam/(1-lam)); mixup-trained
networks place mixed features in such "channels" along decision boundaries, not at convex combinations of class
means. The paper's closed form could not be read: the theory curve is `reconstructed` as the exact optimum of the
stated UFM problem (2-D BFGS solve, algorithms.solve_plane), checked against a jointly optimised full UFM.

Part A (exact theory): K in {3, 10}, beta = 1, mu in {1e-1, 1e-2, 1e-3}, lam on a grid of 101 points; joint UFM
in d = K + 2 for all ordered pairs and 21 lam. Scaled/changed: the joint solve runs L-BFGS to gradient 1e-4 then
Newton steps on the exact (block-diagonal) Hessian, because float64 L-BFGS line searches stall before 1e-8.
Part B (the empirical study, scaled down): CIFAR-scale ResNets -> MLP 64-256-256-64 (linear 64-d features) on
8x8 digits; sklearn `digits` is not installed and nothing may be downloaded, so the data are generated 8x8
glyph digits (boundrun.datasets.make_digits, 1797 images, stratified 80/20 split). Variants: mixup+CE, ERM, mixup+MSE,
mixup with a frozen simplex-ETF classifier; 300 epochs, one seed (as the spec's default). Mixup draws one lam per
batch (Zhang et al. 2018). M3 picks mu from `mus` by the best R^2. The K = 3 2-D scatter plots of the spec are not
drawn (the engine figure plots metrics against lam). V2 is "soft-gated" in the spec, i.e. report-only here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from boundrun.claims import Above, Below, Lead, Order
from boundrun.config import RunConfig
from boundrun.registry import Panel, experiment
from boundrun.results import Result

VARIANTS = ("mixup_ce", "erm", "mixup_mse", "mixup_etf")
BIG = ("default", "paper")
THEORY = "reconstructed: exact optimum of the spec-30 UFM mixup problem (paper's closed form not read)"
EMPIRICAL = "paper's empirical study (spec 30 V2/V3), scaled down to MLPs on 8x8 digits"
UFM = {"part": "ufm"}
NET = {"part": "network"}


@dataclass
class MixupNeuralCollapseConfig(RunConfig):
    ufm_K: list[int] = field(default_factory=lambda: [3, 10])
    mus: list[float] = field(default_factory=lambda: [1e-1, 1e-2, 1e-3])
    beta: float = 1.0
    n_lam: int = 101  # lam grid of the 2-D solve
    n_lam_joint: int = 21  # lam grid of the joint UFM
    joint_maxiter: int = 2000  # L-BFGS iterations of the joint UFM (negative controls shrink it)
    joint_newton: int = 20  # Newton polishing steps of the joint UFM (0 = L-BFGS only)
    net_K: list[int] = field(default_factory=lambda: [3, 10])
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    epochs: int = 300
    n_images: int = 1797
    alpha: float = 1.0
    n_probe: int = 20
    seeds: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if any(k < 2 for k in self.ufm_K + self.net_K) or any(k > 10 for k in self.net_K):
            raise ValueError(f"K must be >= 2 (and <= 10 digit classes for the network), got {self.ufm_K}, "
                             f"{self.net_K}")
        if any(m <= 0 for m in self.mus):
            raise ValueError(f"mus must be positive (the UFM needs weight decay mu > 0), got {self.mus}")
        if self.beta <= 0:
            raise ValueError(f"beta must be positive, got {self.beta}")
        if self.n_lam < 3 or self.n_lam_joint < 3:
            raise ValueError(f"n_lam and n_lam_joint must be >= 3, got {self.n_lam}, {self.n_lam_joint}")
        if (self.n_lam - 1) % 2 or (self.n_lam_joint - 1) % 2:
            raise ValueError("n_lam and n_lam_joint must be odd so that lam = 1/2 is on the grid")
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad:
            raise ValueError(f"unknown variant(s) {bad}; choose from {list(VARIANTS)}")
        if self.epochs < 0 or self.n_probe < 2 or self.n_images < 200:
            raise ValueError("epochs must be >= 0, n_probe >= 2 and n_images >= 200")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be positive (Beta(alpha, alpha)), got {self.alpha}")
        if self.joint_maxiter < 1 or self.joint_newton < 0:
            raise ValueError("joint_maxiter must be >= 1 and joint_newton >= 0")


# theory: deterministic up to the joint init, every instance must hold (worst seed); network: the mean over seeds
WORST_HI = {"min_seeds": 1, "over_seeds": "max"}
WORST_LO = {"min_seeds": 1, "over_seeds": "min"}
NET1 = {"min_seeds": 1}
CLAIMS = [
    # V1 (gated theory)
    Below("v1_joint_matches_2d", metric="rel_err", value=1e-4, where=UFM, methods=("ufm_joint",),
          per=("method", "K", "mu"), source=THEORY, **WORST_HI,
          text="jointly optimised UFM features match the 2-D optimum within relative error 1e-4 (every pair, lam)"),
    Below("v1_in_span", metric="off_span", value=1e-4, where=UFM, methods=("ufm_joint",),
          per=("method", "K", "mu"), source=THEORY, **WORST_HI,
          text="the joint optimum's component outside span{w_c, w_c'} is <= 1e-4 relative"),
    Below("v1_joint_converged", metric="grad_norm", value=1e-8, where=UFM, methods=("ufm_joint",),
          per=("method", "K", "mu"), source="spec 30 part A (stopping rule)", **WORST_HI,
          text="the joint UFM solve reached gradient norm <= 1e-8"),
    Below("v1_boundary_symmetry", metric="sym_gap", value=1e-8, where=UFM, methods=("ufm_2d", "ufm_joint"),
          per=("method", "K", "mu"), source=THEORY, **WORST_HI,
          text="|a(1/2) - b(1/2)| <= 1e-8 (2-D solve and joint UFM)"),
    Above("v1_gap_increasing", metric="ab_step", value=1e-12, where=UFM, methods=("ufm_2d",),
          per=("method", "K", "mu"), source=THEORY, **WORST_LO,
          text="a - b strictly increasing in lam (every grid step > 1e-12)"),
    Below("v1_log_odds", metric="gap_dev", value=0.1, where={"part": "ufm", "mu": 0.001}, methods=("ufm_2d",),
          per=("method", "K", "mu"), source=THEORY, **WORST_HI,
          text="mu = 1e-3: |z_c - z_c' - log(lam/(1-lam))| <= 0.1 for lam in [0.1, 0.9]"),
    # V2 (soft-gated = report-only; review measured K = 10 below the thresholds)
    Above("v2_same_class_alignment", metric="m1_cos", value=0.85, where=NET, methods=("mixup_etf",),
          per=("method", "K"), source=EMPIRICAL, gated=False, decide_in=BIG, **NET1,
          text="frozen-ETF mixup: mean cosine of centred same-class mixes with w_c >= 0.85"),
    Above("v2_channel_top2", metric="top2_frac", value=0.9, where=NET, methods=("mixup_etf",),
          per=("method", "K"), source=EMPIRICAL, gated=False, decide_in=BIG, **NET1,
          text="frozen-ETF mixup: >= 90% of c != c' mixes (lam in [0.2, 0.8]) have top-2 logits {c, c'}"),
    Above("v2_channel_spearman", metric="spearman", value=0.9, where=NET, methods=("mixup_etf",),
          per=("method", "K"), source=EMPIRICAL, gated=False, decide_in=BIG, **NET1,
          text="frozen-ETF mixup: Spearman(z_c - z_c', logit lam) >= 0.9"),
    # V3 (report)
    Above("v3_theory_fit", metric="m3_r2", value=0.8, where=NET, methods=("mixup_etf",), per=("method", "K"),
          source=EMPIRICAL, gated=False, decide_in=BIG, **NET1,
          text="frozen-ETF mixup: R^2 of s * UFM logit gap against the median network gap >= 0.8"),
    Lead("v3_mse_convex", metric="m4_r2", better="mixup_mse", than="mixup_ce", add=0.0, where=NET, per=("K",),
         source=EMPIRICAL, gated=False, decide_in=BIG, **NET1,
         text="R^2 of h ~ lam h_c + (1-lam) h_c' is higher for mixup+MSE than for mixup+CE"),
    Order("v3_calibration", metric="ece", better=("mixup_ce",), than="erm", factor=1.0, where=NET, per=("K",),
          source=EMPIRICAL, gated=False, decide_in=BIG, **NET1,
          text="test ECE (15 bins) of mixup+CE <= that of ERM"),
]


@experiment(
    name="mixup-neural-collapse",
    paper=30,
    title="Pushing Boundaries: Mixup's Influence on Neural Collapse",
    arxiv="2402.06171",
    family="other",
    x="lam",
    facets=("part", "K", "mu"),
    metric="logit_gap",
    schema=MixupNeuralCollapseConfig,
    claims=CLAIMS,
    panels=(
        *(Panel("logit_gap", facet="mu", where={"part": "ufm", "method": "ufm_joint", "K": K}, logx=False,
                logy=False, title=f"UFM K={K}: joint logit gap vs 2-D optimum and log-odds") for K in (3, 10)),
        Panel("gap_median", facet="K", where=NET, logx=False, logy=False,
              title="network: median logit gap vs fitted UFM gap"),
        Panel("m1_cos_lam", facet="K", where=NET, logx=False, logy=False, title="network: same-class cosine"),
    ),
    summary="Mixup UFM: optimal mixed features lie in span{w_c, w_c'}, on a channel along the decision boundary.",
)
def run(cfg: MixupNeuralCollapseConfig, ctx) -> Result:  # noqa: ANN001
    import pandas as pd

    from boundrun.experiments.mixup_neural_collapse.runner import run_network, run_ufm

    rows: list[tuple] = []
    brows: list[tuple] = []
    notes: list[str] = []
    run_ufm(cfg, ctx, rows, brows)
    run_network(cfg, ctx, rows, brows, notes)
    cols = ["method", "lam", "part", "K", "mu", "seed", "metric", "value"]
    bcols = ["bound", "side", "constant", "lam", "part", "K", "mu", "metric", "value"]
    return Result(measurements=pd.DataFrame(rows, columns=cols), bounds=pd.DataFrame(brows, columns=bcols),
                  notes=notes)
