"""The tidy schema of DESIGN.md: build, validate, summarise, write, read back.

results.csv: experiment, method, <x>, <facets...>, seed, metric, value
bounds.csv:  experiment, bound, side, constant, <x>, <facets...>, metric, value
summary.csv: experiment, method, <x>, <facets...>, metric, n, mean, std, ci_low, ci_high (95% t-interval)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
else:
    from boundrun._lazy import numpy as np

SIDES = ("upper", "lower", "exact")
RESERVED = ("n", "mean", "std", "ci_low", "ci_high", "experiment", "bound", "side", "constant")
CONSTANTS = ("given", "fitted")


class SchemaError(ValueError):
    """A runner returned frames that break the tidy schema: an error of the run, never a row."""


@dataclass
class Result:
    """What a runner returns: tidy measurements and bound curves (both long in `metric`, `value`).

    `notes` are short lines the engine logs and keeps in the manifest (e.g. a compatibility switch).
    """

    measurements: pd.DataFrame
    bounds: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def _check_values(df: pd.DataFrame, what: str) -> None:
    import pandas as pd

    vals = pd.to_numeric(df["value"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals)
    if bad.any():
        row = df.loc[df.index[np.flatnonzero(bad)[0]]].to_dict()
        raise SchemaError(f"{what}: {int(bad.sum())} non-finite value(s), first at {row}")


def _missing(df: pd.DataFrame, cols: list[str], what: str) -> None:
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise SchemaError(f"{what}: missing column(s) {miss}; have {list(df.columns)}")


def tidy_results(df: pd.DataFrame, experiment: str, x: str, facets: tuple[str, ...]) -> pd.DataFrame:
    """Validate and order the measurement frame; adds the `experiment` column."""
    cols = ["method", x, *facets, "seed", "metric", "value"]
    clash = [c for c in (x, *facets) if c in RESERVED]
    if clash:
        raise SchemaError(f"results: grid column(s) {clash} are reserved names of the tidy schema; rename them")
    _missing(df, cols, "results")
    if df.empty:
        raise SchemaError("results: no rows")
    _check_values(df, "results")
    for c in (x, *facets):
        if df[c].isna().any():
            raise SchemaError(f"results: column {c!r} has missing values")
    out = df[cols].copy()
    out.insert(0, "experiment", experiment)
    out["value"] = out["value"].astype(float)
    return out.reset_index(drop=True)


def tidy_bounds(df: pd.DataFrame | None, experiment: str, x: str, facets: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd

    if df is None or df.empty:
        return pd.DataFrame(columns=["experiment", "bound", "side", "constant", x, *facets, "metric", "value"])
    present = [f for f in facets if f in df.columns]
    cols = ["bound", "side", "constant", x, *present, "metric", "value"]
    _missing(df, cols, "bounds")
    _check_values(df, "bounds")
    bad_side = set(df["side"]) - set(SIDES)
    if bad_side:
        raise SchemaError(f"bounds: side must be one of {SIDES}, got {sorted(bad_side)}")
    bad_const = set(df["constant"]) - set(CONSTANTS)
    if bad_const:
        raise SchemaError(f"bounds: constant must be one of {CONSTANTS}, got {sorted(bad_const)}")
    out = df[cols].copy()
    out.insert(0, "experiment", experiment)
    out["value"] = out["value"].astype(float)
    return out.reset_index(drop=True)


def t_quantile(df: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.t.ppf(0.975, np.maximum(df, 1))


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per (method, grid point, metric): n, mean, std (ddof=1), and the 95% t-interval of the mean.

    A cell with one seed has std 0 and a degenerate interval (claims treat it as undecidable)."""
    keys = [c for c in results.columns if c not in ("seed", "value")]
    g = results.groupby(keys, sort=True, dropna=False)["value"]
    out = g.agg(n="count", mean="mean", std="std").reset_index()
    out["std"] = out["std"].fillna(0.0)
    half = t_quantile(out["n"].to_numpy() - 1) * out["std"] / np.sqrt(out["n"])
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    return out


def write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Read a run folder back: frames for every CSV present, and the manifest."""
    import json

    import pandas as pd

    run_dir = Path(run_dir)
    out: dict[str, Any] = {}
    for name in ("results", "bounds", "summary", "claims"):
        p = run_dir / f"{name}.csv"
        out[name] = pd.read_csv(p) if p.exists() else None
    m = run_dir / "manifest.json"
    out["manifest"] = json.loads(m.read_text()) if m.exists() else {}
    return out
