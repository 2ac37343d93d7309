"""`boundrun check`: run many experiments (in parallel worker processes when there are several), gather
every verdict into one table, and compute the gate's exit code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_RUN_FAILED, EXIT_CLAIM_FAILED = 0, 1, 3


def _one(name: str, profile: str, out: str, quiet: bool, threads: int) -> dict[str, Any]:
    """Run one experiment in a worker; returns plain data (picklable)."""
    from boundrun.config import ConfigError
    from boundrun.engine import RunFailed, run_experiment

    if threads:
        os.environ["BOUNDRUN_JOB_THREADS"] = str(threads)
        from boundrun.sweep import cap_threads

        cap_threads()
    try:
        res = run_experiment(name, profile=profile, out=out, quiet=quiet, command=["boundrun", "check", name])
    except (RunFailed, ConfigError) as e:
        return {"experiment": name, "error": str(e)}
    return {"experiment": name, "run": str(res.path), "exit_code": res.exit_code,
            "claims": res.claims.to_dict("records")}


def run_all(names: list[str], profile: str, out: str | Path, jobs: int | None = None, quiet: bool = False
            ) -> tuple[list[dict[str, Any]], int]:
    """Verdict rows of every claim of every experiment, and the exit code: 1 if a run failed, else 3 if a
    gated claim failed, else 0."""
    n = max(1, min(len(names), jobs or os.cpu_count() or 1))
    if n == 1:
        results = [_one(name, profile, str(out), quiet, 0) for name in names]
    else:
        from joblib import Parallel, delayed

        threads = max(1, (os.cpu_count() or 1) // n)
        results = Parallel(n_jobs=n, verbose=0 if quiet else 5)(
            delayed(_one)(name, profile, str(out), True, threads) for name in names)
    rows: list[dict[str, Any]] = []
    code = EXIT_OK
    for r in results:
        if "error" in r:
            rows.append({"experiment": r["experiment"], "claim": "(run)", "kind": "-", "status": "error",
                         "measured": float("nan"), "expected": "-", "gated": True, "source": "-",
                         "detail": r["error"], "run": ""})
            code = EXIT_RUN_FAILED
            continue
        rows += [dict(c, experiment=r["experiment"], run=r["run"]) for c in r["claims"]]
        if r["exit_code"] == EXIT_CLAIM_FAILED and code != EXIT_RUN_FAILED:
            code = EXIT_CLAIM_FAILED
    return rows, code
