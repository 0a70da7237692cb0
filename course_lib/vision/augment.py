"""Batched image augmentations on the images' own device, one random draw per image (SimCLR, Appendix A).

Every op takes a batch x (B, C, H, W) with values in [0, 1] and returns a new batch of the same
shape: no per-image Python loop, no PIL, so on a GPU the augmentations cost a small fraction of an
encoder step. Randomness comes from ``generator`` (a torch.Generator on x's device) or, when it is
None, from torch's default RNG of that device, so ``torch.manual_seed`` makes every view
reproducible. ``Compose`` chains ops; ``simclr_augment`` builds the paper's pipeline.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch.nn import functional as F

Op = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]

# ITU-R 601 luma weights: the grey value a "grayscale" image takes.
_LUMA = (0.299, 0.587, 0.114)


def _check(x: torch.Tensor, name: str, rgb: bool = False) -> None:
    """Raise a clear error unless x is a floating (B, C, H, W) batch (with C == 3 when rgb)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} expects a batch of images (B, C, H, W), got {shape}; "
                         "add a batch dimension with x[None] for a single image")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects float images in [0, 1], got dtype {x.dtype}; use x.float() / 255")
    if rgb and x.shape[1] != 3:
        raise ValueError(f"{name} needs RGB images (C=3), got C={x.shape[1]}")


def _rand(n: int, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """n uniform numbers in [0, 1) drawn on x's device (from generator, which must live there)."""
    if generator is not None and generator.device.type != x.device.type:
        raise ValueError(f"the generator lives on {generator.device} but the images on {x.device}; "
                         f"create it with torch.Generator(device='{x.device.type}')")
    return torch.rand(n, device=x.device, generator=generator)


def _uniform(lo: float, hi: float, n: int, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """n numbers uniform in [lo, hi) on x's device."""
    return lo + (hi - lo) * _rand(n, x, g)


def _apply_with_p(x: torch.Tensor, out: torch.Tensor, p: float, g: torch.Generator | None) -> torch.Tensor:
    """Keep out for a random fraction p of the images and x for the rest."""
    if p >= 1.0:
        return out
    keep = (_rand(len(x), x, g) < p).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
    return torch.where(keep, out, x)


def random_resized_crop(x: torch.Tensor, generator: torch.Generator | None = None, *,
                        scale: tuple[float, float] = (0.2, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
                        size: int | None = None) -> torch.Tensor:
    """Crop a random area (fraction `scale` of the image, aspect `ratio`) of each image and resize it back."""
    _check(x, "random_resized_crop")
    b, _, h, w = x.shape
    area = _uniform(scale[0], scale[1], b, x, generator)                                      # (B,)
    log_r = _uniform(math.log(ratio[0]), math.log(ratio[1]), b, x, generator)
    aspect = log_r.exp()
    # Crop width and height as fractions of the image, clipped so the crop stays inside it.
    cw = (area * aspect).sqrt().clamp(max=1.0)
    ch = (area / aspect).sqrt().clamp(max=1.0)
    cx = (1 - cw) * (2 * _rand(b, x, generator) - 1)  # centre in [-1, 1] coordinates
    cy = (1 - ch) * (2 * _rand(b, x, generator) - 1)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)                            # (B, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = cw, cx
    theta[:, 1, 1], theta[:, 1, 2] = ch, cy
    out_size = (b, x.shape[1], size or h, size or w)
    grid = F.affine_grid(theta, out_size, align_corners=False)                              # (B, H', W', 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def horizontal_flip(x: torch.Tensor, generator: torch.Generator | None = None, *, p: float = 0.5) -> torch.Tensor:
    """Mirror a random half (fraction p) of the images left to right."""
    _check(x, "horizontal_flip")
    return _apply_with_p(x, x.flip(3), p, generator)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """Luma of RGB images, (B, 1, H, W)."""
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def _hue_rotation(x: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of each image by `turn` (B,) of a full circle, as a rotation in YIQ colour space."""
    to_yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    from_yiq = torch.linalg.inv(to_yiq)
    cos, sin = torch.cos(2 * math.pi * turn), torch.sin(2 * math.pi * turn)                  # (B,)
    rot = torch.zeros(len(x), 3, 3, device=x.device, dtype=x.dtype)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = from_yiq @ rot @ to_yiq                                                            # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x)


def color_jitter(x: torch.Tensor, generator: torch.Generator | None = None, *, brightness: float = 0.4,
                 contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.1, p: float = 0.8) -> torch.Tensor:
    """Random brightness, contrast, saturation (factors in [1-s, 1+s]) and hue shift, for a fraction p of images."""
    _check(x, "color_jitter", rgb=True)
    b = len(x)
    out = x * _uniform(1 - brightness, 1 + brightness, b, x, generator).view(-1, 1, 1, 1)
    mean = _grey(out).mean(dim=(1, 2, 3), keepdim=True)                                     # (B, 1, 1, 1)
    out = mean + (out - mean) * _uniform(1 - contrast, 1 + contrast, b, x, generator).view(-1, 1, 1, 1)
    grey = _grey(out)
    out = grey + (out - grey) * _uniform(1 - saturation, 1 + saturation, b, x, generator).view(-1, 1, 1, 1)
    if hue > 0:
        out = _hue_rotation(out, _uniform(-hue, hue, b, x, generator))
    return _apply_with_p(x, out.clamp(0, 1), p, generator)


def random_grayscale(x: torch.Tensor, generator: torch.Generator | None = None, *, p: float = 0.2) -> torch.Tensor:
    """Replace a random fraction p of the images by their grey version (kept 3-channel)."""
    _check(x, "random_grayscale", rgb=True)
    return _apply_with_p(x, _grey(x).expand_as(x), p, generator)


def gaussian_blur(x: torch.Tensor, generator: torch.Generator | None = None, *,
                  sigma: tuple[float, float] = (0.1, 1.5), p: float = 0.5) -> torch.Tensor:
    """Blur a fraction p of the images with a Gaussian of random sigma (in pixels) per image."""
    _check(x, "gaussian_blur")
    b, c, h, w = x.shape
    # SimCLR draws sigma in [0.1, 2.0] for 224-px images; for small images the default is smaller.
    s = _uniform(sigma[0], sigma[1], b, x, generator).clamp_min(1e-3)                     # (B,)
    radius = max(1, min(math.ceil(2 * sigma[1]), (min(h, w) - 1) // 2))
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)                # (K,)
    kernel = torch.exp(-0.5 * (taps[None] / s[:, None]) ** 2)                              # (B, K)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)                # (B*C, K)
    flat = x.reshape(1, b * c, h, w)
    # Separable blur as two grouped convolutions: every (image, channel) has its own kernel.
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=b * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None], groups=b * c)
    return _apply_with_p(x, flat.view(b, c, h, w), p, generator)


def random_rotation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate each (square) image by a random multiple of 90 degrees."""
    _check(x, "random_rotation")
    k = (4 * _rand(len(x), x, generator)).long().view(-1, 1, 1, 1)                          # (B, 1, 1, 1)
    out = x
    for turn in range(1, 4):
        out = torch.where(k == turn, torch.rot90(x, turn, dims=(2, 3)), out)
    return out


def gaussian_noise(x: torch.Tensor, generator: torch.Generator | None = None, *, std: float = 0.1) -> torch.Tensor:
    """Add pixel noise of a random strength in [0, std] per image."""
    _check(x, "gaussian_noise")
    strength = _uniform(0.0, std, len(x), x, generator).view(-1, 1, 1, 1)
    noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
    return (x + strength * noise).clamp(0, 1)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, *, frac: float = 0.5) -> torch.Tensor:
    """Erase one random square (side `frac` of the image) per image to grey."""
    _check(x, "cutout")
    b, _, h, w = x.shape
    side = max(1, int(frac * min(h, w)))
    top = (_rand(b, x, generator) * (h - side + 1)).long().view(-1, 1, 1, 1)
    left = (_rand(b, x, generator) * (w - side + 1)).long().view(-1, 1, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, 1, -1, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, 1, -1)
    inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)   # (B, 1, H, W)
    return torch.where(inside, torch.full_like(x, 0.5), x)


def color_distortion(x: torch.Tensor, generator: torch.Generator | None = None, *, strength: float = 0.5) -> torch.Tensor:
    """SimCLR's colour distortion: jitter (0.8 s, 0.8 s, 0.8 s, 0.2 s) with p=0.8, then grayscale with p=0.2."""
    x = color_jitter(x, generator, brightness=0.8 * strength, contrast=0.8 * strength,
                     saturation=0.8 * strength, hue=0.2 * strength, p=0.8)
    return random_grayscale(x, generator, p=0.2)


def crop_flip(x: torch.Tensor, generator: torch.Generator | None = None, *, scale: tuple[float, float] = (0.2, 1.0)) -> torch.Tensor:
    """Random resized crop followed by a random horizontal flip."""
    return horizontal_flip(random_resized_crop(x, generator, scale=scale), generator)


# The single ops of the augmentation grid (SimCLR Figure 5 in miniature), by name.
OPS: dict[str, Op] = {
    "crop": crop_flip,
    "colour": color_distortion,
    "blur": lambda x, g=None: gaussian_blur(x, g, p=1.0),
    "rotate": random_rotation,
    "noise": gaussian_noise,
    "cutout": cutout,
}


class Compose:
    """Apply ops one after the other: Compose([crop_flip, color_distortion])(x, generator)."""

    def __init__(self, ops: Sequence[Op | str]) -> None:
        unknown = [o for o in ops if isinstance(o, str) and o not in OPS]
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; valid names: {', '.join(OPS)}")
        self.ops = [OPS[o] if isinstance(o, str) else o for o in ops]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return one augmented view of the batch x (B, C, H, W)."""
        _check(x, "Compose")
        for op in self.ops:
            x = op(x, generator)
        return x


def simclr_augment(*, colour: bool = True, blur: bool = True, strength: float = 0.5,
                   scale: tuple[float, float] = (0.2, 1.0), rotate: bool = False) -> Compose:
    """The SimCLR pipeline: crop + flip, colour distortion (optional), Gaussian blur p=0.5 (optional).

    rotate=True adds a random quarter turn after the crop, one of the ops the paper tried (Figure 5).
    It is not in the paper's recipe; the course's profiles switch it on for the shapes set, whose
    backgrounds run in a random direction per image (notebook 07, section 4, measures what it buys).
    """
    ops: list[Op] = [lambda x, g=None: crop_flip(x, g, scale=scale)]
    if rotate:
        ops.append(random_rotation)
    if colour:
        ops.append(lambda x, g=None: color_distortion(x, g, strength=strength))
    if blur:
        ops.append(gaussian_blur)
    return Compose(ops)
