"""SimCLR (Chen et al., ICML 2020): two augmented views, encoder f, projection head g, NT-Xent loss.

For a batch of N images we make 2N views; h = f(x~) is the representation kept for downstream
tasks, z = g(h) the projection the loss sees. Each view's positive is the other view of the same
image and its 2(N-1) negatives are all other views in the batch (paper eq. 1):

    l(i, j) = -log exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau)

Two other losses of the paper's Table 4 (NT-Logistic and the margin triplet) are here for comparison.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from . import augment
from .heads import mlp


def _check_views(z1: torch.Tensor, z2: torch.Tensor, tau: float | None = None) -> None:
    """Raise a clear error for views that cannot be contrasted."""
    if z1.shape != z2.shape:
        raise ValueError(f"the two views must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}; "
                         "z1[i] and z2[i] must be the two views of image i")
    if z1.dim() != 2:
        raise ValueError(f"views must be (N, D) embeddings, got shape {tuple(z1.shape)}; flatten them first")
    if len(z1) < 2:
        raise ValueError(f"a contrastive loss needs at least 2 images per batch (got {len(z1)}): "
                         "with one image there are no negatives to contrast with")
    if tau is not None and not tau > 0:
        raise ValueError(f"the temperature tau must be positive, got {tau}; tau -> 0 divides the "
                         "similarities by zero (typical values: 0.1 to 0.5)")


def similarities(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Cosine similarities s_ij between all 2N views [z1; z2], with the diagonal (k = i) masked to -inf."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)                        # (2N, D) unit vectors
    s = z @ z.T                                                        # (2N, 2N)
    return s.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))


def _positives(n: int, device: torch.device) -> torch.Tensor:
    """Index of each view's partner: view i of z1 pairs with view i of z2 (rows i and i + N)."""
    return torch.cat([torch.arange(n, 2 * n, device=device), torch.arange(0, n, device=device)])  # (2N,)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """NT-Xent (SimCLR eq. 1) averaged over all 2N anchors; z1[i], z2[i] are the two views of image i."""
    _check_views(z1, z2, tau)
    s = similarities(z1, z2)                                           # (2N, 2N)
    # Each row is a 2N-way classification whose right answer is the partner view: cross-entropy.
    return F.cross_entropy(s.float() / tau, _positives(len(z1), s.device))


def nt_logistic(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """NT-Logistic (SimCLR Table 2): -log sigma(s_pos / tau) - mean over negatives of log sigma(-s_neg / tau)."""
    _check_views(z1, z2, tau)
    s = similarities(z1, z2).float() / tau
    pos = _positives(len(z1), s.device)
    s_pos = s.gather(1, pos[:, None]).squeeze(1)                        # (2N,)
    neg = torch.ones_like(s, dtype=torch.bool)
    neg[torch.arange(len(s)), pos] = False
    neg.fill_diagonal_(False)
    s_neg = s[neg].view(len(s), -1)                                     # (2N, 2N-2)
    return -(F.logsigmoid(s_pos) + F.logsigmoid(-s_neg).mean(1)).mean()


def margin_triplet(z1: torch.Tensor, z2: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """Margin triplet (SimCLR Table 2): mean over negatives of max(s_neg - s_pos + margin, 0)."""
    _check_views(z1, z2)
    s = similarities(z1, z2).float()
    pos = _positives(len(z1), s.device)
    s_pos = s.gather(1, pos[:, None])                                   # (2N, 1)
    neg = torch.ones_like(s, dtype=torch.bool)
    neg[torch.arange(len(s)), pos] = False
    neg.fill_diagonal_(False)
    return (s - s_pos + margin).clamp_min(0)[neg].mean()


LOSSES: dict[str, Callable[..., torch.Tensor]] = {"nt_xent": nt_xent, "nt_logistic": nt_logistic,
                                                  "margin": margin_triplet}


class SimCLR(nn.Module):
    """Encoder f plus projection head g, trained with a contrastive loss on two augmented views."""

    def __init__(self, encoder: nn.Module, *, proj_dim: int = 128, hidden: int | None = None,
                 tau: float = 0.5, loss: str = "nt_xent", augment_fn: Callable | None = None) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if not tau > 0:
            raise ValueError(f"the temperature tau must be positive, got {tau}")
        self.encoder = encoder                                           # f
        d = encoder.dim
        self.head = mlp([d, hidden or d, proj_dim])                      # g
        self.tau, self.loss_name = tau, loss
        self.augment = augment_fn or augment.simclr_augment()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projections z = g(f(x)) of a batch of (already augmented) views, (B, proj_dim)."""
        return self.head(self.encoder(x))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Augment the batch twice, project both views and return the contrastive loss."""
        if len(x) < 2:
            raise ValueError(f"SimCLR needs at least 2 images per batch, got {len(x)}")
        # One pass over both views: the BatchNorm statistics then cover all 2N views (global BN).
        z1, z2 = self(torch.cat([self.augment(x), self.augment(x)])).chunk(2)  # (N, proj_dim) each
        fn = LOSSES[self.loss_name]
        return fn(z1, z2) if self.loss_name == "margin" else fn(z1, z2, self.tau)
