"""BYOL (Grill et al., NeurIPS 2020): predict a slowly moving target's projection; no negatives.

The online network (f_theta, g_theta, predictor q_theta) sees view v, the target network
(f_xi, g_xi) sees view v'. The loss is the squared distance of the normalised prediction and
target projection (BYOL eq. 2), symmetrised over the two views:

    L = || q_theta(z_theta) / ||q_theta(z_theta)|| - z'_xi / ||z'_xi|| ||^2 = 2 - 2 cos(q_theta(z_theta), z'_xi)

The target gets no gradient; it is an exponential moving average: xi <- tau xi + (1 - tau) theta,
with tau raised from tau_base to 1 along a cosine over training (BYOL section 3.2).
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from . import augment
from .heads import mlp
from .moco import momentum_update


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean of 2 - 2 cos(p_i, z_i) with z treated as a constant (stop-gradient on the target), (N, D) each."""
    if p.shape != z.shape or p.dim() != 2:
        raise ValueError(f"prediction and target must both be (N, D), got {tuple(p.shape)} and {tuple(z.shape)}")
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=1)).mean()


def ema_momentum(step: int, total_steps: int, base: float = 0.99) -> float:
    """BYOL's schedule: tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2 at step k of K (k = 0..K-1 in training).

    tau_base at k = 0 and 1 at k = K; BYOL.momentum_update passes the index of the step just done.
    """
    return 1 - (1 - base) * (math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)) + 1) / 2


class BYOL(nn.Module):
    """Online (encoder, projector, predictor) predicts the EMA target's projection of the other view."""

    def __init__(self, encoder: nn.Module, *, proj_dim: int = 128, hidden: int | None = None,
                 tau_base: float = 0.99, predictor: bool = True, augment_fn: Callable | None = None) -> None:
        super().__init__()
        d = encoder.dim
        hidden = hidden or 2 * d
        self.encoder = encoder                                               # f_theta
        self.projector = mlp([d, hidden, proj_dim])                          # g_theta
        # predictor=False removes q_theta: the lecture's collapse experiment (BYOL Table 5b).
        self.predictor = mlp([proj_dim, hidden, proj_dim]) if predictor else nn.Identity()
        self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)  # f_xi
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)  # g_xi
        self.tau_base, self.tau = tau_base, tau_base
        self.augment = augment_fn or augment.simclr_augment()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Online predictions q_theta(g_theta(f_theta(x))) for a batch of views, (B, proj_dim)."""
        return self.predictor(self.projector(self.encoder(x)))

    @torch.no_grad()
    def target(self, x: torch.Tensor) -> torch.Tensor:
        """Target projections g_xi(f_xi(x)), (B, proj_dim); no gradient."""
        return self.target_projector(self.target_encoder(x))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Symmetric BYOL loss: each view's prediction against the target's projection of the other view."""
        if len(x) < 2:
            raise ValueError(f"BYOL needs at least 2 images per batch (BatchNorm), got {len(x)}")
        v1, v2 = self.augment(x), self.augment(x)
        p1, p2 = self(torch.cat([v1, v2])).chunk(2)
        z1, z2 = self.target(torch.cat([v1, v2])).chunk(2)
        return byol_loss(p1, z2) + byol_loss(p2, z1)

    def momentum_update(self, step: int = 0, total_steps: int = 1) -> None:
        """xi <- tau xi + (1 - tau) theta with BYOL's cosine schedule for tau; call after every step.

        step counts the optimiser steps done so far (training.fit's on_step passes 1..K), so the step
        just taken has index k = step - 1 and tau = ema_momentum(k, K): tau_base after the first step,
        rising to just below 1 after the last; tau = 1 (k = K) would come only after training ends.
        """
        self.tau = ema_momentum(max(step - 1, 0), total_steps, self.tau_base)
        momentum_update(self.encoder, self.target_encoder, self.tau)
        momentum_update(self.projector, self.target_projector, self.tau)
