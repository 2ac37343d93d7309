"""Online k-secretary algorithms of Mladenovic et al. (ICLR 2022), vectorised over a batch of streams.

Notation (paper / authors' code): a stream of N items arrives in random order; the algorithm may select
at most k of them, irrevocably, on arrival. t = floor(c N) is the threshold: positions 0..t (t + 1 items)
form the sampling phase, in which nothing is selected and R, the reference list of the k largest values
seen, is built. S is the set of selected items.

Every function takes `obs` of shape (B, N) (row b = one stream in arrival order; the values the algorithm
sees, which in the stochastic setting are noisy) and returns a boolean (B, N) mask of the selected
positions. The loop runs over the N positions; each step is a few numpy operations over the B streams
and the k slots of R.

R is stored per stream as an ascending array of k slots with -inf padding in front while it holds fewer
than k entries, so the smallest current entry, min(R), sits in slot k - |R| and the r-th largest in slot
k - r. Inserting a value drops slot 0 (a pad, or min(R) when R is full: the eviction) and keeps the
rest sorted.
"""

from __future__ import annotations

import math

import numpy as np

ONLINE = ("virtual", "virtual_plus", "optimistic", "single_ref")
ALGORITHMS = (*ONLINE, "random")

# Albers & Ladewig (ISAAC 2019), as tabulated in the authors' code: threshold fraction c_k of single_ref;
# any other k <= 100 falls back to 0.3678, k > 100 uses 0.13.
SINGLE_REF_C = {
    1: 0.3678, 2: 0.2545, 3: 0.3475, 4: 0.2928, 5: 0.2525, 6: 0.2217, 7: 0.2800, 8: 0.2549, 9: 0.2338,
    10: 0.2159, 11: 0.2570, 12: 0.2410, 13: 0.2267, 14: 0.2140, 15: 0.2026, 16: 0.1924, 17: 0.2231,
    18: 0.2133, 19: 0.2042, 20: 0.1959, 100: 0.1331,
}
# reference rank r_k: (first k, last k, r)
SINGLE_REF_R = ((1, 2, 1), (3, 6, 2), (7, 10, 3), (11, 16, 4), (17, 22, 5), (23, 28, 6), (29, 35, 7),
                (36, 42, 8), (43, 50, 9), (51, 58, 10), (59, 67, 11), (68, 76, 12), (77, 85, 13),
                (86, 95, 14), (96, 100, 15))


def single_ref_c(k: int) -> float:
    if k in SINGLE_REF_C:
        return SINGLE_REF_C[k]
    return 0.13 if k > 100 else 0.3678


def single_ref_r(k: int) -> int:
    for lo, hi, r in SINGLE_REF_R:
        if lo <= k <= hi:
            return r
    # the code's heuristic beyond the table
    return int(10 + 0.5 * (math.sqrt(1 + 4 * (k - 96) - 1)))


def threshold(alg: str, c: float, N: int) -> int:
    """Last index of the sampling phase: floor(c N), and floor(c_k N + 1) for single_ref [code]."""
    if alg == "single_ref":
        return int(math.floor(c * N + 1))
    return int(math.floor(c * N))


def _initial_R(obs: np.ndarray, k: int, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R after the sampling phase: the k largest of positions 0..t, ascending, -inf padded in front."""
    B = obs.shape[0]
    n0 = t + 1
    order = np.argsort(obs[:, :n0], axis=1, kind="stable")[:, -k:]
    R = np.full((B, k), -np.inf)
    Ridx = np.full((B, k), -1, dtype=np.int64)
    m = order.shape[1]
    R[:, k - m:] = np.take_along_axis(obs[:, :n0], order, axis=1)
    Ridx[:, k - m:] = order
    cnt = np.full(B, m, dtype=np.int64)
    return R, Ridx, cnt


def _insert(R: np.ndarray, Ridx: np.ndarray, rows: np.ndarray, v: np.ndarray, i: int) -> None:
    """Insert value v (position i) into R for the given rows: slot 0 is dropped (a pad, or min(R) when R is
    full, which is then evicted) and the new value goes where it keeps the row ascending."""
    k = R.shape[1]
    Rs, Is = R[rows], Ridx[rows]
    left, lidx = Rs[:, 1:], Is[:, 1:]
    pos = (left < v[:, None]).sum(axis=1)[:, None]
    j = np.arange(k)[None, :]
    inf = np.full((len(rows), 1), np.inf)
    a = np.concatenate([left, inf], axis=1)  # a[j] = left[j]     (used for j < pos)
    b = np.concatenate([-inf, left], axis=1)  # b[j] = left[j - 1] (used for j > pos)
    ia = np.concatenate([lidx, np.full((len(rows), 1), -1)], axis=1)
    ib = np.concatenate([np.full((len(rows), 1), -1), lidx], axis=1)
    R[rows] = np.where(j < pos, a, np.where(j == pos, v[:, None], b))
    Ridx[rows] = np.where(j < pos, ia, np.where(j == pos, i, ib))


def run_online(alg: str, obs: np.ndarray, k: int, c: float, *, exhaust: bool = False,
               paper_code: bool = False) -> np.ndarray:
    """Selected positions (B, N) of an online algorithm on the streams `obs` (B, N).

    alg: virtual | virtual_plus | optimistic | single_ref; c: threshold fraction (t = floor(c N));
    exhaust [code]: when the items left (current one included) are no more than the budget left, take
    them all; paper_code: optimistic removes two entries of R per selection, as the authors' code does.
    """
    B, N = obs.shape
    t = threshold(alg, c, N)
    if not 0 <= t <= N - 1:
        raise ValueError(f"threshold t={t} outside 0..{N - 1} (c={c}, N={N})")
    sel = np.zeros((B, N), dtype=bool)
    R, Ridx, cnt = _initial_R(obs, k, t)
    S = np.zeros(B, dtype=np.int64)
    ar = np.arange(B)
    r = single_ref_r(k) if alg == "single_ref" else 1
    if alg == "single_ref" and (cnt < r).any():
        raise ValueError(f"single_ref needs at least r={r} sampled items, the sampling phase has {t + 1}")
    last_thr = np.full(B, -np.inf)  # optimistic: the last removed value, once R is empty [code]
    for i in range(t + 1, N):
        v = obs[:, i]
        open_ = S < k
        force = open_ & (N - i <= k - S) if exhaust else np.zeros(B, dtype=bool)
        free = open_ & ~force
        slot = np.minimum(k - cnt, k - 1)  # slot of min(R)
        if alg == "virtual_plus":
            # select whatever beats min(R), and put it into R (evicting min(R) once R is full)
            take = free & (v > R[ar, slot])
            rows = np.flatnonzero(take)
            _insert(R, Ridx, rows, v[rows], i)
            cnt[rows] = np.minimum(cnt[rows] + 1, k)
        elif alg == "virtual":
            # beat min(R) -> enter R; selected only if that min(R) came from the sampling phase
            beat = ~force & (v > R[ar, slot])
            take = beat & open_ & (Ridx[ar, slot] <= t)
            rows = np.flatnonzero(beat)
            _insert(R, Ridx, rows, v[rows], i)
            cnt[rows] = np.minimum(cnt[rows] + 1, k)
        elif alg == "optimistic":
            # beat min(R) -> selected, and min(R) leaves R (the bar rises)
            thr = np.where(cnt > 0, R[ar, slot], last_thr)
            take = free & (v > thr)
            last_thr = np.where(take, thr, last_thr)
            for _ in range(2 if paper_code else 1):
                drop = take & (cnt > 0)
                R[ar[drop], (k - cnt)[drop]] = -np.inf
                cnt = cnt - drop
        elif alg == "single_ref":
            # R is frozen after sampling; the bar is its r-th largest value
            take = free & (v > R[:, k - r])
        else:
            raise ValueError(f"unknown online algorithm {alg!r}")
        picked = take | force
        sel[:, i] = picked
        S += picked
    return sel


def run_random(B: int, N: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """The naive attacker: k positions chosen uniformly at random."""
    keys = rng.random((B, N))
    sel = np.zeros((B, N), dtype=bool)
    np.put_along_axis(sel, np.argsort(keys, axis=1)[:, :k], True, axis=1)
    return sel


def run_offline(values: np.ndarray, k: int) -> np.ndarray:
    """The offline optimum: the true top-k."""
    sel = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(sel, np.argsort(-values, axis=1, kind="stable")[:, :k], True, axis=1)
    return sel


def select(alg: str, obs: np.ndarray, k: int, c: float, rng: np.random.Generator, *, exhaust: bool = False,
           paper_code: bool = False) -> np.ndarray:
    if alg == "random":
        return run_random(obs.shape[0], obs.shape[1], k, rng)
    return run_online(alg, obs, k, c, exhaust=exhaust, paper_code=paper_code)


def rank_hits(sel: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """H[b, j] = 1 if the (j+1)-th largest TRUE value of stream b was selected, j < k. Its column means
    are p_j = P(the j-th largest item is selected)."""
    rank_order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sel, rank_order, axis=1).astype(float)


def prefix_ratios(H: np.ndarray) -> np.ndarray:
    """Per stream, (1/m) * sum_{j<=m} H_j for m = 1..k. Averaged over streams this is (1/m) sum p_j, whose
    minimum over m is the worst-case value competitive ratio CR_worst and whose m = k entry is CR_ind."""
    k = H.shape[1]
    return np.cumsum(H, axis=1) / np.arange(1, k + 1)


def knapsack_ratio(sel: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Per stream, sum of the selected true values over OPT = the sum of the k largest."""
    opt = -np.sort(-values, axis=1)[:, :k].sum(axis=1)
    return (sel * values).sum(axis=1) / opt
