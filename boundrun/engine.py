"""Run one experiment: compose its config, seed it, show progress, time it, call its runner, validate the
frames, evaluate the claims, draw the figure, and write the run folder atomically.

A runner is `run(cfg, ctx) -> Result`: a pure function of its config and of the random generators that
`ctx` hands out. It never writes files, prints or parses flags.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from boundrun import __version__, registry
from boundrun.config import ConfigError, compose, to_dict

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger("boundrun")


class RunFailed(RuntimeError):
    """The runner (or writing its results) raised: exit code 1."""


class Task:
    """A unit of progress a runner reports: `task.advance(n)`."""

    def __init__(self, reporter: ProgressReporter, description: str, total: float):
        self._r, self.description, self.total, self.done = reporter, description, float(total), 0.0
        self._id = reporter._start(self)

    def advance(self, n: float = 1) -> None:
        self.done += n
        self._r._update(self)


class ProgressReporter:
    """Rich progress bars on a terminal; plain periodic log lines otherwise (CI); silent when quiet."""

    def __init__(self, mode: str):
        self.mode = mode  # "rich" | "log" | "quiet"
        self._rich = None
        self._last: dict[int, float] = {}
        if mode == "rich":
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._rich = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(), transient=True,
            )

    def __enter__(self) -> ProgressReporter:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._rich is not None:
            self._rich.stop()

    def _start(self, t: Task) -> int:
        if self._rich is not None:
            return self._rich.add_task(t.description, total=t.total)
        tid = id(t)
        self._last[tid] = time.monotonic()
        if self.mode == "log":
            log.info("start %s (%g steps)", t.description, t.total)
        return tid

    def _update(self, t: Task) -> None:
        if self._rich is not None:
            self._rich.update(t._id, completed=t.done)
        elif self.mode == "log":
            now = time.monotonic()
            if t.done >= t.total or now - self._last.get(t._id, 0) > 5:
                self._last[t._id] = now
                log.info("%s: %d/%d", t.description, t.done, t.total)


class RunContext:
    """What a runner receives besides its config: seeded generators, progress, a logger."""

    def __init__(self, seed: int, seeds: int, profile: str, reporter: ProgressReporter):
        self.seed, self.seeds, self.profile = seed, seeds, profile
        self._reporter = reporter
        self.log = log

    def generator(self, *key: int) -> np.random.Generator:
        """A generator for the stream of random numbers named by `key` (integers), derived from the
        master seed: `SeedSequence(seed, spawn_key=key)`. Distinct keys give independent streams, and
        the same seed and key always give the same numbers."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=tuple(int(k) for k in key)))

    def seed_sequences(self, n: int | None = None) -> list[np.random.SeedSequence]:
        """One child per replicate: `SeedSequence(seed).spawn(n)` (n defaults to cfg.seeds)."""
        return np.random.SeedSequence(self.seed).spawn(self.seeds if n is None else n)

    def task(self, description: str, total: float) -> Task:
        return Task(self._reporter, description, total)


@dataclass
class RunOutput:
    experiment: str
    path: Path
    results: pd.DataFrame
    bounds: pd.DataFrame
    summary: pd.DataFrame
    claims: pd.DataFrame
    manifest: dict[str, Any]
    exit_code: int
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        counts = self.claims["status"].value_counts().to_dict() if len(self.claims) else {}
        return f"RunOutput({self.experiment!r}, path={str(self.path)!r}, claims={counts})"


@dataclass
class MemoryRun:
    """An experiment run in memory: tidy frames and verdicts, no files (tests, notebooks)."""

    results: pd.DataFrame
    bounds: pd.DataFrame
    verdicts: dict[str, Any]
    notes: list[str]


def run_in_memory(name: str, cfg: Any, profile: str = "default") -> MemoryRun:
    """Run experiment `name` on an already validated config object (an instance of its schema) and
    evaluate its claims, writing nothing."""
    from boundrun import claims as claims_mod
    from boundrun.results import tidy_bounds, tidy_results

    exp = registry.get(name)
    ctx = RunContext(cfg.seed, cfg.seeds, profile, ProgressReporter("quiet"))
    res = exp.run(cfg, ctx)
    results = tidy_results(res.measurements, exp.name, exp.x, exp.facets)
    bounds = tidy_bounds(res.bounds, exp.name, exp.x, exp.facets)
    verdicts = {v.claim: v for v in claims_mod.evaluate_all(exp.claims, results, bounds, exp.x, profile)}
    return MemoryRun(results, bounds, verdicts, list(res.notes))


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def prepare_out(out_root: str | Path, name: str) -> Path:
    """The experiment's output folder under `out_root`, created; ConfigError if it can't be written."""
    root = Path(out_root)
    target = root / name
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / f".probe-{uuid.uuid4().hex}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"--out {str(root)!r} is not writable ({e.strerror or e})") from None
    return target


def _final_name(parent: Path, stamp: str, tmp: Path) -> Path:
    """Rename tmp to parent/stamp, or stamp-1, stamp-2... if a run finished in the same second."""
    n = 0
    while True:
        final = parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            if final.exists():
                raise FileExistsError
            tmp.rename(final)
            return final
        except (FileExistsError, OSError):
            if final.exists():
                n += 1
                continue
            raise


def publish(tmp: Path, dest: Path) -> Path:
    """Move a finished folder onto `dest`. An empty `dest` (made by the launcher) is replaced; a `dest`
    that already holds a complete run (another worker finished the same job) wins, and tmp is dropped."""
    try:
        tmp.rename(dest)
    except OSError:
        if (dest / "manifest.json").exists():
            shutil.rmtree(tmp, ignore_errors=True)
            return dest
        shutil.rmtree(dest, ignore_errors=True)  # a partial folder of a killed job
        tmp.rename(dest)
    return dest


def _point_latest(parent: Path, final: Path) -> None:
    link = parent / "latest"
    tmp_link = parent / f".latest-{uuid.uuid4().hex}"
    tmp_link.symlink_to(final.name)
    os.replace(tmp_link, link)


@contextlib.contextmanager
def _run_log(path: Path, echo: bool) -> Iterator[None]:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    stream = None
    if echo:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("[boundrun] %(message)s"))
        log.addHandler(stream)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
        if stream is not None:
            log.removeHandler(stream)
        log.setLevel(old_level)


def progress_mode(quiet: bool) -> str:
    if quiet:
        return "quiet"
    return "rich" if sys.stderr.isatty() and not os.environ.get("CI") else "log"


def run_experiment(
    name: str,
    profile: str = "default",
    overrides: list[str] | tuple = (),
    out: str | Path = "outputs",
    quiet: bool = False,
    command: list[str] | None = None,
) -> RunOutput:
    """Run experiment `name` and write its run folder under `out/<name>/`.

    Raises ConfigError (bad input; nothing written), RunFailed (the run raised; nothing left behind),
    KeyboardInterrupt (nothing left behind).
    """
    exp = registry.get(name)
    cfg = compose(name, exp.schema, profile=profile, overrides=list(overrides))
    parent = prepare_out(out, name)
    return execute(exp, cfg, profile, list(overrides), parent, quiet=quiet, command=command)


def execute(
    exp: registry.Experiment,
    cfg: Any,
    profile: str,
    overrides: list[str],
    parent: Path,
    dest: Path | None = None,
    quiet: bool = False,
    command: list[str] | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> RunOutput:
    """Run a validated config and write the run folder: `dest` if given (a sweep's job folder, which may
    exist empty), else a new time-stamped folder under `parent` that `latest` then points at."""
    import pandas as pd

    from boundrun import claims as claims_mod
    from boundrun import plotting
    from boundrun.results import Result, summarize, tidy_bounds, tidy_results, write_csv

    name = exp.name
    tmp = parent / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    start_wall = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    mode = progress_mode(quiet)
    try:
        with _run_log(tmp / "run.log", echo=(mode == "log")):
            log.info("boundrun %s: %s, profile %s, seed %d, %d seed(s)", __version__, name, profile,
                     cfg.seed, cfg.seeds)
            log.info("overrides: %s", list(overrides))
            with ProgressReporter(mode) as reporter:
                ctx = RunContext(cfg.seed, cfg.seeds, profile, reporter)
                try:
                    res = exp.run(cfg, ctx)
                except (KeyboardInterrupt, ConfigError):
                    raise
                except Exception as e:
                    log.exception("runner failed")
                    raise RunFailed(f"{name} failed: {type(e).__name__}: {e}") from e
            if not isinstance(res, Result):
                raise RunFailed(f"{name}: the runner returned {type(res).__name__}, not a Result")
            for note in res.notes:
                log.info("note: %s", note)
            try:
                results = tidy_results(res.measurements, name, exp.x, exp.facets)
                bounds = tidy_bounds(res.bounds, name, exp.x, exp.facets)
            except ValueError as e:
                raise RunFailed(f"{name}: {e}") from e
            summary = summarize(results)
            try:
                verdicts = claims_mod.evaluate_all(exp.claims, results, bounds, exp.x, profile)
            except Exception as e:
                log.exception("claim evaluation failed")
                raise RunFailed(f"{name}: evaluating the claims failed: {type(e).__name__}: {e}") from e
            claims_df = pd.DataFrame([v.as_row() for v in verdicts], columns=[
                "claim", "kind", "status", "measured", "expected", "tolerance", "gated", "source", "detail"])
            for v in verdicts:
                log.info("claim %s: %s (measured %.4g; expected %s)", v.claim, v.status, v.measured, v.expected)
            write_csv(results, tmp / "results.csv")
            write_csv(bounds, tmp / "bounds.csv")
            write_csv(summary, tmp / "summary.csv")
            write_csv(claims_df, tmp / "claims.csv")
            plotting.draw(summary, bounds, exp.panels, exp.x, tmp / "figure.png",
                          title=f"{exp.name} (paper {exp.paper:02d}, profile {profile})")
            wall = time.perf_counter() - t0
            code = claims_mod.exit_code(verdicts)
            manifest = {
                "experiment": name,
                "paper": exp.paper,
                "title": exp.title,
                "arxiv": exp.arxiv,
                "profile": profile,
                "seed": cfg.seed,
                "seeds": cfg.seeds,
                "config": to_dict(cfg),
                "overrides": list(overrides),
                "command": command if command is not None else list(sys.argv),
                "boundrun_version": __version__,
                "git_sha": git_sha(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "torch": _version("torch"),
                "host": socket.gethostname(),
                "start": start_wall.isoformat(timespec="seconds"),
                "end": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "wall_seconds": round(wall, 3),
                "status": "complete",
                "exit_code": code,
                "notes": res.notes,
                **(extra_manifest or {}),
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
            log.info("done in %.2f s", wall)
        if dest is None:
            final = _final_name(parent, start_wall.strftime("%Y-%m-%d_%H-%M-%S"), tmp)
            _point_latest(parent, final)
        else:
            final = publish(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RunOutput(name, final, results, bounds, summary, claims_df, manifest, code, res.notes)
