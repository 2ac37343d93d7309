"""The command line, through typer's CliRunner (happy paths) and main() (one-line usage errors)."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from boundrun import __version__
from boundrun.cli import app, main

runner = CliRunner()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_help_lists_the_commands_and_the_experiment():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ("list", "show", "run", "check", "plot", "bandit-stream"):
        assert cmd in r.output


def test_help_and_list_do_not_import_heavy_modules():
    import subprocess
    import sys

    code = ("import sys; from boundrun.cli import main; main(['list']); "
            "print(sorted(m for m in ('torch','scipy','matplotlib','pandas','sklearn','numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_list_shows_experiment_paper_family_and_last_verdict(tmp_path):
    r = runner.invoke(app, ["list", "--out", str(tmp_path)])
    assert r.exit_code == 0
    assert "bandit-stream" in r.output and "02" in r.output and "bandits" in r.output and "not run" in r.output


def test_show_prints_paper_claims_and_resolved_config():
    r = runner.invoke(app, ["show", "bandit-stream", "--profile", "smoke"])
    assert r.exit_code == 0, r.output
    assert "2306.02208" in r.output and "rate_in_T" in r.output and "K: 20" in r.output


def test_experiment_command_runs_smoke_and_list_then_shows_the_verdict(tmp_path):
    out = tmp_path / "o"
    r = runner.invoke(app, ["bandit-stream", "--profile", "smoke", "--K", "12", "--seeds", "2", "--out", str(out),
                            "--quiet"])
    assert r.exit_code == 0, r.output
    assert "rate_in_T" in r.output and "run folder" in r.output
    assert (out / "bandit-stream" / "latest" / "claims.csv").exists()
    r = runner.invoke(app, ["list", "--out", str(out)])
    assert re.search(r"\d+ pass", r.output)


def test_run_with_hydra_overrides_is_the_same_as_flags(tmp_path):
    a = runner.invoke(app, ["run", "bandit-stream", "K=12", "seeds=2", "--profile", "smoke", "--out",
                            str(tmp_path / "a"), "--quiet"])
    b = runner.invoke(app, ["bandit-stream", "--K", "12", "--seeds", "2", "--profile", "smoke", "--out",
                            str(tmp_path / "b"), "--quiet"])
    assert a.exit_code == b.exit_code == 0
    ra = (tmp_path / "a" / "bandit-stream" / "latest" / "results.csv").read_bytes()
    rb = (tmp_path / "b" / "bandit-stream" / "latest" / "results.csv").read_bytes()
    assert ra == rb


def test_check_prints_the_verdict_table_and_json(tmp_path):
    r = runner.invoke(app, ["check", "bandit-stream", "--profile", "smoke", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    assert '"claim": "rate_in_T"' in r.output


def test_check_exits_3_when_a_claim_fails(tmp_path):
    r = runner.invoke(app, ["run", "bandit-stream", "ue_const=0.1", "--profile", "smoke", "--out", str(tmp_path),
                            "--quiet"])
    assert r.exit_code == 3, r.output


def test_plot_redraws_the_figure_from_the_csvs(tmp_path):
    out = tmp_path / "o"
    runner.invoke(app, ["bandit-stream", "--profile", "smoke", "--out", str(out), "--quiet"])
    run = (out / "bandit-stream" / "latest").resolve()
    (run / "figure.png").unlink()
    r = runner.invoke(app, ["plot", str(run)])
    assert r.exit_code == 0 and (run / "figure.png").stat().st_size > 10_000


@pytest.mark.parametrize(("args", "needle"), [
    (["bandit-stream", "--K", "0"], "K must be"),
    (["bandit-stream", "--K", "-3"], "K must be"),
    (["bandit-stream", "--K", "abc"], "abc"),
    (["bandit-stream", "--T", "10", "--K", "100"], "T must be >= K"),
    (["bandit-stream", "--seeds", "0"], "seeds must be"),
    (["bandit-strem"], "did you mean 'bandit-stream'"),
    (["run", "bandit-strem"], "did you mean 'bandit-stream'"),
    (["run", "bandit-stream", "Kx=3"], "unknown parameter 'Kx'"),
    (["bandit-stream", "Kx=3"], "unknown parameter 'Kx'"),
    (["bandit-stream", "--Kx", "3"], "--Kx"),
    (["bandit-stream", "--profile", "nope"], "unknown profile 'nope'"),
    (["bandit-stream", "--T", "1e5,,1e6"], "comma-separated"),
    (["plot", "/nonexistent/run"], "not a run folder"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, needle, tmp_path, capsys):
    out = tmp_path / "o"
    code = main([*args, "--out", str(out)] if args[0] not in ("plot",) else args)
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.rglob("*.csv"))


def test_unwritable_out_is_exit_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["bandit-stream", "--profile", "smoke", "--out", str(blocker / "sub")])
    err = capsys.readouterr().err
    assert code == 2 and "not writable" in err and len(err.strip().splitlines()) == 1
    assert not Path(blocker / "sub").exists()
