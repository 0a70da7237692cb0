"""Pretext tasks whose labels come for free from the images themselves (RotNet, Gidaris et al. 2018)."""
from __future__ import annotations

import torch
from torch import nn


def rotate_batch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate every image by 0, 90, 180 and 270 degrees counter-clockwise; label k means k * 90 degrees."""
    if x.dim() != 4:
        raise ValueError(f"rotate_batch expects images of shape (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[2] != x.shape[3]:
        # A 90-degree turn of a non-square image changes its shape, so the four copies would not stack.
        raise ValueError(f"rotate_batch needs square images, got H={x.shape[2]}, W={x.shape[3]}; "
                         "crop or resize them first")
    b = x.shape[0]
    # Order: all B images at 0 degrees, then all at 90, ... so y_rot = [0]*B + [1]*B + ...
    x_rot = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])  # (4B, C, H, W)
    y_rot = torch.arange(4, device=x.device).repeat_interleave(b)          # (4B,)
    return x_rot, y_rot


class RotationNet(nn.Module):
    """An encoder plus a linear head that predicts which of the 4 rotations was applied."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        if not hasattr(encoder, "dim"):
            raise AttributeError("RotationNet needs an encoder with a .dim attribute (its output "
                                 "size), like those from course_lib.vision.encoders")
        self.encoder = encoder
        self.head = nn.Linear(encoder.dim, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return rotation logits for a batch of (already rotated) images."""
        return self.head(self.encoder(x))  # (B, 4)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Rotation-prediction cross-entropy on the 4 rotated copies of the unlabelled batch x."""
        x_rot, y_rot = rotate_batch(x)
        return nn.functional.cross_entropy(self(x_rot), y_rot)
