"""Patches on a 3x3 grid and the relative-position pretext task (Doersch, Gupta & Efros, ICCV 2015).

Given the centre patch and one of its 8 neighbours, predict which neighbour it is (8 classes).
The paper's defences against low-level shortcuts are switches here:
- `gap`: pixels left out between neighbouring patches, so textures and edges do not simply continue;
- `jitter`: each patch moves by up to this many pixels, so lines that span patches do not align;
- `channel_drop`: keep one random colour channel, the others become faint noise (chromatic aberration).
Patch positions are top-left corners (row, col) in pixels; the grid of stride patch + gap is centred.

Random numbers are drawn where the images are: on the generator's device when one is given (a CPU
generator for images on the GPU still works, at the cost of one copy), else with the default RNG of
the images' device, so a training step on a GPU never waits for the host. On the CPU the streams
are those of torch's CPU generator, as before.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# Label k <-> grid offset (d_row, d_col) of the neighbour from the centre, in reading order.
NEIGHBOURS = torch.tensor([[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1]])


def draw_device(generator: torch.Generator | None, device: torch.device | str | None) -> torch.device:
    """Where to draw random numbers: the generator's device if there is one, else `device` (default: the CPU)."""
    if generator is not None:
        return generator.device
    return torch.device(device if device is not None else "cpu")


def grid_positions(b: int, size: int, *, grid: int = 3, patch: int, gap: int = 0, jitter: int = 0,
                   generator: torch.Generator | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Top-left corners (B, grid*grid, 2) of a jittered grid of patches, cells in reading order, on `device`.

    device defaults to the generator's (or the CPU); the jitter is drawn there.
    """
    if grid < 1 or patch < 1 or gap < 0 or jitter < 0:
        raise ValueError(f"need grid >= 1, patch >= 1, gap >= 0, jitter >= 0; got grid={grid}, "
                         f"patch={patch}, gap={gap}, jitter={jitter}")
    extent = grid * patch + (grid - 1) * gap + 2 * jitter
    if extent > size:
        raise ValueError(f"a {grid}x{grid} grid of {patch}-pixel patches with gap {gap} and jitter {jitter} "
                         f"needs {extent} pixels but the image has {size}; use smaller patches, gap or jitter, "
                         "or larger images")
    stride = patch + gap
    origin = (size - (grid * patch + (grid - 1) * gap)) // 2
    where = draw_device(generator, device)
    ar = torch.arange(grid, device=where)
    cells = torch.stack(torch.meshgrid(ar, ar, indexing="ij"), -1).view(-1, 2)
    pos = origin + stride * cells  # (grid*grid, 2)
    shake = torch.randint(-jitter, jitter + 1, (b, grid * grid, 2), generator=generator, device=where) if jitter else 0
    out = (pos[None] + shake).expand(b, -1, -1)  # (B, grid*grid, 2)
    return out.to(device) if device is not None else out


def crop(x: torch.Tensor, pos: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut one patch x patch square per image at top-left pos (B, 2): (B, C, H, W) -> (B, C, patch, patch)."""
    ar = torch.arange(patch, device=x.device)
    pos = pos.to(x.device)
    rows = (pos[:, 0, None] + ar)[:, :, None]       # (B, p, 1)
    cols = (pos[:, 1, None] + ar)[:, None, :]       # (B, 1, p)
    idx = torch.arange(len(x), device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2)  # (B, C, p, p)


def relative_position_pairs(x: torch.Tensor, *, patch: int, gap: int = 0, jitter: int = 0,
                            generator: torch.Generator | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One (centre, neighbour, label, positions) per image: patches (B, C, p, p), label (B,) in 0..7, positions (B, 2, 2)."""
    if x.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(x.shape)}")
    b, size = len(x), min(x.shape[-2:])
    where = draw_device(generator, x.device)
    pos = grid_positions(b, size, grid=3, patch=patch, gap=gap, jitter=jitter, generator=generator, device=where)
    label = torch.randint(0, 8, (b,), generator=generator, device=where)
    # NEIGHBOURS lists the 8 outer cells in reading order, so label k is cell k, or k + 1 past the centre.
    cell = label + (label >= 4).long()  # (B,) cell index 0..8, never 4
    neighbour = pos[torch.arange(b, device=where), cell]                                     # (B, 2)
    positions = torch.stack([pos[:, 4], neighbour], dim=1)  # (B, 2, 2): centre, neighbour
    return crop(x, positions[:, 0], patch), crop(x, positions[:, 1], patch), label.to(x.device), positions


def drop_channels(p: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Keep one random colour channel per patch; the others become noise with 1/100 of its spread (Doersch)."""
    b, c = p.shape[:2]
    where = draw_device(generator, p.device)
    keep = torch.randint(0, c, (b,), generator=generator, device=where).to(p.device)
    keep_mask = F.one_hot(keep, c).to(p.dtype)[:, :, None, None]        # (B, C, 1, 1)
    kept = (p * keep_mask).sum(1, keepdim=True)                          # (B, 1, h, w)
    spread = kept.flatten(1).std(1).view(b, 1, 1, 1)
    noise = torch.randn(p.shape, generator=generator, device=where).to(p.device) * spread / 100 \
        + kept.mean((2, 3), keepdim=True)
    return p * keep_mask + noise * (1 - keep_mask)


class RelativePositionNet(nn.Module):
    """A shared encoder for both patches, then a small MLP on the two features: 8 logits."""

    def __init__(self, encoder: nn.Module, *, patch: int, gap: int = 0, jitter: int = 0,
                 channel_drop: bool = False, pairs_per_image: int = 1, hidden: int = 256) -> None:
        super().__init__()
        if not hasattr(encoder, "dim"):
            raise AttributeError("RelativePositionNet needs an encoder with a .dim attribute (its output size)")
        if pairs_per_image < 1:
            raise ValueError(f"pairs_per_image must be at least 1, got {pairs_per_image}")
        self.encoder, self.patch, self.gap, self.jitter, self.channel_drop = encoder, patch, gap, jitter, channel_drop
        # Patches are small, so several pairs per image cost little and give the loss more signal per step.
        self.pairs_per_image = pairs_per_image
        self.head = nn.Sequential(nn.Linear(2 * encoder.dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 8))

    def forward(self, centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        """Logits (B, 8) for where `neighbour` sits relative to `centre`."""
        z = self.encoder(torch.cat([centre, neighbour]))  # one pass for both: (2B, dim)
        return self.head(torch.cat(z.chunk(2), dim=1))     # (B, 8)

    def logits_and_labels(self, x: torch.Tensor, generator: torch.Generator | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample pairs_per_image pairs per image (with this model's defences) and return (logits, labels)."""
        x = x.repeat(self.pairs_per_image, 1, 1, 1) if self.training else x  # (kB, C, H, W)
        a, b, y, _ = relative_position_pairs(x, patch=self.patch, gap=self.gap, jitter=self.jitter, generator=generator)
        if self.channel_drop:
            a, b = drop_channels(a, generator=generator), drop_channels(b, generator=generator)
        return self(a, b), y

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the 8-way relative-position prediction on pairs_per_image pairs per image."""
        logits, y = self.logits_and_labels(x)
        return F.cross_entropy(logits, y)


def edge_match_predict(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A 'cue-only' rule with nothing learned: the neighbour whose facing border best continues the centre's.

    For each of the 8 labels, compare the centre patch a's border with the border of b that would touch
    it (a row or column for the 4 sides, the corner pixel for the diagonals); predict the closest: (B,).
    """
    def diff(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u - v).pow(2).flatten(1).mean(1)  # (B,)

    top, bottom, left, right = (lambda p: p[..., 0, :]), (lambda p: p[..., -1, :]), (lambda p: p[..., :, 0]), (lambda p: p[..., :, -1])
    scores = [diff(a[..., 0, 0], b[..., -1, -1]),   # 0: up-left, touching corners
              diff(top(a), bottom(b)),              # 1: up
              diff(a[..., 0, -1], b[..., -1, 0]),   # 2: up-right
              diff(left(a), right(b)),              # 3: left
              diff(right(a), left(b)),              # 4: right
              diff(a[..., -1, 0], b[..., 0, -1]),   # 5: down-left
              diff(bottom(a), top(b)),              # 6: down
              diff(a[..., -1, -1], b[..., 0, 0])]   # 7: down-right
    return torch.stack(scores, 1).argmin(1)
