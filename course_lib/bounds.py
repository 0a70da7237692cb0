"""The InfoNCE bound on data whose mutual information is known (notebook 11, benchmarks/beyond.py).

x and c are d-dimensional standard Gaussians correlated dimension by dimension, c = rho x + sqrt(1 - rho^2) eps,
so I(x; c) = -d/2 log(1 - rho^2) nats. The best InfoNCE critic is the density ratio p(c | x) / p(c)
(van den Oord et al. 2018, Section 2.3), known here in closed form, so log N - L_N measures the bound itself.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def gaussian_pairs(n: int, d: int, mi: float, generator: torch.Generator | None = None, *, sets: int | None = None):
    """n pairs (x, c) of d-dimensional standard Gaussians, correlated per dimension so that I(x; c) = mi nats; and rho.

    x and c are (n, d), or (sets, n, d) for `sets` independent sets at once."""
    if n < 1 or d < 1 or mi <= 0:
        raise ValueError(f"need n >= 1, d >= 1 and mi > 0, got n={n}, d={d}, mi={mi}")
    rho = math.sqrt(1 - math.exp(-2 * mi / d))
    shape = (n, d) if sets is None else (sets, n, d)
    x = torch.randn(shape, generator=generator)
    c = rho * x + math.sqrt(1 - rho ** 2) * torch.randn(shape, generator=generator)
    return x, c, rho


def best_critic(x: torch.Tensor, c: torch.Tensor, rho: float) -> torch.Tensor:
    """log p(c_j | x_i) - log p(c_j) for every anchor i and candidate j: (..., n, d) -> (..., n, n).

    The optimal InfoNCE critic."""
    var = 1 - rho ** 2
    diff = c.unsqueeze(-3) - rho * x.unsqueeze(-2)          # (..., n, n, d): [i, j] = c_j - rho x_i
    return (c.unsqueeze(-3) ** 2 / 2 - diff ** 2 / (2 * var)).sum(-1) - x.shape[-1] / 2 * math.log(var)


def infonce_estimate(n: int, mi: float, d: int, samples: int, generator: torch.Generator | None = None) -> float:
    """log N - L_N with the best critic, averaged over samples // n independent sets of N pairs (drawn in chunks)."""
    sets = max(1, samples // n)
    chunk = max(1, 2 ** 22 // (n * n * d))                  # sets per chunk: about 16 MB of critic terms
    losses = []
    for start in range(0, sets, chunk):
        x, c, rho = gaussian_pairs(n, d, mi, generator, sets=min(chunk, sets - start))
        scores = best_critic(x, c, rho)                        # (sets, n, n); the positive of row i is column i
        target = torch.arange(n).expand(len(scores), n)
        losses.append(F.cross_entropy(scores.transpose(1, 2), target, reduction="none").mean(dim=1))
    return math.log(n) - torch.cat(losses).mean().item()
