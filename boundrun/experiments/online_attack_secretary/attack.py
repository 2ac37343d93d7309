"""Part C: online transfer attacks on a stream of small images (surrogate for MNIST/CIFAR/ImageNet).

scikit-learn (and so `load_digits`) is not installed and nothing may be downloaded, so the 8x8 digits are
generated: ten hand-drawn 8x8 glyphs, each sample shifted by up to one pixel, with a random stroke
intensity, a random amount of 3x3 blur and Gaussian pixel noise, clipped to [0, 1] (1797 samples as in
`load_digits`). The models, training, FGSM/PGD and the item value (source-model cross-entropy on the
adversarial example [code LossTransform]) follow spec 10, Part C.
"""

from __future__ import annotations

import numpy as np

_GLYPHS = {
    0: ["..####..", ".#....#.", ".#....#.", ".#....#.", ".#....#.", ".#....#.", "..####..", "........"],
    1: ["...##...", "..###...", "...##...", "...##...", "...##...", "...##...", "..####..", "........"],
    2: ["..####..", ".#....#.", "......#.", ".....#..", "...##...", "..#.....", ".######.", "........"],
    3: [".#####..", "......#.", "......#.", "..####..", "......#.", "......#.", ".#####..", "........"],
    4: [".....#..", "....##..", "...#.#..", "..#..#..", ".######.", ".....#..", ".....#..", "........"],
    5: [".######.", ".#......", ".#####..", "......#.", "......#.", ".#....#.", "..####..", "........"],
    6: ["...###..", "..#.....", ".#......", ".#####..", ".#....#.", ".#....#.", "..####..", "........"],
    7: [".######.", "......#.", ".....#..", "....#...", "...#....", "...#....", "...#....", "........"],
    8: ["..####..", ".#....#.", ".#....#.", "..####..", ".#....#.", ".#....#.", "..####..", "........"],
    9: ["..####..", ".#....#.", ".#....#.", "..#####.", "......#.", ".....#..", "..###...", "........"],
}


def glyphs() -> np.ndarray:
    """(10, 8, 8) binary templates."""
    return np.array([[[ch == "#" for ch in row] for row in _GLYPHS[d]] for d in range(10)], dtype=float)


def make_digits(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n generated 8x8 digits, flattened to 64 pixels in [0, 1], and their labels (balanced)."""
    G = glyphs()
    y = np.arange(n) % 10
    rng.shuffle(y)
    canvas = np.zeros((n, 10, 10))
    dy, dx = rng.integers(-1, 2, size=n), rng.integers(-1, 2, size=n)
    for s in range(n):  # a shift of at most one pixel inside a 10x10 canvas
        canvas[s, 1 + dy[s]:9 + dy[s], 1 + dx[s]:9 + dx[s]] = G[y[s]]
    img = canvas[:, 1:9, 1:9] * rng.uniform(0.5, 1.0, size=(n, 1, 1))
    pad = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    blur = sum(pad[:, a:a + 8, b:b + 8] for a in range(3) for b in range(3)) / 9.0
    w = rng.uniform(0.0, 0.6, size=(n, 1, 1))
    img = (1 - w) * img + w * blur + noise * rng.standard_normal(img.shape)
    return np.clip(img, 0.0, 1.0).reshape(n, 64), y


def make_model(kind: str):  # noqa: ANN201 - torch module
    import torch.nn as nn

    if kind == "mlp":
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    if kind == "cnn":
        return nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)),
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64, 10),
        )
    raise ValueError(f"unknown model kind {kind!r}")


def train(model, X: np.ndarray, y: np.ndarray, epochs: int, lr: float, seed: int, batch: int = 64):  # noqa: ANN001, ANN201
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=g)
        for s in range(0, len(Xt), batch):
            idx = perm[s:s + batch]
            opt.zero_grad()
            F.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    return model


def _loss_grad(model, x, y):  # noqa: ANN001, ANN202
    import torch
    import torch.nn.functional as F

    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm(model, x, y, eps: float):  # noqa: ANN001, ANN201
    """x + eps sign(grad_x CE), clipped to the pixel range."""
    return (x + eps * _loss_grad(model, x, y).sign()).clamp(0.0, 1.0).detach()


def pgd(model, x, y, eps: float, steps: int, gen):  # noqa: ANN001, ANN201
    """L-inf PGD: uniform start in the eps-ball, `steps` signed steps of eps/10, projection onto the ball
    and clipping to [0, 1] after every step."""
    import torch

    alpha = eps / 10
    xa = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0.0, 1.0)
    for _ in range(steps):
        xa = xa + alpha * _loss_grad(model, xa, y).sign()
        xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0.0, 1.0).detach()
    return xa


def per_item_loss(model, x, y) -> np.ndarray:  # noqa: ANN001
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none").numpy().astype(float)


def misclassified(model, x, y) -> np.ndarray:  # noqa: ANN001
    import torch

    with torch.no_grad():
        return (model(x).argmax(dim=1) != y).numpy()
