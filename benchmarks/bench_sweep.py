"""Benchmark: an 8-job sweep on the joblib launcher with 2 workers against the same sweep on the basic
(sequential) launcher. Target: joblib at least 1.7x faster on 2 cores.

    .venv/bin/python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import shutil
import tempfile
import time

from boundrun.sweep import SweepSpec, run_sweep

PARAMS = ["K=400,410,420,430,440,450,460,470", "seeds=100", "settings=[clear_cut,mix_in]", "k_sweep=[]",
          "needle_c=[]"]


def timed(launcher: str) -> float:
    out = tempfile.mkdtemp(prefix=f"bench-sweep-{launcher}-")
    try:
        t = time.perf_counter()
        res = run_sweep(SweepSpec("bandit-stream", PARAMS, launcher=launcher, jobs=2), out=out, quiet=True)
        wall = time.perf_counter() - t
        assert set(res.jobs["status"]) == {"complete"}, res.jobs
        return wall
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    basic = timed("basic")
    joblib = timed("joblib")
    print(f"8-job sweep: basic {basic:.1f} s, joblib (2 workers) {joblib:.1f} s, speed-up {basic / joblib:.2f}x")


if __name__ == "__main__":
    main()
