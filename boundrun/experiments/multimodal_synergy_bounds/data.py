"""The joint distributions of spec 05: reference tables, Dirichlet(1) tables (E1), bitwise synthetic datasets
(E2, exact by enumeration), finite samples of them (E3), and the real-data surrogate (E4).

Every table is p(x1, x2, y) with axes (X1, X2, Y).
"""

from __future__ import annotations

import numpy as np

REFERENCES = ("AND", "XOR", "COPY", "UNIQUE")
# spec 05 reference values (uniform inputs), bits
REFERENCE_VALUES = {
    "AND": {"R": 0.311, "U1": 0.0, "U2": 0.0, "S": 0.5},
    "XOR": {"R": 0.0, "S": 1.0},
    "COPY": {"R": 1.0, "S": 0.0},
    "UNIQUE": {"U1": 1.0, "S": 0.0},
}
OPS = ("and", "or", "xor", "unique1", "redundant", "redundant_and_unique", "mix", "notebook")
SPLITS = ("left_right", "top_bottom")


def reference_table(name: str) -> np.ndarray:
    """Two uniform bits; AND/XOR: y = x1 op x2; COPY: y = x1 = x2; UNIQUE: y = x1, x2 independent."""
    P = np.zeros((2, 2, 2))
    for x1 in range(2):
        for x2 in range(2):
            if name == "AND":
                P[x1, x2, x1 & x2] += 0.25
            elif name == "XOR":
                P[x1, x2, x1 ^ x2] += 0.25
            elif name == "UNIQUE":
                P[x1, x2, x1] += 0.25
            elif name == "COPY":
                if x1 == x2:
                    P[x1, x2, x1] += 0.5
            else:
                raise ValueError(f"unknown reference table {name!r}")
    return P


def dirichlet_tables(shape: tuple[int, int, int], n: int, rng: np.random.Generator, conc: float = 1.0) -> np.ndarray:
    """n joints drawn from Dirichlet(conc) on the |X1||X2||Y| cells (conc = 1: the notebook's normalised
    exponentials)."""
    k = int(np.prod(shape))
    return rng.dirichlet(np.full(k, conc), size=n).reshape(n, *shape)


def _sym(bits: np.ndarray) -> np.ndarray:
    """Three bits -> symbol sum_k bit_k 2^k (the repository's `group`)."""
    return bits[:, 0] + 2 * bits[:, 1] + 4 * bits[:, 2]


def bit_table(op: str, rho: float = 0.0) -> np.ndarray:
    """Exact p(x1, x2, y) of the bitwise dataset `op`: each modality 3 uniform bits (8 symbols), unnamed bits are
    nuisance; with probability rho the label is replaced by one drawn uniformly from its label set."""
    bits = (np.arange(64)[:, None] >> np.arange(6)) & 1
    x1, x2 = bits[:, :3].copy(), bits[:, 3:].copy()
    events: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []  # (prob, x1, x2, y) per input
    ny = 2
    if op == "and":
        y = x1[:, 0] & x2[:, 0]
    elif op == "or":
        y = x1[:, 0] | x2[:, 0]
    elif op == "xor":
        y = x1[:, 0] ^ x2[:, 0]
    elif op == "unique1":
        y = x1[:, 0]
    elif op == "redundant":
        x2 = x1.copy()
        y = x1[:, 0]
    elif op == "redundant_and_unique":
        x2[:, 0] = x1[:, 0]
        y, ny = 2 * x1[:, 0] + x1[:, 1], 4
    elif op == "mix":
        y, ny = 2 * (x1[:, 0] ^ x2[:, 0]) + x1[:, 1], 4
    elif op == "notebook":
        # x2[2] := x1[2]; y = parity of all six bits; then x2[2] -> 0 w.p. 0.5 and x2[0] -> 0 w.p. 0.7
        x2[:, 2] = x1[:, 2]
        y = (x1.sum(axis=1) + x2.sum(axis=1)) % 2
        for keep2, p2 in ((1, 0.5), (0, 0.5)):
            for keep0, p0 in ((1, 0.3), (0, 0.7)):
                xc = x2.copy()
                xc[:, 2] *= keep2
                xc[:, 0] *= keep0
                events.append((p2 * p0, x1, xc, y))
    else:
        raise ValueError(f"unknown operator {op!r}; choose from {list(OPS)}")
    if not events:
        events = [(1.0, x1, x2, y)]
    P = np.zeros((8, 8, ny))
    for w, a, b, yy in events:
        np.add.at(P, (_sym(a), _sym(b), yy), w / 64)
    return (1 - rho) * P + rho * P.sum(axis=2, keepdims=True) / ny


def empirical_tables(P: np.ndarray, n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """reps empirical joints of n labelled multimodal samples of P; D1, D2 and D_M are the three pairwise
    marginals of the same draw, so they are mutually consistent."""
    counts = rng.multinomial(n, P.ravel() / P.sum(), size=reps)
    return counts.reshape(reps, *P.shape) / n


# ------------------------------------------------------------------------------------------ E4 surrogate
def glyph_digits(n_images: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """8x8 greyscale digits (0..16, like sklearn's `digits`) rendered from the DejaVu Sans glyphs with a random
    affine distortion (scale, aspect, rotation, shear, shift) and pixel noise; labels cycle through 0..9."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path
    from matplotlib.textpath import TextPath

    prop = FontProperties(family="DejaVu Sans")
    glyphs = []
    for d in range(10):
        tp = TextPath((0, 0), str(d), size=1.0, prop=prop)
        v = tp.vertices
        lo, hi = v.min(axis=0), v.max(axis=0)
        glyphs.append(Path((v - (lo + hi) / 2) / (hi[1] - lo[1]), tp.codes))  # centred, unit height
    ss = 4  # 4x4 supersampling per pixel
    c = (np.arange(8 * ss) + 0.5) / (8 * ss) - 0.5
    gx, gy = np.meshgrid(c, -c)  # image rows run downwards, glyph y upwards
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    y = np.arange(n_images) % 10
    imgs = np.empty((n_images, 8, 8))
    for i in range(n_images):
        s = rng.uniform(0.7, 0.95)
        asp = rng.uniform(0.75, 1.25)
        th, sh = rng.normal(0, 0.15), rng.normal(0, 0.15)
        shift = rng.uniform(-0.08, 0.08, size=2)
        A = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) @ np.array([[1, sh], [0, 1]]) \
            @ np.diag([s * asp, s])
        g = (pts - shift) @ np.linalg.inv(A).T
        inside = glyphs[y[i]].contains_points(g).reshape(8, ss, 8, ss).mean(axis=(1, 3))
        imgs[i] = np.clip(np.rint(16 * inside + rng.normal(0, 1.0, size=(8, 8))), 0, 16)
    return imgs, y


def kmeans(X: np.ndarray, k: int, rng: np.random.Generator, n_init: int = 4, iters: int = 100) -> np.ndarray:
    """Lloyd's algorithm with k-means++ seeding; returns the labels of the best of n_init runs."""
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        C = [X[rng.integers(len(X))]]
        for _ in range(1, k):
            d2 = np.min(((X[:, None, :] - np.array(C)[None]) ** 2).sum(axis=2), axis=1)
            C.append(X[rng.choice(len(X), p=d2 / d2.sum())])
        C = np.array(C, dtype=float)
        labels = np.zeros(len(X), dtype=int)
        for it in range(iters):
            D = ((X[:, None, :] - C[None]) ** 2).sum(axis=2)
            new = D.argmin(axis=1)
            if it > 0 and (new == labels).all():
                break
            labels = new
            for j in range(k):
                if (labels == j).any():
                    C[j] = X[labels == j].mean(axis=0)
        inertia = ((X - C[labels]) ** 2).sum()
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def digits_table(imgs: np.ndarray, y: np.ndarray, split: str, k: int = 8) -> np.ndarray:
    """E4: X1, X2 = the two halves of every image, each discretised by KMeans(k, seed 0) fitted on all images;
    Y = the digit. Returns the exact joint of (cluster1, cluster2, digit) over the image set."""
    if split == "left_right":
        h1, h2 = imgs[:, :, :4], imgs[:, :, 4:]
    elif split == "top_bottom":
        h1, h2 = imgs[:, :4, :], imgs[:, 4:, :]
    else:
        raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    n = len(imgs)
    c1 = kmeans(h1.reshape(n, -1), k, np.random.default_rng(0))
    c2 = kmeans(h2.reshape(n, -1), k, np.random.default_rng(0))
    P = np.zeros((k, k, 10))
    np.add.at(P, (c1, c2, y), 1.0 / n)
    return P
