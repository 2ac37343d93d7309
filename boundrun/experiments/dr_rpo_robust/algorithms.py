"""DR-RPO and its baselines on a d-rectangular linear RMDP with TV uncertainty (spec 47's instantiation).

Notation (spec 47): horizon H, states S (start 0, fail state F terminal), actions A, features
phi(s, a) in the simplex of R^d, nominal factors mu0_i, rewards r(s, a) = <phi(s, a), theta>, TV radius
rho, reference policy pi_ref (uniform), KL weight lam. Step h runs 1..H in the paper; arrays index it 0..H-1.

Everything is vectorised over a batch of B independent runs (seeds x radii); a run's rho may differ.

- `robust_factor_values`   exact inner problem inf_{TV(mu, mu0_i) <= rho} E_mu[V] for every factor i
- `robust_policy_value`    exact robust regularized value of a policy (the evaluator)
- `soft_optimal`           robust soft DP: V*, pi* (the comparator of the regret)
- `policy_return`          non-robust expected return in the perturbed environment mu^q
- `Learner`                dr_rpo / oppo / dr_lsvi_ucb: optimistic estimation + policy or greedy update
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

ALGORITHMS = ("dr_rpo", "oppo", "dr_lsvi_ucb", "random")


# ---------------------------------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearRMDP:
    """Stationary d-rectangular linear MDP (the same phi, mu0, theta at every step h)."""

    phi: np.ndarray  # (S, A, d); the fail state's row is zero (it sits outside the linear structure)
    mu0: np.ndarray  # (d, S) nominal next-state distribution of every factor
    theta: np.ndarray  # (d,)
    H: int
    fail: int
    start: int = 0

    @property
    def S(self) -> int:
        return self.phi.shape[0]

    @property
    def A(self) -> int:
        return self.phi.shape[1]

    @property
    def d(self) -> int:
        return self.phi.shape[2]

    @property
    def reward(self) -> np.ndarray:  # (S, A), zero in F
        return self.phi @ self.theta

    def factors(self, q: float = 0.0) -> np.ndarray:
        """mu^q_i = (1 - q) mu0_i + q delta_F for every factor i (spec 47, perturbed test envs)."""
        mu = (1.0 - q) * self.mu0
        mu[:, self.fail] += q
        return mu

    def kernel(self, q: float = 0.0) -> np.ndarray:
        """P^q(s' | s, a) = sum_i phi_i(s, a) mu^q_i(s'), with F absorbing. Shape (S, A, S)."""
        P = np.einsum("sad,dt->sat", self.phi, self.factors(q))
        P[self.fail] = 0.0
        P[self.fail, :, self.fail] = 1.0
        return P


def make_env(S: int, A: int, d: int, H: int, theta_s: float, theta_hi: float, dirichlet: float,
             rng: np.random.Generator) -> LinearRMDP:
    """Spec 47's construction: start 0, good region G, risky region R, fail state F = S - 1.

    Factors 0..d-3 are "safe" (mu0 uniform on G, theta_s), factor d-2 "harvest" (mu0 uniform on R,
    theta_hi), factor d-1 "move" (mu0 uniform on R, reward 0). In 0 and G, actions 0..A-2 are safe with
    phi ~ Dirichlet(dirichlet * 1) over the safe factors and action A-1 is the risky move (phi = e_move);
    in R every action harvests (phi = e_harvest). With d = 3 and A = 3 this is the smoke layout.
    """
    n_G = (S - 2) // 2
    G = np.arange(1, 1 + n_G)
    R = np.arange(1 + n_G, S - 1)
    F = S - 1
    n_safe = d - 2
    harvest, move = d - 2, d - 1
    phi = np.zeros((S, A, d))
    for s in (0, *G):
        if n_safe == 1:
            phi[s, : A - 1, 0] = 1.0
        else:
            phi[s, : A - 1, :n_safe] = rng.dirichlet(np.full(n_safe, dirichlet), size=A - 1)
        phi[s, A - 1, move] = 1.0
    phi[R, :, harvest] = 1.0
    mu0 = np.zeros((d, S))
    mu0[:n_safe, G] = 1.0 / len(G)
    mu0[harvest, R] = 1.0 / len(R)
    mu0[move, R] = 1.0 / len(R)
    theta = np.zeros(d)
    theta[:n_safe] = theta_s
    theta[harvest] = theta_hi
    return LinearRMDP(phi=phi, mu0=mu0, theta=theta, H=H, fail=F)


# ---------------------------------------------------------------------------------------------------
# exact robust inner problem and exact evaluation
# ---------------------------------------------------------------------------------------------------
def robust_factor_values(V: np.ndarray, mu0: np.ndarray, rho: np.ndarray | float) -> np.ndarray:
    """z_i = inf_{TV(mu, mu0_i) <= rho} E_mu[V] for every factor i, exactly.

    Dual (spec 47): max over alpha of E_{mu0}[min(V, alpha)] - rho (alpha - min_s V(s)); the bracket is
    concave piecewise linear in alpha with kinks at the values of V, so alpha ranges over {V(s)}.
    V: (B, S); mu0: (d, S); rho: scalar or (B,). Returns (B, d).
    """
    V = np.atleast_2d(V)
    rho = np.broadcast_to(np.asarray(rho, dtype=float), (V.shape[0],))
    clipped = np.minimum(V[:, :, None], V[:, None, :])  # [b, s, j] = min(V(s), alpha = V(j))
    E = np.einsum("is,bsj->bij", mu0, clipped)
    slack = V - V.min(axis=1, keepdims=True)  # alpha - min V for alpha = V(j)
    return (E - rho[:, None, None] * slack[:, None, :]).max(axis=2)


def _kl(logpi: np.ndarray, logref: np.ndarray) -> np.ndarray:
    return (np.exp(logpi) * (logpi - logref)).sum(axis=-1)


def robust_policy_value(env: LinearRMDP, logpi: np.ndarray, rho: np.ndarray | float, lam: float,
                        logref: np.ndarray | None = None) -> np.ndarray:
    """V^pi_1(s_1) under the robust regularized Bellman equation with the true mu0 (exact).

    V_h(s) = sum_a pi_h(a|s) [r(s, a) + phi(s, a)^T z_h] - lam KL(pi_h(.|s) || pi_ref(.|s)),
    z_h = robust_factor_values(V_{h+1}); V_{H+1} = 0 and V(F) = 0. logpi: (B, H, S, A). Returns (B,).
    """
    B = logpi.shape[0]
    logref = np.full(env.A, -np.log(env.A)) if logref is None else logref
    pi = np.exp(logpi)
    V = np.zeros((B, env.S))
    for h in range(env.H - 1, -1, -1):
        z = robust_factor_values(V, env.mu0, rho)
        Q = env.reward[None] + np.einsum("sad,bd->bsa", env.phi, z)
        V = (pi[:, h] * Q).sum(axis=-1)
        if lam > 0:
            V = V - lam * _kl(logpi[:, h], logref)
        V[:, env.fail] = 0.0
    return V[:, env.start]


def soft_optimal(env: LinearRMDP, rho: float, lam: float) -> tuple[float, np.ndarray]:
    """Robust soft DP: Q*_h = r + inf_P P V*_{h+1}, V*_h = lam ln sum_a pi_ref exp(Q*_h / lam) (lam > 0)
    or max_a Q*_h (lam = 0). Returns V*_1(s_1) and log pi* of shape (H, S, A) (greedy when lam = 0)."""
    logref = np.full(env.A, -np.log(env.A))
    V = np.zeros((1, env.S))
    logpi = np.zeros((env.H, env.S, env.A))
    for h in range(env.H - 1, -1, -1):
        z = robust_factor_values(V, env.mu0, rho)
        Q = env.reward + env.phi @ z[0]
        if lam > 0:
            v = lam * logsumexp(Q / lam + logref, axis=-1)
            logpi[h] = logref + Q / lam - v[:, None] / lam
        else:
            v = Q.max(axis=-1)
            logpi[h] = greedy_logpi(Q)
        v[env.fail] = 0.0
        V = v[None]
    return float(V[0, env.start]), logpi


def policy_return(env: LinearRMDP, logpi: np.ndarray, q: float) -> np.ndarray:
    """Expected sum of rewards (no KL term) of the policy in the perturbed environment mu^q. (B,)."""
    P = env.kernel(q)
    pi = np.exp(logpi)
    V = np.zeros((logpi.shape[0], env.S))
    for h in range(env.H - 1, -1, -1):
        Q = env.reward[None] + np.einsum("sat,bt->bsa", P, V)
        V = (pi[:, h] * Q).sum(axis=-1)
        V[:, env.fail] = 0.0
    return V[:, env.start]


# ---------------------------------------------------------------------------------------------------
# the learners
# ---------------------------------------------------------------------------------------------------
def bonus_scale(c_beta: float, d: int, H: int, K: int, delta: float) -> float:
    """beta = c_beta d H sqrt(ln(2 d H K / delta)) (spec 47; the theory constant is unknown)."""
    return c_beta * d * H * np.sqrt(np.log(2 * d * H * K / delta))


def step_size(A: int, H: int, K: int) -> float:
    """eta = sqrt(2 ln A / (H^2 K)) (spec 47, the OPPO step size)."""
    return float(np.sqrt(2 * np.log(A) / (H**2 * K)))


def mirror_descent_update(logpi: np.ndarray, Q: np.ndarray, eta: float, lam: float,
                          logref: np.ndarray) -> np.ndarray:
    """KL-regularized mirror descent, closed form (spec 47, step 2):
    pi_{k+1} ∝ pi_k^{1/(1+eta lam)} pi_ref^{eta lam/(1+eta lam)} exp(eta Q/(1+eta lam)),
    the maximiser of <Q, pi> - lam KL(pi || pi_ref) - KL(pi || pi_k) / eta on the simplex."""
    logits = (logpi + eta * lam * logref + eta * Q) / (1.0 + eta * lam)
    return logits - logsumexp(logits, axis=-1, keepdims=True)


def estimate_factor_values(inv: np.ndarray, C: np.ndarray, V: np.ndarray, alpha: np.ndarray,
                           rho: np.ndarray) -> np.ndarray:
    """Ridge estimates of the robust factor values from the sufficient statistics of one step h.

    nu_hat(alpha) = Lambda^{-1} sum phi(s, a) min(V(s'), alpha) estimates E_{mu0_i}[min(V, alpha)] for every
    factor i, and z_i = max_alpha {nu_hat_i(alpha) - rho (alpha - min_s V(s))} over the alpha grid
    (DR-LSVI-UCB's dual). A run with rho = 0 gets the plain ridge estimate Lambda^{-1} sum phi V(s') (OPPO).
    inv: (B, d, d) = Lambda^{-1}; C: (B, d, S); V: (B, S); alpha: (n_alpha,); rho: (B,). Returns (B, d).
    """
    z = np.einsum("bde,bes,bs->bd", inv, C, V)
    robust = rho > 0
    if robust.any():
        clipped = np.minimum(V[:, :, None], alpha)  # (B, S, n_alpha): min(V(s'), alpha)
        nu = inv @ (C @ clipped)  # (B, d, n_alpha)
        slack = alpha[None, :] - V.min(axis=1, keepdims=True)  # alpha - min_s V(s)
        zr = (nu - rho[:, None, None] * slack[:, None, :]).max(axis=2)
        z = np.where(robust[:, None], zr, z)
    return z


class Learner:
    """dr_rpo (mode="policy", rho > 0, lam > 0), oppo (mode="policy", rho = 0, lam = 0) or dr_lsvi_ucb
    (mode="value", lam = 0) for a batch of B runs sharing one environment.

    Sufficient statistics per step h: Lambda_h = ridge I + sum phi phi^T and C_h[:, s'] = sum of phi(s, a)
    over observed transitions (s, a, s'), so that the ridge regression of any function f of the next state,
    Lambda_h^{-1} sum phi(s, a) f(s'), is Lambda_h^{-1} C_h f: O(d S) per alpha whatever the data size.
    """

    def __init__(self, env: LinearRMDP, B: int, mode: str, rho: np.ndarray, lam: float, eta: float,
                 beta: float, n_alpha: int, ridge: float):
        if mode not in ("policy", "value"):
            raise ValueError(f"mode must be 'policy' or 'value', got {mode!r}")
        self.env, self.B, self.mode, self.lam, self.eta, self.beta = env, B, mode, lam, eta, beta
        self.rho = np.broadcast_to(np.asarray(rho, dtype=float), (B,)).copy()
        H, S, A, d = env.H, env.S, env.A, env.d
        self.alpha = np.linspace(0.0, H, n_alpha)  # the dual variable's grid on [0, H]
        self.Lam = np.broadcast_to(ridge * np.eye(d), (B, H, d, d)).copy()
        self.C = np.zeros((B, H, d, S))
        self.logref = np.full(A, -np.log(A))
        self.logpi = np.broadcast_to(self.logref, (B, H, S, A)).copy()  # pi_1 = pi_ref

    def observe(self, h: int, s: np.ndarray, a: np.ndarray, s_next: np.ndarray) -> None:
        """Add one transition per run at step h (index 0..H-1)."""
        f = self.env.phi[s, a]  # (B, d)
        self.Lam[:, h] += f[:, :, None] * f[:, None, :]
        self.C[np.arange(self.B), h, :, s_next] += f

    def optimistic_q(self) -> np.ndarray:
        """Q_hat_h(s, a) = min(H - h + 1, r + phi^T z_h + beta ||phi||_{Lambda_h^{-1}}), h = H..1, with
        V_hat the regularized value of the current policy (policy mode) or max_a Q_hat (value mode)."""
        env = self.env
        H = env.H
        Qs = np.zeros((self.B, H, env.S, env.A))
        V = np.zeros((self.B, env.S))
        for h in range(H - 1, -1, -1):
            inv = np.linalg.inv(self.Lam[:, h])  # (B, d, d)
            width = np.sqrt(np.einsum("sad,bde,sae->bsa", env.phi, inv, env.phi))
            z = estimate_factor_values(inv, self.C[:, h], V, self.alpha, self.rho)
            Q = env.reward[None] + np.einsum("sad,bd->bsa", env.phi, z) + self.beta * width
            Q = np.minimum(Q, H - h)  # H - h + 1 with h counted from 1
            Q[:, env.fail] = 0.0
            Qs[:, h] = Q
            if self.mode == "policy":
                V = (np.exp(self.logpi[:, h]) * Q).sum(axis=-1)
                if self.lam > 0:
                    V = V - self.lam * _kl(self.logpi[:, h], self.logref)
            else:
                V = Q.max(axis=-1)
            V[:, env.fail] = 0.0
        return Qs

    def update(self) -> None:
        """pi_{k+1} from the data so far: mirror descent on Q_hat^{pi_k} or greedy in Q_hat."""
        Q = self.optimistic_q()
        if self.mode == "policy":
            self.logpi = mirror_descent_update(self.logpi, Q, self.eta, self.lam, self.logref)
        else:
            self.logpi = greedy_logpi(Q)


def greedy_logpi(Q: np.ndarray) -> np.ndarray:
    """log of the greedy policy in Q, uniform over tied maximisers (the clipped Q_hat = H - h + 1 of unexplored
    actions ties often; a first-index argmax would hand one action an arbitrary head start)."""
    best = Q >= Q.max(axis=-1, keepdims=True) - 1e-12
    pi = best / best.sum(axis=-1, keepdims=True)
    return np.log(np.where(best, pi, 1e-300))


def sample_episode(env: LinearRMDP, logpi: np.ndarray, rng: np.random.Generator
                   ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One episode per run in the nominal environment: [(s_h, a_h, s_{h+1}) for h = 1..H]."""
    B = logpi.shape[0]
    P = env.kernel(0.0)
    s = np.full(B, env.start)
    out = []
    idx = np.arange(B)
    for h in range(env.H):
        cp = np.cumsum(np.exp(logpi[idx, h, s]), axis=-1)
        a = np.minimum((rng.random(B)[:, None] > cp).sum(axis=-1), env.A - 1)
        cq = np.cumsum(P[s, a], axis=-1)
        s_next = np.minimum((rng.random(B)[:, None] > cq).sum(axis=-1), env.S - 1)
        out.append((s, a, s_next))
        s = s_next
    return out
