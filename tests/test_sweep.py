"""Sweeps through Hydra's multirun: real launchers, failing jobs, kill and resume, collect, bad input."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from boundrun import registry
from boundrun.cli import main
from boundrun.sweep import SweepSpec, collect, expand, run_sweep

TINY = ["beta=[2.5,3.0]", "seeds=2", "settings=[mix_in]", "algorithms=[uniform,goa_hp]"]
EXE = str(Path(sys.executable).with_name("boundrun"))


def sweep_dirs(out):
    root = Path(out) / "bandit-stream" / "sweeps"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


def test_expand_is_the_cartesian_product_in_hydra_order():
    jobs = expand(["K=10,20", "seed=range(2)", "seeds=3"])
    assert jobs == [{"K": "10", "seed": "0", "seeds": "3"}, {"K": "10", "seed": "1", "seeds": "3"},
                    {"K": "20", "seed": "0", "seeds": "3"}, {"K": "20", "seed": "1", "seeds": "3"}]


def test_joblib_sweep_writes_a_run_folder_per_job_and_merged_tables(tmp_path):
    spec = SweepSpec("bandit-stream", ["K=10,12", "seed=range(2)", *TINY], profile="smoke", launcher="joblib", jobs=2)
    res = run_sweep(spec, out=tmp_path, quiet=True)
    assert res.exit_code == 0
    assert list(res.jobs["status"]) == ["complete"] * 4
    for j in range(4):
        m = json.loads((res.path / str(j) / "manifest.json").read_text())
        assert m["status"] == "complete" and m["sweep_job"] == j
        assert m["threads"] == max(1, (os.cpu_count() or 1) // 2)  # BLAS/torch capped to the job's share
    results = pd.read_csv(res.path / "results.csv")
    assert {"job", "K_job", "seed_job"} <= set(results.columns)
    assert set(results["K_job"]) == {10, 12} and set(results["seed_job"]) == {0, 1}
    claims = pd.read_csv(res.path / "claims.csv")
    n_claims = len(registry.get("bandit-stream").claims)
    assert len(claims) == 4 * n_claims and {"K", "seed"} <= set(claims.columns)
    for name in ("bounds.csv", "summary.csv", "jobs.csv", "figure.png", "sweep.json"):
        assert (res.path / name).exists()
    # jobs with different master seeds really differ
    r = results[results["metric"] == "regret"]
    a = r[(r["K_job"] == 10) & (r["seed_job"] == 0)]["value"].to_numpy()
    b = r[(r["K_job"] == 10) & (r["seed_job"] == 1)]["value"].to_numpy()
    assert len(a) == len(b) and (a != b).any()


def test_submitit_local_sweep_runs_jobs_in_subprocesses(tmp_path):
    spec = SweepSpec("bandit-stream", ["K=10,12", *TINY], profile="smoke", launcher="submitit_local", jobs=2,
                     launcher_overrides=["hydra.launcher.timeout_min=5"])
    res = run_sweep(spec, out=tmp_path, quiet=True)
    assert list(res.jobs["status"]) == ["complete", "complete"], res.jobs
    assert (res.path / ".submitit").is_dir()  # submitit's own job records


def test_a_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    exp = registry.get("bandit-stream")
    real = exp.run

    def flaky(cfg, ctx):
        if cfg.K == 11:
            raise RuntimeError("diverged at K=11")
        return real(cfg, ctx)

    monkeypatch.setitem(registry.EXPERIMENTS, "bandit-stream", exp.__class__(**{**exp.__dict__, "run": flaky}))
    spec = SweepSpec("bandit-stream", ["K=10,11,12", *TINY], profile="smoke", launcher="basic")
    res = run_sweep(spec, out=tmp_path, quiet=True)
    assert list(res.jobs["status"]) == ["complete", "failed", "complete"]
    assert "diverged at K=11" in res.jobs.loc[1, "error"]
    assert res.exit_code == 1


def test_collect_lists_missing_jobs_and_rebuilds_from_what_finished(tmp_path):
    spec = SweepSpec("bandit-stream", ["K=10,12", *TINY], profile="smoke", launcher="basic")
    res = run_sweep(spec, out=tmp_path, quiet=True)
    import shutil

    shutil.rmtree(res.path / "1")
    again = collect(res.path)
    assert list(again.jobs["status"]) == ["complete", "missing"] and again.exit_code == 1
    assert set(pd.read_csv(res.path / "results.csv")["job"]) == {0}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_sweep_loses_no_completed_job_and_resume_reruns_none(tmp_path, sig):
    out = tmp_path / "o"
    args = [EXE, "sweep", "bandit-stream", "K=200,210,220,230,240", "seeds=20", "beta=[2.5,3.0,3.5]",
            "--profile", "smoke", "--launcher", "basic", "--out", str(out), "--quiet"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    done: list[Path] = []
    while time.time() < deadline:
        dirs = sweep_dirs(out)
        done = [d for d in dirs[0].iterdir() if (d / "manifest.json").exists()] if dirs else []
        if done:
            break
        time.sleep(0.05)
    assert done, "no job finished in time"
    os.killpg(p.pid, sig)
    p.wait(timeout=30)
    sweep = sweep_dirs(out)[0]
    before = {d.name: (d / "manifest.json").read_bytes() for d in sweep.iterdir()
              if d.name.isdigit() and (d / "manifest.json").exists()}
    assert before and len(before) < 5
    r = subprocess.run([EXE, "sweep", "--resume", str(sweep), "--quiet"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    jobs = pd.read_csv(sweep / "jobs.csv")
    assert list(jobs["status"]) == ["complete"] * 5
    for name, manifest in before.items():  # the jobs that had finished were not run again
        assert (sweep / name / "manifest.json").read_bytes() == manifest


@pytest.mark.parametrize(("args", "needle"), [
    (["sweep", "bandit-stream", "K=10,12", "--launcher", "slurmish"], "unknown launcher 'slurmish'"),
    (["sweep", "bandit-stream", "K=1,,2"], "malformed sweep expression"),
    (["sweep", "bandit-stream", "seed=range(a)"], "malformed sweep expression"),
    (["sweep", "bandit-stream", "Kx=1,2"], "cannot sweep 'Kx'"),
    (["sweep", "bandit-stream", "K=2,10"], "K must be"),
    (["sweep", "bandit-strem", "K=10,12"], "did you mean 'bandit-stream'"),
    (["sweep", "--config", "nope"], "unknown sweep config 'nope'"),
])
def test_bad_sweep_input_is_one_line_exit_2_and_starts_nothing(args, needle, tmp_path, capsys):
    out = tmp_path / "o"
    code = main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and needle in err, err
    assert len(err.strip().splitlines()) == 1
    assert sweep_dirs(out) == []


def test_resume_on_a_folder_that_is_not_a_sweep_is_exit_2(tmp_path, capsys):
    code = main(["sweep", "--resume", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "not a sweep folder" in err


def test_sweep_from_a_version_controlled_config(tmp_path):
    from boundrun.sweep import load_sweep_config

    spec = load_sweep_config("bandit-k-scaling")
    assert spec.experiment == "bandit-stream" and spec.profile == "smoke"
    assert len(expand(spec.params)) == 12


def _netns_available() -> str | None:
    import shutil as sh

    if os.geteuid() != 0 or sh.which("ip") is None:
        return "needs root and iproute2 to make a loopback-only network namespace"
    try:
        import hydra_plugins.hydra_ray_launcher  # noqa: F401
        import ray  # noqa: F401
    except ImportError:
        return "Ray is an optional extra: pip install 'boundrun[ray]'"
    return None


@pytest.fixture()
def ray_cluster():
    """A real single-node Ray cluster (`ray start --head`) inside a network namespace of its own that has only
    the loopback interface: Ray cannot reach, or even resolve, anything but 127.0.0.1."""
    why = _netns_available()
    if why:
        pytest.skip(why)
    ns = f"boundrun-ray-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        ray = str(Path(sys.executable).with_name("ray"))
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        port = 6300 + os.getpid() % 500
        subprocess.run(["ip", "netns", "exec", ns, ray, "start", "--head", "--node-ip-address=127.0.0.1",
                        f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
                       check=True, env=env, capture_output=True, timeout=180)
        yield ns, f"127.0.0.1:{port}", env
        subprocess.run(["ip", "netns", "exec", ns, ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
    finally:
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def test_ray_sweep_runs_on_a_real_local_ray_cluster(ray_cluster, tmp_path):
    ns, address, env = ray_cluster
    out = tmp_path / "o"
    r = subprocess.run(["ip", "netns", "exec", ns, EXE, "sweep", "bandit-stream", "K=10,12", *TINY,
                        "--profile", "smoke", "--launcher", "ray", "--out", str(out), "--quiet",
                        f"hydra.launcher.ray.init.address={address}"],
                       capture_output=True, text=True, env={**env, "CI": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Connected to Ray cluster" in r.stderr  # it joined the running cluster, not a private one
    sweep = sweep_dirs(out)[0]
    jobs = pd.read_csv(sweep / "jobs.csv")
    assert list(jobs["status"]) == ["complete", "complete"]


@pytest.fixture()
def slurm_cluster(tmp_path_factory):
    """A real single-node SLURM cluster (Debian's slurmctld, slurmd and munge, installed by .ci/run), every
    daemon on 127.0.0.1 and stopped afterwards."""
    import shutil as sh

    if os.geteuid() != 0 or not all(sh.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch")):
        pytest.skip("needs root and Debian's slurmctld, slurmd, slurm-client and munge (see .ci/run)")
    d = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))  # short paths: munge's socket name is limited
    (d / "state").mkdir()
    (d / "spool").mkdir()
    (d / "munge").mkdir(mode=0o700)
    key = d / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    host = subprocess.run(["hostname", "-s"], capture_output=True, text=True, check=True).stdout.strip()
    plugins = next((p for p in ("/usr/lib/x86_64-linux-gnu/slurm-wlm", "/usr/lib/aarch64-linux-gnu/slurm-wlm")
                    if Path(p).is_dir()), None)
    port = 16800 + os.getpid() % 400 * 2
    conf = d / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=boundrun", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root", "SlurmdUser=root",
        f"SlurmctldPort={port}", f"SlurmdPort={port + 1}", "AuthType=auth/munge", "CredType=cred/munge",
        f"AuthInfo=socket={d}/munge/munge.socket", f"StateSaveLocation={d}/state", f"SlurmdSpoolDir={d}/spool",
        f"SlurmctldPidFile={d}/slurmctld.pid", f"SlurmdPidFile={d}/slurmd.pid",
        f"SlurmctldLogFile={d}/slurmctld.log", f"SlurmdLogFile={d}/slurmd.log",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SchedulerType=sched/builtin",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "ReturnToService=2", "MpiDefault=none",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        *([f"PluginDir={plugins}"] if plugins else []),
        f"NodeName={host} NodeAddr=127.0.0.1 NodeHostname={host} CPUs=2 RealMemory=4000 State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP", ""]))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    subprocess.run(["munged", "--force", f"--key-file={key}", f"--socket={d}/munge/munge.socket",
                    f"--pid-file={d}/munge/munged.pid", f"--log-file={d}/munge/munged.log",
                    f"--seed-file={d}/munge/seed"], check=True, env=env)
    subprocess.run(["slurmctld", "-f", str(conf)], check=True, env=env)
    subprocess.run(["slurmd", "-f", str(conf)], check=True, env=env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env).stdout
            if "idle" in state:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the SLURM node never became idle: {state!r}; see {d}")
        yield env
    finally:
        for pid_file in (d / "slurmd.pid", d / "slurmctld.pid", d / "munge" / "munged.pid"):
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass


def test_submitit_slurm_sweep_runs_on_a_real_slurm_cluster_with_sbatch_parameters_from_config(slurm_cluster, tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([EXE, "sweep", "--config", "bandit-slurm", "--out", str(out), "--quiet"],
                       capture_output=True, text=True, env={**slurm_cluster, "CI": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    sweep = sweep_dirs(out)[0]
    assert list(pd.read_csv(sweep / "jobs.csv")["status"]) == ["complete", "complete"]
    script = next((sweep / ".submitit").rglob("*_submission.sh")).read_text()
    for line in ("#SBATCH --partition=debug", "#SBATCH --time=10", "#SBATCH --cpus-per-task=1",
                 "#SBATCH --mem=1GB", "#SBATCH --job-name=boundrun-bandit-stream"):
        assert line in script, script
