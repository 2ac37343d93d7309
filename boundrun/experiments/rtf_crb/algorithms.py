"""Data generator and the two RTF estimators of paper 06 (spec 06, reconstructed from the authors' code).

Notation (spec 06): M microphones, K one-sided bins, N = M K. An M x K array is stacked column-major into
a vector of length N (microphone index fastest), so entry (m, k) sits at n = k M + m and bin k owns the
rows k M .. k M + M - 1. Frame model: y_l = A s_l + v_l, A = diag(a), s_l = s_l^K (x) 1_M.

Everything is vectorised over Monte-Carlo realizations: covariance arrays have shape (S, N, N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = float(np.finfo(float).eps)


# -- generator ------------------------------------------------------------------------------------------

def draw_atf(rng: np.random.Generator, M: int, K: int) -> np.ndarray:
    """ATF (M, K): Re, Im i.i.d. U(-1, 1); per bin the microphone axis is rolled so that the entry of
    largest modulus becomes the reference microphone 0 (keeps |a[0, k]| away from 0); Re/Im clipped to +-20."""
    atf = rng.uniform(-1, 1, (M, K)) + 1j * rng.uniform(-1, 1, (M, K))
    for k in range(K):
        atf[:, k] = np.roll(atf[:, k], -int(np.argmax(np.abs(atf[:, k]))))
    return np.clip(atf.real, -20, 20) + 1j * np.clip(atf.imag, -20, 20)


def vec(X: np.ndarray) -> np.ndarray:
    """Column-major stacking of an (..., M, K) array into (..., M K), microphone index fastest."""
    return np.swapaxes(X, -1, -2).reshape(*X.shape[:-2], -1)


def unvec(x: np.ndarray, M: int) -> np.ndarray:
    """Inverse of `vec`: (..., M K) -> (..., M, K)."""
    K = x.shape[-1] // M
    return np.swapaxes(x.reshape(*x.shape[:-1], K, M), -1, -2)


def rtf_of(atf: np.ndarray) -> np.ndarray:
    """h[m, k] = a[m, k] / a[0, k] (microphone 0 is the reference)."""
    return atf / atf[..., :1, :]


def equicorrelated(n: int, rho: float, var: float = 0.5) -> np.ndarray:
    """var [(1 - rho) I + rho 1 1^T]."""
    return var * ((1 - rho) * np.eye(n) + rho * np.ones((n, n)))


def target_cov(rho_s: float, M: int, K: int, cross_bin: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """R_sK = 0.5 [(1 - rho_s) I_K + rho_s 1 1^T] and R_s = R_sK (x) 1_M 1_M^T. cross_bin=False keeps only
    the diagonal of R_sK (the spec's negative control for the CRB)."""
    R_sK = equicorrelated(K, rho_s)
    if not cross_bin:
        R_sK = np.diag(np.diag(R_sK))
    return R_sK, np.kron(R_sK, np.ones((M, M)))


def psd_clip(R: np.ndarray) -> np.ndarray:
    """Projection onto the PSD cone: negative eigenvalues set to 0."""
    lam, U = np.linalg.eigh(R)
    return (U * np.maximum(lam, 0)) @ U.conj().T


def noise_cov(a: np.ndarray, R_s: np.ndarray, M: int, K: int, kind: str, rho_v: float, snr_db: float,
              floor_db: float = 40.0) -> np.ndarray:
    """R_v (spec 06): "frequency" = N x N equicorrelated (variance 0.5, coefficient rho_v) with every entry
    between different microphones zeroed (only the same microphone correlates across bins), PSD-projected;
    "white" = identity. Scaled so that mean diag R_v = mean diag(A R_s A^H) / 10^(SNR/10), plus a sensor
    floor I mean diag(A R_s A^H) / 10^(floor/10)."""
    N = M * K
    if kind == "white":
        Q = np.eye(N)
    elif kind == "frequency":
        i, j = np.indices((N, N))
        Q = psd_clip(np.where((j - i) % M == 0, equicorrelated(N, rho_v), 0.0))
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    p_wet = float(np.mean(np.abs(a) ** 2 * np.real(np.diag(R_s))))  # mean diag(A R_s A^H)
    R_v = Q * (p_wet / 10 ** (snr_db / 10)) / float(np.mean(np.real(np.diag(Q))))
    return R_v + np.eye(N) * p_wet / 10 ** (floor_db / 10)


def sqrtm_psd(R: np.ndarray) -> np.ndarray:
    """Hermitian square root B with B B^H = R."""
    lam, U = np.linalg.eigh(R)
    return (U * np.sqrt(np.maximum(lam, 0))) @ U.conj().T


def cn(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """i.i.d. CN(0, 1): (z1 + j z2) / sqrt(2)."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


@dataclass
class Realizations:
    """Sufficient statistics of S realizations of L frames: the mixture sample covariance
    R_hat = (1/L) sum_l y_l y_l^H (S, N, N) and the dry Gram sum_l s_l^K s_l^K^H (S, K, K)."""

    R_hat: np.ndarray
    dry_gram: np.ndarray


def simulate(rng: np.random.Generator, a: np.ndarray, R_sK: np.ndarray, R_v: np.ndarray, M: int, L: int,
             S: int) -> Realizations:
    """Draw S realizations frame by frame: s_l^K = R_sK^(1/2) z, wet = A (s^K (x) 1_M), v = R_v^(1/2) w."""
    K = R_sK.shape[0]
    s_K = cn(rng, (S, L, K)) @ sqrtm_psd(R_sK).T  # rows: s_l^T = z^T (R^(1/2))^T
    w = cn(rng, (S, L, M * K))
    y = np.repeat(s_K, M, axis=-1) * a + w @ sqrtm_psd(R_v).T
    R_hat = np.swapaxes(y, 1, 2) @ y.conj() / L
    dry = np.swapaxes(s_K, 1, 2) @ s_K.conj()
    return Realizations(R_hat, dry)


def complex_wishart_identity(rng: np.random.Generator, d: int, L: int, S: int) -> np.ndarray:
    """S draws of W = sum_{l=1}^L z_l z_l^H, z_l ~ CN(0, I_d), i.e. complex Wishart CW_d(L, I).
    L >= d: Bartlett decomposition W = T T^H, T lower triangular with |T_ii|^2 ~ Gamma(L - i, 1)
    (i = 0..d-1) and T_ij ~ CN(0, 1) below the diagonal; L < d (singular W): the frames are drawn."""
    if L < d:
        Z = cn(rng, (S, L, d))
        return np.swapaxes(Z, 1, 2) @ Z.conj()
    T = np.tril(cn(rng, (S, d, d)), -1)
    idx = np.arange(d)
    T[:, idx, idx] = np.sqrt(rng.gamma(L - idx, 1.0, size=(S, d)))
    return T @ np.swapaxes(T.conj(), 1, 2)


def simulate_sufficient(rng: np.random.Generator, a: np.ndarray, R_sK: np.ndarray, R_v: np.ndarray, M: int, L: int,
                        S: int) -> Realizations:
    """The same statistics as `simulate`, drawn exactly without the frames: with z_l = [z_s; w] ~ CN(0, I_(K+N))
    every frame is y_l = T z_l, T = [A (R_sK^(1/2) (x) 1_M), R_v^(1/2)], and s_l^K = R_sK^(1/2) z_s, so
    R_hat = T W T^H / L and the dry Gram = R_sK^(1/2) W_ss R_sK^(1/2)^H with W ~ CW(L, I). The cost does
    not grow with L."""
    K = R_sK.shape[0]
    Rs_half = sqrtm_psd(R_sK)
    T = np.concatenate([a[:, None] * np.kron(Rs_half, np.ones((M, 1))), sqrtm_psd(R_v)], axis=1)
    W = complex_wishart_identity(rng, K + M * K, L, S)
    R_hat = T @ W @ T.conj().T / L
    dry = Rs_half @ W[:, :K, :K] @ Rs_half.conj().T
    return Realizations(R_hat, dry)


# -- estimators ----------------------------------------------------------------------------------------

def _normalize_ref(u: np.ndarray) -> np.ndarray:
    """Divide a vector (last axis = microphones) by its reference entry; a vanishing reference gives 0
    (as the authors' `normalize_to_1`), which never happens with probability > 0."""
    ref = u[..., :1]
    ok = np.abs(ref) > EPS
    return np.where(ok, u / np.where(ok, ref, 1.0), 0.0)


def covariance_whitening(R_hat: np.ndarray, R_v: np.ndarray, M: int) -> np.ndarray:
    """CW, the narrowband baseline: per bin k, C = chol(R_v,kk), W = C^-1 R_hat_k C^-H, u = principal
    eigenvector of W, a_hat = C u, h_hat = a_hat / a_hat[0]. Returns h_hat (S, M, K)."""
    S, N, _ = R_hat.shape
    K = N // M
    h = np.empty((S, M, K), dtype=complex)
    for k in range(K):
        b = slice(k * M, (k + 1) * M)
        C = np.linalg.cholesky(R_v[b, b])
        Ci = np.linalg.inv(C)
        W = Ci @ R_hat[:, b, b] @ Ci.conj().T
        _, U = np.linalg.eigh(W)
        h[:, :, k] = _normalize_ref(U[:, :, -1] @ C.T)  # (C u)^T = u^T C^T
    return h


def wet_covariance(R_hat: np.ndarray, R_v: np.ndarray, K: int, L: int, subtract: bool = True) -> np.ndarray:
    """The wet-covariance step of SVD-direct (authors' `estimate_cov_wet_gevd`, modality 'cholesky'):
    whiten with C = chol(R_v), keep the r = min(K, L) largest eigenpairs of W = C^-1 R_hat C^-H, replace
    lambda by max(lambda - 1, eps) (the -1 only if some kept lambda > 1), R_x = E E^H, E = C U_r diag(sqrt lambda).
    subtract=False skips the -1 (the whitened noise is left in R_x): a broken variant for negative controls."""
    C = np.linalg.cholesky(R_v)
    Ci = np.linalg.inv(C)
    lam, U = np.linalg.eigh(Ci @ R_hat @ Ci.conj().T)  # ascending
    r = min(K, L)
    lam, U = lam[:, -r:], U[:, :, -r:]
    if subtract:
        lam = np.where((lam > 1).any(axis=1, keepdims=True), lam - 1, lam)
    E = (C @ U) * np.sqrt(np.maximum(lam, EPS))[:, None, :]
    return E @ np.swapaxes(E.conj(), 1, 2)


def svd_direct(R_hat: np.ndarray, R_v: np.ndarray, M: int, L: int, subtract: bool = True) -> np.ndarray:
    """SVD-direct ('CW-SV' in the authors' code), the proposed wideband estimator: estimate the rank <= K
    wet covariance R_x, then for each bin k take its M x N row block B_k; h_hat_k = principal left singular
    vector of B_k over its reference entry. The principal left singular vector of B_k is the principal
    eigenvector of B_k B_k^H, computed batched. Returns h_hat (S, M, K)."""
    S, N, _ = R_hat.shape
    K = N // M
    R_x = wet_covariance(R_hat, R_v, K, L, subtract)
    B = R_x.reshape(S, K, M, N)  # B[:, k] = rows k M .. k M + M - 1
    _, U = np.linalg.eigh(B @ np.swapaxes(B.conj(), 2, 3))  # (S, K, M, M)
    return np.swapaxes(_normalize_ref(U[..., -1]), 1, 2)  # (S, K, M) -> (S, M, K)


def estimate(method: str, R_hat: np.ndarray, R_v: np.ndarray, M: int, L: int, subtract: bool = True) -> np.ndarray:
    """h_hat (S, M, K) of estimator `method` ("cw" or "svd_direct")."""
    if method == "cw":
        return covariance_whitening(R_hat, R_v, M)
    if method == "svd_direct":
        return svd_direct(R_hat, R_v, M, L, subtract)
    raise ValueError(f"unknown estimator {method!r}")


# -- error measures ------------------------------------------------------------------------------------

def squared_error(h_hat: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Per realization: mean over all (m, k) of |h_hat - h|^2 (reference entries contribute 0)."""
    return np.mean(np.abs(h_hat - h) ** 2, axis=(-2, -1))


def hermitian_angle(h_hat: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Per realization: mean over bins of arccos(|h_hat_k^H h_k| / (|h_hat_k| |h_k|)) in radians."""
    num = np.abs(np.sum(h_hat.conj() * h, axis=-2))
    den = np.linalg.norm(h_hat, axis=-2) * np.linalg.norm(h, axis=-2)
    c = np.clip(num / np.where(den > 0, den, 1.0), 0.0, 1.0)
    return np.mean(np.arccos(c), axis=-1)
