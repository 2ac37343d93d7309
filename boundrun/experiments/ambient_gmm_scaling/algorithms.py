"""Learning a k-atomic mixing distribution from samples with known, unequal noise scales (spec 49).

Model: x_i = theta_{z_i} + s_i xi_i, z_i ~ w, xi_i ~ N(0, I_d), s_i >= 1 known.
Estimator (spec 49 "Experiment", steps 1-4; Doss-Wu-Yang-Zhou 2021 PCA + Wu-Yang 2020 DMM):
  1. mu_hat = sum s_i^-2 x_i / sum s_i^-2
  2. M_hat = sum omega_i [(x_i - mu_hat)(x_i - mu_hat)^T - s_i^2 I] / sum omega_i, omega_i ~ s_i^-4;
     V = top (k - 1) eigenvectors (only for d > 1)
  3. y_i = V^T (x_i - mu_hat); m_j = sum omega_ij s_i^j He_j(y_i / s_i) / sum omega_ij, omega_ij ~ s_i^(-2j);
     atoms = roots of the orthogonal polynomial (Hankel system), weights from the Vandermonde system
  4. pi_hat = sum w_j delta_{mu_hat + V a_j}; W1(pi_hat, pi) by exact optimal transport.
Every array function works on a batch of R replicates in lock-step (leading axis R).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Instance:
    """A k-atomic mixing distribution pi = sum_j w_j delta_{theta_j} in R^d."""

    name: str
    theta: np.ndarray  # (k, d)
    w: np.ndarray  # (k,)

    @property
    def d(self) -> int:
        return self.theta.shape[1]

    @property
    def k(self) -> int:
        return self.theta.shape[0]


def instance(name: str, rng: np.random.Generator | None = None, d_high: int = 50) -> Instance:
    """The spec's instances I1 (well separated), I2 (close) and I3 (d = 50, atoms +-0.5 e, random unit e)."""
    w = np.array([0.4, 0.6])
    if name == "I1":
        return Instance(name, np.array([[-0.5], [0.8]]), w)
    if name == "I2":
        return Instance(name, np.array([[-0.25], [0.35]]), w)
    if name == "I3":
        rng = rng if rng is not None else np.random.default_rng(0)
        e = rng.standard_normal(d_high)
        e /= np.linalg.norm(e)
        return Instance(name, np.stack([-0.5 * e, 0.5 * e]), w)
    raise ValueError(f"unknown instance {name!r}")


def sample(inst: Instance, s: np.ndarray, R: int, rng: np.random.Generator) -> np.ndarray:
    """R replicates of the data set: x_i = theta_{z_i} + s_i xi_i. Returns (R, n, d)."""
    n = len(s)
    z = rng.random((R, n)) < inst.w[1] if inst.k == 2 else rng.choice(inst.k, size=(R, n), p=inst.w)
    z = z.astype(int)
    X = rng.standard_normal((R, n, inst.d))
    X *= s[None, :, None]
    X += inst.theta[z]
    return X


# -- step 3: denoised method of moments in one dimension ----------------------------------------------

def hermite_moments(y: np.ndarray, s: np.ndarray, k: int, denoise: bool = True) -> np.ndarray:
    """m_j, j = 0..2k-1: weighted means of s^j He_j(y / s), unbiased for E[a^j] when y = a + s Z.

    y: (R, n), s: (n,). Weights omega_ij ~ s_i^(-2j) (inverse variance of the j-th moment, spec 49).
    denoise=False is the broken variant (negative control): raw moments y^j, noise not removed."""
    from numpy.polynomial import hermite_e as He

    R = y.shape[0]
    m = np.empty((R, 2 * k))
    m[:, 0] = 1.0
    t = y / s[None, :]
    for j in range(1, 2 * k):
        om = s ** (-2.0 * j)
        om = om / om.sum()
        if denoise:
            c = np.zeros(j + 1)
            c[j] = 1.0
            v = s[None, :] ** j * He.hermeval(t, c)
        else:
            v = y**j
        m[:, j] = v @ om
    return m


def dmm_k2(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Atoms and weights of a 2-atomic distribution from moments m_0..m_3 (vectorised over rows).

    Hankel system [[m0, m1], [m1, m2]] c = -[m2, m3]; atoms = roots of x^2 + c1 x + c0; weights from
    [[1, 1], [a1, a2]] w = [1, m1], clipped to [0, 1]. A non-positive Hankel determinant (variance
    m2 - m1^2 <= 0) collapses the estimate to one atom at m1."""
    m0, m1, m2, m3 = (m[:, j] for j in range(4))
    det = m0 * m2 - m1**2
    ok = det > 0
    safe = np.where(ok, det, 1.0)
    c0 = (-m2 * m2 + m1 * m3) / safe  # Cramer's rule
    c1 = (-m0 * m3 + m1 * m2) / safe
    disc = np.maximum(c1**2 - 4 * c0, 0.0)  # >= 0 whenever det > 0 (real roots of an orthogonal polynomial)
    a1 = (-c1 - np.sqrt(disc)) / 2
    a2 = (-c1 + np.sqrt(disc)) / 2
    gap = np.where(a2 > a1, a2 - a1, 1.0)
    w2 = np.clip((m1 - a1) / gap, 0.0, 1.0)
    w2 = np.where(a2 > a1, w2, 0.0)
    atoms = np.stack([np.where(ok, a1, m1), np.where(ok, a2, m1)], axis=1)
    weights = np.stack([np.where(ok, 1 - w2, 1.0), np.where(ok, w2, 0.0)], axis=1)
    return atoms, weights


def dmm_generic(m: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One replicate, any k (reference implementation for tests): solve the k x k Hankel system
    sum_l c_l m_{i+l} = -m_{i+k}, roots of x^k + sum c_l x^l, weights from the Vandermonde system."""
    H = np.array([[m[i + j] for j in range(k)] for i in range(k)])
    c = np.linalg.solve(H, -np.array([m[i + k] for i in range(k)]))
    atoms = np.sort(np.roots(np.concatenate([[1.0], c[::-1]])).real)
    Vd = np.vander(atoms, k, increasing=True).T
    w = np.clip(np.linalg.solve(Vd, m[:k]), 0.0, 1.0)
    return atoms, w


# -- steps 1-2 and the whole estimator ----------------------------------------------------------------

def estimate(X: np.ndarray, s: np.ndarray, k: int = 2, denoise: bool = True
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole estimator on R replicates X (R, n, d) with noise scales s (n,).

    Returns atoms (R, k, d), weights (R, k) and the estimated direction V (R, d) (the top eigenvector of
    M_hat; for d = 1 simply +1)."""
    if k != 2:
        raise ValueError("only k = 2 is implemented (k = 3 needs the 2-D projection of Doss et al.)")
    R, n, d = X.shape
    w_mu = s**-2.0
    mu = np.einsum("rnd,n->rd", X, w_mu / w_mu.sum())  # step 1
    Y = X - mu[:, None, :]
    if d == 1:
        V = np.ones((R, 1))
        y = Y[:, :, 0]
    else:
        om = s**-4.0
        om = om / om.sum()
        M = np.matmul((Y * om[None, :, None]).transpose(0, 2, 1), Y) - (om @ s**2) * np.eye(d)  # step 2
        _, vecs = np.linalg.eigh(M)
        V = vecs[:, :, -1]  # top (k - 1) = 1 eigenvector
        y = np.einsum("rnd,rd->rn", Y, V)
    m = hermite_moments(y, s, k, denoise)  # step 3
    a, wt = dmm_k2(m)
    atoms = mu[:, None, :] + a[:, :, None] * V[:, None, :]  # step 4
    return atoms, wt, V


def sin_angle(V: np.ndarray, e: np.ndarray) -> np.ndarray:
    """sin of the angle between the estimated direction V (R, d) and the unit vector e."""
    c = np.abs(V @ e) / np.linalg.norm(V, axis=1)
    return np.sqrt(np.clip(1 - c**2, 0.0, 1.0))


# -- W1 between two finitely supported measures ---------------------------------------------------------

def w1_two_atoms(a: np.ndarray, p: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Exact W1 between sum_j p_j delta_{a_j} and sum_j q_j delta_{b_j}, two atoms each, Euclidean cost.

    a (R, 2, d), p (R, 2), b (2, d), q (2,). The couplings form a segment parametrised by t = mass
    a1 -> b1 in [max(0, p1 + q1 - 1), min(p1, q1)]; the cost is linear in t, so an endpoint is optimal."""
    C = np.linalg.norm(a[:, :, None, :] - b[None, None, :, :], axis=-1)  # (R, 2, 2)
    p1 = p[:, 0] / p.sum(axis=1)
    q1 = q[0] / q.sum()

    def cost(t: np.ndarray) -> np.ndarray:
        return (t * C[:, 0, 0] + (p1 - t) * C[:, 0, 1] + (q1 - t) * C[:, 1, 0]
                + (1 - p1 - q1 + t) * C[:, 1, 1])

    return np.minimum(cost(np.maximum(0.0, p1 + q1 - 1)), cost(np.minimum(p1, q1)))


def w1_linprog(a: np.ndarray, p: np.ndarray, b: np.ndarray, q: np.ndarray) -> float:
    """Reference: exact W1 between two discrete measures by the transport linear program (one replicate)."""
    from scipy.optimize import linprog

    ka, kb = len(p), len(q)
    C = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1).ravel()
    A = np.zeros((ka + kb, ka * kb))
    for i in range(ka):
        A[i, i * kb:(i + 1) * kb] = 1
    for j in range(kb):
        A[ka + j, j::kb] = 1
    res = linprog(C, A_eq=A, b_eq=np.concatenate([p / p.sum(), q / q.sum()]), bounds=(0, None), method="highs")
    return float(res.fun)


def run_scales(inst: Instance, n: int, s_list: list[float], R: int, rng: np.random.Generator,
               denoise: bool = True, max_block: float = 4e6) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """W1 and sin-angle of R replicates of n samples at every homogeneous noise scale s in s_list.

    Common random numbers: one draw of (z_i, xi_i) per replicate serves every s (x_i = theta_z + s xi_i),
    so ratios across s are paired. Replicates run in memory-bounded blocks."""
    B = max(1, int(max_block // (n * inst.d)))
    e = inst.theta[1] - inst.theta[0]
    e = e / np.linalg.norm(e)
    out: dict[float, tuple[list, list]] = {s: ([], []) for s in s_list}
    for r0 in range(0, R, B):
        b = min(B, R - r0)
        z = (rng.random((b, n)) < inst.w[1]).astype(int)
        xi = rng.standard_normal((b, n, inst.d))
        th = inst.theta[z]
        for s in s_list:
            sv = np.full(n, float(s))
            atoms, wt, V = estimate(th + s * xi, sv, inst.k, denoise)
            out[s][0].append(w1_two_atoms(atoms, wt, inst.theta, inst.w))
            out[s][1].append(sin_angle(V, e))
    return {s: (np.concatenate(a), np.concatenate(b)) for s, (a, b) in out.items()}


def mixture_conditions(inst: Instance, N: int, n_clean: int, s_list: list[float], R: int,
                       rng: np.random.Generator, denoise: bool = True, max_block: float = 4e6
                       ) -> dict[tuple[str, float], np.ndarray]:
    """E4 (spec 49): W1 of all_clean (N clean), clean10 (n_clean clean only), noisy100 (N noisy) and mix
    (n_clean clean + N - n_clean noisy) for every noise scale s, with common random numbers: the clean
    subset is shared by clean10, mix and all_clean, and every noisy set uses the same standard draws."""
    out: dict[tuple[str, float], list[np.ndarray]] = {}
    B = max(1, int(max_block // (3 * N * inst.d)))
    for r0 in range(0, R, B):
        b = min(B, R - r0)
        z = (rng.random((b, 2 * N)) < inst.w[1]).astype(int)
        xi = rng.standard_normal((b, 2 * N, inst.d))
        th = inst.theta[z]
        clean = th[:, :N] + xi[:, :N]  # the first n_clean of them are the shared clean subset
        sets = {"all_clean": (clean, np.ones(N)), "clean10": (clean[:, :n_clean], np.ones(n_clean))}
        for s in s_list:
            noisy = th[:, N:] + s * xi[:, N:]
            sm = np.concatenate([np.ones(n_clean), np.full(N - n_clean, s)])
            sets_s = {"noisy100": (noisy, np.full(N, s)),
                      "mix": (np.concatenate([clean[:, :n_clean], noisy[:, n_clean:]], axis=1), sm)}
            for name, (X, sv) in {**sets, **sets_s}.items():
                atoms, wt, _ = estimate(X, sv, inst.k, denoise)
                out.setdefault((name, s), []).append(w1_two_atoms(atoms, wt, inst.theta, inst.w))
    return {key: np.concatenate(v) for key, v in out.items()}


def clt_mean_w1(inst: Instance, s: float, n: int, R: int, rng: np.random.Generator) -> float:
    """Asymptotic reference for d = 1 and homogeneous s: mean W1 of the DMM when the Hermite moments are
    replaced by their Gaussian limit N(m, Sigma(s) / n), Sigma computed exactly by Gauss-Hermite quadrature.

    For homogeneous s the estimator is shift-equivariant (He_j(x + c) = sum_l C(j, l) He_l(x) c^(j-l)), so
    centring at mu_hat changes nothing and the raw-coordinate moments can be used."""
    from numpy.polynomial import hermite_e as He

    if inst.d != 1:
        raise ValueError("the moment CLT reference is for d = 1")
    x, wq = He.hermegauss(30)
    wq = wq / np.sqrt(2 * np.pi)
    Y = (inst.theta[:, :1] + s * x[None, :]).ravel()
    W = (inst.w[:, None] * wq[None, :]).ravel()
    F = np.stack([Y, Y**2 - s**2, Y**3 - 3 * s**2 * Y])  # s^j He_j(Y / s), j = 1..3
    m = F @ W
    Sigma = (F * W) @ F.T - np.outer(m, m)
    M = m + rng.multivariate_normal(np.zeros(3), Sigma / n, size=R)
    atoms, wt = dmm_k2(np.c_[np.ones(R), M])
    return float(w1_two_atoms(atoms[:, :, None], wt, inst.theta, inst.w).mean())
