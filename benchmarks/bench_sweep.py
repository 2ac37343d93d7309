"""Benchmark: an 8-job sweep on the joblib launcher with 2 workers against the same sweep on the basic
(sequential) launcher. Target: joblib at least 1.7x faster on 2 cores. Jobs are compute-heavy (about 5 s,
K = 800..870) with small outputs: merging the jobs' CSVs at the end is sequential for both launchers, so
data-heavy jobs (e.g. 100 seeds x 8 metrics) dilute the ratio (measured 1.61-1.66x there).

    .venv/bin/python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import shutil
import tempfile
import time

from boundrun.sweep import SweepSpec, run_sweep

PARAMS = ["K=800,810,820,830,840,850,860,870", "seeds=20", "settings=[clear_cut,mix_in]", "k_sweep=[]",
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
