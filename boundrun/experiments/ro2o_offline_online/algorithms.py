"""The linear-MDP surrogate of RO2O (spec 45, Part A): the MDP, exact dynamic programming, offline data,
and the pessimistic / smoothed / optimistic least-squares value iteration learners.

Every array carries a leading batch axis B (one independent MDP per seed), so seeds run in lock-step.
Steps are 0-indexed in code (h = 0..H-1 for the paper's h = 1..H); the value cap H - h + 1 of the paper
is therefore H - h here. Data enter the learners only through the counts N_h(s, a, s') of real
transitions: rewards are the deterministic r_h(s, a) = <phi(s, a), theta_h>, so these counts are a
sufficient statistic of every regression below (the tests check this against per-sample regressions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearMDP:
    """A batch of B linear MDPs: P_h(s'|s,a) = sum_i phi_i(s,a) mu_{h,i}(s'), r_h(s,a) = <phi(s,a), theta_h>."""

    phi: np.ndarray  # (B, S, A, d), rows on the simplex
    mu: np.ndarray  # (B, H, d, S), each mu_{h,i} a distribution over S
    theta: np.ndarray  # (B, H, d) in [0, 1]^d
    P: np.ndarray  # (B, H, S, A, S)
    r: np.ndarray  # (B, H, S, A) in [0, 1]
    neighbours: np.ndarray  # (B, S, n_nb): N(s), the states with the closest mean feature vector
    s1: int = 0

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        B, H, S, A, _ = self.P.shape
        return B, H, S, A, self.phi.shape[-1]


def make_mdp(rng: np.random.Generator, B: int, S: int, A: int, H: int, d: int, conc_phi: float = 0.3,
             conc_mu: float = 0.5, n_nb: int = 3) -> LinearMDP:
    """Spec 45 Part A: phi(s,a) ~ Dirichlet(0.3 1_d), mu_{h,i} ~ Dirichlet(0.5 1_S), theta_h ~ U[0,1]^d."""
    phi = rng.dirichlet(np.full(d, conc_phi), size=(B, S, A))
    mu = rng.dirichlet(np.full(S, conc_mu), size=(B, H, d))
    theta = rng.uniform(0.0, 1.0, size=(B, H, d))
    # Dirichlet(0.3) draws can underflow to exact zeros; renormalise so every row sums to 1 in floating point
    phi /= phi.sum(-1, keepdims=True)
    mu /= mu.sum(-1, keepdims=True)
    P = np.einsum("bsai,bhit->bhsat", phi, mu)
    r = np.einsum("bsai,bhi->bhsa", phi, theta)
    return LinearMDP(phi, mu, theta, P, r, neighbours(phi, n_nb))


def stack(mdps: list[LinearMDP]) -> LinearMDP:
    """Concatenate single-seed batches (one generator per seed keeps a seed's MDP independent of B)."""
    cat = {k: np.concatenate([getattr(m, k) for m in mdps]) for k in ("phi", "mu", "theta", "P", "r", "neighbours")}
    return LinearMDP(**cat, s1=mdps[0].s1)


def take(mdp: LinearMDP, i: int) -> LinearMDP:
    """The i-th MDP of the batch as a batch of one."""
    sl = slice(i, i + 1)
    return LinearMDP(mdp.phi[sl], mdp.mu[sl], mdp.theta[sl], mdp.P[sl], mdp.r[sl], mdp.neighbours[sl], mdp.s1)


def neighbours(phi: np.ndarray, n_nb: int) -> np.ndarray:
    """N(s): the n_nb other states whose mean feature (1/A) sum_a phi(s,a) is closest in l2 (the stand-in
    for the eps-ball around a continuous state)."""
    bar = phi.mean(axis=2)  # (B, S, d)
    dist = np.linalg.norm(bar[:, :, None, :] - bar[:, None, :, :], axis=-1)
    S = dist.shape[1]
    dist[:, np.arange(S), np.arange(S)] = np.inf
    return np.argsort(dist, axis=-1, kind="stable")[..., :n_nb]


def neighbour_matrix(nb: np.ndarray) -> np.ndarray:
    """Nb[b, s, t] = 1 if t in N(s)."""
    B, S, _ = nb.shape
    M = np.zeros((B, S, S))
    np.put_along_axis(M, nb, 1.0, axis=-1)
    return M


# -- exact dynamic programming --------------------------------------------------------------------------

def optimal_q(mdp: LinearMDP) -> np.ndarray:
    """Q*_h(s,a) for every h by backward induction, (B, H, S, A)."""
    B, H, S, A, _ = mdp.shape
    Q = np.empty((B, H, S, A))
    V = np.zeros((B, S))
    for h in range(H - 1, -1, -1):
        Q[:, h] = mdp.r[:, h] + np.einsum("bsat,bt->bsa", mdp.P[:, h], V)
        V = Q[:, h].max(-1)
    return Q


def policy_values(mdp: LinearMDP, pi: np.ndarray) -> np.ndarray:
    """V^pi_h(s) of a deterministic policy pi (B, H, S) of action indices, (B, H + 1, S)."""
    B, H, S, A, _ = mdp.shape
    V = np.zeros((B, H + 1, S))
    b, s = np.arange(B)[:, None], np.arange(S)[None, :]
    for h in range(H - 1, -1, -1):
        a = pi[:, h]
        V[:, h] = mdp.r[b, h, s, a] + np.einsum("bst,bt->bs", mdp.P[b, h, s, a], V[:, h + 1])
    return V


def occupancy(mdp: LinearMDP, pi: np.ndarray) -> np.ndarray:
    """d^pi_h(s): the exact state distribution at step h under deterministic pi from s_1, (B, H, S)."""
    B, H, S, A, _ = mdp.shape
    occ = np.zeros((B, H, S))
    occ[:, 0, mdp.s1] = 1.0
    b, s = np.arange(B)[:, None], np.arange(S)[None, :]
    for h in range(H - 1):
        occ[:, h + 1] = np.einsum("bs,bst->bt", occ[:, h], mdp.P[b, h, s, pi[:, h]])
    return occ


def mediocre_policy(Q_star: np.ndarray) -> np.ndarray:
    """Spec 45 (review): at every (h, s) the action with the second-highest Q*_h(s, .)."""
    return np.argsort(-Q_star, axis=-1, kind="stable")[..., 1]


# -- data -----------------------------------------------------------------------------------------------

def _sample_rows(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One categorical draw per row of p (..., K)."""
    u = rng.random(p.shape[:-1] + (1,))
    idx = (np.cumsum(p, axis=-1) < u).sum(-1)
    return np.minimum(idx, p.shape[-1] - 1)


def rollout(mdp: LinearMDP, policy: np.ndarray, n_ep: int, rng: np.random.Generator) -> np.ndarray:
    """Simulate n_ep episodes per MDP under a stochastic Markov policy (B, H, S, A); return the counts
    N_h(s, a, s') of the transitions seen, (B, H, S, A, S)."""
    B, H, S, A, _ = mdp.shape
    N = np.zeros((B, H, S, A, S))
    b = np.repeat(np.arange(B), n_ep)
    s = np.full(B * n_ep, mdp.s1)
    for h in range(H):
        a = _sample_rows(rng, policy[b, h, s])
        s_next = _sample_rows(rng, mdp.P[b, h, s, a])
        np.add.at(N, (b, h, s, a, s_next), 1.0)
        s = s_next
    return N


def behaviour_policy(pi_mediocre: np.ndarray, A: int, eps: float) -> np.ndarray:
    """Plays the mediocre policy with probability 1 - eps and a uniform action otherwise, (B, H, S, A)."""
    pol = np.full(pi_mediocre.shape + (A,), eps / A)
    np.put_along_axis(pol, pi_mediocre[..., None], 1.0 - eps + eps / A, axis=-1)
    return pol


def softmax_policy(Q: np.ndarray, tau: float) -> np.ndarray:
    """softmax(Q_h(s, .) / tau): the online behaviour of every learner (the stand-in for SAC's actor)."""
    z = (Q - Q.max(-1, keepdims=True)) / tau
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


# -- learners -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fit:
    Q: np.ndarray  # (B, H, S, A) the clipped Q-hat
    Lam: np.ndarray  # (B, H, d, d) the Gram matrix Lambda_h the bonus (and the bound) use
    w: np.ndarray  # (B, H, d)


def elliptical_norms(phi: np.ndarray, Lam_inv: np.ndarray) -> np.ndarray:
    """||phi(s,a)||_{Lambda^-1} for every (s, a), (B, S, A)."""
    q = np.einsum("bsai,bij,bsaj->bsa", phi, Lam_inv, phi)
    return np.sqrt(np.maximum(q, 0.0))


def lsvi(mdp: LinearMDP, N: np.ndarray, beta_: float, kappa: float, lam: float = 1.0, eta: float = 0.0,
         alpha_pseudo: float = 0.0, Nb: np.ndarray | None = None) -> Fit:
    """Least-squares value iteration with Q_h = clip(phi^T w_h - kappa Gamma_h, 0, H - h + 1).

    kappa = 1: PEVI (Jin et al. 2021, Alg. 1); kappa = alpha in (0, 1): RO2O's uncertainty penalty alpha Gamma;
    kappa = -1: LSVI-UCB (Jin et al. 2020). eta > 0 adds RO2O's smoothness pseudo-samples (spec 45): for each
    real tuple (s, a, r, s') at step h and each s~ in N(s), the feature phi(s~, a) with target
    y = r + V_{h+1}(s') - alpha_pseudo Gamma^real_h(s~, a), weight eta, in the regression and in Lambda_h
    (Gamma^real from the real-data Lambda_h). The bonus of the penalty uses the augmented Lambda_h.
    """
    B, H, S, A, d = mdp.shape
    phi = mdp.phi
    F = phi.reshape(B, S * A, d)
    eye = lam * np.eye(d)
    Q = np.empty((B, H, S, A))
    Lams = np.empty((B, H, d, d))
    W = np.empty((B, H, d))
    V_next = np.zeros((B, S))
    for h in range(H - 1, -1, -1):
        Nh = N[:, h]
        n = Nh.sum(-1)  # (B, S, A) visits of (s, a) at step h
        g = n * mdp.r[:, h] + np.einsum("bsat,bt->bsa", Nh, V_next)  # sum of the targets r + V_{h+1}(s')
        Lam = eye + np.einsum("bk,bki,bkj->bij", n.reshape(B, -1), F, F)
        rhs = np.einsum("bk,bki->bi", g.reshape(B, -1), F)
        if eta > 0:
            assert Nb is not None
            gamma_real = beta_ * elliptical_norms(phi, np.linalg.inv(Lam))  # (B, S, A)
            m = np.einsum("bst,bsa->bta", Nb, n)  # pseudo-sample multiplicity at (s~, a)
            G = np.einsum("bst,bsa->bta", Nb, g)  # sum of the real targets that land on (s~, a)
            Lam = Lam + eta * np.einsum("bk,bki,bkj->bij", m.reshape(B, -1), F, F)
            rhs = rhs + eta * np.einsum("bk,bki->bi", (G - alpha_pseudo * m * gamma_real).reshape(B, -1), F)
        w = np.linalg.solve(Lam, rhs[..., None])[..., 0]
        gamma = beta_ * elliptical_norms(phi, np.linalg.inv(Lam))
        Q[:, h] = np.clip(np.einsum("bsai,bi->bsa", phi, w) - kappa * gamma, 0.0, H - h)
        Lams[:, h], W[:, h] = Lam, w
        V_next = Q[:, h].max(-1)
    return Fit(Q, Lams, W)


def clipped_fraction(Q: np.ndarray) -> np.ndarray:
    """Share of the Q-hat entries sitting on a clip boundary (0 or H - h + 1), (B,): where it is near 1 the
    greedy policy is decided by tie-breaking (the lowest action index), not by the data."""
    H = Q.shape[1]
    cap = (H - np.arange(H))[None, :, None, None]
    return ((Q <= 0.0) | (Q >= cap)).mean(axis=(1, 2, 3))


def greedy(Q: np.ndarray) -> np.ndarray:
    return Q.argmax(-1)


def subopt(mdp: LinearMDP, v_star: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """SubOpt(pi) = V*_1(s_1) - V^pi_1(s_1) of the greedy policy of Q, exact, (B,)."""
    return v_star - policy_values(mdp, greedy(Q))[:, 0, mdp.s1]


@dataclass(frozen=True)
class Learner:
    """One learner's objective: the penalty kappa (offline / online) and its smoothness weight."""

    kappa_off: float
    kappa_on: float
    eta: float = 0.0
    alpha_pseudo: float = 0.0


def learners(alpha_ro2o: float, eta: float) -> dict[str, Learner]:
    """The spec's online learners: `pevi_online` (alpha = 1 throughout), `ro2o_linear` (alpha fixed at 0.1,
    smoothness eta), `optimistic_switch` (PEVI offline, LSVI-UCB bonus +Gamma online); and an ablation
    outside the spec, `pevi_alpha` (RO2O's penalty alpha Gamma without the smoothness pseudo-samples), which
    separates the effect of the smaller penalty from that of the smoothing."""
    return {
        "pevi_online": Learner(1.0, 1.0),
        "ro2o_linear": Learner(alpha_ro2o, alpha_ro2o, eta, alpha_ro2o),
        "optimistic_switch": Learner(1.0, -1.0),
        "pevi_alpha": Learner(alpha_ro2o, alpha_ro2o),
    }
