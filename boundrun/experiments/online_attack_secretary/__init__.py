"""Paper 10 — Online Adversarial Attacks (Mladenovic et al., ICLR 2022; arXiv 2103.02014).

Claims on trial (spec 10). The paper's theorem statements could not be read, so its Virtual+ and stochastic
bounds are not evaluated in closed form: competitive ratios are computed by Monte Carlo and the stated
orderings are checked. Sources: (1) Babaioff et al. 2007: Virtual's value competitive ratio is >= 1/e for
every k; (2) paper, main theorem (statement `reconstructed`): Virtual+ is the best single-threshold
algorithm for k < 5 and reaches 1/e at k = 1; (3) paper, stochastic k-secretary (form `reconstructed`):
the true-value ratio degrades monotonically with observation noise and equals the noiseless one at
sigma = 0; (4) paper, experiments: online selection of the items to attack beats random selection in
fool rate (and FGSM can beat PGD online: report-only).

Quantities (spec 10): p_j = P(the j-th largest item is selected), by Monte Carlo over random arrival
orders; CR_ind = (1/k) sum_{j<=k} p_j [code compute_competitive_ratio]; CR_worst = min_m (1/m)
sum_{j<=m} p_j (worst case over values, spec derivation; bounds.cr_worst); the knapsack ratio on the
rank values. A "seed" is a batch of `perms / seeds` permutations: a cell's mean over seeds is the pooled
estimate and the engine bootstraps over batches. `cr_worst` per batch is the prefix ratio at the m that
minimises the cell's pooled prefix curve (so its mean is the pooled plug-in CR_worst). Within one k every
algorithm and every c runs on the same permutations (common random numbers); the comparisons of verdicts
3 and 4 are written as paired per-batch differences (`lead_over_*`, `cr_ind_rise`, `sigma0_gap`) so the
bootstrap keeps that pairing. The sigma = 0 check compares Part B with the exhaust Part A run on the same
permutations and noise draw, so it is exact for a correct implementation (it fails e.g. when Part B runs
without exhaust).

Bound curves (bounds.csv): `one_over_e` (Babaioff et al.; given), `secretary_exact` / `secretary_opt_N`
(exact finite-N k = 1 values; given), `vplus_best` and `single_ref_best` (best-c re-run values drawn on
the default-c panel; fitted), `fit_<alg>` in Part B (the sigma = 0 exhaust run; fitted), `naive_margin`
in Part C (max(random + 0.05, 1.2 random), verdict 5; fitted).

Parts: A (rank values, N = 100, k = 1..20 at each algorithm's default c, plus Virtual at c = 1/e),
A_sweep (c grid of Virtual/Virtual+) then A_best (each best c re-run on a fresh batch with Single-Ref:
removes the max-over-grid selection bias), B (noisy observations, sigma grid, exhaust) with A_exh, C
(online transfer attacks on an image stream).

Scaled down / substituted: Part C replaces MNIST/CIFAR/ImageNet by generated 8x8 digits (scikit-learn's
`load_digits` is not installed and nothing may be downloaded; see attack.py): 4 tiny CPU models, a stream
of N = 719 test items, 20 runs, k <= 100 (the paper: N = 10 000, k up to 1000). On these digits eps = 0.1
fools ~85% of all items, so eps = 0.05 keeps the random-selection fool rate in the spec's [0.1, 0.6]
(measured ~0.42). Parts A and B are at the paper's sizes; the default c sweep covers 0.20..0.50 at
k in {1, 2, 3, 4, 5, 10} (the paper's 0.05..0.80 at every k is the `paper` profile). Verdicts 1-3 need
20 batches (smoke has 10 and reports them inconclusive, as spec 10 asks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from boundrun.claims import Above, Below, Close, Lead
from boundrun.config import RunConfig
from boundrun.registry import Panel, experiment
from boundrun.results import Result

E_INV = 1.0 / math.e
ALGORITHMS = ("virtual", "virtual_plus", "optimistic", "single_ref", "random")
ATTACKS = ("fgsm", "pgd")
COLUMNS = ("method", "k", "part", "c", "sigma", "attack", "seed", "metric", "value")


@dataclass
class OnlineAttackSecretaryConfig(RunConfig):
    seeds: int = 20  # batches of permutations (Parts A, B); Part C has one row per run
    N: int = 100
    k: list[int] = field(default_factory=lambda: list(range(1, 21)))
    perms: int = 10000
    algorithms: list[str] = field(default_factory=lambda: list(ALGORITHMS))
    c_virtual: float = 0.38
    c_virtual_plus: float = E_INV
    c_optimistic: float = E_INV
    virtual_extra_c: list[float] = field(default_factory=lambda: [E_INV])
    paper_code: bool = False  # optimistic drops two entries of R per selection, as the authors' code
    sweep_algorithms: list[str] = field(default_factory=lambda: ["virtual", "virtual_plus"])
    sweep_k: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 10])
    sweep_c: list[float] = field(default_factory=lambda: [0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50])
    sweep_perms: int = 4000
    best_perms: int = 10000
    stoch_k: list[int] = field(default_factory=lambda: [1, 5, 20])
    sigmas: list[float] = field(default_factory=lambda: [0.0, 1.0, 5.0, 10.0])
    stoch_perms: int = 10000
    stoch_exhaust: bool = True
    attack_runs: int = 20
    attack_k: list[int] = field(default_factory=lambda: [2, 5, 10, 50, 100])
    attacks: list[str] = field(default_factory=lambda: list(ATTACKS))
    n_models: int = 4
    eps: float = 0.05
    pgd_steps: int = 40
    epochs: int = 30
    lr: float = 1e-3
    n_digits: int = 1797
    digit_noise: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.N < 3:
            raise ValueError(f"N must be >= 3, got {self.N}")
        bad = [a for a in self.algorithms if a not in ALGORITHMS]
        if bad or not self.algorithms:
            raise ValueError(f"algorithms must be a non-empty subset of {list(ALGORITHMS)}, got {self.algorithms}")
        bad = [a for a in self.sweep_algorithms if a not in ("virtual", "virtual_plus", "optimistic")]
        if bad:
            raise ValueError(f"sweep_algorithms must be a subset of [virtual, virtual_plus, optimistic], got {bad}")
        for name in ("k", "sweep_k", "stoch_k"):
            ks = getattr(self, name)
            if any(not 1 <= k < self.N for k in ks):
                raise ValueError(f"{name} values must be in 1..N-1 = 1..{self.N - 1}, got {ks}")
        cs = [self.c_virtual, self.c_virtual_plus, self.c_optimistic, *self.virtual_extra_c, *self.sweep_c]
        for c in cs:
            if not 0 < c < 1 or math.floor(c * self.N) > self.N - 2:
                raise ValueError(f"threshold fractions c must be in (0, 1) with floor(c N) <= N-2, got {c}")
        self._check_single_ref(self.N, [*self.k, *self.sweep_k, *self.stoch_k])
        for name in ("perms", "sweep_perms", "best_perms", "stoch_perms"):
            p = getattr(self, name)
            if p < self.seeds or p % self.seeds:
                raise ValueError(f"{name} must be a positive multiple of seeds={self.seeds}, got {p}")
        if any(s < 0 or not math.isfinite(s) for s in self.sigmas):
            raise ValueError(f"sigmas must be finite and >= 0, got {self.sigmas}")
        if self.attack_runs < 0:
            raise ValueError(f"attack_runs must be >= 0, got {self.attack_runs}")
        bad = [a for a in self.attacks if a not in ATTACKS]
        if bad:
            raise ValueError(f"attacks must be a subset of {list(ATTACKS)}, got {self.attacks}")
        if self.attack_runs:
            if self.n_models < 2:
                raise ValueError(f"n_models must be >= 2 (a source and a different target), got {self.n_models}")
            if not 0 <= self.eps <= 1:
                raise ValueError(f"eps must be in [0, 1] (pixels are in [0, 1]), got {self.eps}")
            if self.n_digits < 50:
                raise ValueError(f"n_digits must be >= 50, got {self.n_digits}")
            n_stream = self.n_digits - int(0.6 * self.n_digits)
            if any(not 1 <= k < n_stream for k in self.attack_k):
                raise ValueError(f"attack_k values must be in 1..{n_stream - 1} (the stream length), got "
                                 f"{self.attack_k}")
            self._check_single_ref(n_stream, self.attack_k)
            if self.pgd_steps < 1 or self.epochs < 1 or self.lr <= 0 or self.digit_noise < 0:
                raise ValueError("pgd_steps and epochs must be >= 1, lr > 0 and digit_noise >= 0")

    def _check_single_ref(self, N: int, ks: list[int]) -> None:
        if "single_ref" not in self.algorithms:
            return
        from boundrun.experiments.online_attack_secretary.algorithms import single_ref_c, single_ref_r, threshold

        for k in ks:
            t = threshold("single_ref", single_ref_c(k), N)
            if t > N - 2 or t + 1 < single_ref_r(k):
                raise ValueError(f"single_ref at k={k} needs r_k={single_ref_r(k)} <= t+1 and t <= N-2, "
                                 f"got t={t} for N={N}")

    def default_c(self, alg: str, k: int) -> float:
        from boundrun.experiments.online_attack_secretary.algorithms import single_ref_c

        return {"virtual": self.c_virtual, "virtual_plus": self.c_virtual_plus, "optimistic": self.c_optimistic,
                "single_ref": single_ref_c(k), "random": 0.0}[alg]


SRC_BABAIOFF = "Babaioff et al. 2007 (Virtual, ratio 1/e), via spec 10 claim 1"
SRC_MAIN = "reconstructed (paper main theorem: Virtual+ optimal single-threshold for k < 5; spec 10 claim 2)"
SRC_STOCH = "reconstructed (paper stochastic k-secretary bound, form unread; spec 10 claim 3)"
SRC_EXP = "paper experiments (online vs naive fool rate; spec 10 claim 4)"
# Verdicts 1-3 have tolerances (0.01-0.015) below the smoke profile's Monte-Carlo SE (~0.02): spec 10 calls
# smoke too small to decide them. They need the default profile's 20 batches; fewer is inconclusive.
DECIDE_SEEDS = 20
CLAIMS = [
    Above("virtual_above_one_over_e", metric="cr_worst", value=E_INV - 0.01,
          methods=("virtual", "virtual@1/e"), where={"part": "A"}, per=("method",), min_seeds=DECIDE_SEEDS,
          source=SRC_BABAIOFF,
          text="Virtual (c = 0.38 and c = 1/e): CR_worst >= 1/e - 0.01 at every k (verdict 1)"),
    Close("vplus_k1_one_over_e", metric="cr_worst", expected=E_INV, atol=0.015, methods=("virtual_plus",),
          where={"part": "A_best", "k": 1}, min_seeds=DECIDE_SEEDS, source=SRC_MAIN,
          text="Virtual+ at k = 1 and its best c: |CR - 1/e| <= 0.015 (verdict 2)"),
    Above("vplus_ge_single_ref", metric="lead_over_single_ref", value=-0.01, methods=("virtual_plus",),
          where={"part": "A_best", "k": [2, 3, 4]}, min_seeds=DECIDE_SEEDS, source=SRC_MAIN,
          text="k = 2, 3, 4: max_c CR_worst(Virtual+) - CR_worst(Single-Ref) >= -0.01, paired (verdict 3)"),
    Above("vplus_beats_virtual", metric="lead_over_virtual", value=0.03, methods=("virtual_plus",),
          where={"part": "A_best", "k": [2, 3, 4]}, min_seeds=DECIDE_SEEDS, source=SRC_MAIN,
          text="k = 2, 3, 4: max_c CR_worst(Virtual+) - max_c CR_worst(Virtual) >= 0.03, paired (verdict 3)"),
    Below("stochastic_monotone", metric="cr_ind_rise", value=0.0, resolution=0.02, where={"part": "B"},
          per=("method", "k"), source=SRC_STOCH,
          text="CR_ind (true ranks) does not rise between consecutive sigma by more than 2 SE (verdict 4)"),
    Close("stochastic_sigma0_matches", metric="sigma0_gap", expected=0.0, atol=0.02, equivalence=True,
          where={"part": "B"}, per=("method", "k"), source=SRC_STOCH,
          text="CR_ind at sigma = 0 equals the exhaust Part A run within 2 SE (verdict 4)"),
    Lead("online_beats_naive", metric="fool_rate", better="virtual_plus", than="random", add=0.05, mult=1.2,
         x_min=5, where={"part": "C"}, per=("attack",), source=SRC_EXP,
         text="k >= 5: fool rate of Virtual+ >= max(random + 0.05, 1.2 x random), each attack (verdict 5)"),
    Close("naive_fool_rate_in_range", metric="fool_rate", expected=0.35, atol=0.25, stat="at_max",
          methods=("random",), where={"part": "C"}, per=("method", "attack"), gated=False,
          source="spec 10 Part C (config requirement)",
          text="report: the random-selection fool rate (largest k) is in [0.1, 0.6]"),
    Lead("fgsm_beats_pgd_online", metric="fool_rate", col="attack", better="fgsm", than="pgd", x_min=5,
         methods=("virtual_plus",), where={"part": "C"}, per=("method",), gated=False, source=SRC_EXP,
         text="report: online (Virtual+) fool rate of FGSM >= PGD at every k >= 5"),
]


@experiment(
    name="online-attack-secretary",
    paper=10,
    title="Online Adversarial Attacks",
    arxiv="2103.02014",
    family="online-learning",
    x="k",
    facets=("part", "c", "sigma", "attack"),
    metric="cr_worst",
    schema=OnlineAttackSecretaryConfig,
    claims=CLAIMS,
    panels=(
        Panel("cr_worst", where={"part": "A"}, logx=False, logy=False, title="A: CR_worst, default c"),
        Panel("cr_ind", where={"part": "A"}, logx=False, logy=False, title="A: CR_ind, default c"),
        Panel("cr_worst", where={"part": "A_best"}, logx=False, logy=False, title="A: best c, fresh batch"),
        Panel("cr_worst", x="c", facet="k", where={"part": "A_sweep"}, logx=False, logy=False,
              title="A: c sweep"),
        Panel("cr_ind", x="sigma", facet="k", where={"part": "B"}, logx=False, logy=False,
              title="B: CR_ind vs noise"),
        Panel("fool_rate", facet="attack", where={"part": "C"}, logy=False, title="C: fool rate"),
    ),
    summary="Online k-secretary attacks: Virtual >= 1/e; Virtual+ best single-threshold for k < 5; noise; fool rates.",
)
def run(cfg: OnlineAttackSecretaryConfig, ctx) -> Result:  # noqa: ANN001
    import pandas as pd

    from boundrun.experiments.online_attack_secretary import runner

    rows = runner.Rows(cfg.seeds)
    refs: dict = {}
    runner.part_a(cfg, ctx, rows, refs)
    runner.part_sweep(cfg, ctx, rows, refs)
    runner.part_b(cfg, ctx, rows, refs)
    notes = runner.part_c(cfg, ctx, rows) if cfg.attack_runs and cfg.attacks else []
    res = pd.DataFrame(rows.cols)
    if cfg.paper_code:
        notes.insert(0, "paper_code: optimistic removes two entries of R per selection (authors' code)")
    return Result(measurements=res, bounds=runner.bound_frame(cfg, res, refs), notes=notes)
