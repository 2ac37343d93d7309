"""The engine: run folders, determinism, atomicity, the Python API."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import boundrun
from boundrun import registry
from boundrun.config import ConfigError

SMALL = dict(K=10, beta=[2.5, 3.0], seeds=2, settings=["mix_in"], algorithms=["uniform", "goa_hp"])


def run_small(out, **kw):
    return boundrun.run("bandit-stream", profile="smoke", out=str(out), **{**SMALL, **kw})


def test_no_experiment_package_fails_to_import():
    registry.load_all()
    assert registry.BROKEN == {}


def test_run_writes_the_whole_run_folder_and_points_latest_at_it(out):
    res = run_small(out)
    files = sorted(p.name for p in res.path.iterdir())
    assert files == ["bounds.csv", "claims.csv", "figure.png", "manifest.json", "results.csv", "run.log",
                     "summary.csv"]
    assert (out / "bandit-stream" / "latest").resolve() == res.path.resolve()
    m = json.loads((res.path / "manifest.json").read_text())
    for key in ("config", "overrides", "profile", "seed", "command", "boundrun_version", "git_sha", "python",
                "numpy", "torch", "host", "start", "end", "wall_seconds", "status"):
        assert key in m
    assert m["status"] == "complete" and m["config"]["K"] == 10
    assert (res.path / "figure.png").stat().st_size > 10_000
    claims = pd.read_csv(res.path / "claims.csv")
    assert list(claims.columns) == ["claim", "kind", "status", "measured", "expected", "tolerance", "gated",
                                    "source", "detail"]
    assert not any(p.name.startswith(".tmp") for p in (out / "bandit-stream").iterdir())


def test_same_seed_gives_byte_identical_csvs_and_another_seed_does_not(tmp_path):
    a, b, c = (run_small(tmp_path / n, seed=s) for n, s in (("a", 7), ("b", 7), ("c", 8)))
    for name in ("results.csv", "bounds.csv", "summary.csv", "claims.csv"):
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes(), name
    assert (a.path / "results.csv").read_bytes() != (c.path / "results.csv").read_bytes()


def test_two_runs_in_the_same_second_get_distinct_folders(out):
    a, b = run_small(out), run_small(out)
    assert a.path != b.path and a.path.exists() and b.path.exists()


def test_bad_config_raises_config_error_and_writes_nothing(out):
    with pytest.raises(ConfigError, match="K must be"):
        run_small(out, K=0)
    assert not out.exists() or not any((out / "bandit-stream").glob("2*"))


def test_runner_interrupted_leaves_no_folder(out, monkeypatch):
    exp = registry.get("bandit-stream")

    def boom(cfg, ctx):
        raise KeyboardInterrupt

    monkeypatch.setitem(registry.EXPERIMENTS, "bandit-stream", exp.__class__(**{**exp.__dict__, "run": boom}))
    with pytest.raises(KeyboardInterrupt):
        run_small(out)
    assert list((out / "bandit-stream").iterdir()) == []


def test_runner_exception_is_a_failed_run_with_nothing_left(out, monkeypatch):
    from boundrun.engine import RunFailed

    exp = registry.get("bandit-stream")

    def broken(cfg, ctx):
        raise RuntimeError("numerical blow-up")

    monkeypatch.setitem(registry.EXPERIMENTS, "bandit-stream", exp.__class__(**{**exp.__dict__, "run": broken}))
    with pytest.raises(RunFailed, match="numerical blow-up"):
        run_small(out)
    assert list((out / "bandit-stream").iterdir()) == []


def test_sigint_during_a_cli_run_exits_130_and_leaves_no_run_folder(tmp_path):
    exe = Path(sys.executable).with_name("boundrun")
    out = tmp_path / "o"
    p = subprocess.Popen([str(exe), "bandit-stream", "--K", "400", "--seeds", "50", "--out", str(out), "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "CI": "1"})
    deadline = time.time() + 60
    while not list((out / "bandit-stream").glob(".tmp-*")) and time.time() < deadline:
        time.sleep(0.02)  # the run has started once its temporary folder exists
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert [q.name for q in (out / "bandit-stream").iterdir()] == []
