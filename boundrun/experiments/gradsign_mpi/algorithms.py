"""Part A of spec 35: L2-regularised logistic regression, its sample-wise minima and its training optimum.

Per-sample loss l_i(theta) = log(1 + exp(-y_i x_i^T theta)) + (rho/2) ||theta||^2. Its gradient
-sigma(-y_i x_i^T theta) y_i x_i + rho theta vanishes only on the line theta = c y_i x_i, where the scalar c solves
rho c = sigma(-c ||x_i||^2) (a 1-D root in (0, 1/rho), found with brentq).
"""

from __future__ import annotations

import numpy as np


def sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))  # overflow-free logistic function


def make_data(rng: np.random.Generator, S: int, n: int, D: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    """S datasets: y uniform on {-1, +1}, x | y ~ N(y (r/2) e_1, I_D) (class means r apart). (S,n,D), (S,n)."""
    y = rng.choice(np.array([-1.0, 1.0]), size=(S, n))
    X = rng.standard_normal((S, n, D))
    X[..., 0] += y * r / 2
    return X, y


def per_sample_loss(theta_i: np.ndarray, X: np.ndarray, y: np.ndarray, rho: float) -> np.ndarray:
    """l_i(theta_i) for every sample i at its own point theta_i (..., n, D); returns (..., n)."""
    m = y * (X * theta_i).sum(axis=-1)
    return np.logaddexp(0.0, -m) + rho / 2 * (theta_i**2).sum(axis=-1)


def per_sample_grad(theta_i: np.ndarray, X: np.ndarray, y: np.ndarray, rho: float) -> np.ndarray:
    """grad l_i(theta_i) for every i (theta_i: (..., n, D)), computed from the full vector formula."""
    m = y * (X * theta_i).sum(axis=-1)
    return -(sigmoid(-m) * y)[..., None] * X + rho * theta_i


def sample_minimisers(X: np.ndarray, y: np.ndarray, rho: float, xtol: float = 1e-14) -> np.ndarray:
    """theta*_i = c_i y_i x_i with rho c = sigma(-c ||x_i||^2): one brentq per distinct ||x_i||^2."""
    from scipy.optimize import brentq

    s = (X**2).sum(axis=-1)
    flat = s.ravel()
    uniq, inv = np.unique(flat, return_inverse=True)
    c = np.empty_like(uniq)
    for k, sk in enumerate(uniq):
        # f(0) = -1/2 < 0 and f(1/rho) = 1 - sigma(.) > 0: a single root (f is increasing)
        c[k] = brentq(lambda t, sk=sk: rho * t - sigmoid(-t * sk), 0.0, 1.0 / rho, xtol=xtol, maxiter=500)
    c = c[inv].reshape(s.shape)
    return c[..., None] * y[..., None] * X


def train_loss(theta: np.ndarray, X: np.ndarray, y: np.ndarray, rho: float) -> np.ndarray:
    """L(theta) = (1/n) sum_i l_i(theta); theta (S, D), X (S, n, D) -> (S,)."""
    m = y * np.einsum("snd,sd->sn", X, theta)
    return np.logaddexp(0.0, -m).mean(axis=-1) + rho / 2 * (theta**2).sum(axis=-1)


def fit_lbfgs(X: np.ndarray, y: np.ndarray, rho: float) -> np.ndarray:
    """theta_hat = argmin L by L-BFGS from theta = 0 (one dataset: X (n, D), y (n,))."""
    from scipy.optimize import minimize

    n = len(y)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        m = y * (X @ theta)
        f = np.logaddexp(0.0, -m).mean() + rho / 2 * theta @ theta
        g = -(X.T @ (sigmoid(-m) * y)) / n + rho * theta
        return float(f), g

    res = minimize(fun, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B",
                   options={"maxiter": 5000, "gtol": 1e-12, "ftol": 1e-16, "maxcor": 30})
    return res.x


def population_loss(theta: np.ndarray, r: float, rho: float, nodes: int = 80) -> np.ndarray:
    """E l(theta) on fresh data, exactly: y x^T theta = (r/2) theta_1 + ||theta|| g with g ~ N(0, 1), so the
    expectation is a 1-D Gaussian integral (Gauss-Hermite with `nodes` nodes). theta (S, D) -> (S,)."""
    t, w = np.polynomial.hermite_e.hermegauss(nodes)  # weight exp(-t^2/2)
    w = w / w.sum()
    m = r / 2 * theta[:, :1] + np.linalg.norm(theta, axis=1, keepdims=True) * t[None, :]
    return (np.logaddexp(0.0, -m) * w).sum(axis=1) + rho / 2 * (theta**2).sum(axis=1)


def population_loss_mc(theta: np.ndarray, r: float, rho: float, rng: np.random.Generator, m: int = 100_000
                       ) -> float:
    """The same expectation from m fresh samples (x, y) (one theta (D,)); the spec's 10^5-sample estimate."""
    y = rng.choice(np.array([-1.0, 1.0]), size=m)
    X = rng.standard_normal((m, len(theta)))
    X[:, 0] += y * r / 2
    return float(np.logaddexp(0.0, -y * (X @ theta)).mean() + rho / 2 * theta @ theta)
