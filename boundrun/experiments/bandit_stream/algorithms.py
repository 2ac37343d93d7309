"""The seven single-pass streaming bandit algorithms of paper 02 (arXiv 2306.02208), simulated exactly.

All algorithms run S replicates in lock-step (one row of `mu` per seed, already in stream order). A batch
of n pulls of a Bernoulli(mu) arm is one Binomial(n, mu) draw, so the cost of a run is O(K * levels)
draws whatever T is. The tower algorithms' control flow (which level is full, who duels whom) depends
only on pull counts, never on rewards, so it is the same for every seed and vectorises exactly.

Notation as in the spec: K arms, horizon T, eps = (K/T)^(1/3), mu_star the best mean, Delta_i = mu_star - mu_i.
Pseudo-regret R_T = sum_i n_i * Delta_i.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

GAUSS_SWITCH = 100_000  # the authors' code draws a Gaussian surrogate above this batch size
INT_CAP = 2**62  # batch sizes are capped here; they are clipped to the remaining budget anyway


@dataclass(frozen=True)
class Compat:
    """Code-faithfulness switches (spec "compat"). The defaults are the bug-fixed behaviour."""

    noise: str = "binomial"  # binomial | paper_gaussian
    goa_king_update: str = "fresh"  # fresh | monotone_eps | paper_oracle
    tower_accounting: str = "pulled"  # pulled | king
    tower_final: str = "argmax"  # argmax | paper_code
    tower_kappa0: str = "reset"  # reset | stale
    ue_first_mean: str = "recorded"  # recorded | zero
    goa_first_king: str = "sampled"  # sampled | fixed

    @property
    def is_paper(self) -> bool:
        return self != Compat()


PAPER_CODE = Compat("paper_gaussian", "paper_oracle", "king", "paper_code", "stale", "zero", "fixed")


@dataclass
class Outcome:
    """Per-seed results of one algorithm (arrays of shape (S,))."""

    regret: np.ndarray
    explore_regret: np.ndarray
    n_explore: np.ndarray
    delta_commit: np.ndarray
    pulls: np.ndarray
    max_arms_stored: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def sample_means(rng: np.random.Generator, n: np.ndarray, mu: np.ndarray, noise: str) -> np.ndarray:
    """Empirical means of n Bernoulli(mu) pulls (NaN where n == 0).

    binomial: exact. paper_gaussian: the authors' surrogate mu + N(0, (2/sqrt(n))^2) for n > 1e5."""
    n = np.asarray(n, dtype=np.int64)
    x = rng.binomial(n, mu)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    if noise == "paper_gaussian":
        big = n > GAUSS_SWITCH
        if big.any():
            z = rng.standard_normal(int(big.sum()))
            mean[big] = mu[big] + z * 2.0 / np.sqrt(n[big])
    return mean


class Ledger:
    """Pull accounting for S replicates: the budget T, regret, and the exploration/commit split."""

    def __init__(self, mu: np.ndarray, T: int, rng: np.random.Generator, noise: str = "binomial"):
        self.mu = mu
        self.S, self.K = mu.shape
        self.T = int(T)
        self.rng = rng
        self.noise = noise
        self.rows = np.arange(self.S)
        self.mu_star = mu.max(axis=1)
        self.pulls = np.zeros(self.S, dtype=np.int64)
        self.regret = np.zeros(self.S)
        self.explore_regret: np.ndarray | None = None
        self.n_explore: np.ndarray | None = None
        self.delta_commit = np.zeros(self.S)

    @property
    def alive(self) -> np.ndarray:
        return self.pulls < self.T

    def pull(self, arm: np.ndarray | int, n: int | np.ndarray, mask: np.ndarray | None = None,
             charge: np.ndarray | None = None) -> np.ndarray:
        """Pull `arm` (per seed) n times where `mask`; clipped to the remaining budget.

        Returns the empirical means (NaN where nothing was pulled). Regret is charged to `charge` if given
        (the authors' tower accounting), else to the arm actually pulled."""
        arm = np.broadcast_to(np.asarray(arm, dtype=np.int64), (self.S,))
        want = np.broadcast_to(np.minimum(np.asarray(n, dtype=np.int64), INT_CAP), (self.S,))
        sel = self.alive if mask is None else (mask & self.alive)
        out = np.full(self.S, np.nan)
        idx = np.flatnonzero(sel)
        if idx.size == 0:
            return out
        n_eff = np.minimum(want[idx], self.T - self.pulls[idx])
        mu_arm = self.mu[idx, arm[idx]]
        out[idx] = sample_means(self.rng, n_eff, mu_arm, self.noise)
        who = arm if charge is None else np.broadcast_to(np.asarray(charge, dtype=np.int64), (self.S,))
        self.regret[idx] += n_eff * (self.mu_star[idx] - self.mu[idx, who[idx]])
        self.pulls[idx] += n_eff
        return out

    def commit(self, arm: np.ndarray) -> None:
        """End of exploration: all remaining pulls go to `arm` (nothing remains if the budget ran out)."""
        self.explore_regret = self.regret.copy()
        self.n_explore = self.pulls.copy()
        gap = self.mu_star - self.mu[self.rows, arm]
        self.delta_commit = gap
        self.regret += (self.T - self.pulls) * gap
        self.pulls[:] = self.T

    def outcome(self, max_arms_stored: int | np.ndarray) -> Outcome:
        assert self.explore_regret is not None and self.n_explore is not None, "commit() was not called"
        return Outcome(self.regret, self.explore_regret, self.n_explore, self.delta_commit, self.pulls,
                       np.broadcast_to(np.asarray(max_arms_stored), (self.S,)).astype(float))


def eps_of(K: int, T: int, exponent: float = 1 / 3) -> float:
    """eps = (K/T)^(1/3), the accuracy that balances exploration K/eps^2 against commit regret eps*T."""
    return (K / T) ** exponent


# -- 1, 2: uniform exploration with m pulls per arm ------------------------------------------------------

def ue_pulls(K: int, T: int) -> int:
    """m = ceil((T/K)^(2/3) (ln T)^(1/3)): abstract claim 2, O(K^(1/3) T^(2/3) log^(1/3) T)."""
    return math.ceil((T / K) ** (2 / 3) * math.log(T) ** (1 / 3))


def naive_pulls(K: int, eps: float) -> int:
    """m = ceil(ln K / eps^2): the naive eps-best sample size (abstract claim 4, O(K^(1/3) T^(2/3) log K))."""
    return math.ceil(math.log(K) / eps**2)


def explore_each(mu: np.ndarray, T: int, m: int, rng: np.random.Generator, compat: Compat) -> Outcome:
    """Pull every arrival m times, keep it if its mean is strictly larger than the stored arm's, commit.

    Vectorised across arms: the budget schedule n_i = min(m, T - i*m)^+ is the same for every seed, and the
    arm stored at the end is the first arm with the largest mean (strict improvement keeps the earliest)."""
    S, K = mu.shape
    i = np.arange(K, dtype=np.int64)
    n = np.clip(T - i * m, 0, m).astype(np.int64)
    means = sample_means(rng, np.broadcast_to(n, (S, K)).ravel(), mu.ravel(), compat.noise).reshape(S, K)
    cmp = np.where(n > 0, means, -np.inf)
    if compat.ue_first_mean == "zero":
        cmp[:, 0] = 0.0  # the authors' code never records the first arm's mean
    stored = cmp.argmax(axis=1)
    led = Ledger(mu, T, rng, compat.noise)
    gaps = led.mu_star[:, None] - mu
    led.regret[:] = gaps @ n.astype(float)
    led.pulls[:] = n.sum()
    led.commit(stored)
    return led.outcome(2)


# -- 3, 4: Game of Arms (single-arm memory) ------------------------------------------------------------

class GameOfArms:
    """The "king with budget" eps-best-arm procedure [code: full-stream part of Game_of_Arms_regret_min].

    B0 = 1.2/eps^2 (budget at coronation), dB = 1/eps^2 (budget added per arrival), rounds of
    s_l = 2^l/eps^2 pulls for l < L = floor(10 ln ln K), discard margin eps/5. All rounded up to integers.
    """

    def __init__(self, led: Ledger, K: int, eps: float, compat: Compat):
        self.led, self.eps, self.compat = led, eps, compat
        S = led.S
        self.B0 = math.ceil(1.2 / eps**2)
        self.dB = math.ceil(1.0 / eps**2)
        self.L = max(int(math.floor(10 * math.log(math.log(K)))), 0)
        self.s = [min(math.ceil(2**l / eps**2), INT_CAP) for l in range(self.L)]
        self.king = np.zeros(S, dtype=np.int64)
        self.kappa = np.zeros(S)
        self.budget = np.zeros(S, dtype=np.int64)
        self.samples = np.zeros(S, dtype=np.int64)
        srt = np.sort(led.mu, axis=1)
        self.true_gap = srt[:, -1] - srt[:, -2] if led.K > 1 else np.zeros(S)

    def _pull(self, arm: int, n: int, mask: np.ndarray) -> np.ndarray:
        before = self.led.pulls.copy()
        mean = self.led.pull(arm, n, mask)
        self.samples += self.led.pulls - before
        return mean

    def _crown(self, arm: int, mask: np.ndarray) -> None:
        if not mask.any():
            return
        new = self._pull(arm, self.B0, mask)
        old = self.kappa
        rule = self.compat.goa_king_update
        if rule == "fresh":
            k = new
        elif rule == "monotone_eps":
            k = np.minimum(np.maximum(new, old + self.eps / 5), 1.0)
        else:  # paper_oracle: uses the instance's true gap, oracle information
            k = np.minimum(np.maximum(new, old + self.true_gap / 2), 1.0)
        ok = mask & np.isfinite(new)
        self.kappa = np.where(ok, k, self.kappa)
        self.king = np.where(mask, arm, self.king)
        self.budget = np.where(mask, self.B0, self.budget)

    def first(self, mask: np.ndarray) -> None:
        """The first arm is crowned like any other (fixed: sampled B0 times)."""
        if self.compat.goa_first_king == "fixed":  # the authors' code: kappa = eps/2, no pulls
            self.king[mask] = 0
            self.kappa[mask] = self.eps / 2
            self.budget[mask] = self.B0
        else:
            self._crown(0, mask)

    def arrive(self, arm: int, mask: np.ndarray) -> None:
        self.budget = np.where(mask, self.budget + self.dB, self.budget)
        act = mask & self.led.alive
        for l in range(self.L):
            crown = act & (self.budget < self.s[l])
            self._crown(arm, crown)
            act = act & ~crown
            if not act.any():
                return
            mean = self._pull(arm, self.s[l], act)
            self.budget = np.where(act, self.budget - self.s[l], self.budget)
            discard = act & (mean <= self.kappa - self.eps / 5)
            act = act & ~discard & self.led.alive
            if not act.any():
                return
        self._crown(arm, act)  # L rounds without a decision: crown it


def goa_hp(mu: np.ndarray, T: int, eps: float, rng: np.random.Generator, compat: Compat) -> Outcome:
    """eps-best arm with single-arm memory, then commit (abstract claim 3: O(K^(1/3) T^(2/3)) w.h.c.p.)."""
    S, K = mu.shape
    led = Ledger(mu, T, rng, compat.noise)
    goa = GameOfArms(led, K, eps, compat)
    everyone = np.ones(S, dtype=bool)
    goa.first(everyone)
    for i in range(1, K):
        goa.arrive(i, everyone)
    led.commit(goa.king)
    return led.outcome(2)


def goa_frac(mu: np.ndarray, T: int, eps: float, rng: np.random.Generator, compat: Compat) -> Outcome:
    """Expected-regret version (abstract claim 4) [code: Game_of_Arms_regret_min]: the full stream runs
    while its samples stay <= C_full = 10 K/eps^2; a fractional stream samples each arrival with
    probability p = 1.5/ln K, n_f = ln K/eps^2 times, and keeps the best; commit to the full-stream king
    if the full stream stayed within C_full, else to the fractional king."""
    S, K = mu.shape
    led = Ledger(mu, T, rng, compat.noise)
    goa = GameOfArms(led, K, eps, compat)
    C_full = 10 * K / eps**2
    p = min(1.5 / math.log(K), 1.0)
    n_f = math.ceil(math.log(K) / eps**2)
    frac_king = np.zeros(S, dtype=np.int64)
    frac_kappa = np.full(S, -np.inf)
    for i in range(K):
        full_on = goa.samples <= C_full
        if i == 0:
            goa.first(full_on)
            sel = np.ones(S, dtype=bool)
        else:
            goa.arrive(i, full_on)
            sel = rng.random(S) < p
        mean = led.pull(i, n_f, sel)
        better = sel & (mean > frac_kappa)
        frac_king = np.where(better, i, frac_king)
        frac_kappa = np.where(better, mean, frac_kappa)
    led.commit(np.where(goa.samples <= C_full, goa.king, frac_king))
    return led.outcome(3)


# -- 5, 6, 7: Assadi–Wang towers -----------------------------------------------------------------------

@dataclass(frozen=True)
class TowerSpec:
    """Batch size b_l and cap c_l per level (the last level's cap is infinite)."""

    b: tuple[int, ...]
    c: tuple[float, ...]

    @property
    def L(self) -> int:
        return len(self.b)


def _ceil_cap(v: float) -> int:
    return INT_CAP if (not math.isfinite(v) or v >= INT_CAP) else math.ceil(v)


def tower_log_spec(K: int, eps: float) -> TowerSpec:
    """O(log K) memory [code: log_eps_best_algorithm]: L = floor(ln K), b_l = 1.2^l/eps^2, c_l = 6 b_l."""
    L = max(int(math.floor(math.log(K))), 1)
    b = tuple(_ceil_cap(1.2**l / eps**2) for l in range(L))
    c = tuple(float(math.ceil(6 * bl)) for bl in b[:-1]) + (math.inf,)
    return TowerSpec(b, c)


def tower_loglog_spec(K: int, eps: float) -> TowerSpec:
    """O(log log K) memory [code: loglog_eps_best_algorithm]: L = floor(ln ln K) + 1; b_l = 1.2^l/eps^2 and
    c_l = 10 b_l below the last level; last level b = ln K/eps^2, c = inf."""
    L = max(int(math.floor(math.log(math.log(K)))) + 1, 1)
    b = tuple(_ceil_cap(1.2**l / eps**2) for l in range(L - 1)) + (_ceil_cap(math.log(K) / eps**2),)
    c = tuple(float(math.ceil(10 * bl)) for bl in b[:-1]) + (math.inf,)
    return TowerSpec(b, c)


def log_star_levels(K: int) -> int:
    """L = 1 + number of iterations of x <- ln x, from x = K, while x >= 1 (K = 100 -> 4)."""
    x, n = float(K), 0
    while x >= 1:
        x, n = math.log(x), n + 1
    return 1 + n


def tower_logstar_spec(K: int, eps: float) -> TowerSpec:
    """O(log* K) memory, "aggressive selective promotion" [code: logstar_eps_best_algorithm]:
    r_0 = 2, r_{l+1} = 2^{r_l}; b_0 = 1/eps^2, b_l = r_l/eps^2; c_0 = 4/eps^2,
    c_l = 2^{r_l} b_l / 2^{r_{l-1}} (infinite when 2^{r_l} overflows)."""
    L = log_star_levels(K)
    r = [2.0]
    for _ in range(1, L):
        r.append(2.0 ** r[-1] if r[-1] < 1024 else math.inf)
    b = [_ceil_cap(1 / eps**2)] + [_ceil_cap(min(r[l], 1e20) / eps**2) for l in range(1, L)]
    c = [float(math.ceil(4 / eps**2))]
    for l in range(1, L):
        if r[l] >= 1024:
            c.append(math.inf)
        else:
            c.append(float(math.ceil(2.0 ** (r[l] - r[l - 1]) * b[l])))
    c[-1] = math.inf
    return TowerSpec(tuple(b), tuple(c[:L]))


def tower(mu: np.ndarray, T: int, spec: TowerSpec, rng: np.random.Generator, compat: Compat) -> Outcome:
    """Assadi–Wang tower of levels, each holding at most one king with recorded mean kappa_l and a pull
    counter n_l. An arriving arm becomes king of an empty level (b_l pulls), else challenges the king
    (b_l pulls, n_l += b_l, replaces it iff its mean is larger). Level 0 full (n_0 > c_0) before a new
    stream arm: its king is promoted to level 1 and level 0 is cleared; a full level l >= 1 receiving an
    arm makes newcomer and king duel (b_l pulls each), promotes the better and is cleared. At the end the
    king of every non-empty level is pulled b_0 times and the best one (ties: higher level) gets the rest.
    """
    S, K = mu.shape
    led = Ledger(mu, T, rng, compat.noise)
    L = spec.L
    occupied = [False] * L
    king = [np.zeros(S, dtype=np.int64) for _ in range(L)]
    kappa = [np.full(S, -np.inf) for _ in range(L)]
    n = [0] * L
    stored_max = 0

    def place(l: int, arm: np.ndarray, in_hand: int) -> None:
        nonlocal stored_max
        stored_max = max(stored_max, sum(occupied) + in_hand)
        b = spec.b[l]
        if not occupied[l]:
            mean = led.pull(arm, b)
            if l == 0 and compat.tower_kappa0 == "stale":
                kappa[l] = np.fmax(kappa[l], mean)  # the code's kappa_0 is a running maximum
            else:
                kappa[l] = mean
            king[l] = arm.copy()
            occupied[l] = True
            if l == 0:
                n[0] += b
            return
        if l > 0 and l < L - 1 and n[l] > spec.c[l]:
            m_new = led.pull(arm, b)
            m_king = led.pull(king[l], b)
            winner = np.where(m_new > m_king, arm, king[l])
            occupied[l], n[l] = False, 0
            kappa[l] = np.full(S, -np.inf)
            place(l + 1, winner, in_hand)
            return
        charge = king[l] if compat.tower_accounting == "king" else None
        mean = led.pull(arm, b, charge=charge)
        n[l] += b
        better = mean > kappa[l]
        king[l] = np.where(better, arm, king[l])
        kappa[l] = np.where(better, mean, kappa[l])

    for i in range(K):
        if L > 1 and occupied[0] and n[0] > spec.c[0]:
            promoted = king[0].copy()
            occupied[0], n[0] = False, 0
            if compat.tower_kappa0 != "stale":
                kappa[0] = np.full(S, -np.inf)
            place(1, promoted, in_hand=1)
        place(0, np.full(S, i, dtype=np.int64), in_hand=1)
        if not led.alive.any():
            break

    levels = [l for l in range(L) if occupied[l]]
    best = king[levels[-1]].copy()
    best_mean = np.full(S, -np.inf)
    finals = []
    for l in levels:
        m = led.pull(king[l], spec.b[0])
        finals.append(m)
        if compat.tower_final == "argmax":
            take = ~(m < best_mean)  # ties go to the higher level (later in this loop)
            best = np.where(take & np.isfinite(m), king[l], best)
            best_mean = np.where(take & np.isfinite(m), m, best_mean)
    if compat.tower_final == "argmax" and not np.isfinite(best_mean).all():
        # the budget ran out before the final pulls: nothing is left to commit, any arm will do
        best = np.where(np.isfinite(best_mean), best, king[levels[-1]])
    led.commit(best)
    return led.outcome(stored_max)


def oracle(mu: np.ndarray, T: int, rng: np.random.Generator) -> Outcome:
    """Negative control for the lower-bound check: commits to the best arm from the start (regret 0)."""
    led = Ledger(mu, T, rng)
    led.commit(mu.argmax(axis=1))
    return led.outcome(1)


ALGORITHMS = ("uniform", "naive_eps", "goa_hp", "goa_frac", "tower_log", "tower_loglog", "tower_logstar")
TOWERS = {"tower_log": tower_log_spec, "tower_loglog": tower_loglog_spec, "tower_logstar": tower_logstar_spec}


def memory_cap(alg: str, K: int, eps: float) -> int:
    """Check 7: <= 3 arms for uniform / naive_eps / goa_*, <= 2L+1 for a tower with L levels."""
    if alg in TOWERS:
        return 2 * TOWERS[alg](K, eps).L + 1
    return 3


def run_algorithm(alg: str, mu: np.ndarray, T: int, rng: np.random.Generator, compat: Compat,
                  eps_exponent: float = 1 / 3) -> Outcome:
    K = mu.shape[1]
    eps = eps_of(K, T, eps_exponent)
    if alg == "uniform":
        return explore_each(mu, T, ue_pulls(K, T), rng, compat)
    if alg == "naive_eps":
        return explore_each(mu, T, naive_pulls(K, eps), rng, compat)
    if alg == "goa_hp":
        return goa_hp(mu, T, eps, rng, compat)
    if alg == "goa_frac":
        return goa_frac(mu, T, eps, rng, compat)
    if alg in TOWERS:
        return tower(mu, T, TOWERS[alg](K, eps), rng, compat)
    if alg == "oracle":
        return oracle(mu, T, rng)
    raise ValueError(f"unknown algorithm {alg!r}")
