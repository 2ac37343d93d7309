"""The two Cramer-Rao bounds of paper 06 on the RTF (spec 06, `reconstructed` from the authors'
`bound_manager.crb_unconditional_kronecker_form` and `crb_conditional`; the paper's equation numbers could
not be read).

Both return the per-entry bound v[m, k] = Re(C_h)[n, n] on E|h_hat[m, k] - h[m, k]|^2 (reference entries
are 0); the scalar curve is CRB_MSE = mean_{m,k} v[m, k] and CRB_RMSE = sqrt(CRB_MSE).
"""

from __future__ import annotations

import numpy as np

RCOND = 1e-10  # relative cut-off of the pseudo-inverse (authors' `small_eigvas_threshold`)


def khatri_rao(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Column-wise Kronecker product: column n is kron(X[:, n], Y[:, n])."""
    return (X[:, None, :] * Y[None, :, :]).reshape(X.shape[0] * Y.shape[0], X.shape[1])


def rtf_jacobian(atf: np.ndarray) -> np.ndarray:
    """G = d h / d a (N x N, block diagonal over bins): in block k, row 0 = 0 and for m >= 1
    G_k[m, 0] = -a[m, k] / a[0, k]^2, G_k[m, m] = 1 / a[0, k]."""
    M, K = atf.shape
    G = np.zeros((M * K, M * K), dtype=complex)
    for k in range(K):
        o = k * M
        for m in range(1, M):
            G[o + m, o] = -atf[m, k] / atf[0, k] ** 2
            G[o + m, o + m] = 1 / atf[0, k]
    return G


def atf_to_rtf_bound(C_a: np.ndarray, atf: np.ndarray) -> np.ndarray:
    """v[m, k] = Re(G C_a G^H)[n, n] (C_a may be stacked: (..., N, N)); returns (..., M, K)."""
    M, K = atf.shape
    G = rtf_jacobian(atf)
    d = np.real(np.einsum("ij,...jk,ik->...i", G, C_a, G.conj()))
    d = np.maximum(d, 0.0)
    return np.swapaxes(d.reshape(*d.shape[:-1], K, M), -1, -2)


def fisher_unconditional(a: np.ndarray, R_s: np.ndarray, R_v: np.ndarray, L: int) -> np.ndarray:
    """Complex Slepian-Bangs FIM of y_l ~ CN(0, R_y), R_y = A R_s A^H + R_v, over the pair (a, a*):
    J_a = KhatriRao(conj(A) R_s^T, I_N), J_a* = KhatriRao(I_N, A R_s), F = L J^H (R_y^-T (x) R_y^-1) J."""
    N = a.size
    A = np.diag(a)
    R_y = A @ R_s @ A.conj().T + R_v
    Ri = np.linalg.pinv(R_y, rcond=RCOND, hermitian=True)
    I = np.eye(N)
    J = np.concatenate([khatri_rao(A.conj() @ R_s.T, I), khatri_rao(I, A @ R_s)], axis=1)
    return L * (J.conj().T @ np.kron(Ri.T, Ri) @ J)


def crb_unconditional(atf: np.ndarray, R_s: np.ndarray, R_v: np.ndarray, L: int) -> np.ndarray:
    """Unconditional (stochastic) CRB on the RTF, R_sK and R_v known: C_a = top-left N x N block of
    pinv(F) (pinv: a common phase is unidentifiable, so F is singular). Returns v (M, K)."""
    from boundrun.experiments.rtf_crb.algorithms import vec

    a = vec(atf)
    N = a.size
    F = fisher_unconditional(a, R_s, R_v, L)
    C_a = np.linalg.pinv(F, rcond=RCOND, hermitian=True)[:N, :N]
    return atf_to_rtf_bound(C_a, atf)


def fisher_conditional(R_v: np.ndarray, dry_gram: np.ndarray, M: int) -> np.ndarray:
    """F_c = sum_l S_l^H R_v^-1 S_l with S_l = diag(s_l^K (x) 1_M). Entry-wise
    F_c[i, j] = R_v^-1[i, j] conj(sum_l s_l[i] conj(s_l[j])), i.e. R_v^-1 o conj(Gram (x) 1 1^T);
    dry_gram (..., K, K) = sum_l s_l^K s_l^K^H. Returns (..., N, N)."""
    Ri = np.linalg.inv(R_v)
    gram = np.kron(dry_gram, np.ones((M, M)))
    return Ri * gram.conj()


def crb_conditional(atf: np.ndarray, R_v: np.ndarray, dry_gram: np.ndarray) -> np.ndarray:
    """Conditional (deterministic-signal) CRB of each realization: C_a = pinv(F_c), same transform G.
    dry_gram (S, K, K); returns v (S, M, K)."""
    M, _ = atf.shape
    F = fisher_conditional(R_v, dry_gram, M)
    return atf_to_rtf_bound(np.linalg.pinv(F, rcond=RCOND, hermitian=True), atf)


def scalar(v: np.ndarray) -> np.ndarray:
    """CRB_MSE = mean over all M K entries (the same averaging as the estimators' MSE)."""
    return np.mean(v, axis=(-2, -1))
