"""Radial Schrödinger equation for H2 (spec 33), atomic units (E_h, a0, m_e = 1).

    -(1/2mu) u''(R) + [V(R) + J(J+1)/(2 mu R^2)] u(R) = E u(R),   E_b = -E (in cm^-1) for E < 0.

Bound states: 3-point finite differences on R in (R0, R_max) with Dirichlet ends, eigenvalues by bisection
(`scipy.linalg.eigh_tridiagonal`), Richardson E = (4 E_{h/2} - E_h)/3 to cancel the O(h^2) error.
Scattering at E = 0: Numerov's recurrence, written as a product of 2x2 transfer matrices and multiplied in a
balanced tree (vectorised; the same numbers as the sequential recurrence up to rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HARTREE_CM = 219474.6313632  # 1 E_h in cm^-1 (spec)
M_P = 1836.15267343  # proton mass in m_e (spec)
R0 = 0.3  # inner end of every grid (a0), deep inside the repulsive wall


def reduced_mass(mass: str) -> float:
    """mu = m/2 with m = m_p (nuclear) or m = m_p + m_e (atomic: the crude non-adiabatic stand-in)."""
    if mass == "nuclear":
        return M_P / 2
    if mass == "atomic":
        return (M_P + 1.0) / 2
    raise ValueError(f"mass must be 'nuclear' or 'atomic', got {mass!r}")


@dataclass(frozen=True)
class Grid:
    """The interior FD nodes R_i = R0 + i h, i = 1..N-1, with V sampled once (the costly part)."""

    h: float
    R: np.ndarray
    V: np.ndarray

    @classmethod
    def make(cls, V: Callable[[np.ndarray], np.ndarray], h: float, R_max: float) -> Grid:
        n = int(round((R_max - R0) / h))
        R = R0 + h * np.arange(1, n)
        return cls(h, R, np.asarray(V(R), dtype=float))


def bump(R: np.ndarray) -> np.ndarray:
    """exp(-(R - 1.4)^2): the short-range shape of the second tuning recipe (spec: add lambda * bump to V)."""
    return np.exp(-((np.asarray(R, dtype=float) - 1.4) ** 2))


def fd_eigenvalues(g: Grid, J: int, mu: float, index: tuple[int, int] | None = None,
                   window: tuple[float, float] | None = None, shift: float = 0.0) -> np.ndarray:
    """Eigenvalues (E_h) of the 3-point FD Hamiltonian for V + shift * bump: by index range (lowest = 0) or
    inside an energy window."""
    from scipy.linalg import eigh_tridiagonal

    V = g.V + shift * bump(g.R) if shift else g.V
    d = 1.0 / (mu * g.h**2) + V + J * (J + 1) / (2 * mu * g.R**2)
    e = np.full(len(d) - 1, -1.0 / (2 * mu * g.h**2))
    if index is not None:
        return eigh_tridiagonal(d, e, eigvals_only=True, select="i", select_range=index)
    return eigh_tridiagonal(d, e, eigvals_only=True, select="v", select_range=window)


def richardson(E_h: np.ndarray, E_h2: np.ndarray) -> np.ndarray:
    """E = (4 E_{h/2} - E_h) / 3: removes the O(h^2) term of the 3-point scheme."""
    return (4.0 * np.asarray(E_h2) - np.asarray(E_h)) / 3.0


class LevelSolver:
    """Levels of one potential on a pair of grids (h, h/2); the grids are built once and reused for every J,
    mass and tuning parameter (mu only rescales the kinetic term)."""

    def __init__(self, V: Callable[[np.ndarray], np.ndarray], h: float, R_max: float, extrapolate: bool = True):
        self.extrapolate = extrapolate
        self.grids = [Grid.make(V, h, R_max)] + ([Grid.make(V, h / 2, R_max)] if extrapolate else [])

    def levels(self, J: int, mu: float, index: tuple[int, int], shift: float = 0.0) -> np.ndarray:
        """Energies (E_h) of levels v = index[0]..index[1] (Richardson-extrapolated when two grids)."""
        E = [fd_eigenvalues(g, J, mu, index=index, shift=shift) for g in self.grids]
        return richardson(*E) if self.extrapolate else E[0]

    def binding_energy(self, J: int, mu: float, v: int, shift: float = 0.0) -> float:
        """E_b(v, J) = -E in cm^-1 (negative: no bound level v; the FD box then returns a continuum state)."""
        return float(-self.levels(J, mu, (v, v), shift)[0] * HARTREE_CM)

    def count_bound(self, J: int, mu: float, lo: int = 12, hi: int = 17) -> int:
        """Number of bound vibrational levels (E < 0) for rotational quantum number J. Only levels lo..hi are
        computed (bisection cost grows with their number); if level lo is already unbound, all from 0."""
        E = self.levels(J, mu, (lo, hi))
        if E[0] >= 0 and lo > 0:
            return self.count_bound(J, mu, 0, hi)
        n = int((E < 0).sum())
        if n == len(E):
            raise ValueError(f"more than {hi + 1} bound levels for J={J}: raise hi")
        return lo + n


# -- zero-energy scattering -----------------------------------------------------------------------------

def _numerov_run(f: np.ndarray, h: float, w_prev: float, w_cur: float) -> tuple[np.ndarray, float]:
    """Sequential Numerov on the nodes of f (f[0] is the node of w_prev, f[1] of w_cur); returns u on every
    node and the last w before the end (to restart with another step). In w = (1 - h^2 f/12) u the scheme is
    w_{n+1} = c_n w_n - w_{n-1}, c_n = 2 + h^2 f_n / (1 - h^2 f_n/12). A plain loop: a product of transfer
    matrices in a tree loses the ~1e-10 relative precision that u/u' at R = 2000 a0 needs."""
    t = 1.0 - h * h * f / 12.0
    c = (2.0 + h * h * f / t).tolist()
    w = [w_prev, w_cur]
    for n in range(1, len(f) - 1):
        w.append(c[n] * w[-1] - w[-2])
    return np.array(w) / t, w[-2]


def numerov_zero_energy(V: Callable[[np.ndarray], np.ndarray], l: int, mu: float, h: float,
                        R_out: list[float], R_switch: float = 50.0, h_far: float = 0.05) -> np.ndarray:
    """u(R) at the radii R_out of the regular E = 0 solution of u'' = f u, f = 2 mu V + l(l+1)/R^2, started
    with u(R0) = 0 and a tiny u(R0 + h) (only ratios of u are used). Step h up to R_switch; beyond it, where
    only the weak dispersion tail acts, step h_far (R_switch and every R_out must sit on both grids)."""
    k = int(round(h_far / h))
    n1 = int(round((R_switch - R0) / h))
    R = R0 + h * np.arange(n1 + 1)
    u1, _ = _numerov_run(2 * mu * V(R) + l * (l + 1) / R**2, h, 0.0, 1e-30)
    # restart on the coarse grid from u at R_switch - h_far and R_switch
    n2 = int(round((max(R_out) - R_switch) / h_far))
    Rf = R_switch + h_far * np.arange(-1, n2 + 1)
    ff = 2 * mu * V(Rf) + l * (l + 1) / Rf**2
    tf = 1.0 - h_far * h_far * ff / 12.0
    u2, _ = _numerov_run(ff, h_far, u1[n1 - k] * tf[0], u1[n1] * tf[1])
    out = []
    for r in R_out:
        if r <= R_switch:
            out.append(u1[int(round((r - R0) / h))])
        else:
            out.append(u2[int(round((r - R_switch) / h_far)) + 1])
    return np.array(out)


def c6_effective(V: Callable[[np.ndarray], np.ndarray], R: float = 400.0) -> float:
    """-R^6 V(R) far out: the C6 that governs the tail (differs from C6 for a pure-R^-6 extension)."""
    return float(-V(np.array([R]))[0] * R**6)


def scattering_length(V: Callable[[np.ndarray], np.ndarray], mu: float, h: float = 0.002,
                      R_far: float = 2000.0) -> float:
    """s-wave: u -> (R - a_s) at large R; slope from two points 1 a0 apart (spec)."""
    u1, u2 = numerov_zero_energy(V, 0, mu, h, [R_far - 1.0, R_far])
    slope = u2 - u1
    return float(R_far - u2 / slope)


def scattering_volume(V: Callable[[np.ndarray], np.ndarray], mu: float, h: float = 0.002,
                      R_fit: tuple[float, float] = (360.0, 400.0)) -> float:
    """p-wave: fit u = A (R^2 - mu C6 / (2 R^2)) + B / R at two radii (the second term is the particular
    solution of the C6 tail acting on R^2), a_p = -B / (3A)."""
    u = numerov_zero_energy(V, 1, mu, h, list(R_fit))
    C6 = c6_effective(V)
    R = np.array(R_fit)
    M = np.stack([R**2 - mu * C6 / (2 * R**2), 1.0 / R], axis=1)
    A, B = np.linalg.solve(M, u)
    return float(-B / (3 * A))
