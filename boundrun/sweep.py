"""Sweeps: Hydra multirun through one public `@hydra.main` entry, so every Hydra launcher (basic, joblib,
submitit_local, submitit_slurm, ray) runs the jobs unchanged. Each job writes a normal run folder
`<out>/<experiment>/sweeps/<sweep-id>/<job>/` atomically; `collect` merges whatever finished into tidy
tables at the sweep root, with the job's parameters as columns.

A job that raises is recorded (a job folder whose manifest says `failed`, with the error) and the sweep goes
on. A resumed sweep skips every job whose folder is complete, so killing the parent loses nothing that
finished.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
import sys
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hydra

from boundrun import registry
from boundrun.config import CONFIG_MODULE, ConfigError, compose

LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm", "ray")
SPEC_FILE = "sweep.json"
JOBS_FILE = "jobs.csv"


@dataclass
class SweepSpec:
    """What a sweep runs; stored as sweep.json at the sweep root so `--resume` needs nothing else."""

    experiment: str
    params: list[str]
    profile: str = "default"
    launcher: str = "joblib"
    jobs: int | None = None  # parallel workers (joblib n_jobs, ray/submitit parallelism)
    launcher_overrides: list[str] = field(default_factory=list)  # hydra.launcher.* from a sweep config

    def parallelism(self) -> int:
        if self.launcher == "basic":
            return 1
        return max(1, self.jobs or os.cpu_count() or 1)


# -- parsing and validation (in the parent, before anything starts) ----------------------------------------

def expand(params: list[str]) -> list[dict[str, str]]:
    """The cartesian product of the sweep's overrides, as {key: value-as-override-text} per job, in Hydra's
    order (the basic sweeper's). Raises ConfigError on a malformed expression."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(params))
    except HydraException as e:
        raise ConfigError(f"malformed sweep expression: {str(e).splitlines()[0]}") from None
    axes: list[list[tuple[str, str]]] = []
    for o in parsed:
        key = o.key_or_group
        if o.is_sweep_override():
            try:
                vals = list(o.sweep_string_iterator())
            except Exception as e:  # noqa: BLE001 - Hydra raises several kinds for a bad range/choice
                raise ConfigError(f"malformed sweep expression {o.input_line!r}: {e}") from None
            if not vals:
                raise ConfigError(f"sweep expression {o.input_line!r} has no values")
        else:
            vals = [o.get_value_element_as_str()]
        axes.append([(key, v) for v in vals])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


def validate(spec: SweepSpec) -> list[dict[str, str]]:
    """Check everything a sweep needs before it starts: the experiment, the launcher, every job's config."""
    exp = registry.get(spec.experiment)
    if spec.launcher not in LAUNCHERS:
        raise ConfigError(f"unknown launcher {spec.launcher!r} (choose from {', '.join(LAUNCHERS)})")
    if spec.jobs is not None and spec.jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer, got {spec.jobs}")
    jobs = expand(spec.params)
    fields = {f for f in exp.schema.__dataclass_fields__}
    for key in jobs[0]:
        if key not in fields or key == "profile":
            raise ConfigError(f"cannot sweep {key!r}: {spec.experiment} has no such parameter "
                              f"(known: {', '.join(sorted(fields - {'profile'}))})")
    for job in jobs:
        compose(spec.experiment, exp.schema, spec.profile, [f"{k}={v}" for k, v in job.items()])
    _launcher_plugin(spec.launcher)
    return jobs


def _launcher_plugin(launcher: str) -> None:
    """A clear error when the launcher's Hydra plugin is not installed."""
    import importlib.util

    module = {"joblib": "hydra_plugins.hydra_joblib_launcher",
              "submitit_local": "hydra_plugins.hydra_submitit_launcher",
              "submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
              "ray": "hydra_plugins.hydra_ray_launcher"}.get(launcher)
    if module and importlib.util.find_spec(module) is None:
        extra = "ray" if launcher == "ray" else ("submitit" if "submitit" in launcher else "joblib")
        raise ConfigError(f"launcher {launcher!r} needs its Hydra plugin: pip install 'boundrun[{extra}]'")


# -- the Hydra entry and the job -----------------------------------------------------------------------

def job_params(task_overrides: list[str]) -> dict[str, str]:
    return {o.split("=", 1)[0].lstrip("+"): o.split("=", 1)[1] for o in task_overrides if "=" in o}


def cap_threads() -> int:
    """Cap BLAS and torch threads to this job's share of the machine (set by the sweep as
    BOUNDRUN_JOB_THREADS through hydra.job.env_set), so parallel jobs do not fight over cores."""
    n = int(os.environ.get("BOUNDRUN_JOB_THREADS", "0") or 0)
    if n <= 0:
        return 0
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


def is_complete(job_dir: Path) -> bool:
    m = job_dir / "manifest.json"
    if not m.exists():
        return False
    try:
        return json.loads(m.read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def run_job(cfg: Any) -> int:
    """One job of a sweep, inside whatever process the launcher chose. Returns the job's exit code."""
    from hydra.core.hydra_config import HydraConfig

    from boundrun.config import validate as validate_cfg
    from boundrun.engine import RunFailed, execute

    hc = HydraConfig.get()
    job_dir = Path(hc.runtime.output_dir)
    name = hc.runtime.choices["experiment"]
    profile = next((v for k, v in hc.runtime.choices.items() if k.startswith("profile/")), "default")
    task = [o for o in hc.overrides.task if not o.startswith(("+experiment=", "+profile/"))]
    params = job_params(task)
    if is_complete(job_dir):
        return int(json.loads((job_dir / "manifest.json").read_text()).get("exit_code", 0))
    threads = cap_threads()
    exp = registry.get(name)
    extra = {"sweep_job": hc.job.num, "job_params": params, "threads": threads}
    try:
        obj = validate_cfg(cfg, exp.schema, profile)
        out = execute(exp, obj, profile, task, job_dir.parent, dest=job_dir, quiet=True,
                      command=["boundrun", "sweep", name, *task], extra_manifest=extra)
        return out.exit_code
    except (RunFailed, ConfigError, Exception) as e:  # noqa: BLE001 - a failing job never stops the sweep
        _write_failed(job_dir, name, profile, params, hc.job.num, e)
        return 1


def _write_failed(job_dir: Path, name: str, profile: str, params: dict[str, str], num: int, err: BaseException
                  ) -> None:
    from boundrun.engine import publish

    tmp = job_dir.parent / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    manifest = {"experiment": name, "profile": profile, "status": "failed", "exit_code": 1,
                "error": f"{type(err).__name__}: {err}", "sweep_job": num, "job_params": params,
                "end": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    publish(tmp, job_dir)


@hydra.main(config_path=f"pkg://{CONFIG_MODULE}", config_name="config", version_base="1.3")
def boundrun_job(cfg: Any) -> int:
    """The one public Hydra entry of boundrun: every launcher calls it once per job."""
    return run_job(cfg)


def hydra_args(spec: SweepSpec, sweep_dir: Path) -> list[str]:
    name = spec.experiment
    args = ["--multirun", f"+experiment={name}"]
    if spec.profile != "default":
        args.append(f"+profile/{name}={spec.profile}")
    args += list(spec.params)
    n = spec.parallelism()
    threads = max(1, (os.cpu_count() or 1) // n)
    args += [
        f"hydra/launcher={spec.launcher}",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweep.subdir=${hydra.job.num}",
        "hydra.output_subdir=null",
        "hydra/job_logging=none",
        "hydra/hydra_logging=none",
        f"++hydra.job.env_set.BOUNDRUN_JOB_THREADS={threads}",
    ]
    if spec.launcher == "joblib":
        args.append(f"hydra.launcher.n_jobs={n}")
    elif spec.launcher == "ray":
        # The plugin always passes object_store_memory to ray.init, which Ray 2.x refuses when it joins a
        # running cluster; null keeps Ray's own default either way.
        args.append("++hydra.launcher.ray.init.object_store_memory=null")
        address = os.environ.get("RAY_ADDRESS")
        if address:
            args.append(f"++hydra.launcher.ray.init.address={address}")
    elif spec.launcher in ("submitit_local", "submitit_slurm"):
        args += [f"hydra.launcher.submitit_folder={sweep_dir}/.submitit/%j", f"hydra.launcher.name=boundrun-{name}"]
        if spec.launcher == "submitit_slurm":
            args.append(f"hydra.launcher.array_parallelism={n}")
    return args + list(spec.launcher_overrides)


# -- running a sweep -----------------------------------------------------------------------------------

def new_sweep_dir(out: str | Path, name: str) -> Path:
    from boundrun.engine import prepare_out

    root = prepare_out(out, name) / "sweeps"
    root.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d_%H-%M-%S")
    for n in itertools.count():
        d = root / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            d.mkdir()
            return d
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def load_spec(sweep_dir: Path) -> SweepSpec:
    p = Path(sweep_dir) / SPEC_FILE
    if not p.is_file():
        raise ConfigError(f"{str(sweep_dir)!r} is not a sweep folder (no {SPEC_FILE})")
    try:
        return SweepSpec(**json.loads(p.read_text()))
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{p} is not a valid sweep description ({e})") from None


class Monitor:
    """Jobs done / total while the launcher runs: a rich bar on a terminal, one log line per finished job
    otherwise. Watches the sweep folder, so it works whichever process runs the jobs."""

    def __init__(self, sweep_dir: Path, total: int, mode: str, echo: Any = None):
        self.dir, self.total, self.mode = sweep_dir, total, mode
        self.echo = echo or (lambda s: sys.stderr.write(s + "\n"))
        self._stop = threading.Event()
        self._seen: set[str] = set()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _finished(self) -> list[Path]:
        return sorted((p for p in self.dir.iterdir() if p.is_dir() and (p / "manifest.json").exists()),
                      key=lambda p: p.name)

    def _loop(self) -> None:
        bar = task = None
        if self.mode == "rich":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           transient=True)
            bar.start()
            task = bar.add_task("jobs", total=self.total)
        try:
            while True:
                stop = self._stop.is_set()
                for p in self._finished():
                    if p.name in self._seen:
                        continue
                    self._seen.add(p.name)
                    if bar is not None:
                        bar.update(task, completed=len(self._seen))
                    elif self.mode == "log":
                        m = json.loads((p / "manifest.json").read_text())
                        self.echo(f"[boundrun] job {p.name} {m.get('status')} ({len(self._seen)}/{self.total})"
                                  f" {m.get('job_params', {})} {m.get('error', '')}".rstrip())
                if stop:
                    return
                self._stop.wait(0.3)
        finally:
            if bar is not None:
                bar.stop()

    def __enter__(self) -> Monitor:
        self._seen = {p.name for p in self._finished()}  # already complete (a resumed sweep)
        if self.mode == "log" and self._seen:
            self.echo(f"[boundrun] resuming: {len(self._seen)}/{self.total} job(s) already finished")
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class SweepOutput:
    path: Path
    jobs: Any  # pandas DataFrame: one row per job
    exit_code: int


def run_sweep(spec: SweepSpec, out: str | Path = "outputs", resume: Path | None = None, quiet: bool = False
              ) -> SweepOutput:
    """Validate, launch through Hydra, then collect. Raises ConfigError before anything starts."""
    from boundrun.engine import progress_mode

    jobs = validate(spec)
    if resume is not None:
        sweep_dir = Path(resume)
        for tmp in sweep_dir.glob(".tmp-*"):  # half-written folders of jobs that were killed
            shutil.rmtree(tmp, ignore_errors=True)
        for d in sweep_dir.iterdir():
            if d.is_dir() and d.name.isdigit() and not (d / "manifest.json").exists():
                shutil.rmtree(d, ignore_errors=True)
            elif d.is_dir() and d.name.isdigit():
                m = json.loads((d / "manifest.json").read_text())
                if m.get("status") != "complete":
                    shutil.rmtree(d, ignore_errors=True)  # failed jobs are run again
    else:
        sweep_dir = new_sweep_dir(out, spec.experiment)
        (sweep_dir / SPEC_FILE).write_text(json.dumps(asdict(spec), indent=2) + "\n")
    old = sys.argv
    sys.argv = ["boundrun-sweep", *hydra_args(spec, sweep_dir)]
    try:
        with Monitor(sweep_dir, len(jobs), progress_mode(quiet)):
            try:
                boundrun_job()
            except SystemExit as e:  # Hydra exits on its own errors (e.g. a launcher that cannot start)
                if e.code not in (0, None):
                    from boundrun.engine import RunFailed

                    raise RunFailed(f"the {spec.launcher} launcher failed (exit {e.code}); its error is above; "
                                    f"completed jobs are kept: boundrun sweep --resume {sweep_dir}") from None
    finally:
        sys.argv = old
        from hydra.core.global_hydra import GlobalHydra

        GlobalHydra.instance().clear()
    return collect(sweep_dir, expected=len(jobs))


# -- collecting -------------------------------------------------------------------------------------------

def _with_params(df: Any, job: str, params: dict[str, str]) -> Any:
    df = df.copy()
    df.insert(0, "job", job)
    for i, (k, v) in enumerate(params.items()):
        col = k if k not in df.columns else f"{k}_job"
        df.insert(1 + i, col, _typed(v))
    return df


def _typed(v: str) -> Any:
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def collect(sweep_dir: str | Path, expected: int | None = None) -> SweepOutput:
    """Merge the finished jobs of a sweep into results/bounds/summary/claims CSVs and jobs.csv at its root,
    with a figure faceted by the swept parameters. Missing or failed jobs are listed, never dropped."""
    import pandas as pd

    from boundrun.results import write_csv

    sweep_dir = Path(sweep_dir)
    spec = load_spec(sweep_dir)
    exp = registry.get(spec.experiment)
    if expected is None:
        expected = len(expand(spec.params))
    jobs, frames = [], {k: [] for k in ("results", "bounds", "summary", "claims")}
    for num in range(expected):
        d = sweep_dir / str(num)
        m = json.loads((d / "manifest.json").read_text()) if (d / "manifest.json").exists() else {}
        params = m.get("job_params", {})
        row = {"job": str(num), "status": m.get("status", "missing"), "exit_code": m.get("exit_code", ""),
               "wall_seconds": m.get("wall_seconds", ""), "error": m.get("error", ""), **params}
        jobs.append(row)
        if m.get("status") != "complete":
            continue
        for k in frames:
            p = d / f"{k}.csv"
            if p.exists():
                frames[k].append(_with_params(pd.read_csv(p), str(num), params))
    jobs_df = pd.DataFrame(jobs)
    tmp = sweep_dir / f".collect-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        write_csv(jobs_df, tmp / JOBS_FILE)
        merged = {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in frames.items()}
        for k, df in merged.items():
            write_csv(df, tmp / f"{k}.csv")
        swept = _swept_columns(jobs_df, spec)
        if not merged["results"].empty:
            _figure(exp, merged["results"], merged["bounds"], swept, tmp / "figure.png")
        for p in tmp.iterdir():
            os.replace(p, sweep_dir / p.name)  # each merged file appears whole
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    statuses = set(jobs_df["status"])
    if statuses - {"complete"}:
        code = 1
    elif not merged["claims"].empty and ((merged["claims"]["status"] == "fail")
                                          & merged["claims"]["gated"].astype(bool)).any():
        code = 3
    else:
        code = 0
    return SweepOutput(sweep_dir, jobs_df, code)


def _swept_columns(jobs_df: Any, spec: SweepSpec) -> list[str]:
    keys = list(expand(spec.params)[0]) if spec.params else []
    return [k for k in keys if k in jobs_df.columns and jobs_df[k].nunique() > 1]


def _figure(exp: registry.Experiment, results: Any, bounds: Any, swept: list[str], path: Path) -> None:
    """The experiment's first panel, one panel per value of the first swept parameter (other than the
    seed), pooling the replicates of every job that shares it."""
    import pandas as pd

    from boundrun.plotting import draw
    from boundrun.registry import Panel
    from boundrun.results import summarize

    facet_param = next((k for k in swept if k != "seed"), None)
    col = None
    if facet_param is not None:
        col = facet_param if f"{facet_param}_job" not in results.columns else f"{facet_param}_job"
    r = results.copy()
    # replicates of different jobs are distinct: give them distinct seed ids before summarising
    r["seed"] = r["job"].astype(int) * 1_000_000 + r["seed"].astype(int)
    drop = [c for c in r.columns if c == "job" or (c.endswith("_job") and c != col)
            or (c in swept and c != col and c not in exp.facets and c != exp.x)]
    r = r.drop(columns=drop)
    summary = summarize(r)
    base = exp.panels[0]
    panel = Panel(base.metric, x=base.x, facet=col, where=dict(base.where), logx=base.logx, logy=base.logy,
                  title=f"{base.title or base.metric} (sweep)")
    b = bounds
    if isinstance(b, pd.DataFrame) and not b.empty:
        b = b.drop(columns=[c for c in b.columns if c == "job" or (c.endswith("_job") and c != col)])
    draw(summary, b, [panel], exp.x, path, title=f"{exp.name} sweep")


def build_spec(name: str | None, params: list[str], launcher: str | None, jobs: int | None,
               profile: str | None, config: str | None, resume: Path | None) -> SweepSpec:
    """The sweep to run, from the command line, a version-controlled configs/sweep/<config>.yaml, or the
    sweep.json of a sweep being resumed (command-line values must then agree with it)."""
    if resume is not None:
        spec = load_spec(resume)
        given = {"experiment": name, "params": params or None, "profile": profile}
        for k, v in given.items():
            if v is not None and v != getattr(spec, k):
                raise ConfigError(f"--resume {resume}: {k} {v!r} differs from the sweep's {getattr(spec, k)!r}")
        if launcher is not None:
            spec.launcher = launcher
        if jobs is not None:
            spec.jobs = jobs
        return spec
    if config is not None:
        spec = load_sweep_config(config)
        if name is not None and name != spec.experiment:
            raise ConfigError(f"sweep config {config!r} is for {spec.experiment}, not {name}")
        spec.params += params
        spec.profile = profile or spec.profile
        spec.launcher = launcher or spec.launcher
        spec.jobs = jobs if jobs is not None else spec.jobs
        return spec
    if name is None:
        raise ConfigError("name an experiment, or give --config NAME or --resume SWEEP_DIR")
    # hydra.* overrides configure the launcher (e.g. hydra.launcher.ray.init.address=...); the rest is swept
    hyd = [p for p in params if p.lstrip("+").startswith("hydra.")]
    return SweepSpec(experiment=registry.get(name).name, params=[p for p in params if p not in hyd],
                     profile=profile or "default", launcher=launcher or "joblib", jobs=jobs, launcher_overrides=hyd)


def load_sweep_config(config: str) -> SweepSpec:
    """configs/sweep/<config>.yaml: experiment, params (key: sweep expression), profile, launcher, jobs,
    launcher_overrides."""
    from importlib import resources

    import yaml

    p = resources.files(CONFIG_MODULE) / "sweep" / f"{config}.yaml"
    if not p.is_file():
        root = resources.files(CONFIG_MODULE) / "sweep"
        known = sorted(q.name[:-5] for q in root.iterdir() if q.name.endswith(".yaml")) if root.is_dir() else []
        raise ConfigError(f"unknown sweep config {config!r} (known: {', '.join(known) or 'none'})")
    data = yaml.safe_load(p.read_text()) or {}
    unknown = set(data) - {"experiment", "params", "profile", "launcher", "jobs", "launcher_overrides"}
    if unknown or "experiment" not in data:
        raise ConfigError(f"sweep config {config!r}: needs 'experiment'; unknown keys {sorted(unknown)}")
    params = [f"{k}={v}" for k, v in (data.get("params") or {}).items()]
    return SweepSpec(experiment=data["experiment"], params=params, profile=data.get("profile", "default"),
                     launcher=data.get("launcher", "joblib"), jobs=data.get("jobs"),
                     launcher_overrides=list(data.get("launcher_overrides") or []))
