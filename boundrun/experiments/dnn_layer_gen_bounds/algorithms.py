"""Algorithms of paper 01 (spec 01): the Gaussian noisy linear network with its noisy class-mean-difference
readout (Part A) and the Dropout / DropConnect channels (Part B).

Part A notation: U = Y X ~ N(m, sigma_x^2 I), T_k = A_k T_{k-1} + N_k, N_k ~ N(0, s^2 I) fresh at every pass,
w = (1/n) sum_j Y_j T_L^(j),train + xi, loss phi(y w^T t_L) with phi(u) = 1 / (1 + e^u).
"""

from __future__ import annotations

import numpy as np


def make_network(widths: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Fixed random linear maps A_k in R^{d_k x d_{k-1}}, entries N(0, 1 / d_{k-1}) (not trained)."""
    return [rng.normal(0.0, 1.0 / np.sqrt(widths[k - 1]), size=(widths[k], widths[k - 1]))
            for k in range(1, len(widths))]


def phi(u: np.ndarray) -> np.ndarray:
    """The loss phi(u) = 1 / (1 + e^u) in [0, 1]."""
    from scipy.special import expit

    return expit(-u)


def gauss_expect(mu: np.ndarray, sd: np.ndarray, nodes: int) -> np.ndarray:
    """E phi(mu + sd Z), Z ~ N(0, 1), by probabilists' Gauss-Hermite quadrature (elementwise)."""
    x, wts = np.polynomial.hermite_e.hermegauss(nodes)
    wts = wts / np.sqrt(2 * np.pi)
    return phi(mu[..., None] + sd[..., None] * x) @ wts


def train_readout(rng: np.random.Generator, R: int, n: int, BL: np.ndarray, SL: np.ndarray, m: np.ndarray,
                  sigma_x: float, sigma_xi: float) -> tuple[np.ndarray, np.ndarray]:
    """R independent training sets: returns z_i = B_L U_i (R, n, d_L) and the readout w (R, d_L).

    Sufficient statistics are drawn exactly: Y_j T_L^(j),train = B_L U_j + nu_j with nu_j ~ N(0, Sigma_L)
    (the sign Y_j leaves the centred Gaussian noise law unchanged), so w = mean_j z_j + nu_bar + xi with
    nu_bar ~ N(0, Sigma_L / n), independent of the evaluation noise."""
    dL = BL.shape[0]
    z = BL @ m + sigma_x * rng.standard_normal((R, n, BL.shape[1])) @ BL.T  # U_i ~ N(m, sigma_x^2 I)
    nu_bar = rng.standard_normal((R, dL)) @ np.linalg.cholesky(SL / n).T
    xi = sigma_xi * rng.standard_normal((R, dL))
    return z, z.mean(axis=1) + nu_bar + xi


def risks(z: np.ndarray, w: np.ndarray, BL: np.ndarray, SL: np.ndarray, m: np.ndarray, sigma_x: float,
          nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Test risk E phi(G), G ~ N(w^T B_L m, w^T(sigma_x^2 B_L B_L^T + Sigma_L) w), and train risk
    (1/n) sum_i E phi(G_i), G_i ~ N(w^T z_i, w^T Sigma_L w) (fresh evaluation noise), per training set."""
    C_test = sigma_x**2 * BL @ BL.T + SL
    test = gauss_expect(w @ (BL @ m), np.sqrt(np.einsum("ri,ij,rj->r", w, C_test, w)), nodes)
    mu_i = np.einsum("rni,ri->rn", z, w)
    sd = np.sqrt(np.einsum("ri,ij,rj->r", w, SL, w))
    train = gauss_expect(mu_i, np.broadcast_to(sd[:, None], mu_i.shape), nodes).mean(axis=1)
    return test, train


def generalization_gap(rng: np.random.Generator, R: int, n: int, BL: np.ndarray, SL: np.ndarray, m: np.ndarray,
                       sigma_x: float, sigma_xi: float, nodes: int, chunk: int = 500) -> np.ndarray:
    """test risk - train risk of R independent training sets (chunked to bound memory)."""
    out = []
    for r0 in range(0, R, chunk):
        z, w = train_readout(rng, min(chunk, R - r0), n, BL, SL, m, sigma_x, sigma_xi)
        test, train = risks(z, w, BL, SL, m, sigma_x, nodes)
        out.append(test - train)
    return np.concatenate(out)


# -- Part B: Dropout / DropConnect channels ----------------------------------------------------------------

def _merge_outputs(u: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Labels of the distinct output points (rows of u): points within `tol` (max-norm) share a label.

    Sorted sweep along the first coordinate, then single linkage inside each run of close first coordinates."""
    order = np.argsort(u[:, 0], kind="stable")
    labels = np.full(len(u), -1)
    nxt = 0
    breaks = np.flatnonzero(np.diff(u[order, 0]) > tol) + 1
    for run in np.split(order, breaks):
        sub = u[run]
        for a in range(len(run)):
            if labels[run[a]] >= 0:
                continue
            close = np.max(np.abs(sub - sub[a]), axis=1) <= tol
            labels[run[close & (labels[run] < 0)]] = nxt
            nxt += 1
    return labels


def channel_matrix(t: np.ndarray, W: np.ndarray, p: float, mask: str) -> np.ndarray:
    """Row-stochastic K[x, y] = P(output y | input t_x) of a Dropout or DropConnect layer, by enumeration.

    Dropout: u = W (M . t) / (1 - p), M in {0,1}^d; DropConnect: u = (M . W) t / (1 - p), M in {0,1}^{d' x d}.
    P(M_j = 0) = p for every mask entry."""
    n_in, d = t.shape
    d_out = W.shape[0]
    n_bits = d if mask == "dropout" else d * d_out
    if mask not in ("dropout", "dropconnect"):
        raise ValueError(f"mask must be dropout or dropconnect, got {mask!r}")
    bits = ((np.arange(2**n_bits)[:, None] >> np.arange(n_bits)) & 1).astype(float)  # (masks, n_bits), 1 = kept
    prob = np.prod(np.where(bits == 1, 1 - p, p), axis=1)
    if mask == "dropout":
        u = np.einsum("oj,mj,xj->xmo", W, bits, t) / (1 - p)
    else:
        Mw = bits.reshape(-1, d_out, d) * W
        u = np.einsum("moj,xj->xmo", Mw, t) / (1 - p)
    labels = _merge_outputs(u.reshape(-1, d_out)).reshape(n_in, -1)
    K = np.zeros((n_in, labels.max() + 1))
    for x in range(n_in):
        np.add.at(K[x], labels[x], prob)
    return K


def contraction_ratios(K: np.ndarray, P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """r = KL(P K || Q K) / KL(P || Q) for each row pair of (P, Q)."""
    from boundrun.experiments.dnn_layer_gen_bounds.bounds import kl_discrete

    return kl_discrete(P @ K, Q @ K) / kl_discrete(P, Q)


def dobrushin_tv(K: np.ndarray) -> float:
    """eta_TV = max over input pairs of TV(K_x, K_x') (an independent check of the Doeblin coefficients)."""
    diff = np.abs(K[:, None, :] - K[None, :, :]).sum(axis=-1) / 2
    return float(diff.max())
