"""Contrastive predictive coding on images (van den Oord, Li & Vinyals 2018, Section 3.3).

An image is cut into a grid of overlapping patches and every patch is encoded on its own (z). A GRU
runs down each column of the grid, so the context c_t of row t has seen rows 0..t only. For each
offset k = 1..steps a linear map W_k predicts, from c_t, the patch k rows further down; InfoNCE scores
the prediction z_hat = W_k c_t against the true patch (the positive) and negatives with the paper's
log-bilinear score exp(z^T W_k c_t). Where the negatives come from is a choice (notebook 11):
- negatives="batch": the patch at the same position in every other image of the batch (B - 1 of them);
- negatives="image": every other target patch of the same image (other rows and columns).
The paper draws them from the whole batch; these two split that set by where a negative comes from.

The model follows the method protocol of `methods` (``.encoder`` and ``loss(x)``): its ``.encoder`` maps
whole images to the mean of their patch codes, which is what a probe reads.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class PatchGridEncoder(nn.Module):
    """Encode each patch of a grid separately: images (B, C, H, W) -> codes (B, rows, cols, D); forward pools them."""

    def __init__(self, patch_encoder: nn.Module, *, patch: int = 8, stride: int = 4) -> None:
        super().__init__()
        if patch < 1 or stride < 1:
            raise ValueError(f"patch and stride must be positive, got patch={patch}, stride={stride}")
        self.patch_encoder, self.patch, self.stride = patch_encoder, patch, stride
        self.dim = patch_encoder.dim

    def grid(self, x: torch.Tensor) -> torch.Tensor:
        """The code of every patch: (B, C, H, W) -> (B, rows, cols, D), rows = (H - patch) // stride + 1."""
        if x.shape[-1] < self.patch or x.shape[-2] < self.patch:
            raise ValueError(f"images of {tuple(x.shape[-2:])} pixels are smaller than one {self.patch}-pixel patch")
        p = x.unfold(2, self.patch, self.stride).unfold(3, self.patch, self.stride)  # (B, C, R, S, p, p)
        b, c, rows, cols = p.shape[:4]
        p = p.permute(0, 2, 3, 1, 4, 5).reshape(b * rows * cols, c, self.patch, self.patch)
        return self.patch_encoder(p).view(b, rows, cols, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One vector per image: the mean patch code (B, D), the representation a probe reads."""
        return self.grid(x).mean(dim=(1, 2))


class CPC(nn.Module):
    """CPC on a patch grid: GRU context down the columns, InfoNCE predictions 1..steps rows ahead."""

    def __init__(self, encoder: nn.Module, *, patch: int = 8, stride: int = 4, steps: int = 2,
                 context_dim: int | None = None, negatives: str = "batch") -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if negatives not in ("batch", "image"):
            raise ValueError(f"negatives must be 'batch' or 'image', got {negatives!r}")
        self.negatives = negatives
        self.encoder = PatchGridEncoder(encoder, patch=patch, stride=stride)
        dim = self.encoder.dim
        self.context = nn.GRU(dim, context_dim or dim, batch_first=True)
        self.predictors = nn.ModuleList(nn.Linear(context_dim or dim, dim, bias=False) for _ in range(steps))
        self.steps = steps

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """InfoNCE of the k-rows-ahead predictions, averaged over k = 1..steps (a scalar)."""
        z = self.encoder.grid(x)                                   # (B, R, S, D)
        b, rows, cols, d = z.shape
        if rows <= self.steps:
            raise ValueError(f"a grid of {rows} rows leaves nothing to predict {self.steps} rows ahead; "
                             "use fewer steps, smaller patches or a smaller stride")
        columns = z.permute(0, 2, 1, 3).reshape(b * cols, rows, d)  # one sequence per column, top to bottom
        c, _ = self.context(columns)                                # (B*S, R, Dc): c[:, t] saw rows <= t
        losses = []
        for k, predictor in enumerate(self.predictors, start=1):
            pred = predictor(c[:, :-k])                             # (B*S, R-k, D) from rows 0..R-1-k
            target = columns[:, k:]                                 # the patches k rows below
            pred, target = pred.reshape(b, -1, d), target.reshape(b, -1, d)   # (B, S*(R-k), D)
            if self.negatives == "batch":                           # same position, the other images
                pred, target = pred.transpose(0, 1), target.transpose(0, 1)     # (S*(R-k), B, D)
            logits = (pred @ target.transpose(1, 2)).reshape(-1, pred.shape[1])  # positives on the diagonal
            labels = torch.arange(logits.shape[-1], device=logits.device).repeat(len(logits) // logits.shape[-1])
            losses.append(F.cross_entropy(logits, labels))
        return torch.stack(losses).mean()
