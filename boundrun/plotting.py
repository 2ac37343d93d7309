"""The figure: per panel, each method's mean with its 95% band, next to every bound curve.

Consumes only the tidy frames (summary.csv and bounds.csv), so `boundrun plot RUN_DIR` redraws a figure
from the CSVs alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from boundrun.registry import Panel

_BOUND_STYLE = {"upper": "--", "lower": ":", "exact": "-."}


def _filter(df: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    for col, want in where.items():
        if col not in df.columns:
            continue
        df = df[df[col].isin(list(want))] if isinstance(want, list | tuple | set) else df[df[col] == want]
    return df


def _bound_color(name: str, colors: dict[Any, Any]) -> Any:
    """A bound curve that names a method (fit_<m>, <x>_<m>, <m>_<x>) takes that method's colour."""
    for m in sorted(colors, key=lambda m: -len(str(m))):
        m = str(m)
        if name in (f"fit_{m}", m) or name.endswith(f"_{m}") or name.startswith(f"{m}_"):
            return colors[m]
    return "black"


def _sort_key(v: Any) -> tuple[int, Any]:
    """Numbers in numeric order (1, 2, 10), then everything else as text."""
    try:
        return (0, float(v))
    except (TypeError, ValueError):
        return (1, str(v))


def _panels(summary: pd.DataFrame, panels: Sequence[Panel], x_default: str) -> list[tuple[Panel, Any, Any]]:
    out = []
    for p in panels:
        s = _filter(summary[summary["metric"] == p.metric], p.where)
        if s.empty:
            continue
        if p.facet and p.facet in s.columns:
            for v in sorted(s[p.facet].unique(), key=_sort_key):
                out.append((p, v, s[s[p.facet] == v]))
        else:
            out.append((p, None, s))
    return out


def draw(
    summary: pd.DataFrame,
    bounds: pd.DataFrame | None,
    panels: Sequence[Panel],
    x_default: str,
    path: str | Path,
    title: str = "",
) -> Path:
    """Draw every panel into one PNG at `path` (written in place: the engine writes into a temp folder)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    items = _panels(summary, panels, x_default)
    n = max(len(items), 1)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.9 * nrows), squeeze=False)
    methods = sorted(summary["method"].unique(), key=str) if not summary.empty else []
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    legend_done: set[int] = set()
    for ax, (p, fval, s) in zip(axes.flat, items, strict=False):
        x = p.x or x_default
        for m, ms in s.groupby("method", sort=True):
            ms = ms.groupby(x, sort=True)[["mean", "ci_low", "ci_high"]].mean().reset_index()
            xs = ms[x].to_numpy(dtype=float)
            ax.plot(xs, ms["mean"], marker="o", ms=3, lw=1.5, color=colors.get(m), label=str(m))
            lo, hi = ms["ci_low"].to_numpy(), ms["ci_high"].to_numpy()
            if p.logy:
                floor = np.nanmin(ms["mean"][ms["mean"] > 0]) * 1e-3 if (ms["mean"] > 0).any() else 1e-12
                lo = np.maximum(lo, floor)
            ax.fill_between(xs, lo, hi, color=colors.get(m), alpha=0.2, lw=0)
        if bounds is not None and not bounds.empty:
            b = _filter(bounds[bounds["metric"] == p.metric], p.where)
            if p.facet and fval is not None and p.facet in b.columns:
                b = b[b[p.facet] == fval]
            for name, bs in b.groupby("bound", sort=True):
                if x not in bs.columns:
                    continue
                bs = bs.groupby(x, sort=True)["value"].mean().reset_index()
                side = str(b[b["bound"] == name]["side"].iloc[0])
                const = str(b[b["bound"] == name]["constant"].iloc[0])
                color = _bound_color(str(name), colors)
                label = f"{name} ({side}, {const})"
                ax.plot(bs[x], bs["value"], _BOUND_STYLE.get(side, "--"), color=color, lw=1.2, label=label)
        from matplotlib.ticker import NullFormatter

        if p.logx:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short log ranges
        if p.logy:
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(x)
        ax.set_ylabel(p.metric)
        head = p.title or p.metric
        ax.set_title(f"{head} — {p.facet}={fval}" if p.facet else head, fontsize=10)
        ax.grid(True, which="both", alpha=0.25)
        if id(p) not in legend_done:  # colours are shared: one legend per panel family is enough (and cheap)
            ax.legend(fontsize=6, loc="best")
            legend_done.add(id(p))
    for ax in list(axes.flat)[len(items) :]:
        ax.axis("off")
    if not items:
        axes.flat[0].text(0.5, 0.5, "no data to plot", ha="center", va="center")
    if title:
        fig.suptitle(title, fontsize=11)
    # fixed margins instead of tight_layout, which renders the whole figure once more just to measure it
    h, w = 3.9 * nrows, 5.2 * ncols  # inches
    fig.subplots_adjust(left=0.75 / w, right=1 - 0.15 / w, bottom=0.55 / h, top=1 - (0.75 if title else 0.4) / h,
                        wspace=0.3, hspace=0.5)
    path = Path(path)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
    return path


def redraw(run_dir: str | Path) -> Path:
    """`boundrun plot RUN_DIR`: rebuild figure.png from summary.csv/results.csv and bounds.csv."""
    from boundrun import registry
    from boundrun.results import read_run, summarize

    run_dir = Path(run_dir)
    run = read_run(run_dir)
    if run["results"] is None and run["summary"] is None:
        raise FileNotFoundError(f"{run_dir} has no results.csv: not a run folder")
    name = run["manifest"].get("experiment") or str(run["results"]["experiment"].iloc[0])
    exp = registry.get(name)
    summary = run["summary"] if run["summary"] is not None else summarize(run["results"])
    tmp = run_dir / ".figure.png.tmp"
    draw(summary, run["bounds"], exp.panels, exp.x, tmp, title=f"{exp.name} (paper {exp.paper:02d})")
    final = run_dir / "figure.png"
    tmp.replace(final)
    return final
