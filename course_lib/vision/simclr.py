"""SimCLR (Chen et al., ICML 2020): two augmented views, encoder f, projection head g, NT-Xent loss.

For a batch of N images we make 2N views; h = f(x~) is the representation kept for downstream
tasks, z = g(h) the projection the loss sees. Each view's positive is the other view of the same
image and its 2(N-1) negatives are all other views in the batch (paper eq. 1):

    l(i, j) = -log exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau)

Two other losses of the paper's Table 4 (NT-Logistic and the margin triplet) are here for comparison.
Under torchrun (course_lib.distributed) the negatives are the views of every GPU's batch, as in the
paper's large-batch training: N is then the global batch.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .. import distributed
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


def _contrast(z1: torch.Tensor, z2: torch.Tensor, across_ranks: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Similarities of this batch's 2n views (rows) to the candidates (columns), and each row's positive column.

    In one process (or across_ranks=False) the candidates are the same 2n views: s is similarities(z1, z2)
    and the positives are _positives(n). Across ranks (torchrun) they are the 2N views of every rank's
    batch, gathered in rank order as [z1 of all ranks; z2 of all ranks]: this rank's rows sit at
    columns rank * n + i, so its own column (masked to -inf) and its partner's are offset by rank * n.
    """
    n = len(z1)
    if not across_ranks or distributed.world_size() == 1:
        s = similarities(z1, z2)
        return s, _positives(n, s.device)
    z = F.normalize(torch.cat([z1, z2]), dim=1)                        # (2n, D) this rank's views
    candidates = torch.cat([distributed.all_gather(z[:n]), distributed.all_gather(z[n:])])  # (2N, D)
    big_n, offset = len(candidates) // 2, distributed.rank() * n
    own = torch.cat([torch.arange(n, device=z.device), torch.arange(big_n, big_n + n, device=z.device)]) + offset
    partner = torch.cat([own[n:], own[:n]])                            # (2n,) column of the other view
    self_mask = own[:, None] == torch.arange(2 * big_n, device=z.device)  # (2n, 2N) no host sync
    return (z @ candidates.T).masked_fill(self_mask, float("-inf")), partner


def _negatives(s: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Boolean mask (rows, 2N) of the negatives: every column but the row's own view and its positive.

    The own view is the column masked to -inf. A mask used in torch.where (not s[mask], whose output
    size depends on the data and so makes a GPU wait for it) keeps the training step free of host syncs.
    """
    columns = torch.arange(s.shape[1], device=s.device)
    return (columns != pos[:, None]) & ~s.isneginf()


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.5, *, across_ranks: bool = False) -> torch.Tensor:
    """NT-Xent (SimCLR eq. 1) averaged over all 2N anchors; z1[i], z2[i] are the two views of image i.

    across_ranks=True (SimCLR.loss under torchrun) contrasts this rank's views with the views of every
    rank's batch (distributed.all_gather); in one process it changes nothing.
    """
    _check_views(z1, z2, tau)
    s, pos = _contrast(z1, z2, across_ranks)                           # (2n, 2N), (2n,)
    # Each row is a 2N-way classification whose right answer is the partner view: cross-entropy.
    return F.cross_entropy(s.float() / tau, pos)


def nt_logistic(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.5, *, across_ranks: bool = False) -> torch.Tensor:
    """NT-Logistic: -log sigma(s_pos / tau) - MEAN over the 2N-2 negatives of log sigma(-s_neg / tau), per anchor.

    Note: SimCLR's Table 2 SUMS the negatives' term over the negatives; we average it (the sum divided
    by 2N-2), so that the positive's pull does not shrink relative to the negatives' push as the batch
    grows. The course's printed figures use this average; the paper's loss is
    -log sigma(s_pos / tau) - (2N-2) * mean_neg log sigma(-s_neg / tau). across_ranks as in nt_xent.
    """
    _check_views(z1, z2, tau)
    s, pos = _contrast(z1, z2, across_ranks)
    s = s.float() / tau
    s_pos = s.gather(1, pos[:, None]).squeeze(1)                        # (2n,)
    neg = _negatives(s, pos)                                            # (2n, 2N), 2N-2 per row
    per_negative = torch.where(neg, F.logsigmoid(-s), torch.zeros_like(s))
    return -(F.logsigmoid(s_pos) + per_negative.sum(1) / (s.shape[1] - 2)).mean()


def margin_triplet(z1: torch.Tensor, z2: torch.Tensor, margin: float = 0.5, *,
                   across_ranks: bool = False) -> torch.Tensor:
    """Margin triplet (SimCLR Table 2): mean over anchors and negatives of max(s_neg - s_pos + margin, 0)."""
    _check_views(z1, z2)
    s, pos = _contrast(z1, z2, across_ranks)
    s = s.float()
    s_pos = s.gather(1, pos[:, None])                                   # (2n, 1)
    neg = _negatives(s, pos)                                            # 2N-2 per row
    hinge = torch.where(neg, (s - s_pos + margin).clamp_min(0), torch.zeros_like(s))
    return hinge.sum() / (len(s) * (s.shape[1] - 2))


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
        # Under torchrun the negatives come from every rank's batch (one process: this batch only).
        if self.loss_name == "margin":
            return margin_triplet(z1, z2, across_ranks=True)
        return LOSSES[self.loss_name](z1, z2, self.tau, across_ranks=True)
