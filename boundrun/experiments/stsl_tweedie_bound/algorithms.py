"""Gaussian-mixture diffusion prior with exact score/Hessian, the Hutchinson trace probe (paper Eq. 4), the
measurement operators, and the STSL / first-order / DPS-style samplers (surrogate of the paper's Algorithm 1,
decoder D = identity).

Notation follows spec 40: VP diffusion with abar_t (``ab``), prior p0 = sum_j pi_j N(m_j, S_j),
S_j = R_j diag(u_j) R_j^T, p_t = sum_j pi_j N(sqrt(ab) m_j, C_j), C_j = ab S_j + (1 - ab) I.
Everything in Part 1 is float64 numpy; the samplers use torch (float64) for autograd through the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG2PI = math.log(2.0 * math.pi)


# -- the DDPM schedule ---------------------------------------------------------------------------------

def alpha_bar(n_steps: int = 1000, beta_min: float = 1e-4, beta_max: float = 0.02) -> np.ndarray:
    """abar[t] for t = 0..n_steps (abar[0] = 1): linear beta from beta_min to beta_max over n_steps (DDPM)."""
    beta = np.linspace(beta_min, beta_max, n_steps)
    return np.concatenate([[1.0], np.cumprod(1.0 - beta)])


# -- the prior -----------------------------------------------------------------------------------------

@dataclass
class GMM:
    pi: np.ndarray  # (k,)
    m: np.ndarray  # (k, d) means
    R: np.ndarray  # (k, d, d) orthogonal eigenvectors of S_j
    u: np.ndarray  # (k, d) eigenvalues of S_j

    @property
    def d(self) -> int:
        return self.m.shape[1]

    @property
    def k(self) -> int:
        return self.m.shape[0]

    @property
    def S(self) -> np.ndarray:
        return np.einsum("jab,jb,jcb->jac", self.R, self.u, self.R)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        j = rng.choice(self.k, size=n, p=self.pi)
        z = rng.standard_normal((n, self.d)) * np.sqrt(self.u[j])
        return self.m[j] + np.einsum("nab,nb->na", self.R[j], z)


def random_rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))  # Haar: fix the signs of the QR factor


def make_prior(rng: np.random.Generator, d: int, k: int) -> GMM:
    """Spec 40: means ~ N(0, 4 I), S_j = R_j diag(u) R_j^T with u ~ U(0.05, 0.5), equal weights."""
    m = 2.0 * rng.standard_normal((k, d))
    u = rng.uniform(0.05, 0.5, size=(k, d))
    R = np.stack([random_rotation(rng, d) for _ in range(k)])
    return GMM(np.full(k, 1.0 / k), m, R, u)


# -- exact quantities of p_t (numpy, float64) ------------------------------------------------------------

def _components(g: GMM, x: np.ndarray, ab: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log pi_j N(x; sqrt(ab) m_j, C_j) (N, k), g_j = -C_j^{-1}(x - sqrt(ab) m_j) (N, k, d), lam (k, d)."""
    lam = ab * g.u + (1.0 - ab)  # eigenvalues of C_j (same eigenvectors R_j as S_j)
    diff = x[:, None, :] - math.sqrt(ab) * g.m[None]  # (N, k, d)
    z = np.einsum("nja,jab->njb", diff, g.R)  # coordinates in the eigenbasis
    logn = -0.5 * (np.sum(z**2 / lam, axis=-1) + np.sum(np.log(lam), axis=-1) + g.d * LOG2PI)
    gj = -np.einsum("jab,njb->nja", g.R, z / lam)
    return np.log(g.pi) + logn, gj, lam


def responsibilities(logw: np.ndarray) -> np.ndarray:
    w = logw - logw.max(axis=1, keepdims=True)
    w = np.exp(w)
    return w / w.sum(axis=1, keepdims=True)


def log_pt(g: GMM, x: np.ndarray, ab: float) -> np.ndarray:
    logw, _, _ = _components(g, x, ab)
    mx = logw.max(axis=1)
    return mx + np.log(np.exp(logw - mx[:, None]).sum(axis=1))


def score(g: GMM, x: np.ndarray, ab: float) -> np.ndarray:
    """s_t(x) = grad log p_t(x) = sum_j r_j g_j."""
    logw, gj, _ = _components(g, x, ab)
    r = responsibilities(logw)
    return np.einsum("nj,nja->na", r, gj)


def score_hessian(g: GMM, x: np.ndarray, ab: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s, H, r): H = sum_j r_j (g_j g_j^T - C_j^{-1}) - s s^T (spec 40, closed forms)."""
    logw, gj, lam = _components(g, x, ab)
    r = responsibilities(logw)
    s = np.einsum("nj,nja->na", r, gj)
    Cinv = np.einsum("jab,jb,jcb->jac", g.R, 1.0 / lam, g.R)
    H = (np.einsum("nj,nja,njb->nab", r, gj, gj) - np.einsum("nj,jab->nab", r, Cinv)
         - np.einsum("na,nb->nab", s, s))
    return s, H, r


def tweedie(x: np.ndarray, s: np.ndarray, H: np.ndarray | None, ab: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Tweedie moments of x0 | x_t: mean (x + (1-ab) s)/sqrt(ab); cov ((1-ab)/ab)(I + (1-ab) H)."""
    mean = (x + (1.0 - ab) * s) / math.sqrt(ab)
    if H is None:
        return mean, None
    d = x.shape[1]
    cov = ((1.0 - ab) / ab) * (np.eye(d) + (1.0 - ab) * H)
    return mean, cov


def posterior_components(g: GMM, x: np.ndarray, ab: float) -> tuple[np.ndarray, np.ndarray]:
    """x0 | x_t = sum_j r_j N(m_{j|t}, S_{j|t}): S_{j|t} = (S_j^{-1} + ab/(1-ab) I)^{-1} (k, d, d),
    m_{j|t} = S_{j|t}(S_j^{-1} m_j + sqrt(ab)/(1-ab) x_t) (N, k, d)."""
    post_u = 1.0 / (1.0 / g.u + ab / (1.0 - ab))  # eigenvalues of S_{j|t}
    S_post = np.einsum("jab,jb,jcb->jac", g.R, post_u, g.R)
    # S_j^{-1} m_j in the eigenbasis: R diag(1/u) R^T m
    a = np.einsum("jab,jb->ja", g.R, np.einsum("jba,jb->ja", g.R, g.m) / g.u)  # (k, d)
    rhs = a[None] + (math.sqrt(ab) / (1.0 - ab)) * x[:, None, :]  # (N, k, d)
    m_post = np.einsum("jab,njb->nja", S_post, rhs)
    return S_post, m_post


def mixture_moments(r: np.ndarray, S_post: np.ndarray, m_post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the mixture sum_j r_j N(m_post_j, S_post_j) (law of total covariance)."""
    mean = np.einsum("nj,nja->na", r, m_post)
    dev = m_post - mean[:, None, :]
    cov = np.einsum("nj,jab->nab", r, S_post) + np.einsum("nj,nja,njb->nab", r, dev, dev)
    return mean, cov


# -- the measurement -----------------------------------------------------------------------------------

OPERATORS = ("gauss", "subsample", "blur")


def blur_matrix(d: int) -> np.ndarray:
    """d x d circulant convolution with a normalised Gaussian kernel (std 1 sample, 5 taps), every second row."""
    off = np.arange(-2, 3)
    ker = np.exp(-0.5 * off**2)
    ker /= ker.sum()
    C = np.zeros((d, d))
    for i in range(d):
        for o, w in zip(off, ker, strict=True):
            C[i, (i + o) % d] += w
    return C[::2]


def make_operator(rng: np.random.Generator, kind: str, d: int, m: int) -> np.ndarray:
    """The m x d operator A of spec 40 (blur fixes m = d/2)."""
    if kind == "gauss":
        return rng.standard_normal((m, d)) / math.sqrt(d)
    if kind == "subsample":
        keep = np.sort(rng.choice(d, size=m, replace=False))
        return np.eye(d)[keep]
    if kind == "blur":
        return blur_matrix(d)
    raise ValueError(f"unknown operator {kind!r}")


def log_gauss(y: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(y; mu, cov) for rows y, mu (N, m) and one covariance (m, m)."""
    L = np.linalg.cholesky(cov)
    z = np.linalg.solve(L, (y - mu).T)
    return -0.5 * (np.sum(z**2, axis=0) + 2.0 * np.sum(np.log(np.diag(L))) + y.shape[1] * LOG2PI)


def exact_loglik(y: np.ndarray, A: np.ndarray, sigma_y: float, r: np.ndarray, S_post: np.ndarray,
                 m_post: np.ndarray) -> np.ndarray:
    """Q1 = log p_t(y | x_t) = log sum_j r_j N(y; A m_{j|t}, A S_{j|t} A^T + sigma_y^2 I)."""
    m = A.shape[0]
    terms = np.stack([log_gauss(y, m_post[:, j] @ A.T, A @ S_post[j] @ A.T + sigma_y**2 * np.eye(m))
                      for j in range(S_post.shape[0])], axis=1)
    with np.errstate(divide="ignore"):
        terms = terms + np.log(r)
    mx = terms.max(axis=1)
    return mx + np.log(np.exp(terms - mx[:, None]).sum(axis=1))


def hutchinson(g: GMM, x: np.ndarray, s: np.ndarray, ab: float, eps: np.ndarray, delta: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Finite-difference Hutchinson probes (paper Eq. 4) with probes eps (N, P, d).

    Returns (T_hat, cv): T_hat = mean_p eps^T (s(x + delta eps) - s(x)) / delta, the estimate of Tr H_t; and
    the control-variate form cv = mean_p eps^T [eps + (1-ab)(s(x + delta eps) - s(x))/delta], the estimate of
    d + (1-ab) Tr H_t (= ab/(1-ab) Tr Sigma) that keeps the probe's eps^T eps instead of its mean d."""
    N, P, d = eps.shape
    xs = (x[:, None, :] + delta * eps).reshape(N * P, d)
    ds = (score(g, xs, ab).reshape(N, P, d) - s[:, None, :]) / delta
    quad = np.sum(eps * ds, axis=-1)  # (N, P)
    T_hat = quad.mean(axis=1)
    cv = (np.sum(eps * eps, axis=-1) + (1.0 - ab) * quad).mean(axis=1)
    return T_hat, cv


# -- the exact posterior p(x0 | y) ------------------------------------------------------------------------

def exact_posterior(g: GMM, A: np.ndarray, y: np.ndarray, sigma_y: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p(x0 | y) = sum_j w_j N(mu_j, V_j) for one y (m,): Gaussian conditioning of each component."""
    S = g.S
    m = A.shape[0]
    logw, mus, Vs = [], [], []
    for j in range(g.k):
        B = A @ S[j] @ A.T + sigma_y**2 * np.eye(m)
        K = np.linalg.solve(B, A @ S[j]).T  # S A^T B^{-1}
        logw.append(math.log(g.pi[j]) + log_gauss(y[None], (A @ g.m[j])[None], B)[0])
        mus.append(g.m[j] + K @ (y - A @ g.m[j]))
        V = S[j] - K @ A @ S[j]
        Vs.append(0.5 * (V + V.T))
    lw = np.array(logw)
    w = np.exp(lw - lw.max())
    return w / w.sum(), np.array(mus), np.array(Vs)


def sample_mixture(rng: np.random.Generator, w: np.ndarray, mus: np.ndarray, Vs: np.ndarray, n: int) -> np.ndarray:
    j = rng.choice(len(w), size=n, p=w)
    L = np.linalg.cholesky(Vs + 1e-12 * np.eye(Vs.shape[1]))
    return mus[j] + np.einsum("nab,nb->na", L[j], rng.standard_normal((n, Vs.shape[1])))


# -- distances ----------------------------------------------------------------------------------------------

def w2_exact(X: np.ndarray, Y: np.ndarray) -> float:
    """Exact W2 between two equal-size uniform empirical measures (an assignment problem, = POT emd2)."""
    from scipy.optimize import linear_sum_assignment

    C = np.sum(X**2, 1)[:, None] + np.sum(Y**2, 1)[None] - 2.0 * X @ Y.T
    i, j = linear_sum_assignment(C)
    return float(math.sqrt(max(C[i, j].mean(), 0.0)))


def w2_sliced(X: np.ndarray, Y: np.ndarray, rng: np.random.Generator, n_proj: int = 200) -> float:
    """Sliced W2 (equal sizes): mean over random directions of the 1-D W2^2 of sorted projections."""
    th = rng.standard_normal((X.shape[1], n_proj))
    th /= np.linalg.norm(th, axis=0)
    px, py = np.sort(X @ th, axis=0), np.sort(Y @ th, axis=0)
    return float(math.sqrt(np.mean((px - py) ** 2)))


# -- the samplers (torch) -------------------------------------------------------------------------------------

class TorchGMM:
    """The closed-form score of p_t in torch (float64), differentiable in x."""

    def __init__(self, g: GMM) -> None:
        import torch

        self.torch = torch
        self.pi = torch.tensor(g.pi)
        self.m = torch.tensor(g.m)
        self.R = torch.tensor(g.R)
        self.u = torch.tensor(g.u)
        self.nfe = 0

    def score(self, x, ab: float):  # noqa: ANN001, ANN201
        torch = self.torch
        self.nfe += 1
        lam = ab * self.u + (1.0 - ab)
        diff = x[:, None, :] - math.sqrt(ab) * self.m[None]
        z = torch.einsum("nja,jab->njb", diff, self.R)
        logw = torch.log(self.pi) - 0.5 * (torch.sum(z**2 / lam, -1) + torch.sum(torch.log(lam), -1))
        r = torch.softmax(logw, dim=1)
        gj = -torch.einsum("jab,njb->nja", self.R, z / lam)
        return torch.einsum("nj,nja->na", r, gj)


def ddim_times(n_steps: int, T: int = 1000) -> np.ndarray:
    """The DDIM time grid, noisiest first: T, T - T/n, ..., T/n (then a final step to abar = 1)."""
    return np.round(np.linspace(T, T / n_steps, n_steps)).astype(int)


def run_sampler(g: GMM, A: np.ndarray, y: np.ndarray, lam: np.ndarray, rng: np.random.Generator, abar: np.ndarray,
                n_steps: int, K: int, eta: float, delta: float = 1.0) -> tuple[np.ndarray, int]:
    """STSL surrogate (eta > 0), first-order (eta = 0), DPS-style (K = 1): returns (samples (n, d), NFE).

    Every particle i has its own measurement y[i] (m,) and step size lam[i] = c / sigma_y^2, so one batch
    runs several measurements, noise levels and step sizes at once (the particles do not interact).
    Per DDIM time t: K updates x_t <- x_t - lam grad L(y, x_t) with
    L = ||y - A x0_bar(x_t)||^2 + (eta/d) eps^T (s_t(x_t + delta eps) - s_t(x_t)) / delta  (paper Eq. 4, fresh eps),
    then one deterministic DDIM step (eta_DDIM = 0). Start: x_tilde = A^+ y diffused to the first DDIM time.
    NFE counts score evaluations of one particle."""
    import torch

    tg = TorchGMM(g)
    n, d = y.shape[0], g.d
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    At = torch.tensor(A)
    yt = torch.tensor(y)
    lam_t = torch.tensor(np.asarray(lam, dtype=float))[:, None]
    times = ddim_times(n_steps)
    x_tilde = torch.tensor(y @ np.linalg.pinv(A).T)
    ab1 = float(abar[times[0]])
    x = math.sqrt(ab1) * x_tilde + math.sqrt(1.0 - ab1) * torch.randn(n, d, generator=gen, dtype=torch.float64)
    for i, t in enumerate(times):
        ab = float(abar[t])
        ab_prev = float(abar[times[i + 1]]) if i + 1 < len(times) else 1.0
        for _ in range(K):
            x = x.detach().requires_grad_(True)
            s = tg.score(x, ab)
            x0 = (x + (1.0 - ab) * s) / math.sqrt(ab)
            loss = torch.sum((yt - x0 @ At.T) ** 2)
            if eta > 0:
                eps = torch.randn(n, d, generator=gen, dtype=torch.float64)
                T_hat = torch.sum(eps * (tg.score(x + delta * eps, ab) - s), dim=1) / delta
                loss = loss + (eta / d) * torch.sum(T_hat)
            (grad,) = torch.autograd.grad(loss, x)
            x = (x - lam_t * grad).detach()
        with torch.no_grad():
            s = tg.score(x, ab)
            x0 = (x + (1.0 - ab) * s) / math.sqrt(ab)
            eps_hat = -math.sqrt(1.0 - ab) * s
            x = math.sqrt(ab_prev) * x0 + math.sqrt(1.0 - ab_prev) * eps_hat
    return x.numpy(), tg.nfe
