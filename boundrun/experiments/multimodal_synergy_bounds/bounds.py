"""The paper's three synergy bounds (spec 05, all `reconstructed` from the authors' bounds.py and re-derived).

All take a batch of joints P of shape (B, |X1|, |X2|, |Y|) but read only the three pairwise marginals
p(x1, y), p(x2, y) (labelled unimodal data) and p(x1, x2) (unlabelled multimodal data) -- apart from the PID
quantities R, U1, U2, which depend on the two labelled marginals only. Everything is in bits.

L1  S >= S_R = R - I(X1;X2) + max_i min_{r in Delta^(i)} I_r(X1;X2|Y)            (shared information)
L2  S >= S_D = c * alpha - max(U1, U2),  alpha = E_{p(x1,x2)} ||p(.|x1) - p(.|x2)||_2^2  (disagreement)
U   S <= S_bar = H(X1,X2) + H(Y) - H_lb - R - U1 - U2,  H_lb = max of three majorisation meets  (couplings)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from boundrun.experiments.multimodal_synergy_bounds.algorithms import LN2, PID, entropy, max_cond_entropy, mi

C_PINSKER = 1.0 / (8.0 * math.log(2.0))  # the provable constant of L2 (spec 05 proof: Pinsker + triangle)
C_NOTEBOOK = 0.25  # the authors' notebook rescales lower_diff by 1/4
C_RAW = 1.0  # the raw lower_diff of bounds.py


# ------------------------------------------------------------------------------------------ L1
@dataclass
class SharedBound:
    S_R: np.ndarray  # max over i of the two terms
    S_R_i: np.ndarray  # (B, 2) the i = 1 and i = 2 terms
    lower_U1: np.ndarray  # min_{r in Delta^(1)} I_r(X1;Y|X2) - U1 (the code's lower_U1)
    gap: np.ndarray  # (B,) worst optimality certificate of the two programs (bits)


def shared_information_bound(P: np.ndarray, pid: PID) -> SharedBound:
    """S_R from the marginals. On Delta^(i) = {r : r(x1,x2) = p(x1,x2), r(x_i,y) = p(x_i,y)},
    min I_r(X1;X2|Y) = H_p(X_i|Y) - max_r H_r(X_i | X_-i, Y): the BROJA program with target X_i."""
    I12 = mi(P, "1", "2")
    # i = 1: target X1, conditioners (X2, Y); P is already laid out (x1, x2, y)
    s1 = max_cond_entropy(P)
    r1 = s1.q
    # i = 2: target X2, conditioners (X1, Y)
    s2 = max_cond_entropy(np.swapaxes(P, 1, 2))
    r2 = np.swapaxes(s2.q, 1, 2)
    term1 = pid.R - I12 + mi(r1, "1", "2", "y")
    term2 = pid.R - I12 + mi(r2, "1", "2", "y")
    lower_U1 = mi(r1, "1", "y", "2") - pid.U1
    return SharedBound(S_R=np.maximum(term1, term2), S_R_i=np.stack([term1, term2], axis=1), lower_U1=lower_U1,
                       gap=np.maximum(s1.gap, s2.gap))


# ------------------------------------------------------------------------------------------ L2
def disagreement(P: np.ndarray) -> np.ndarray:
    """alpha = E_{p(x1,x2)} || p(.|x1) - p(.|x2) ||_2^2 with the Bayes-optimal unimodal posteriors."""
    p1y, p2y, p12 = P.sum(axis=2), P.sum(axis=1), P.sum(axis=3)
    p1, p2 = p1y.sum(axis=2, keepdims=True), p2y.sum(axis=2, keepdims=True)
    f1 = np.where(p1 > 0, p1y / np.where(p1 > 0, p1, 1.0), 0.0)  # (B, X1, Y)
    f2 = np.where(p2 > 0, p2y / np.where(p2 > 0, p2, 1.0), 0.0)  # (B, X2, Y)
    d2 = ((f1[:, :, None, :] - f2[:, None, :, :]) ** 2).sum(axis=3)  # (B, X1, X2)
    return (p12 * d2).sum(axis=(1, 2))


def disagreement_bound(alpha: np.ndarray, pid: PID, c: float) -> np.ndarray:
    """S_D = c alpha - max(U1, U2)."""
    return c * alpha - np.maximum(pid.U1, pid.U2)


# ------------------------------------------------------------------------------------------ U
def meet(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Greatest lower bound of the distributions a (B, n) and b (B, m) in the majorisation lattice.

    Sort both decreasingly, zero-pad to a common length + 1; the meet has partial sums min(A_j, B_j)
    (a minimum of two concave sequences is concave, so z is non-increasing and a distribution)."""
    L = max(a.shape[1], b.shape[1]) + 1
    A = np.cumsum(-np.sort(-np.pad(a, ((0, 0), (0, L - a.shape[1]))), axis=1), axis=1)
    Bc = np.cumsum(-np.sort(-np.pad(b, ((0, 0), (0, L - b.shape[1]))), axis=1), axis=1)
    Z = np.minimum(A, Bc)
    return np.maximum(np.diff(Z, axis=1, prepend=0.0), 0.0)


def coupling_entropy_lower(P: np.ndarray, how: str = "meet") -> np.ndarray:
    """H_lb <= H(X1, X2, Y): every joint is a coupling of (p(x1,x2), p(y)), (p(x1,y), p(x2)) and (p(x2,y), p(x1)),
    and a coupling's entropy is at least that of the meet of its two marginals (Cicalese-Gargano-Vaccaro).

    how="independent" returns H(X1,X2) + H(Y), the entropy of the *largest*-entropy coupling: not a lower
    bound, a broken variant for the negative control."""
    B = len(P)
    p12, py = P.sum(axis=3).reshape(B, -1), P.sum(axis=(1, 2))
    if how == "independent":
        return entropy(p12, (1,)) + entropy(py, (1,))
    if how != "meet":
        raise ValueError(f"unknown entropy lower bound {how!r}")
    p1y, p2 = P.sum(axis=2).reshape(B, -1), P.sum(axis=(1, 3))
    p2y, p1 = P.sum(axis=1).reshape(B, -1), P.sum(axis=(2, 3))
    h = [entropy(meet(x, y), (1,)) for x, y in ((p12, py), (p1y, p2), (p2y, p1))]
    return np.max(np.stack(h, axis=1), axis=1)


def upper_bound(P: np.ndarray, pid: PID, how: str = "meet") -> np.ndarray:
    """S_bar = max_{joints with marginals p(x1,x2), p(y)} I(X1,X2;Y) - R - U1 - U2, relaxed through H_lb."""
    B = len(P)
    H12 = entropy(P.sum(axis=3).reshape(B, -1), (1,))
    Hy = entropy(P.sum(axis=(1, 2)), (1,))
    return H12 + Hy - coupling_entropy_lower(P, how) - pid.R - pid.U1 - pid.U2


__all__ = ["C_NOTEBOOK", "C_PINSKER", "C_RAW", "LN2", "SharedBound", "coupling_entropy_lower", "disagreement",
           "disagreement_bound", "evaluate_tables", "meet", "shared_information_bound", "upper_bound"]


# ------------------------------------------------------------------------------------------ all at once
def evaluate_tables(P: np.ndarray, c: float = C_PINSKER, coupling: str = "broja", entropy_lb: str = "meet"
                    ) -> dict[str, np.ndarray]:
    """PID, the three bounds and their diagnostics for a batch of joints P (B, X1, X2, Y); values in bits."""
    from boundrun.experiments.multimodal_synergy_bounds.algorithms import pid as pid_of

    pid = pid_of(P, coupling)
    sb = shared_information_bound(P, pid)
    alpha = disagreement(P)
    return {
        "synergy": pid.S, "R": pid.R, "U1": pid.U1, "U2": pid.U2,
        "S_R": sb.S_R, "S_R_1": sb.S_R_i[:, 0], "lower_U1": sb.lower_U1, "alpha": alpha,
        "S_D": disagreement_bound(alpha, pid, c),
        "S_D_quarter": disagreement_bound(alpha, pid, C_NOTEBOOK),
        "S_D_one": disagreement_bound(alpha, pid, C_RAW),
        "S_bar": upper_bound(P, pid, entropy_lb),
        "solver_gap": np.maximum(pid.gap, sb.gap),
    }
