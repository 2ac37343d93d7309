"""Reference curves of spec 33 on the experiment's grids (all `given` constants, nothing fitted).

- `napt(J)`: E_b^NAPT(14, J) in cm^-1 (Roueff et al. 2019 table 2, NAPT of Pachucki & Komasa), the values the
  abstract says the measurement agrees with (spec V2).
- `napt_tolerance(J, side)`: E_b^NAPT(14, J) -/+ 0.3 cm^-1, the spec's V2 tolerance, drawn around dE_b = 0.
- `as_band(side)`: the spec's coarse bracket [0.25, 0.30] a0 around the abstract's a_s (V3).
"""

from __future__ import annotations

NAPT_V14 = {0: 144.796918, 1: 127.636154, 2: 94.945800, 3: 50.239807, 4: 0.027328}
V2_TOL = 0.3
AS_BAND = (0.25, 0.30)


def napt(J: int) -> float:
    """E_b^NAPT(v = 14, J) in cm^-1."""
    return NAPT_V14[J]


def napt_tolerance(side: str) -> float:
    """The V2 band on dE_b = E_b - E_b^NAPT: -0.3 (lower) or +0.3 (upper) cm^-1."""
    return -V2_TOL if side == "lower" else V2_TOL


def as_band(side: str) -> float:
    """The V3 bracket on the tuned a_s (a0)."""
    return AS_BAND[0] if side == "lower" else AS_BAND[1]
