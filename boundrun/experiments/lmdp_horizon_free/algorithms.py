"""Exact belief-state planning over the history tree and the learners of spec 52.

The history tree. A history at step h (depth d = h - 1) is tau = (s_1, a_1, s_2, ..., a_{h-1}, s_h); depth d
has n_d = S (A S)^d nodes. Node i of depth d has state s_h = i mod S, and its child after action a and
next state s' is i A S + a S + s' at depth d + 1. Every per-depth array is indexed this way, so the
dynamic programming over histories is a handful of vectorised numpy operations per depth.

Alpha vectors (spec "Planning"): for action a at history tau with state s,
    alpha_h(tau, a)_m = R_{m,h}(s, a) + sum_{s'} P_m(s'|s,a) alpha_{h+1}(tau a s')_m          (alpha recursion)
and the agent picks argmax_a sum_m b_m(tau) alpha_h(tau, a)_m with the Bayes belief
    b(tau a s')_m  proportional to  b(tau)_m P_m(s'|s,a).
Rewards here are 0 before the last step for every context, so the reward factor 1[R_m(s,a) = r] of the
belief update never changes a belief that is still used for a decision, and is omitted.

Learners (spec "Learner"): `lmdp_vopt` (value-optimistic, Bernstein bonus, this spec's instantiation of the
paper's value-optimistic solver), `lmdp_hoeffding` (bonus c sqrt(iota/N)), `ignore_latent` (UCB-VI on
the context-free mixture MDP: a time-dependent Markov policy). All re-plan when a count doubles.
The spec is silent on w and nu: the LMDP learners estimate them from the revealed contexts (w Laplace-
smoothed, nu empirical, both floored like P_hat inside the beliefs); rewards are known.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from boundrun.experiments.lmdp_horizon_free.environments import LMDP

BELIEF_FLOOR = 1e-6  # floor on estimated probabilities inside the planner's beliefs (spec)
Bonus = Callable[[np.ndarray, np.ndarray], np.ndarray]


def n_nodes(S: int, A: int, d: int) -> int:
    """Number of histories at depth d (step h = d + 1)."""
    return S * (A * S) ** d


def _by_node(P: np.ndarray, s: np.ndarray) -> np.ndarray:
    """P (M, S, A, S') gathered at each node's state: (n, A, S', M)."""
    return np.moveaxis(P[:, s], 0, -1)


def _normalise(b: np.ndarray) -> np.ndarray:
    tot = b.sum(axis=1, keepdims=True)
    return np.divide(b, tot, out=np.zeros_like(b), where=tot > 0)


def history_beliefs(P: np.ndarray, w: np.ndarray, nu: np.ndarray, H: int) -> list[np.ndarray]:
    """Posterior b(tau) over contexts at every history, depth by depth: list of (n_d, M)."""
    M, S, A, _ = P.shape
    b = _normalise((w[:, None] * nu).T)  # depth 0: the history is s_1 alone
    out = [b]
    for d in range(H - 1):
        s = np.arange(n_nodes(S, A, d)) % S
        b = _normalise((b[:, None, None, :] * _by_node(P, s)).reshape(-1, M))
        out.append(b)
    return out


def plan(P_alpha: np.ndarray, P_belief: np.ndarray, w: np.ndarray, nu: np.ndarray, R: np.ndarray,
         bonus: Bonus | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Backward DP over the history tree with the alpha recursion.

    P_alpha: the model in the alpha recursion; P_belief, w, nu: the model of the beliefs; R (M, H, S, A).
    bonus(s, V) -> (n, A, M): added to every context component, with s the nodes' states and V (n, A, M)
    the variance V(P_alpha(.|s,a), alpha_{h+1}(tau a .)_m) of the next-step alpha component; with a bonus
    the components are truncated to [0, 1] (the total reward is at most 1).
    Returns the greedy policy (list over depths of (n_d,) actions) and alpha_h(tau) (list of (n_d, M)).
    """
    M, S, A, _ = P_alpha.shape
    H = R.shape[1]
    beliefs = history_beliefs(P_belief, w, nu, H)
    policy: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * H
    alphas: list[np.ndarray] = [np.empty((0, M))] * H
    nxt = None
    for d in reversed(range(H)):
        n = n_nodes(S, A, d)
        s = np.arange(n) % S
        if nxt is None:  # alpha_{H+1} = 0
            E = np.zeros((n, A, M))
            V = np.zeros((n, A, M))
        else:
            Ps = _by_node(P_alpha, s)  # (n, A, S', M)
            child = nxt.reshape(n, A, S, M)
            E = (Ps * child).sum(axis=2)
            V = (Ps * (child - E[:, :, None, :]) ** 2).sum(axis=2)
        Q = np.moveaxis(R[:, d, s, :], 0, -1) + E  # (n, A, M)
        if bonus is not None:
            Q = np.clip(Q + bonus(s, V), 0.0, 1.0)
        a = np.einsum("nam,nm->na", Q, beliefs[d]).argmax(axis=1)
        policy[d] = a
        nxt = Q[np.arange(n), a]
        alphas[d] = nxt
    return policy, alphas


def optimal(lmdp: LMDP, H: int) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """V* (exact, over history-dependent policies), pi* and alpha*."""
    R = lmdp.rewards(H)
    policy, alphas = plan(lmdp.P, lmdp.P, lmdp.w, lmdp.nu, R)
    v = float(np.sum(lmdp.w[:, None] * lmdp.nu * alphas[0].T))
    return v, policy, alphas


def onehot(policy: list[np.ndarray], A: int) -> list[np.ndarray]:
    return [np.eye(A)[a] for a in policy]


def policy_value(lmdp: LMDP, R: np.ndarray, probs: list[np.ndarray]) -> np.ndarray:
    """Exact value of a history-dependent policy (probs[d]: (n_d, A) action probabilities), by a forward
    pass of the joint probability rho(tau, m) = w_m nu_m(s_1) prod P_m. Returns w_m V^pi_m per context
    (their sum is V^pi)."""
    M, S, A = lmdp.M, lmdp.S, lmdp.A
    H = R.shape[1]
    rho = (lmdp.w[:, None] * lmdp.nu).T
    out = np.zeros(M)
    for d in range(H):
        s = np.arange(n_nodes(S, A, d)) % S
        pa = probs[d]
        out += np.einsum("nm,na,nam->m", rho, pa, np.moveaxis(R[:, d, s, :], 0, -1))
        if d < H - 1:
            rho = (rho[:, None, None, :] * pa[:, :, None, None] * _by_node(lmdp.P, s)).reshape(-1, M)
    return out


def value(lmdp: LMDP, H: int, policy: list[np.ndarray]) -> float:
    return float(policy_value(lmdp, lmdp.rewards(H), onehot(policy, lmdp.A)).sum())


def uniform_value(lmdp: LMDP, H: int) -> float:
    """Value of the uniformly random policy (the rate claim's negative control)."""
    probs = [np.full((n_nodes(lmdp.S, lmdp.A, d), lmdp.A), 1.0 / lmdp.A) for d in range(H)]
    return float(policy_value(lmdp, lmdp.rewards(H), probs).sum())


def variance_proxies(lmdp: LMDP, H: int, policy: list[np.ndarray], alphas: list[np.ndarray]
                     ) -> tuple[float, float]:
    """The two Var* proxies of the spec under the policy (pi*) and its alpha vectors (alpha*):
    (a) sum_m w_m Var_{pi, M_m}[total reward]  (within-context return variance);
    (b) sum_m w_m sum_h E_{pi, M_m}[V(P_m(.|s_h,a_h), alpha_{h+1,m})]  (+ V(nu_m, alpha_{1,m}), zero for a
        point-mass nu). By the martingale decomposition of the return, (b) = (a) exactly; both are
        computed independently here (the tests check the identity)."""
    M, S, A = lmdp.M, lmdp.S, lmdp.A
    R = lmdp.rewards(H)
    w = lmdp.w
    rho = (w[:, None] * lmdp.nu).T  # (S, M)
    G = np.zeros((S, M))  # reward accumulated along the history, per context
    a0 = alphas[0]  # (S, M)
    e0 = (lmdp.nu * a0.T).sum(axis=1)
    total_var = float(np.sum(w * (lmdp.nu * (a0.T - e0[:, None]) ** 2).sum(axis=1)))
    for d in range(H):
        n = n_nodes(S, A, d)
        idx = np.arange(n)
        s, a = idx % S, policy[d]
        G = G + R[:, d, s, a].T
        if d == H - 1:
            EG = (rho * G).sum(axis=0) / w
            EG2 = (rho * G**2).sum(axis=0) / w
            return float(np.sum(w * (EG2 - EG**2))), total_var
        Pc = np.moveaxis(lmdp.P[:, s, a, :], 0, -1)  # (n, S', M)
        child = alphas[d + 1].reshape(n, A, S, M)[idx, a]  # (n, S', M)
        E = (Pc * child).sum(axis=1)
        total_var += float(np.sum(rho * (Pc * (child - E[:, None, :]) ** 2).sum(axis=1)))
        rho_c = np.zeros((n, A, S, M))
        rho_c[idx, a] = rho[:, None, :] * Pc
        G_c = np.zeros((n, A, S, M))
        G_c[idx, a] = G[:, None, :]
        rho, G = rho_c.reshape(-1, M), G_c.reshape(-1, M)
    raise AssertionError("unreachable")


def best_memoryless(lmdp: LMDP, H: int, chunk: int = 1 << 15) -> float:
    """max over all A^(S H) deterministic time-dependent Markov policies pi_h(s) of V^pi, enumerated
    (spec verdict 4); each policy is evaluated per context by backward induction in the MDP M_m."""
    M, S, A = lmdp.M, lmdp.S, lmdp.A
    R = lmdp.rewards(H)
    n_pol = A ** (S * H)
    powers = A ** np.arange(S * H)
    sidx = np.arange(S)[None, :]
    best = -np.inf
    for start in range(0, n_pol, chunk):
        codes = np.arange(start, min(start + chunk, n_pol))
        pi = ((codes[:, None] // powers) % A).reshape(-1, H, S)  # pi[p, d, s]
        V = np.zeros((len(codes), M, S))
        for d in reversed(range(H)):
            act = pi[:, d, :]
            Pd = lmdp.P[:, sidx, act]  # (M, n_pol, S, S')
            V = np.moveaxis(R[:, d, sidx, act], 0, 1) + np.einsum("mpst,pmt->pms", Pd, V)
        vals = np.einsum("m,ms,pms->p", lmdp.w, lmdp.nu, V)
        best = max(best, float(vals.max()))
    return best


# -- learning ----------------------------------------------------------------------------------------

def simulate(lmdp: LMDP, policy: list[np.ndarray], H: int, n: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n episodes of a history-dependent deterministic policy: context m ~ w (revealed at the end),
    s_1 ~ nu_m, then H steps. Returns m (n,), states, actions, next states (n, H)."""
    S, A = lmdp.S, lmdp.A
    m = rng.choice(lmdp.M, size=n, p=lmdp.w)
    s = np.minimum((rng.random(n)[:, None] >= np.cumsum(lmdp.nu[m], axis=1)).sum(axis=1), S - 1)
    node = s.copy()
    states = np.empty((n, H), dtype=np.int64)
    actions = np.empty((n, H), dtype=np.int64)
    nexts = np.empty((n, H), dtype=np.int64)
    for d in range(H):
        a = policy[d][node]
        cdf = np.cumsum(lmdp.P[m, s, a], axis=1)
        s2 = np.minimum((rng.random(n)[:, None] >= cdf).sum(axis=1), S - 1)
        states[:, d], actions[:, d], nexts[:, d] = s, a, s2
        if d < H - 1:
            node = node * A * S + a * S + s2
        s = s2
    return m, states, actions, nexts


def bernstein_bonus(N: np.ndarray, iota: float, c1: float, c2: float) -> Bonus:
    """bonus_m(s,a) = c1 sqrt(V(P_hat, alpha_{h+1,m}) iota / max(1, N_m(s,a))) + c2 iota / max(1, N_m(s,a))."""
    Nn = np.maximum(N, 1.0)

    def bonus(s: np.ndarray, V: np.ndarray) -> np.ndarray:
        n = np.moveaxis(Nn[:, s, :], 0, -1)  # (n, A, M)
        return c1 * np.sqrt(V * iota / n) + c2 * iota / n

    return bonus


def hoeffding_bonus(N: np.ndarray, iota: float, c: float) -> Bonus:
    """bonus_m(s,a) = c sqrt(iota / max(1, N_m(s,a))) on every component (variance-unaware)."""
    Nn = np.maximum(N, 1.0)

    def bonus(s: np.ndarray, V: np.ndarray) -> np.ndarray:
        return c * np.sqrt(iota / np.moveaxis(Nn[:, s, :], 0, -1))

    return bonus


def _estimate(counts: np.ndarray) -> np.ndarray:
    """Empirical distribution along the last axis; uniform where nothing was observed."""
    tot = counts.sum(axis=-1, keepdims=True)
    return np.where(tot > 0, counts / np.maximum(tot, 1), 1.0 / counts.shape[-1])


def _floored(p: np.ndarray) -> np.ndarray:
    p = np.maximum(p, BELIEF_FLOOR)
    return p / p.sum(axis=-1, keepdims=True)


class Data:
    """Everything a learner has observed: per-context transition counts (contexts are revealed at the end
    of every episode), context and initial-state counts, and (for ignore_latent) rewards per (h, s, a)."""

    def __init__(self, M: int, S: int, A: int, H: int):
        self.Nsas = np.zeros((M, S, A, S))
        self.n_ctx = np.zeros(M)
        self.n_init = np.zeros((M, S))
        self.rew_sum = np.zeros((H, S, A))
        self.rew_n = np.zeros((H, S, A))

    def add(self, lmdp: LMDP, R: np.ndarray, m: np.ndarray, st: np.ndarray, ac: np.ndarray,
            nx: np.ndarray) -> None:
        M, S, A = lmdp.M, lmdp.S, lmdp.A
        H = st.shape[1]
        mm = np.broadcast_to(m[:, None], st.shape)
        key = ((mm * S + st) * A + ac) * S + nx
        self.Nsas += np.bincount(key.ravel(), minlength=M * S * A * S).reshape(M, S, A, S)
        self.n_ctx += np.bincount(m, minlength=M)
        self.n_init += np.bincount(m * S + st[:, 0], minlength=M * S).reshape(M, S)
        hh = np.broadcast_to(np.arange(H)[None, :], st.shape)
        hkey = ((hh * S + st) * A + ac).ravel()
        self.rew_sum += np.bincount(hkey, weights=R[mm, hh, st, ac].ravel(), minlength=H * S * A).reshape(H, S, A)
        self.rew_n += np.bincount(hkey, minlength=H * S * A).reshape(H, S, A)


def plan_lmdp(data: Data, R: np.ndarray, bonus_of: Callable[[np.ndarray], Bonus]) -> list[np.ndarray]:
    """The optimistic planner of lmdp_vopt / lmdp_hoeffding on the estimated LMDP: P_hat_m per context,
    w_hat (Laplace-smoothed context frequencies), nu_hat; known rewards; beliefs with floored P_hat."""
    M = data.Nsas.shape[0]
    N = data.Nsas.sum(axis=-1)
    P_hat = _estimate(data.Nsas)
    w_hat = (data.n_ctx + 1.0) / (data.n_ctx.sum() + M)
    nu_hat = _estimate(data.n_init)
    policy, _ = plan(P_hat, _floored(P_hat), w_hat, _floored(nu_hat), R, bonus=bonus_of(N))
    return policy


def plan_ignore_latent(data: Data, S: int, A: int, H: int, iota: float, c: float) -> list[np.ndarray]:
    """UCB-VI on the mixture MDP that ignores the context: pooled P_hat(s'|s,a), empirical rewards
    r_hat_h(s,a), Q_h = r_hat + P_hat V_{h+1} + c sqrt(iota / max(1, N(s,a))) truncated to [0, 1].
    The Markov policy pi_h(s) is returned on the history tree (every node acts on its state only)."""
    Npool = data.Nsas.sum(axis=0)  # (S, A, S')
    P_hat = _estimate(Npool)
    b = c * np.sqrt(iota / np.maximum(Npool.sum(axis=-1), 1.0))
    r_hat = data.rew_sum / np.maximum(data.rew_n, 1.0)
    V = np.zeros(S)
    pi = np.zeros((H, S), dtype=np.int64)
    for d in reversed(range(H)):
        Q = np.minimum(r_hat[d] + P_hat @ V + b, 1.0)
        pi[d] = Q.argmax(axis=1)
        V = Q.max(axis=1)
    return [pi[d][np.arange(n_nodes(S, A, d)) % S] for d in range(H)]


def run_learner(kind: str, lmdp: LMDP, H: int, K: int, iota: float, v_star: float, rng: np.random.Generator,
                c1: float = 1.0, c2: float = 1.0, c: float = 1.0) -> tuple[np.ndarray, int]:
    """K episodes of learner `kind`; returns the per-episode exact regret V* - V^{pi_k} (K,) and the
    number of plans. The policy is recomputed only when some count N_m(s,a) (N(s,a) pooled for
    ignore_latent) reaches twice its value at the last plan (doubling epochs); episodes of an epoch
    share the policy, so they are simulated in batches."""
    M, S, A = lmdp.M, lmdp.S, lmdp.A
    R = lmdp.rewards(H)
    data = Data(M, S, A, H)
    gaps = np.empty(K)
    pooled = kind == "ignore_latent"
    n_keys = S * A if pooled else M * S * A
    k, plans = 0, 0
    while k < K:
        if kind == "lmdp_vopt":
            policy = plan_lmdp(data, R, lambda N: bernstein_bonus(N, iota, c1, c2))
        elif kind == "lmdp_hoeffding":
            policy = plan_lmdp(data, R, lambda N: hoeffding_bonus(N, iota, c))
        elif kind == "ignore_latent":
            policy = plan_ignore_latent(data, S, A, H, iota, c)
        else:
            raise ValueError(f"unknown learner {kind!r}")
        plans += 1
        gap = v_star - value(lmdp, H, policy)
        if gap < -1e-9:
            raise AssertionError(f"a policy beats V* by {-gap:g}: the planner is wrong")
        gap = max(gap, 0.0)
        counts = data.Nsas.sum(axis=-1)
        key_counts = (counts.sum(axis=0) if pooled else counts).ravel()
        thresh = np.maximum(1.0, 2.0 * key_counts)
        while k < K:
            n = min(K - k, max(64, k // 2))
            m, st, ac, nx = simulate(lmdp, policy, H, n, rng)
            key = (st * A + ac) if pooled else ((m[:, None] * S + st) * A + ac)
            inc = np.bincount((np.arange(n)[:, None] * n_keys + key).ravel(), minlength=n * n_keys)
            cum = key_counts + np.cumsum(inc.reshape(n, n_keys), axis=0)
            hit = (cum >= thresh).any(axis=1)
            take = int(hit.argmax()) + 1 if hit.any() else n
            data.add(lmdp, R, m[:take], st[:take], ac[:take], nx[:take])
            gaps[k:k + take] = gap
            k += take
            key_counts = cum[take - 1]
            if hit.any():
                break
    return gaps, plans
