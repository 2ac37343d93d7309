"""The command line: a thin layer over `boundrun.engine` (and `boundrun.run` for Python).

Exit codes: 0 ok; 1 a run failed; 2 bad usage or bad input (one line, no traceback, nothing written);
3 everything ran and a gated claim failed.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import inspect
import sys
import typing
from pathlib import Path
from typing import Any

import typer

from boundrun import __version__, registry
from boundrun.config import ConfigError

app = typer.Typer(
    name="boundrun",
    help="Puts theory on trial: run a paper's algorithms, measure what its bound speaks about, give a verdict.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

# Typer vendors click in recent releases: reach its exception classes through typer's public ones.
UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_CLAIM_FAILED = 0, 1, 2, 3
_STATUS_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}


def _err(msg: str) -> None:
    sys.stderr.write(f"boundrun: error: {msg}\n")


def _version_cb(value: bool) -> None:
    if value:
        typer.echo(f"boundrun {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_cb, is_eager=True, help="Print the version."),
) -> None:
    """boundrun: puts theory on trial."""


def _console() -> Any:
    from rich.console import Console

    return Console()


def last_verdict(out_root: Path, name: str) -> str:
    """'3 pass, 1 fail' from outputs/<name>/latest/claims.csv, read with the csv module (no pandas)."""
    p = out_root / name / "latest" / "claims.csv"
    if not p.exists():
        return "not run"
    counts: dict[str, int] = {}
    with p.open(newline="") as f:
        for row in csv.DictReader(f):
            counts[row["status"]] = counts.get(row["status"], 0) + 1
    return ", ".join(f"{counts[s]} {s}" for s in ("pass", "fail", "inconclusive") if s in counts) or "no claims"


@app.command("list")
def list_cmd(out: Path = typer.Option(Path("outputs"), "--out", help="Where run folders are.")) -> None:
    """Experiments, papers, families, last verdict."""
    from rich.table import Table

    t = Table(title="boundrun experiments")
    for col in ("experiment", "paper", "family", "title", "last verdict"):
        t.add_column(col)
    for name, e in sorted(registry.load_all().items(), key=lambda kv: kv[1].paper):
        verdict = last_verdict(out, name)
        style = "red" if "fail" in verdict else ("green" if "pass" in verdict else "dim")
        t.add_row(name, f"{e.paper:02d}", e.family, e.title, f"[{style}]{verdict}[/]")
    _console().print(t)


def _guard(fn: typing.Callable[[], int]) -> None:
    """Turn the engine's exceptions into the contract's exit codes and one-line messages."""
    from boundrun.engine import RunFailed

    try:
        code = fn()
    except (ConfigError, registry.UnknownExperiment) as e:
        _err(str(e))
        raise typer.Exit(EXIT_USAGE) from None
    except RunFailed as e:
        _err(str(e))
        raise typer.Exit(EXIT_RUN_FAILED) from None
    except KeyboardInterrupt:
        _err("interrupted; no run folder was written")
        raise typer.Exit(130) from None
    raise typer.Exit(code)


def _claims_table(title: str, rows: list[dict[str, Any]], with_experiment: bool = False) -> Any:
    from rich.table import Table

    t = Table(title=title)
    cols = (["experiment"] if with_experiment else []) + ["claim", "status", "measured", "expected", "gated"]
    for col in cols:
        t.add_column(col, overflow="fold")
    for r in rows:
        st = str(r["status"])
        measured = float(r["measured"])
        cells = [str(r.get("experiment", ""))] if with_experiment else []
        cells += [str(r["claim"]), f"[{_STATUS_STYLE.get(st, 'white')}]{st}[/]",
                  f"{measured:.4g}" if measured == measured else "-", str(r["expected"]), str(r["gated"])]
        t.add_row(*cells)
    return t


def _run_and_report(name: str, profile: str, overrides: list[str], out: Path, quiet: bool) -> int:
    from boundrun.engine import run_experiment

    res = run_experiment(name, profile=profile, overrides=overrides, out=out, quiet=quiet,
                         command=["boundrun", *sys.argv[1:]])
    rows = [dict(r, experiment=name) for r in res.claims.to_dict("records")]
    con = _console()
    con.print(_claims_table(f"{name} — profile {profile} — {res.manifest['wall_seconds']:.1f} s", rows))
    con.print(f"run folder: {res.path}")
    return res.exit_code


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def run_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Experiment name (see `boundrun list`)."),
    overrides: list[str] | None = typer.Argument(None, help="Hydra overrides, e.g. K=100 seeds=5."),
    profile: str = typer.Option("default", "--profile", help="smoke | default | paper"),
    out: Path = typer.Option(Path("outputs"), "--out", help="Root of the run folders."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Run an experiment with Hydra override syntax: boundrun run bandit-stream K=100."""
    _guard(lambda: _run_and_report(registry.get(name).name, profile, list(overrides or []), out, quiet))


@app.command("check")
def check_cmd(
    names: list[str] | None = typer.Argument(None, help="Experiments (default: all)."),
    profile: str = typer.Option("smoke", "--profile", help="smoke | default | paper"),
    all_: bool = typer.Option(False, "--all", help="Every registered experiment."),
    out: Path = typer.Option(Path("outputs"), "--out", help="Root of the run folders."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict table as JSON."),
    jobs: int = typer.Option(None, "--jobs", help="Experiments run in parallel (default: the number of cores)."),
    report_dir: Path = typer.Option(Path("report"), "--report", help="Where the report is written."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Run experiments and print every verdict; write the report; exit 3 if any gated claim fails."""

    def go() -> int:
        from boundrun.check import run_all

        exps = registry.load_all()
        chosen = sorted(exps) if (all_ or not names) else [registry.get(n).name for n in names]
        rows, code = run_all(chosen, profile, out, jobs=jobs, quiet=quiet or as_json)
        from boundrun import report

        runs = [Path(r["run"]) for r in rows if r.get("run")]
        report.build(report_dir, out, names=chosen, runs=sorted(set(runs)))
        if as_json:
            import json

            typer.echo(json.dumps(rows, indent=2, default=str))
        else:
            _console().print(_claims_table(f"verdicts — profile {profile}", rows, with_experiment=True))
            _console().print(f"report: {report_dir / 'index.html'}")
        return code

    _guard(go)


@app.command("report")
def report_cmd(
    out: Path = typer.Option(Path("report"), "--out", help="Where index.html and README.md are written."),
    runs: Path = typer.Option(Path("outputs"), "--runs", help="Root of the run folders."),
    run_dirs: list[Path] | None = typer.Argument(None, help="Run folders to report (default: the latest of each)."),
    readme: bool = typer.Option(False, "--readme", help="Also refresh README.md's results table (default runs)."),
) -> None:
    """One page (HTML + Markdown) with every experiment's figure and verdicts."""

    def go() -> int:
        from boundrun import report

        readme_path = None
        if readme:
            readme_path = Path("README.md")
            if not readme_path.exists():
                raise ConfigError("--readme: no README.md in the current folder")
        try:
            html_path, _, entries = report.build(out, runs, runs=list(run_dirs or []) or None, readme=readme_path)
        except (FileNotFoundError, ValueError) as e:
            raise ConfigError(str(e)) from None
        done = sum(e.run is not None for e in entries)
        typer.echo(f"wrote {html_path} ({done} of {len(entries)} experiments with a complete run)")
        return EXIT_OK

    _guard(go)


@app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="Experiment name."),
    profile: str = typer.Option("default", "--profile", help="smoke | default | paper"),
) -> None:
    """The paper, the claims and the resolved config of an experiment."""

    def go() -> int:
        import yaml

        from boundrun.config import compose, profiles, to_dict

        e = registry.get(name)
        cfg = compose(e.name, e.schema, profile=profile)
        con = _console()
        con.print(f"[bold]{e.name}[/] — paper {e.paper:02d}: {e.title}")
        con.print(f"arXiv {e.arxiv} · family {e.family} · x = {e.x} · facets = {', '.join(e.facets) or '-'}")
        if e.summary:
            con.print(e.summary)
        from rich.table import Table

        t = Table(title="claims")
        for col in ("claim", "kind", "metric", "expected", "gated", "source", "statement"):
            t.add_column(col, overflow="fold")
        for c in e.claims:
            t.add_row(c.name, c.kind, c.metric, c.expected_text(), str(c.gated), c.source, c.text)
        con.print(t)
        con.print(f"[bold]resolved config[/] (profile {profile}; profiles: {', '.join(profiles(e.name))})")
        con.print(yaml.safe_dump(to_dict(cfg), sort_keys=False).rstrip())
        return EXIT_OK

    _guard(go)


@app.command("plot")
def plot_cmd(run_dir: Path = typer.Argument(..., help="A run folder.")) -> None:
    """Redraw figure.png of a run folder from its CSVs alone."""

    def go() -> int:
        from boundrun.plotting import redraw

        if not (run_dir / "results.csv").exists():
            raise ConfigError(f"{str(run_dir)!r} is not a run folder (no results.csv)")
        path = redraw(run_dir)
        typer.echo(f"wrote {path}")
        return EXIT_OK

    _guard(go)


@app.command("sweep", context_settings={"allow_extra_args": True})
def sweep_cmd(
    name: str = typer.Argument(None, help="Experiment name (or use --config / --resume)."),
    params: list[str] | None = typer.Argument(None, help="Sweep overrides, e.g. K=25,50,100 seed=range(5)."),
    launcher: str = typer.Option(None, "--launcher", help="basic | joblib | submitit_local | submitit_slurm | ray"),
    jobs: int = typer.Option(None, "--jobs", help="Parallel jobs (default: the number of cores)."),
    profile: str = typer.Option(None, "--profile", help="smoke | default | paper"),
    out: Path = typer.Option(Path("outputs"), "--out", help="Root of the run folders."),
    config: str = typer.Option(None, "--config", help="A sweep in configs/sweep/<NAME>.yaml."),
    resume: Path = typer.Option(None, "--resume", help="A sweep folder: skip its complete jobs, rerun the rest."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Run a parameter sweep (Hydra multirun): one run folder per job, merged tables at the sweep root."""

    def go() -> int:
        from boundrun import sweep

        spec = sweep.build_spec(name, list(params or []), launcher, jobs, profile, config, resume)
        res = sweep.run_sweep(spec, out=out, resume=resume, quiet=quiet)
        _print_sweep(res)
        return res.exit_code

    _guard(go)


@app.command("collect")
def collect_cmd(sweep_dir: Path = typer.Argument(..., help="A sweep folder.")) -> None:
    """Rebuild a sweep's merged CSVs and figure from whatever jobs finished."""

    def go() -> int:
        from boundrun import sweep

        res = sweep.collect(sweep_dir)
        _print_sweep(res)
        return res.exit_code

    _guard(go)


def _print_sweep(res: Any) -> None:
    counts = res.jobs["status"].value_counts().to_dict()
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    con = _console()
    failed = res.jobs[res.jobs["status"] != "complete"]
    for _, row in failed.iterrows():
        con.print(f"[red]job {row['job']} {row['status']}[/] {row.get('error', '')}")
    con.print(f"sweep: {len(res.jobs)} job(s): {summary}")
    con.print(f"sweep folder: {res.path}")


# -- one command per experiment, with typed flags from its schema --------------------------------------

def _flag_type(tp: Any) -> tuple[Any, bool]:
    """(the click-facing type, whether it is a list given as a comma-separated string)."""
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return _flag_type(args[0])
    if origin in (list, tuple) or tp in (list, tuple):
        return str, True
    if tp in (int, float, str, bool):
        return tp, False
    return str, False


def _make_command(e: registry.Experiment) -> None:
    hints = typing.get_type_hints(e.schema)
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    lists: set[str] = set()
    for f in dataclasses.fields(e.schema):
        if f.name == "profile":
            continue
        tp, is_list = _flag_type(hints[f.name])
        if is_list:
            lists.add(f.name)
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        kind = getattr(tp, "__name__", str(tp)) + (" list, comma-separated" if is_list else "")
        help_txt = (f.metadata.get("help", "") + f" ({kind}; config default: {default})").strip()
        if tp is bool:
            opt = typer.Option(None, f"{flag}/--no-{f.name.replace('_', '-')}", help=help_txt)
        else:
            # Values pass as text: the config schema converts and validates them, so an error names the
            # bad value and what is allowed, like every other config error.
            opt = typer.Option(None, flag, help=help_txt, metavar=kind.split(" ")[0].upper())
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=opt,
                                        annotation=bool | None if tp is bool else str | None))
    params += [
        inspect.Parameter("profile", inspect.Parameter.KEYWORD_ONLY, annotation=str,
                          default=typer.Option("default", "--profile", help="smoke | default | paper")),
        inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, annotation=Path,
                          default=typer.Option(Path("outputs"), "--out", help="Root of the run folders.")),
        inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                          default=typer.Option(False, "--quiet", help="No progress output.")),
    ]

    def command(ctx: typer.Context, **kw: Any) -> None:
        profile, out, quiet = kw.pop("profile"), kw.pop("out"), kw.pop("quiet")
        overrides = []
        for k, v in kw.items():
            if v is None:
                continue
            if k in lists:
                items = [s.strip() for s in str(v).split(",")]
                if any(not s for s in items):
                    raise typer.BadParameter(f"{v!r} is not a comma-separated list", param_hint=f"--{k}")
                v = "[" + ",".join(items) + "]"
            elif isinstance(v, bool):
                v = "true" if v else "false"
            overrides.append(f"{k}={v}")
        extra = list(ctx.args)
        for a in extra:
            if a.startswith("-"):
                raise UsageError(f"No such option: {a}")
        _guard(lambda: _run_and_report(e.name, profile, overrides + extra, out, quiet))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = f"Paper {e.paper:02d}: {e.title} (arXiv {e.arxiv}). Extra arguments are Hydra overrides."
    app.command(e.name, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(command)


def _register_experiment_commands() -> None:
    for e in sorted(registry.load_all().values(), key=lambda e: e.paper):
        _make_command(e)


_register_experiment_commands()


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(getattr(group, "commands", {}))


def main(argv: list[str] | None = None) -> int:
    """Console entry point: every usage error is one line on stderr and exit code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        cmds = _commands()
        if argv[0] not in cmds:
            close = difflib.get_close_matches(argv[0], cmds, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            _err(f"unknown command or experiment {argv[0]!r}{hint} (see `boundrun list`)")
            return EXIT_USAGE
    try:
        rv = app(args=argv, prog_name="boundrun", standalone_mode=False)
    except UsageError as e:
        msg = e.format_message().replace("\n", " ")
        _err(msg)
        return EXIT_USAGE
    except typer.Abort:
        _err("interrupted")
        return 130
    return int(rv or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
