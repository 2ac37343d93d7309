"""Part B of spec 35: a mini NAS benchmark of MLPs on digits and the zero-cost metrics at initialisation.

GradSign (the authors' code, naswot-code/gradsign.py): with per-sample gradients g_i = grad_theta l_i(theta_0)
on one batch of N samples, GradSign = sum_k | sum_i sign(g_{i,k}) | over the weights of the Linear layers
(biases excluded); the zero-cost-nas variant averages over k. Baselines (zero-cost proxies, Abdelfattah et
al. 2021): grad_norm = sum over layers ||grad W||, snip = sum |W * grad W|, synflow = sum |W * grad W| of
R = 1^T (prod |W_l|) 1 on an all-ones input, #parameters and a random score.
Psi estimate for a network: for each of 32 samples, SGD on l_i alone from theta_0; the dispersion of the
endpoints (weights only) is the sample-wise Psi of bounds.psi.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

DEPTHS = (1, 2, 3, 4)
WIDTHS = (8, 16, 32, 64, 128, 256)
ACTIVATIONS = ("relu", "tanh", "sigmoid")
SPACE = tuple(itertools.product(DEPTHS, WIDTHS, ACTIVATIONS))  # 72 architectures


@dataclass(frozen=True)
class Arch:
    depth: int
    width: int
    act: str

    @property
    def label(self) -> str:
        return f"d{self.depth}w{self.width}{self.act}"


def sample_archs(k: int, seed: int = 0) -> list[Arch]:
    """k architectures of the search space, without replacement."""
    idx = np.random.default_rng(seed).choice(len(SPACE), size=k, replace=False)
    return [Arch(*SPACE[i]) for i in idx]


def build_mlp(a: Arch, d_in: int = 64, n_cls: int = 10) -> nn.Sequential:
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[a.act]
    layers: list[nn.Module] = []
    w_prev = d_in
    for _ in range(a.depth):
        layers += [nn.Linear(w_prev, a.width), act()]
        w_prev = a.width
    layers.append(nn.Linear(w_prev, n_cls))
    return nn.Sequential(*layers)  # default PyTorch init (Kaiming-uniform, a = sqrt 5)


def weight_names(model: nn.Module) -> list[str]:
    return [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)]


ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _copies(model: nn.Module, m: int) -> dict[str, torch.Tensor]:
    """m independent copies of theta_0 (leading dim m), as leaves that require grad."""
    return {k: v.detach().unsqueeze(0).repeat(m, *[1] * v.dim()).requires_grad_(True)
            for k, v in model.named_parameters()}


def _forward_copies(p: dict[str, torch.Tensor], X: torch.Tensor, act: str) -> torch.Tensor:
    """Copy i of the MLP applied to sample i: X (m, d_in) -> logits (m, n_cls), by batched matmuls."""
    names = sorted({k.rsplit(".", 1)[0] for k in p}, key=int)
    h = X[:, None, :]
    for j, layer in enumerate(names):
        h = h @ p[f"{layer}.weight"].transpose(1, 2) + p[f"{layer}.bias"][:, None, :]
        if j < len(names) - 1:
            h = ACT[act](h)
    return h[:, 0, :]


def _sample_grads(p: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, act: str) -> dict[str, torch.Tensor]:
    # the copies share nothing, so the gradient of the summed loss w.r.t. copy i is grad l_i at copy i
    loss = nn.functional.cross_entropy(_forward_copies(p, X, act), y, reduction="sum")
    return dict(zip(p, torch.autograd.grad(loss, list(p.values())), strict=True))


def per_sample_grads(model: nn.Module, X: torch.Tensor, y: torch.Tensor, act: str) -> dict[str, torch.Tensor]:
    """g_i = grad l_i(theta_0) for every sample of the batch: name -> (N, *shape)."""
    return _sample_grads(_copies(model, len(y)), X, y, act)


def gradsign(g: dict[str, torch.Tensor], names: list[str]) -> tuple[float, float]:
    """(sum_k |sum_i sign g_ik|, its mean over k) over the weights `names`."""
    per_k = torch.cat([g[n].sign().sum(dim=0).abs().flatten() for n in names])
    return float(per_k.sum()), float(per_k.mean())


def batch_metrics(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(grad_norm, snip) from the gradient of the batch cross-entropy at theta_0."""
    model.zero_grad()
    nn.functional.cross_entropy(model(X), y).backward()
    gn = sn = 0.0
    names = weight_names(model)
    for n, p in model.named_parameters():
        if n in names:
            gn += float(p.grad.norm())
            sn += float((p.detach() * p.grad).abs().sum())
    model.zero_grad()
    return gn, sn


def synflow(model: nn.Module, d_in: int = 64) -> float:
    """Data-free: every parameter replaced by its absolute value (float64), input all ones, R = sum of the
    outputs; score = sum over weights of |W * dR/dW|."""
    import copy

    m = copy.deepcopy(model).double()
    for p in m.parameters():
        p.data.abs_()
    R = m(torch.ones(1, d_in, dtype=torch.float64)).sum()
    R.backward()
    names = weight_names(m)
    return float(sum((p.detach() * p.grad).abs().sum() for n, p in m.named_parameters() if n in names))


def psi_estimate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int, lr: float, act: str) -> float:
    """Psi = (1/m) sum_i ||theta_i - mean||^2 over the weights, theta_i = `steps` of SGD on l_i from theta_0."""
    names = weight_names(model)
    p = _copies(model, len(y))  # one independent copy of theta per sample
    for _ in range(steps):
        g = _sample_grads(p, X, y, act)
        with torch.no_grad():
            p = {k: (p[k] - lr * g[k]).requires_grad_(True) for k in p}
    with torch.no_grad():
        w = {n: p[n].double() for n in names}  # the dispersion in float64
        return float(sum(((w[n] - w[n].mean(dim=0, keepdim=True)) ** 2).sum() for n in names) / len(y))


def train(model: nn.Module, Xtr: torch.Tensor, ytr: torch.Tensor, Xte: torch.Tensor, yte: torch.Tensor,
          epochs: int, lr: float, batch: int, gen: torch.Generator) -> tuple[float, float]:
    """Adam on the cross-entropy; returns (final train loss on the whole training set, test accuracy)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(ytr)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(Xtr[idx]), ytr[idx]).backward()
            opt.step()
    with torch.no_grad():
        loss = float(nn.functional.cross_entropy(model(Xtr), ytr))
        acc = float((model(Xte).argmax(dim=1) == yte).double().mean())
    return loss, acc


def score_architecture(a: Arch, Xb: torch.Tensor, yb: torch.Tensor, data: tuple, cfg: object,
                       gen: torch.Generator) -> dict[str, float]:
    """Every metric at initialisation, the Psi estimate, then training: one row of the mini benchmark."""
    model = build_mlp(a)
    names = weight_names(model)
    gs_sum, gs_mean = gradsign(per_sample_grads(model, Xb, yb, a.act), names)
    gn, sn = batch_metrics(model, Xb, yb)
    out = {
        "gradsign_sum": gs_sum, "gradsign_mean": gs_mean, "grad_norm": gn, "snip": sn, "synflow": synflow(model),
        "params": float(sum(p.numel() for p in model.parameters())),
        "psi": psi_estimate(model, Xb[:cfg.psi_samples], yb[:cfg.psi_samples], cfg.psi_steps, cfg.psi_lr, a.act),
    }
    out["train_loss"], out["test_acc"] = train(model, *data, cfg.epochs, cfg.lr, cfg.batch_size, gen)
    return out
