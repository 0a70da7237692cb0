"""Region masks for inpainting (Pathak et al. 2016, Sec. 3.3): central square, random blocks, random regions.

Every mask is a float tensor (B, 1, H, W) with 1 inside the hole (the paper's M-hat) and 0 on the
context the network sees. All randomness goes through an optional torch.Generator, and masks are
built on the device you ask for, so a batch of masks costs a few tensor operations. Random numbers
are drawn on the generator's device when one is given, else on `device` itself (with its default
RNG), so a training step on a GPU copies nothing from the host; on the CPU the streams are as before.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

MASK_KINDS = ("central", "block", "region")


def _draw_on(generator: torch.Generator | None, device: torch.device | str) -> torch.device:
    """Where random numbers are drawn: on the generator's device if there is one, else on `device`."""
    return generator.device if generator is not None else torch.device(device)


def _check(b: int, size: int, hole: int) -> None:
    if b < 1 or size < 1:
        raise ValueError(f"need at least one image of at least 1 pixel, got B={b}, size={size}")
    if not 1 <= hole <= size:
        raise ValueError(f"a hole of {hole} pixels does not fit an image of {size}x{size}; "
                         f"choose 1 <= hole <= {size}")


def central_mask(b: int, size: int, hole: int, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """The same hole x hole square in the centre of every image: (B, 1, size, size)."""
    _check(b, size, hole)
    m = torch.zeros(b, 1, size, size, device=device)
    top = (size - hole) // 2
    m[:, :, top:top + hole, top:top + hole] = 1.0
    return m


def block_mask(b: int, size: int, hole: int, *, blocks: int = 4, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """`blocks` squares of side hole // 2 at random places (they may overlap): about the central hole's area."""
    _check(b, size, hole)
    side = max(1, hole // 2)
    pos = torch.randint(0, size - side + 1, (b, blocks, 2), generator=generator,
                        device=_draw_on(generator, device)).to(device)                      # (B, k, 2)
    ar = torch.arange(size, device=device)
    rows = (ar[None, None, :] >= pos[..., :1]) & (ar[None, None, :] < pos[..., :1] + side)  # (B, k, size)
    cols = (ar[None, None, :] >= pos[..., 1:]) & (ar[None, None, :] < pos[..., 1:] + side)
    m = (rows[..., :, None] & cols[..., None, :]).any(dim=1)  # (B, size, size)
    return m[:, None].float()


def region_mask(b: int, size: int, hole: int, *, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Random smooth blob-shaped regions covering exactly the central hole's area (hole**2 pixels).

    Pathak et al. cut silhouettes of real objects out of PASCAL; a smooth random field thresholded
    at the right quantile gives irregular, connected-looking regions without shipping any masks.
    """
    _check(b, size, hole)
    coarse = torch.rand(b, 1, 4, 4, generator=generator,
                        device=_draw_on(generator, device)).to(device)                       # low frequencies only
    field = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)  # (B, 1, S, S)
    # Pull the region towards the middle, so it covers the object more often than the border.
    ar = torch.linspace(-1.0, 1.0, size, device=device)
    field = field - 0.35 * (ar[None, :] ** 2 + ar[:, None] ** 2)
    flat = field.flatten(1)                                       # (B, S*S)
    k = hole * hole
    top = flat.topk(k, dim=1).indices                             # the k highest points of the field
    m = torch.zeros_like(flat).scatter_(1, top, 1.0)
    return m.view(b, 1, size, size)


def make_mask(kind: str, b: int, size: int, hole: int, *, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """A batch of masks (B, 1, size, size) of one kind: "central", "block" or "region"."""
    if kind == "central":
        return central_mask(b, size, hole, device=device)
    if kind == "block":
        return block_mask(b, size, hole, generator=generator, device=device)
    if kind == "region":
        return region_mask(b, size, hole, generator=generator, device=device)
    raise ValueError(f"unknown mask kind {kind!r}; valid kinds are {', '.join(MASK_KINDS)}")


def apply_mask(x: torch.Tensor, mask: torch.Tensor, fill: torch.Tensor | float | None = None) -> torch.Tensor:
    """Replace the hole of each image by `fill` (default: the mean colour of its own context)."""
    if mask.shape[0] != x.shape[0] or mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not match images {tuple(x.shape)}; "
                         "make it (B, 1, H, W) with the images' B, H and W")
    if fill is None:
        keep = 1.0 - mask
        fill = (x * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True).clamp_min(1.0)  # (B, C, 1, 1)
    return x * (1.0 - mask) + mask * fill
