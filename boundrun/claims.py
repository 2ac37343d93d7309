"""Verdicts: `rate`, `below`, `above`, `order` and `close` checks on the tidy frames.

Every claim reduces the per-seed measurements to one statistic (a slope, a ratio to a bound, a growth
factor...) computed from the per-cell means. Its uncertainty comes from a seeded bootstrap over seeds
inside every cell, so the same frames always give the same verdict. The decision rule is the same for
every kind: `pass` when the whole 95% interval of the statistic is on the claimed side, `fail` when the
whole interval is on the other side, `inconclusive` when the interval straddles the threshold, when a
cell has fewer than `min_seeds` seeds, or when there is no data at all.

Statistics are pure functions of arrays (rliable's lesson); nothing here reads or writes files.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
else:
    from boundrun._lazy import numpy as np

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
_SEVERITY = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}
N_BOOT = 400
NON_CELL = {"experiment", "seed", "metric", "value"}


@dataclass(frozen=True)
class ClaimResult:
    claim: str
    kind: str
    status: str
    measured: float
    expected: str
    tolerance: str
    gated: bool
    source: str
    detail: str

    def as_row(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "kind": self.kind,
            "status": self.status,
            "measured": self.measured,
            "expected": self.expected,
            "tolerance": self.tolerance,
            "gated": self.gated,
            "source": self.source,
            "detail": self.detail,
        }


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=_SEVERITY.__getitem__) if statuses else INCONCLUSIVE


def decide_upper(lo: float, hi: float, limit: float) -> str:
    """The claim is `statistic <= limit`."""
    if hi <= limit:
        return PASS
    if lo > limit:
        return FAIL
    return INCONCLUSIVE


def decide_lower(lo: float, hi: float, limit: float) -> str:
    """The claim is `statistic >= limit`."""
    if lo >= limit:
        return PASS
    if hi < limit:
        return FAIL
    return INCONCLUSIVE


def decide_interval(lo: float, hi: float, a: float, b: float) -> str:
    """The claim is `a <= statistic <= b`."""
    if a <= lo and hi <= b:
        return PASS
    if hi < a or lo > b:
        return FAIL
    return INCONCLUSIVE


def loglog_slope(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Least-squares slope of log Y against log x, row by row (Y has shape (R, len(x)))."""
    lx = np.log(np.asarray(x, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        ly = np.log(Y)
    lxc = lx - lx.mean()
    return (ly - ly.mean(axis=1, keepdims=True)) @ lxc / (lxc @ lxc)


def bootstrap_means(values: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator,
                    paired: bool = False) -> np.ndarray:
    """Row 0: the exact cell means; rows 1..n_boot: means of resampled seeds.

    paired: every cell holds the same seeds in the same order (common random numbers across methods and
    grid points), so one draw of seed indices per replicate is shared by all cells; this keeps the
    correlation between cells, which is what a slope or a difference between methods depends on.
    Otherwise seeds are resampled independently inside each cell."""
    M = np.empty((n_boot + 1, len(values)))
    shared = rng.integers(0, len(values[0]), size=(n_boot, len(values[0]))) if paired else None
    for j, v in enumerate(values):
        M[0, j] = v.mean()
        idx = shared if shared is not None else rng.integers(0, len(v), size=(n_boot, len(v)))
        M[1:, j] = v[idx].mean(axis=1)
    return M


class Undecidable(Exception):
    """The data cannot decide the claim (too few points, a non-positive mean under a log...)."""


@dataclass(frozen=True)
class Group:
    """The cells of one group of a claim: keys (a frame, one row per cell) and bootstrapped means."""

    key: dict[str, Any]
    cells: pd.DataFrame
    M: np.ndarray  # (R, n_cells)
    x: str

    def xs(self) -> np.ndarray:
        return self.cells[self.x].to_numpy(dtype=float)

    def reduce(self, over: Mapping[str, str]) -> Group:
        """Max or min the means over the named columns (e.g. the worst case over a family of instances)."""
        if not over:
            return self
        keep = [c for c in self.cells.columns if c not in over]
        keys = self.cells[keep].astype(str).agg("|".join, axis=1) if keep else self.cells.index.map(lambda _: "")
        codes, uniq = _factorize(keys.to_numpy())
        how = set(over.values())
        if len(how) != 1 or not how <= {"max", "min"}:
            raise ValueError(f"reduce takes 'max' or 'min' for every column, got {dict(over)}")
        fn = np.max if how == {"max"} else np.min
        M = np.stack([fn(self.M[:, codes == k], axis=1) for k in range(len(uniq))], axis=1)
        first = [int(np.flatnonzero(codes == k)[0]) for k in range(len(uniq))]
        cells = self.cells.iloc[first][keep].reset_index(drop=True)
        return Group(self.key, cells, M, self.x)


def _factorize(a: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    uniq: list[Any] = []
    index: dict[Any, int] = {}
    codes = np.empty(len(a), dtype=int)
    for i, v in enumerate(a):
        if v not in index:
            index[v] = len(uniq)
            uniq.append(v)
        codes[i] = index[v]
    return codes, uniq


@dataclass(frozen=True)
class Claim:
    """A claim on one metric; subclasses say which statistic and which side.

    where: keep rows whose columns equal the value (or are in the list); methods: keep these methods;
    per: columns evaluated separately (the claim holds only if it holds in every group);
    reduce: columns to take the max/min over before the statistic; x: the column the statistic runs
    along (defaults to the experiment's x); min_seeds: fewer seeds in a cell make it inconclusive;
    decide_in: the profiles big enough to decide the claim (None: all). In any other profile the claim is
    still evaluated and shown, but reported `inconclusive` (with what it would have been in `detail`).
    over_seeds: "max" or "min" judges the worst seed instead of the mean (a guarantee that must hold for
    every instance); the statistic is then exact on the observed seeds, with no bootstrap interval.
    """

    name: str
    metric: str
    source: str = "reconstructed"
    gated: bool = True
    text: str = ""
    where: Mapping[str, Any] = field(default_factory=dict)
    methods: tuple[str, ...] | None = None
    per: tuple[str, ...] = ("method",)
    reduce: Mapping[str, str] = field(default_factory=dict)
    x: str | None = None
    min_seeds: int = 2
    decide_in: tuple[str, ...] | None = None
    over_seeds: str | None = None

    kind: ClassVar[str] = "claim"

    # -- to be provided by each kind --------------------------------------------------------------
    def statistic(self, g: Group, bounds: pd.DataFrame) -> np.ndarray:  # (R,)
        raise NotImplementedError

    def decide(self, lo: float, hi: float) -> str:
        raise NotImplementedError

    def expected_text(self) -> str:
        raise NotImplementedError

    def tolerance_text(self) -> str:
        return ""

    def violation(self, value: float) -> float:
        """How far a group's point value is on the wrong side (larger = worse); picks the reported group."""
        return 0.0

    # -- shared machinery --------------------------------------------------------------------------
    def select(self, results: pd.DataFrame) -> pd.DataFrame:
        df = results[results["metric"] == self.metric]
        for col, want in self.where.items():
            if col not in df.columns:
                return df.iloc[0:0]
            if isinstance(want, list | tuple | set):
                df = df[df[col].isin(list(want))]
            else:
                df = df[df[col] == want]
        if self.methods is not None:
            df = df[df["method"].isin(list(self.methods))]
        return df

    def groups(self, df: pd.DataFrame, x: str, rng: np.random.Generator) -> list[Group]:
        cell_cols = [c for c in df.columns if c not in NON_CELL]
        per = [c for c in self.per if c in cell_cols]
        inner = [c for c in cell_cols if c not in per]
        out = []
        grouped = df.groupby(per, sort=True) if per else [((), df)]
        for key, gdf in grouped:
            key = key if isinstance(key, tuple) else (key,)
            cells, values, seeds = [], [], []
            for ckey, cdf in gdf.groupby(inner, sort=True):
                ckey = ckey if isinstance(ckey, tuple) else (ckey,)
                cells.append(dict(zip(inner, ckey, strict=True)))
                cdf = cdf.sort_values("seed", kind="stable")
                values.append(cdf["value"].to_numpy(dtype=float))
                seeds.append(cdf["seed"].to_numpy())
            if min(len(v) for v in values) < self.min_seeds:
                raise Undecidable(f"a cell has fewer than {self.min_seeds} seeds")
            if self.over_seeds is not None:
                if self.over_seeds not in ("max", "min"):
                    raise ValueError(f"over_seeds takes 'max' or 'min', got {self.over_seeds!r}")
                fn = np.max if self.over_seeds == "max" else np.min
                values = [np.array([fn(v)]) for v in values]
                seeds = [np.zeros(1, dtype=int) for _ in values]
            import pandas as pd

            paired = all(len(s) == len(seeds[0]) and (s == seeds[0]).all() for s in seeds)
            M = bootstrap_means(values, N_BOOT, rng, paired=paired)
            g = Group(dict(zip(per, key, strict=True)), pd.DataFrame(cells), M, x)
            out.append(g.reduce(self.reduce))
        return out

    def evaluate(self, results: pd.DataFrame, bounds: pd.DataFrame, x: str, profile: str = "default"
                 ) -> ClaimResult:
        r = self._evaluate(results, bounds, x)
        if self.decide_in is not None and profile not in self.decide_in and r.status != INCONCLUSIVE:
            note = f"profile {profile} does not decide this claim (it would be {r.status}; decided in " \
                   f"{', '.join(self.decide_in)}); "
            r = dataclasses.replace(r, status=INCONCLUSIVE, detail=note + r.detail)
        return r

    def _evaluate(self, results: pd.DataFrame, bounds: pd.DataFrame, x: str) -> ClaimResult:
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        x = self.x or x
        df = self.select(results)
        rows: list[tuple[str, float, float, float, str]] = []
        try:
            if df.empty:
                raise Undecidable("no data for this claim in this run (profile too small?)")
            for g in self.groups(df, x, rng):
                label = ", ".join(f"{k}={v}" for k, v in g.key.items()) or "all"
                try:
                    s = np.asarray(self.statistic(g, bounds), dtype=float)
                except Undecidable as e:
                    rows.append((label, math.nan, math.nan, math.nan, f"{INCONCLUSIVE} ({e})"))
                    continue
                point = float(s[0])
                boot = s[1:][np.isfinite(s[1:])]
                if not np.isfinite(point) or len(boot) < len(s[1:]) * 0.9:
                    rows.append((label, point, math.nan, math.nan, f"{INCONCLUSIVE} (not finite)"))
                    continue
                lo, hi = np.quantile(boot, [0.025, 0.975])
                lo, hi = min(lo, point), max(hi, point)
                rows.append((label, point, float(lo), float(hi), self.decide(float(lo), float(hi))))
        except Undecidable as e:
            return self._result(INCONCLUSIVE, math.nan, str(e))
        statuses = [r[4].split(" ")[0] for r in rows]
        status = worst(statuses)
        candidates = [r for r, s in zip(rows, statuses, strict=True) if s == status and np.isfinite(r[1])]
        pick = max(candidates, key=lambda r: self.violation(r[1])) if candidates else rows[0]
        detail = "; ".join(
            f"{label}: {_fmt(p)} [{_fmt(lo)}, {_fmt(hi)}] {s}" for label, p, lo, hi, s in rows
        )
        return self._result(status, pick[1], detail)

    def _result(self, status: str, measured: float, detail: str) -> ClaimResult:
        return ClaimResult(
            claim=self.name,
            kind=self.kind,
            status=status,
            measured=measured,
            expected=self.expected_text(),
            tolerance=self.tolerance_text(),
            gated=self.gated,
            source=self.source,
            detail=detail,
        )


def _fmt(v: float) -> str:
    return "nan" if not np.isfinite(v) else f"{v:.4g}"


def _single_x(g: Group) -> tuple[np.ndarray, np.ndarray]:
    """Cells sorted along x; the group must vary along x only."""
    others = [c for c in g.cells.columns if c != g.x and g.cells[c].nunique() > 1]
    if others:
        raise ValueError(f"cells vary along {others} besides {g.x}: add them to `per`, `where` or `reduce`")
    order = np.argsort(g.xs(), kind="stable")
    return g.xs()[order], g.M[:, order]


@dataclass(frozen=True)
class Rate(Claim):
    """Log–log slope of the mean metric against x lies within `tol` of `exponent` (or inside `band`).

    fit: "upper" fits the points with x at or above the grid's median, "all" the whole grid.
    """

    exponent: float | None = None
    tol: float = 0.1
    band: tuple[float, float] | None = None
    fit: str = "upper"
    min_points: int = 3
    kind: ClassVar[str] = "rate"

    def _band(self) -> tuple[float, float]:
        if self.band is not None:
            return self.band
        assert self.exponent is not None, "Rate needs an exponent or a band"
        return self.exponent - self.tol, self.exponent + self.tol

    def statistic(self, g: Group, bounds: pd.DataFrame) -> np.ndarray:
        xs, M = _single_x(g)
        if self.fit == "upper":
            keep = xs >= np.median(xs)
            xs, M = xs[keep], M[:, keep]
        if len(np.unique(xs)) < self.min_points:
            raise Undecidable(f"{len(np.unique(xs))} grid points < {self.min_points}")
        if (M[0] <= 0).any():
            raise Undecidable("a mean is not positive: no log-log slope")
        return loglog_slope(xs, M)

    def decide(self, lo: float, hi: float) -> str:
        return decide_interval(lo, hi, *self._band())

    def expected_text(self) -> str:
        a, b = self._band()
        return f"slope in [{a:.4g}, {b:.4g}]"

    def tolerance_text(self) -> str:
        return f"{self.tol:g}" if self.band is None else ""

    def violation(self, value: float) -> float:
        a, b = self._band()
        return max(a - value, value - b)


_STATS = ("each", "growth", "at_max", "at_min")


def _stat_values(g: Group, stat: str, bound_curve: np.ndarray | None) -> np.ndarray:
    """The per-replicate values a below/above/close claim compares: one column per grid point for
    `each`, else one column (growth = mean at the largest x over mean at the smallest x)."""
    if stat == "each":
        if bound_curve is None:
            return g.M
        with np.errstate(divide="ignore", invalid="ignore"):
            return g.M / bound_curve
    xs, M = _single_x(g)
    if bound_curve is not None:
        raise ValueError("a bound curve goes with stat='each'")
    if stat == "growth":
        if len(xs) < 2:
            raise Undecidable("growth needs two grid points")
        if M[0, 0] <= 0:
            raise Undecidable("growth from a non-positive mean")
        with np.errstate(divide="ignore", invalid="ignore"):
            return (M[:, -1] / M[:, 0])[:, None]
    if stat == "at_max":
        return M[:, -1:]
    if stat == "at_min":
        return M[:, :1]
    raise ValueError(f"stat must be one of {_STATS}, got {stat!r}")


def bound_on_cells(bounds: pd.DataFrame, name: str, cells: pd.DataFrame, metric: str) -> np.ndarray:
    """The bound curve `name` evaluated on the claim's cells (joined on every shared column)."""
    b = bounds[(bounds["bound"] == name)]
    if "metric" in b.columns and (b["metric"] == metric).any():
        b = b[b["metric"] == metric]
    if b.empty:
        raise ValueError(f"bound curve {name!r} is not in bounds.csv")
    on = [c for c in cells.columns
          if c in b.columns and c not in ("experiment", "bound", "side", "constant", "metric")]
    merged = cells.reset_index().merge(b[[*on, "value"]], on=on, how="left").sort_values("index")
    if merged["value"].isna().any() or len(merged) != len(cells):
        raise ValueError(f"bound curve {name!r} does not cover every grid point of the claim")
    return merged["value"].to_numpy(dtype=float)


@dataclass(frozen=True)
class _Threshold(Claim):
    """Shared by below/above: a bound curve (`bound`, compared as mean/bound against 1) or a value.

    resolution: the spec's "up to noise" reading: fail only when the whole interval is on the wrong side,
    pass only when the interval ends within `resolution` of the limit, else inconclusive."""

    bound: str | None = None
    value: float | None = None
    stat: str = "each"
    resolution: float | None = None

    def _limit(self) -> float:
        return 1.0 if self.bound is not None else float(self.value)  # type: ignore[arg-type]

    def _values(self, g: Group, bounds: pd.DataFrame) -> np.ndarray:
        curve = None
        if self.bound:
            cells = g.cells.assign(**{k: v for k, v in g.key.items() if k not in g.cells.columns})
            curve = bound_on_cells(bounds, self.bound, cells, self.metric)
        return _stat_values(g, self.stat, curve)

    def expected_text(self) -> str:
        what = f"mean/{self.bound}" if self.bound else f"{self.stat} mean"
        return f"{what} {self._op} {self._limit():g}"


@dataclass(frozen=True)
class Below(_Threshold):
    """The mean (at every grid point, or its growth...) stays below a bound curve or a value."""

    kind: ClassVar[str] = "below"
    _op: ClassVar[str] = "<="

    def statistic(self, g: Group, bounds: pd.DataFrame) -> np.ndarray:
        return self._values(g, bounds).max(axis=1)

    def decide(self, lo: float, hi: float) -> str:
        if self.resolution is not None:  # "not above, up to noise": a pass needs the interval's top close
            if lo > self._limit():
                return FAIL
            return PASS if hi <= self._limit() + self.resolution else INCONCLUSIVE
        return decide_upper(lo, hi, self._limit())

    def tolerance_text(self) -> str:
        return "" if self.resolution is None else f"resolution={self.resolution:g}"

    def violation(self, value: float) -> float:
        return value - self._limit()


@dataclass(frozen=True)
class Above(_Threshold):
    """The mean (at every grid point, or its growth...) stays above a bound curve or a value."""

    kind: ClassVar[str] = "above"
    _op: ClassVar[str] = ">="

    def statistic(self, g: Group, bounds: pd.DataFrame) -> np.ndarray:
        return self._values(g, bounds).min(axis=1)

    def decide(self, lo: float, hi: float) -> str:
        if self.resolution is not None:
            if hi < self._limit():
                return FAIL
            return PASS if lo >= self._limit() - self.resolution else INCONCLUSIVE
        return decide_lower(lo, hi, self._limit())

    def tolerance_text(self) -> str:
        return "" if self.resolution is None else f"resolution={self.resolution:g}"

    def violation(self, value: float) -> float:
        return self._limit() - value


@dataclass(frozen=True)
class Close(Claim):
    """A statistic of the mean is within tolerance of an exact or reference value.

    expected: a number, or a function of the sorted grid (np.ndarray of x values) returning one.
    Tolerance: `atol` absolute or `rtol` relative (rtol wins if both are given).
    equivalence: fail as soon as the interval excludes the target (a significant deviation, however small);
    pass only when the interval lies within the tolerance.
    """

    expected: float | Callable[[np.ndarray], float] = 0.0
    atol: float = 0.0
    rtol: float | None = None
    stat: str = "each"
    equivalence: bool = False
    kind: ClassVar[str] = "close"

    def _target(self, g: Group) -> float:
        if callable(self.expected):
            return float(self.expected(np.sort(np.unique(g.xs()))))
        return float(self.expected)

    def _half(self) -> float:
        return self.rtol if self.rtol is not None else self.atol

    def statistic(self, g: Group, bounds: pd.DataFrame) -> np.ndarray:
        """The worst grid point's deviation from the target: relative (mean/target - 1) with rtol,
        absolute (mean - target) with atol."""
        target = self._target(g)
        V = _stat_values(g, self.stat, None)
        if self.rtol is not None:
            if target == 0:
                raise ValueError("rtol needs a non-zero target")
            dev = V / target - 1.0
        else:
            dev = V - target
        return np.take_along_axis(dev, np.abs(dev).argmax(axis=1)[:, None], axis=1)[:, 0]

    def decide(self, lo: float, hi: float) -> str:
        if self.equivalence:  # "equal within 2 SE": any significant deviation fails; a pass needs resolution
            if lo > 0 or hi < 0:
                return FAIL
            return PASS if -self._half() <= lo and hi <= self._half() else INCONCLUSIVE
        return decide_interval(lo, hi, -self._half(), self._half())

    def expected_text(self) -> str:
        e = "f(grid)" if callable(self.expected) else f"{self.expected:g}"
        if self.rtol is not None:
            return f"{self.stat} mean / {e} - 1 = 0"
        return f"{self.stat} mean - {e} = 0"

    def tolerance_text(self) -> str:
        tol = f"rtol={self.rtol:g}" if self.rtol is not None else f"atol={self.atol:g}"
        return tol + (" (equivalence)" if self.equivalence else "")

    def violation(self, value: float) -> float:
        return abs(value)


@dataclass(frozen=True)
class Order(Claim):
    """The best of `better` beats `than`: min_a mean(a) <= factor * mean(than) (at the largest x, or at
    every grid point with at="each"). For a metric where larger is better, set larger_is_better."""

    better: tuple[str, ...] = ()
    than: str = ""
    factor: float = 1.0
    at: str = "x_max"
    larger_is_better: bool = False
    per: tuple[str, ...] = ()
    kind: ClassVar[str] = "order"

    def statistic(self, g: Group, bounds: pd.DataFrame) -> np.ndarray:
        cells = g.cells
        if "method" not in cells.columns:
            raise ValueError("order claims compare methods: keep `method` out of `per`")
        xs = cells[g.x].to_numpy(dtype=float)
        grid = np.unique(xs)
        pts = grid[-1:] if self.at == "x_max" else grid
        ratios = []
        for xv in pts:
            at_x = xs == xv
            ref = np.flatnonzero(at_x & (cells["method"] == self.than).to_numpy())
            cand = np.flatnonzero(at_x & cells["method"].isin(list(self.better)).to_numpy())
            if len(ref) != 1 or len(cand) == 0:
                raise Undecidable(f"methods missing at {g.x}={xv:g}")
            best = g.M[:, cand].max(axis=1) if self.larger_is_better else g.M[:, cand].min(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = g.M[:, ref[0]] / best if self.larger_is_better else best / g.M[:, ref[0]]
            ratios.append(r)
        return np.max(np.stack(ratios, axis=1), axis=1)

    def decide(self, lo: float, hi: float) -> str:
        return decide_upper(lo, hi, self.factor)

    def expected_text(self) -> str:
        side = "max" if self.larger_is_better else "min"
        if self.larger_is_better:
            return f"{self.than} / {side}({', '.join(self.better)}) <= {self.factor:g}"
        return f"{side}({', '.join(self.better)}) / {self.than} <= {self.factor:g}"

    def violation(self, value: float) -> float:
        return value - self.factor


@dataclass(frozen=True)
class Lead(Claim):
    """mean(better) >= target(mean(than)) at every x >= x_min, target = than + add (or, with mult,
    max(than + add, mult * than)); `col` names the column that holds better/than (method or attack).
    `better` may name several labels: the best of their means counts, re-chosen in every bootstrap replicate."""

    better: str | tuple[str, ...] = ""
    than: str = ""
    col: str = "method"
    add: float = 0.0
    mult: float | None = None
    x_min: float | None = None
    per: tuple[str, ...] = ()
    kind: ClassVar[str] = "order"

    def statistic(self, g: Group, bounds: pd.DataFrame) -> np.ndarray:
        cells = g.cells
        xs = cells[g.x].to_numpy(dtype=float)
        grid = np.unique(xs)
        if self.x_min is not None:
            grid = grid[grid >= self.x_min]
        if len(grid) == 0:
            raise Undecidable(f"no grid point with {g.x} >= {self.x_min}")
        diffs = []
        for xv in grid:
            better = [self.better] if isinstance(self.better, str) else list(self.better)
            a = np.flatnonzero((xs == xv) & cells[self.col].isin(better).to_numpy())
            b = np.flatnonzero((xs == xv) & (cells[self.col] == self.than).to_numpy())
            if len(a) != len(better) or len(b) != 1:
                raise Undecidable(f"{self.better}/{self.than} missing (or not unique) at {g.x}={xv:g}")
            ref = g.M[:, b[0]]
            target = ref + self.add if self.mult is None else np.maximum(ref + self.add, self.mult * ref)
            diffs.append(g.M[:, a].max(axis=1) - target)  # the best of `better`, replicate by replicate
        return np.min(np.stack(diffs, axis=1), axis=1)

    def decide(self, lo: float, hi: float) -> str:
        return decide_lower(lo, hi, 0.0)

    def expected_text(self) -> str:
        ref = f"{self.than}{self.add:+g}" if self.mult is None else (
            f"max({self.than}{self.add:+g}, {self.mult:g}*{self.than})")
        where = f" at {self.x or 'x'} >= {self.x_min:g}" if self.x_min is not None else ""
        return f"min over grid of {self.better} - {ref} >= 0{where}"

    def violation(self, value: float) -> float:
        return -value


@dataclass(frozen=True)
class Monotone(Claim):
    """The mean is monotone along x: Spearman's rho between the grid and the cell means is at least
    `min_rho` (direction="increasing") or at most -min_rho ("decreasing"); bootstrapped like every claim."""

    direction: str = "increasing"
    min_rho: float = 0.9
    kind: ClassVar[str] = "order"

    def _sign(self) -> float:
        if self.direction not in ("increasing", "decreasing"):
            raise ValueError(f"direction must be 'increasing' or 'decreasing', got {self.direction!r}")
        return 1.0 if self.direction == "increasing" else -1.0

    def statistic(self, g: Group, bounds: pd.DataFrame) -> np.ndarray:
        xs, M = _single_x(g)
        if len(np.unique(xs)) < 3:
            raise Undecidable("a trend needs three grid points")
        rx = np.argsort(np.argsort(xs, kind="stable"), kind="stable").astype(float)
        ry = np.argsort(np.argsort(M, axis=1, kind="stable"), axis=1, kind="stable").astype(float)
        rx -= rx.mean()
        ry -= ry.mean(axis=1, keepdims=True)
        rho = ry @ rx / np.sqrt((ry**2).sum(axis=1) * (rx @ rx))
        return self._sign() * rho

    def decide(self, lo: float, hi: float) -> str:
        return decide_lower(lo, hi, self.min_rho)

    def expected_text(self) -> str:
        return f"{self.direction} in {self.x or 'x'}: sign * Spearman rho >= {self.min_rho:g}"

    def violation(self, value: float) -> float:
        return self.min_rho - value


def evaluate_all(
    claims: Sequence[Claim], results: pd.DataFrame, bounds: pd.DataFrame, x: str, profile: str = "default"
) -> list[ClaimResult]:
    return [c.evaluate(results, bounds, x, profile) for c in claims]


def exit_code(results: Sequence[ClaimResult]) -> int:
    """3 if a gated claim failed, else 0 (report-only claims never change the exit code)."""
    return 3 if any(r.status == FAIL and r.gated for r in results) else 0
