"""Data sets that several experiments share.

`make_digits`: a stand-in for scikit-learn's `digits` (not installed, nothing may be downloaded): 1797 8x8 grey
images of the digits 0-9, drawn from 5x7 glyphs at random offsets with random stroke strength, dropped pixels,
a light blur and pixel noise, scaled to [0, 1] like the spec's `digits / 16`. Used wherever a spec asks for
`sklearn.datasets.load_digits` (papers 28, 30, 35)."""

from __future__ import annotations

import numpy as np

GLYPHS = {
    0: (" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "),
    1: ("  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    2: (" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"),
    3: ("#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "),
    4: ("   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "),
    5: ("#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "),
    6: ("  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "),
    7: ("#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "),
    8: (" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "),
    9: (" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "),
}


def glyph(d: int) -> np.ndarray:
    return np.array([[ch == "#" for ch in row] for row in GLYPHS[d]], dtype=float)  # (7, 5)


def make_digits(rng: np.random.Generator, n: int = 1797) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 64) in [0, 1] with labels (n,) cycling through 0-9 (classes as balanced as digits')."""
    y = np.arange(n) % 10
    rng.shuffle(y)
    imgs = np.zeros((n, 8, 8))
    for k, d in enumerate(y):
        g = glyph(int(d)) * rng.uniform(0.6, 1.0, size=(7, 5)) * (rng.random((7, 5)) > 0.1)
        oy, ox = rng.integers(0, 2), rng.integers(0, 4)
        imgs[k, oy:oy + 7, ox:ox + 5] = g
    pad = np.pad(imgs, ((0, 0), (1, 1), (1, 1)))
    # 3x3 blur: half the mass stays, the rest spreads to the 8 neighbours (pen width of scanned digits)
    blur = 0.5 * imgs + 0.5 / 8 * sum(pad[:, 1 + dy:9 + dy, 1 + dx:9 + dx]
                                      for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
    out = np.clip(blur + 0.08 * rng.standard_normal(blur.shape), 0.0, None)
    out = np.round(16 * out / out.max(axis=(1, 2), keepdims=True)) / 16  # 17 grey levels, max 1
    return out.reshape(n, 64), y


def stratified_split(y: np.ndarray, test_frac: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): test_frac of every class goes to the test set."""
    tr, te = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(test_frac * len(idx)))
        te.append(idx[:k])
        tr.append(idx[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))
