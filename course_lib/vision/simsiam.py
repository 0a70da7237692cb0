"""SimSiam (Chen & He, CVPR 2021): BYOL without the target network; the stop-gradient does the work.

One encoder f (backbone + projector) and a predictor h. With p = h(f(x1)) and z = f(x2), the loss
is the symmetric negative cosine similarity with a stop-gradient on z (SimSiam eq. 1 and 3):

    L = D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2,    D(p, z) = -cos(p, z)

Without the stop-gradient the loss is minimised by mapping every image to the same vector:
the representation collapses (SimSiam Figure 2), which notebook 08 shows.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from . import augment
from .heads import mlp


def neg_cosine(p: torch.Tensor, z: torch.Tensor, stop_gradient: bool = True) -> torch.Tensor:
    """D(p, z) = -mean cos(p_i, z_i), with z detached when stop_gradient (SimSiam eq. 1)."""
    if p.shape != z.shape or p.dim() != 2:
        raise ValueError(f"p and z must both be (N, D), got {tuple(p.shape)} and {tuple(z.shape)}")
    return -F.cosine_similarity(p, z.detach() if stop_gradient else z, dim=1).mean()


class SimSiam(nn.Module):
    """Encoder + projector f and predictor h trained on two views with a stop-gradient (optional, to show collapse)."""

    def __init__(self, encoder: nn.Module, *, proj_dim: int | None = None, pred_hidden: int | None = None,
                 stop_gradient: bool = True, augment_fn: Callable | None = None) -> None:
        super().__init__()
        d = encoder.dim
        proj_dim = proj_dim or d
        self.encoder = encoder
        self.projector = mlp([d, d, proj_dim], last_bn=True)                 # SimSiam's projector ends in BN
        self.predictor = mlp([proj_dim, pred_hidden or max(proj_dim // 4, 8), proj_dim])  # bottleneck h
        self.stop_gradient = stop_gradient
        self.augment = augment_fn or augment.simclr_augment()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projections z = f(x) of a batch of views, (B, proj_dim)."""
        return self.projector(self.encoder(x))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Symmetric negative cosine of each view's prediction against the other view's projection."""
        if len(x) < 2:
            raise ValueError(f"SimSiam needs at least 2 images per batch (BatchNorm), got {len(x)}")
        z1, z2 = self(torch.cat([self.augment(x), self.augment(x)])).chunk(2)
        p1, p2 = self.predictor(z1), self.predictor(z2)
        return (neg_cosine(p1, z2, self.stop_gradient) + neg_cosine(p2, z1, self.stop_gradient)) / 2
