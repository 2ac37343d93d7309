"""H2 X1Sigma_g+ potential curves V(R) relative to H(1s) + H(1s), in hartree (E_h) and bohr (a0).

Data that ships here (see the package docstring for why the spec's `atomictrit` tables are not used):
- `mielke`: the global analytic Born–Oppenheimer fit of Mielke et al. (damped C6/C8/C10 dispersion plus an
  exponential times a degree-16 polynomial in R - R_e), the form and coefficients used by the etomica
  simulation package (`P1HydrogenMielke`, "H2 singlet potential for FCI/CBS").
- `sims`: the Born–Oppenheimer energies of Sims & Hagstrom, J. Chem. Phys. 124, 094101 (2006), Table VI,
  R = 0.4–6.0 a0, cubic spline, joined smoothly to the `mielke` curve over 5–6 a0 (outside the table).
- `mielke_disp12`: `mielke` up to 12 a0, then the undamped dispersion tail -C6/R^6 - C8/R^8 - C10/R^10 (the
  spec's "Wolniewicz-only with tail from 12 a0" variant; the spec's default joins its tail at 20 a0).
- `mielke_r6tail` (not in the default set): `mielke` continued beyond 12 a0 by V(12)(12/R)^6, a pure R^-6 tail
  whose effective C6 is 16% too large — a deliberately wrong long-range variant that no short-range tuning
  can repair (the negative control of the universality claims).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Yan et al. (1996) dispersion coefficients (spec), atomic units
C6, C8, C10 = 6.499027, 124.3991, 3285.828

_MIELKE_BETA = 0.2
_MIELKE_RE = 1.401
_MIELKE_ALPHA = 3.980917850296971
_MIELKE_C = np.array([
    -1.709663318869429e-1, -6.675286769482015e-1, -1.101876055072129e0, -1.106460095658282e0,
    -7.414724284525231e-1, -3.487882731923523e-1, -1.276736255756598e-1, -5.875965709151867e-2,
    -4.030128017933840e-2, -2.038653237221007e-2, -7.639198558462706e-4, 2.912954920483885e-3,
    -2.628273116815280e-4, -4.622088855684211e-4, 1.278468948126147e-4, -1.157434070240206e-5,
    -2.609691840882097e-12,
])

# Sims & Hagstrom (2006) Table VI: total BO energies (E_h), atoms at -1
_SH_R = np.array([0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2,
                  2.3, 2.4, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 3.9, 4.0, 4.2,
                  4.4, 4.6, 4.8, 5.0, 5.2, 5.4, 5.6, 5.8, 6.0])
_SH_E = np.array([
    -0.1202303411778644, -0.5266387587423172, -0.7696354294853568, -0.9220274615270152, -1.0200566663601389,
    -1.0836432399585087, -1.1245397195465791, -1.1500573677382885, -1.1649352434400281, -1.17234714903778,
    -1.1744757142200755, -1.1728550795781447, -1.1685833733709263, -1.1624587268978088, -1.1550687376108071,
    -1.146850697028721, -1.1381329571315035, -1.1291638360999721, -1.1201321168476391, -1.1111817652026448,
    -1.1024226060092978, -1.0939381299535998, -1.0857912373935887, -1.0780284841810479, -1.0706832334784095,
    -1.0637780088027916, -1.0573262688692439, -1.0513337722644516, -1.0457996614287338, -1.0407173653475985,
    -1.0360753951869195, -1.031858084851223, -1.0280463083758766, -1.0246181884071472, -1.0215497955299109,
    -1.0188158276928498, -1.0163902529471283, -1.0123599596799189, -1.0092565162586632, -1.0068952238201211,
    -1.0051160060980952, -1.0037856585819889, -1.0027968163095431, -1.0020650572082353, -1.0015252518853549,
    -1.0011278808513214, -1.0008357076542279,
])


def dispersion(R: np.ndarray) -> np.ndarray:
    """Undamped long-range tail -C6/R^6 - C8/R^8 - C10/R^10 (E_h)."""
    R = np.asarray(R, dtype=float)
    return -C6 / R**6 - C8 / R**8 - C10 / R**10


def mielke(R: np.ndarray) -> np.ndarray:
    """Mielke et al. analytic BO curve: damped dispersion + exp(-alpha x) sum_i c_i x^i, x = R - R_e."""
    R = np.asarray(R, dtype=float)
    damp = 1.0 - np.exp(-_MIELKE_BETA * R**2)
    inv = damp / R  # damping acts on 1/R so that the tail stays finite as R -> 0
    long = -C6 * inv**6 - C8 * inv**8 - C10 * inv**10
    x = R - _MIELKE_RE
    short = np.exp(-_MIELKE_ALPHA * x) * np.polynomial.polynomial.polyval(x, _MIELKE_C)
    return long + short


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * t * (10 - 15 * t + 6 * t * t)  # C2 switch, so V'' has no jump in the Numerov/FD operator


def sims(R: np.ndarray) -> np.ndarray:
    """Sims–Hagstrom table (spline) inside 5 a0, `mielke` beyond 6 a0, C2 switch in between; below the
    table (R < 0.4, deep in the repulsive wall) `mielke` shifted to be continuous at 0.4."""
    from scipy.interpolate import CubicSpline

    R = np.asarray(R, dtype=float)
    spl = CubicSpline(_SH_R, _SH_E + 1.0)
    s = _smoothstep(R - 5.0)
    V = (1 - s) * spl(np.clip(R, _SH_R[0], _SH_R[-1])) + s * mielke(R)
    inner = R < _SH_R[0]
    V[inner] = mielke(R[inner]) + (spl(_SH_R[0]) - mielke(_SH_R[0]))
    return V


def mielke_disp12(R: np.ndarray, split: float = 12.0) -> np.ndarray:
    """`mielke` up to `split`, the undamped dispersion series beyond."""
    R = np.asarray(R, dtype=float)
    return np.where(R <= split, mielke(R), dispersion(np.maximum(R, split)))


def mielke_r6tail(R: np.ndarray, split: float = 12.0) -> np.ndarray:
    """`mielke` up to `split`, then V(split) (split/R)^6."""
    R = np.asarray(R, dtype=float)
    return np.where(R <= split, mielke(R), mielke(np.array(split)) * (split / np.maximum(R, split)) ** 6)


POTENTIALS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mielke": mielke,
    "sims": sims,
    "mielke_disp12": mielke_disp12,
    "mielke_r6tail": mielke_r6tail,
}
