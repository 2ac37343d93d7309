"""Paper 07 — Opening the Black Box of Deep Neural Networks via Information (Shwartz-Ziv & Tishby, arXiv 1703.00810).

Claim on trial: every layer T of a trained network, a deterministic function of X with Y - X - T, lies below the
information bottleneck curve, I(T;Y) <= F(I(X;T)) (the IB curve of Tishby, Pereira & Bialek 1999, drawn by the
paper against its information-plane trajectories; the only theorem here, gated, V1), with the sanity checks
I(X;T) <= 12 bits and I(T;Y) <= I(X;Y) (V2). The paper's empirical claims are reported, not gated (spec 07):
(iii) converged layers sit near the IB curve (V3), (i) a fitting phase then a compression phase of the deep
layers' I(X;T), absent for ReLU (Saxe et al. 2018) (V4), (ii) compression starts when the gradients turn from
drift (mean > std) to diffusion (std > mean) (V4), (iv) more hidden layers converge in fewer epochs (V5).
The paper's body text could not be read (spec 07): the thresholds of the report-only claims V3 (0.05 bits) come
from the spec; the compression threshold of V4 (0.1 bits) and the phase-lag tolerance (a factor 10^0.5 in
epochs) are `reconstructed` choices of this implementation.

Data (spec's in-process generator replacing the authors' var_u.mat): 12 icosahedron vertices, all 4096 x in
{0,1}^12, f(x) = ||sum_i (2x_i - 1) v_i||^2 (20 levels), p(y=1|x) = sigmoid(gamma (f - theta)) with gamma set by
brentq so that I(X;Y) = 0.99 bits, one fixed label per pattern. The median of f falls on an f-level, so two
adjacent level pairs "straddle" it; theta is the midpoint of the pair giving p(f > theta) closer to 1/2.
Network (authors' code defaults): 12-10-7-5-4-3-2 tanh, softmax, truncated-normal(0, 1/sqrt(fan_in)) weights, Adam
lr 4e-4, batch 256, numpy with manual backprop, all runs of a training fraction in lock-step.
Estimates: 30 equal bins on [-1, 1] per unit (ReLU hidden units: [0, M], M the layer's max over the run's recorded
epochs); I(X;T) = H(T_binned); I(T;Y) from the true p(y|x) (primary), I(T;Y_emp) from the fixed labels.
IB curve: iterative IB (|T| = 21, log-spaced beta, warm starts jittered so merged clusters can split) plus every
contiguous <= 4-cell partition of S; F = upper concave envelope, flat at I(X;Y) beyond H(S).

Reported without a claim: I(T;Y_emp) (the labels the original code used), the number of layer-order inversions of
I(X;T) per run (spec V2: not gated, binned T_{k+1} is not a function of binned T_k), gradient |mean| and std per
layer (Frobenius norms of the epoch's batch-mean gradient and of the per-batch deviations), per-run compression
start (epoch of max I(X;T)) and diffusion start (first information epoch with std > |mean|), and the depth sweep's
convergence epochs (first epoch with training loss within 2% of the final one). The ReLU claim covers the spec's
"last three layers", which include the softmax output (a saturating unit, not a ReLU one).
Figure: per layer, the run-averaged trajectory in the plane (split at its I(X;T) peak into fit/compress segments)
against F and min(I(X;T), I(X;Y)); I(X;T) and I(T;Y) against epoch; gradient statistics; the depth sweep.

Scale (spec 07 "Configs"): default 4 tanh runs x 4000 epochs (paper: 50 runs x 10^4 epochs for train_frac in
{0.05, 0.45, 0.85}), one ReLU control run, the depth sweep with 1 seed and 2000 epochs; the paper profile restores
the paper's sizes. Nothing else is scaled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from boundrun.claims import Above, Below, Close
from boundrun.config import RunConfig
from boundrun.registry import Panel, experiment
from boundrun.results import Result

# hidden widths per number of hidden layers (spec 07 "Depth sweep", the authors' presets)
DEPTH_PRESETS = {1: [10], 2: [10, 7], 3: [10, 7, 5], 4: [10, 7, 5, 4], 5: [10, 7, 5, 4, 3], 6: [10, 7, 5, 4, 4, 3]}
ACTIVATIONS = ("tanh", "relu")


@dataclass
class IBInformationPlaneConfig(RunConfig):
    seeds: int = 4  # tanh runs per training fraction
    epochs: int = 4000
    n_info: int = 150
    train_frac: list[float] = field(default_factory=lambda: [0.85])
    hidden: list[int] = field(default_factory=lambda: [10, 7, 5, 4, 3])
    I_XY: float = 0.99
    data_seed: int = 0
    lr: float = 4e-4
    batch: int = 256
    ib_betas: int = 200
    ib_restarts: int = 5
    relu_runs: int = 1
    depth_layers: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    depth_epochs: int = 2000
    depth_seeds: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.I_XY < 0.999:
            raise ValueError(f"I_XY must be in (0, 0.999) bits (p(y=1) is 0.497, so H(Y) < 1), got {self.I_XY}")
        if not self.train_frac or any(not 0 < t <= 1 for t in self.train_frac):
            raise ValueError(f"train_frac must be a non-empty list of fractions in (0, 1], got {self.train_frac}")
        if any(round(t * 4096) < 1 for t in self.train_frac):
            raise ValueError(f"train_frac must keep at least one of the 4096 patterns, got {self.train_frac}")
        if not self.hidden or any(w < 1 for w in self.hidden):
            raise ValueError(f"hidden must list at least one positive width, got {self.hidden}")
        if self.epochs < 2 or self.depth_epochs < 2:
            raise ValueError(f"epochs and depth_epochs must be >= 2, got {self.epochs}, {self.depth_epochs}")
        if self.n_info < 2:
            raise ValueError(f"n_info must be >= 2 information epochs, got {self.n_info}")
        if self.lr <= 0 or self.batch < 1:
            raise ValueError(f"lr must be > 0 and batch >= 1, got lr={self.lr}, batch={self.batch}")
        if self.ib_betas < 2 or self.ib_restarts < 1:
            raise ValueError(f"ib_betas must be >= 2 and ib_restarts >= 1, got {self.ib_betas}, {self.ib_restarts}")
        if self.relu_runs < 0 or self.depth_seeds < 1 or self.data_seed < 0:
            raise ValueError("relu_runs must be >= 0, depth_seeds >= 1 and data_seed >= 0")
        bad = [d for d in self.depth_layers if d not in DEPTH_PRESETS]
        if bad:
            raise ValueError(f"depth_layers must be numbers of hidden layers in 1..6, got {self.depth_layers}")


SRC_IB = "IB curve F (Tishby, Pereira & Bialek 1999), drawn in the paper's information-plane figure"
SRC_DPI = "data processing inequality for Y - X - T; H(T) <= H(X) = 12 bits"
SRC_GEN = "spec 07 data generator (gamma set so that I(X;Y) = 0.99 bits)"
BIG = ("default", "paper")
LAST_HIDDEN = {"from_top": [1, 2]}  # the last two hidden layers
LAST_THREE = {"from_top": [0, 1, 2]}  # the last three layers (output included)
CLAIMS = [
    Below("ib_bound", metric="ib_excess", value=0.01, over_seeds="max", min_seeds=1,
          source=SRC_IB + " (theorem: definition of F); tolerance 0.01 bit for the numerical curve",
          text="every recorded point of every layer, epoch and run: I(T;Y) <= F(I(X;T)) + 0.01 bits"),
    Below("ixt_at_most_12", metric="I_XT", value=12 + 1e-9, over_seeds="max", min_seeds=1, source=SRC_DPI,
          text="every recorded point: I(X;T) <= H(X) = 12 bits (1e-9 for round-off)"),
    Below("ity_at_most_ixy", metric="ity_excess", value=1e-9, over_seeds="max", min_seeds=1, source=SRC_DPI,
          text="every recorded point: I(T;Y) - I(X;Y) <= 0 (1e-9 for round-off)"),
    Close("ixy_is_099", metric="I_XY", expected=0.99, atol=0.001, min_seeds=1, source=SRC_GEN,
          text="the generated rule has I(X;Y) = 0.99 +- 0.001 bits"),
    Below("converged_near_ib", metric="gap_final", value=0.05, gated=False, methods=("tanh",), where=LAST_HIDDEN,
          per=("method", "train_frac", "layer"), decide_in=BIG,
          source="paper claim (iii), threshold from spec 07 V3",
          text="final-epoch F(I(X;T)) - I(T;Y) of the last two hidden tanh layers, mean over runs, < 0.05 bits"),
    Above("compression_tanh", metric="compression", value=0.1, gated=False, methods=("tanh",), where=LAST_THREE,
          per=("method", "train_frac", "layer"), decide_in=BIG,
          source="paper claim (i); reconstructed threshold 0.1 bit",
          text="tanh, last three layers: max-over-epochs I(X;T) - final I(X;T) >= 0.1 bits (mean over runs)"),
    Below("no_compression_relu", metric="compression", value=0.1, gated=False, methods=("relu",), where=LAST_THREE,
          per=("method", "train_frac", "layer"), min_seeds=1, decide_in=BIG,
          source="Saxe et al. 2018 (ReLU control); reconstructed threshold 0.1 bit",
          text="ReLU control, last three layers: compression < 0.1 bits"),
    Close("compression_at_diffusion", metric="phase_lag", expected=0.0, atol=0.5, gated=False, methods=("tanh",),
          where=LAST_THREE, per=("method", "train_frac", "layer"), decide_in=BIG,
          source="paper claim (ii); reconstructed tolerance (a factor 10^0.5 in epochs)",
          text="log10(epoch of max I(X;T) / first epoch with gradient std > |mean|) within +-0.5"),
    Below("deeper_converges_faster", metric="depth_spearman", value=0.0, gated=False, min_seeds=1,
          methods=("tanh_depth",), decide_in=BIG, source="paper claim (iv)",
          text="Spearman correlation of #hidden layers and convergence epoch is negative"),
]


@experiment(
    name="ib-information-plane",
    paper=7,
    title="Opening the Black Box of Deep Neural Networks via Information",
    arxiv="1703.00810",
    family="info-theory",
    x="epoch",
    facets=("train_frac", "layer", "from_top", "n_hidden", "ixt"),
    metric="I_XT",
    schema=IBInformationPlaneConfig,
    claims=CLAIMS,
    panels=(
        Panel("plane_I_TY", x="ixt", facet="layer", logx=False, logy=False,
              title="info plane (mean over runs) vs IB curve F"),
        Panel("I_XT", facet="from_top", where={"from_top": [0, 1, 2], "method": ["tanh", "relu"]}, logy=False,
              title="I(X;T) vs epoch (from_top 0 = output)"),
        Panel("I_TY", facet="from_top", where={"from_top": [0, 1, 2], "method": ["tanh", "relu"]}, logy=False,
              title="I(T;Y) vs epoch, against I(X;Y)"),
        Panel("grad_mean", where={"method": "tanh", "from_top": 1}, title="last hidden layer: gradient |mean|"),
        Panel("grad_std", where={"method": "tanh", "from_top": 1}, title="last hidden layer: gradient std"),
        Panel("conv_epoch", x="n_hidden", logx=False, title="convergence epoch vs #hidden layers"),
    ),
    summary="Information plane of a 12-10-7-5-4-3-2 tanh net: layers against the IB curve; compression reported.",
)
def run(cfg: IBInformationPlaneConfig, ctx) -> Result:  # noqa: ANN001
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    from boundrun.experiments.ib_information_plane import algorithms as A
    from boundrun.experiments.ib_information_plane import bounds as B

    data = A.make_dataset(cfg.I_XY, np.random.default_rng(np.random.SeedSequence(cfg.data_seed)))
    pys = np.stack([1 - data.py1_s, data.py1_s], axis=1)
    F = A.ib_curve(data.ps, pys, np.logspace(-1, 4, cfg.ib_betas), cfg.ib_restarts, ctx.generator(1))
    L = len(cfg.hidden) + 1
    n_runs = len(cfg.train_frac) * (cfg.seeds * cfg.epochs + cfg.relu_runs * cfg.epochs) + \
        len(cfg.depth_layers) * cfg.depth_epochs
    task = ctx.task("ib-information-plane (epochs)", total=n_runs)
    rows: list[tuple] = []

    def add(method: str, epoch: int, tf: float, layer: int, n_hidden: int, ixt: float, seed: int, metric: str,
            value: float) -> None:
        rows.append((method, int(epoch), float(tf), int(layer), L - int(layer), int(n_hidden), float(ixt),
                     int(seed), metric, float(value)))

    add("tanh", 0, cfg.train_frac[0], 0, len(cfg.hidden), 0.0, 0, "I_XY", data.I_XY)
    for fi, tf in enumerate(cfg.train_frac):
        for act, R, key in (("tanh", cfg.seeds, 2), ("relu", cfg.relu_runs, 3)):
            if R == 0:
                continue
            lg = A.train(data, list(cfg.hidden), act, R, tf, cfg.epochs, cfg.n_info, ctx.generator(key, fi),
                         lr=cfg.lr, batch=cfg.batch)
            task.advance(R * cfg.epochs)
            E = lg.epochs
            I_XT, I_TY, I_TYe = lg.plane[..., 0], lg.plane[..., 1], lg.plane[..., 2]
            excess = B.ib_excess(I_XT, I_TY, F)
            for r in range(R):
                for j, e in enumerate(E):
                    for ell in range(L):
                        lay = ell + 1
                        for m, v in (("I_XT", I_XT[r, j, ell]), ("I_TY", I_TY[r, j, ell]),
                                     ("I_TY_emp", I_TYe[r, j, ell]), ("ib_excess", excess[r, j, ell]),
                                     ("ity_excess", I_TY[r, j, ell] - data.I_XY),
                                     ("grad_mean", lg.grad_mean[r, j, ell]), ("grad_std", lg.grad_std[r, j, ell])):
                            add(act, e, tf, lay, len(cfg.hidden), 0.0, r, m, v)
            # the figure's information plane: the trajectory averaged over runs (as the paper plots it), split at
            # the epoch of maximal mean I(X;T) into a fitting and a compression segment (the figure draws lines
            # sorted by x, so each segment must be monotone-ish in I(X;T) to be readable)
            mx, my = I_XT.mean(axis=0), I_TY.mean(axis=0)
            for ell in range(L):
                jpk = int(np.argmax(mx[:, ell]))
                for j, e in enumerate(E):
                    phase = "fit" if j <= jpk else "compress"
                    add(f"{act}:{phase}", e, tf, ell + 1, len(cfg.hidden), round(float(mx[j, ell]), 3), 0,
                        "plane_I_TY", my[j, ell])
            for r in range(R):
                # V2 note: binned layers need not be ordered (T_{k+1} binned is not a function of T_k binned)
                inversions = int((np.diff(I_XT[r], axis=1) > 1e-12).sum())
                add(act, E[-1], tf, 0, len(cfg.hidden), 0.0, r, "inversions", inversions)
                for ell in range(L):
                    lay = ell + 1
                    traj = I_XT[r, :, ell]
                    jmax = int(np.argmax(traj))
                    ratio = lg.grad_std[r, :, ell] / np.maximum(lg.grad_mean[r, :, ell], 1e-300)
                    crossed = np.flatnonzero(ratio > 1)
                    e_cross = E[crossed[0]] if len(crossed) else E[-1]
                    final = dict(gap_final=F(traj[-1]) - I_TY[r, -1, ell], compression=traj.max() - traj[-1],
                                 compression_start=E[jmax], diffusion_start=e_cross,
                                 phase_lag=np.log10(E[jmax] / e_cross), final_loss=lg.loss[r, -1])
                    for m, v in final.items():
                        add(act, E[-1], tf, lay, len(cfg.hidden), 0.0, r, m, v)
    if cfg.depth_layers:
        tf = max(cfg.train_frac)
        conv = np.zeros((len(cfg.depth_layers), cfg.depth_seeds))
        for di, d in enumerate(cfg.depth_layers):
            lg = A.train(data, DEPTH_PRESETS[d], "tanh", cfg.depth_seeds, tf, cfg.depth_epochs, 2,
                         ctx.generator(4, d), lr=cfg.lr, batch=cfg.batch, record=False)
            task.advance(cfg.depth_epochs)
            for r in range(cfg.depth_seeds):
                conv[di, r] = A.convergence_epoch(lg.loss[r])
                add("tanh_depth", cfg.depth_epochs, tf, 0, d, 0.0, r, "conv_epoch", conv[di, r])
                add("tanh_depth", cfg.depth_epochs, tf, 0, d, 0.0, r, "depth_final_loss", lg.loss[r, -1])
        if len(cfg.depth_layers) >= 3:
            for r in range(cfg.depth_seeds):
                rho = spearmanr(cfg.depth_layers, conv[:, r]).statistic
                add("tanh_depth", cfg.depth_epochs, tf, 0, 0, 0.0, r, "depth_spearman",
                    0.0 if not np.isfinite(rho) else rho)
    cols = ["method", "epoch", "train_frac", "layer", "from_top", "n_hidden", "ixt", "seed", "metric", "value"]
    res = pd.DataFrame(rows, columns=cols)
    notes = [f"theta = {data.theta:.6g}, gamma = {data.gamma:.6g}, I(X;Y) = {data.I_XY:.6f} bits, "
             f"p(y=1) = {data.py1.mean():.4f}, H(S) = {F.H_S:.4f} bits, F(1) = {float(F(1.0)):.6f} bits"]
    return Result(measurements=res, bounds=_bounds(cfg, res, F, data.I_XY, L), notes=notes)


def _bounds(cfg: IBInformationPlaneConfig, res, F, I_XY: float, L: int):  # noqa: ANN001, ANN202
    import numpy as np
    import pandas as pd

    from boundrun.experiments.ib_information_plane import bounds as B

    rows = []
    R = np.linspace(0, 12, 241)
    nh = len(cfg.hidden)
    for tf in cfg.train_frac:
        for lay in range(1, L + 1):
            for r, f, t in zip(R, F(R), B.trivial_ib(R, I_XY), strict=True):
                rows.append(("ib_curve", "upper", "given", 0, tf, lay, L - lay, nh, round(float(r), 3),
                             "plane_I_TY", float(f)))
                rows.append(("trivial_min_ixt_ixy", "upper", "given", 0, tf, lay, L - lay, nh,
                             round(float(r), 3), "plane_I_TY", float(t)))
        for lay in range(1, L + 1):
            for e in sorted(res[(res["metric"] == "I_XT") & (res["layer"] == lay)]["epoch"].unique()):
                rows.append(("H_X", "upper", "given", int(e), tf, lay, L - lay, nh, 0.0, "I_XT", B.H_X))
                rows.append(("I_XY", "upper", "given", int(e), tf, lay, L - lay, nh, 0.0, "I_TY", I_XY))
    cols = ["bound", "side", "constant", "epoch", "train_frac", "layer", "from_top", "n_hidden", "ixt", "metric",
            "value"]
    return pd.DataFrame(rows, columns=cols)
