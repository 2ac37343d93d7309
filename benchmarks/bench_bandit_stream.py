"""Benchmark of bandit-stream (paper 02): runs per second of the fast lock-step Binomial simulator against
the per-pull reference simulator, the wall time of the default and paper profiles, and CLI start-up.

    .venv/bin/python benchmarks/bench_bandit_stream.py [--skip-paper]

Prints a table; measures, never asserts (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import boundrun
from boundrun.experiments.bandit_stream import algorithms as A
from boundrun.experiments.bandit_stream import environments, reference


def per_run_cost(K: int, T: int, S: int = 50, ref_seeds: int = 5) -> list[tuple[str, float, float]]:
    """Seconds per run (one seed) of every algorithm: fast path (S seeds in lock-step) vs reference."""
    mu = environments.clear_cut(np.random.default_rng(0), S, K)
    rows = []
    for alg in A.ALGORITHMS:
        t = time.perf_counter()
        A.run_algorithm(alg, mu, T, np.random.default_rng(1), A.Compat())
        fast = (time.perf_counter() - t) / S
        rng = np.random.default_rng(2)
        t = time.perf_counter()
        for s in range(ref_seeds):
            reference.regret(alg, mu[s], T, rng)
        ref = (time.perf_counter() - t) / ref_seeds
        rows.append((alg, fast, ref))
    return rows


def cli_startup(args: list[str], repeat: int = 5) -> float:
    exe = str(Path(sys.executable).with_name("boundrun"))
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([exe, *args], capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def profile_wall(profile: str) -> float:
    out = tempfile.mkdtemp(prefix="bench-")
    try:
        t = time.perf_counter()
        boundrun.run("bandit-stream", profile=profile, out=out)
        return time.perf_counter() - t
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-paper", action="store_true", help="skip the paper profile (K = 50 000)")
    args = ap.parse_args()
    for K, T in ((100, 10**6), (100, 10**9)):
        print(f"\nper-run cost, K={K}, T={T:.0e} (fast: 50 seeds in lock-step; reference: per-pull)")
        print(f"{'algorithm':<15}{'fast s/run':>12}{'ref s/run':>12}{'speed-up':>10}{'fast runs/s':>13}")
        for alg, fast, ref in per_run_cost(K, T, ref_seeds=5 if T < 10**8 else 2):
            print(f"{alg:<15}{fast:>12.2e}{ref:>12.2e}{ref / fast:>10.0f}{1 / fast:>13.0f}")
    print(f"\nboundrun --help: {cli_startup(['--help']):.3f} s   boundrun list: {cli_startup(['list']):.3f} s")
    print(f"default profile (K=100, 9 T points, 50 seeds, both settings, sweeps 2-3): {profile_wall('default'):.1f} s")
    if not args.skip_paper:
        print(f"paper profile (K=50 000, T=1000 K^3, 50 seeds, both settings): {profile_wall('paper'):.1f} s")


if __name__ == "__main__":
    main()
