"""Experiment records and the `@experiment` decorator.

An experiment package registers itself at import time. Registration must stay cheap: an experiment's
`__init__` declares its metadata, its config schema and its claims, and imports its algorithms (numpy,
scipy, torch...) only inside the run function, so that `boundrun --help` and `boundrun list` stay fast.
Third-party packages add experiments through the `boundrun.experiments` entry-point group.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from boundrun.claims import Claim


@dataclass(frozen=True)
class Panel:
    """One panel family of an experiment's figure: `metric` against `x`, one panel per value of `facet`.

    `where` keeps only rows whose columns take the given values (a value or a list of values).
    """

    metric: str
    x: str | None = None
    facet: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    logx: bool = True
    logy: bool = True
    title: str = ""


@dataclass(frozen=True)
class Experiment:
    name: str
    paper: int
    title: str
    arxiv: str
    family: str
    x: str
    facets: tuple[str, ...]
    metric: str
    claims: tuple[Claim, ...]
    schema: type
    run: Callable[..., Any]
    panels: tuple[Panel, ...]
    summary: str = ""

    @property
    def package(self) -> str:
        return self.run.__module__


EXPERIMENTS: dict[str, Experiment] = {}
BROKEN: dict[str, str] = {}  # experiment module -> why it failed to import


def experiment(
    *,
    name: str,
    paper: int,
    title: str,
    arxiv: str,
    family: str,
    x: str,
    schema: type,
    facets: Sequence[str] = (),
    metric: str = "value",
    claims: Sequence[Claim] = (),
    panels: Sequence[Panel] = (),
    summary: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `run(cfg, ctx) -> Result` as experiment `name`.

    `schema` is a dataclass of the experiment's parameters (subclass of `boundrun.config.RunConfig`);
    its `__post_init__` rejects values outside what the method allows.
    """

    def register(run: Callable[..., Any]) -> Callable[..., Any]:
        if name in EXPERIMENTS and EXPERIMENTS[name].run is not run:
            raise ValueError(f"experiment {name!r} registered twice")
        EXPERIMENTS[name] = Experiment(
            name=name,
            paper=paper,
            title=title,
            arxiv=arxiv,
            family=family,
            x=x,
            facets=tuple(facets),
            metric=metric,
            claims=tuple(claims),
            schema=schema,
            run=run,
            panels=tuple(panels) or (Panel(metric=metric),),
            summary=summary,
        )
        return run

    return register


_loaded = False


def load_all() -> dict[str, Experiment]:
    """Import every bundled experiment package and every `boundrun.experiments` entry point."""
    global _loaded
    if not _loaded:
        import boundrun.experiments as pkg

        # One broken plugin must not take the whole CLI down: it is reported (stderr, `BROKEN`, the tests)
        # and the other experiments stay usable.
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.ispkg:
                _try_import(f"{pkg.__name__}.{info.name}", lambda m=f"{pkg.__name__}.{info.name}": (
                    importlib.import_module(m)))
        from importlib.metadata import entry_points

        for ep in entry_points(group="boundrun.experiments"):
            _try_import(ep.value, ep.load)
        _loaded = True
    return EXPERIMENTS


def _try_import(module: str, load: Callable[[], Any]) -> None:
    import sys

    try:
        load()
    except Exception as e:  # noqa: BLE001 - any error of a plugin is reported, never fatal
        BROKEN[module] = f"{type(e).__name__}: {e}"
        sys.stderr.write(f"boundrun: warning: experiment module {module} failed to import ({BROKEN[module]})\n")


class UnknownExperiment(KeyError):
    def __init__(self, name: str, known: Sequence[str]):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.message = f"unknown experiment {name!r}{hint} (see `boundrun list`)"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def get(name: str) -> Experiment:
    exps = load_all()
    if name not in exps:
        raise UnknownExperiment(name, sorted(exps))
    return exps[name]
