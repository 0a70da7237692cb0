"""Batched image augmentations on the images' own device, one random draw per image (SimCLR, Appendix A).

Every op takes a batch x (B, C, H, W) with values in [0, 1] and returns a new batch of the same
shape: no per-image Python loop, no PIL, no host-device sync, so on a GPU the augmentations cost a
small fraction of an encoder step. Randomness comes from ``generator`` (a torch.Generator on x's
device) or, when it is None, from torch's default RNG of that device, so ``torch.manual_seed`` makes
every view reproducible. ``Compose`` chains ops; ``simclr_augment`` builds the two-view pipeline.

Recipes: ``simclr_augment(recipe, **settings)`` starts from a row of ``RECIPES`` and lets keywords
override single settings. This table is the one place where they are defined:

- ``"course"`` (the default; the ci and cpu profiles): crop scale (0.2, 1) whose sides are clamped to
  the image ("clamp"), flip, colour jitter (0.8s, 0.8s, 0.8s, 0.2s) with s = 0.5 and p = 0.8 applied in
  a fixed order (brightness, contrast, saturation, hue) with the hue turned in YIQ space, grayscale
  p = 0.2, Gaussian blur p = 0.5. Tuned for 32-pixel shapes; the notebooks' figures rest on it.
- ``"simclr"`` (the gpu rows; Chen et al. 2020, Appendix A, CIFAR-10): crop scale (0.08, 1) sampled as
  torchvision's RandomResizedCrop (area and log-aspect, 10 tries, else a central crop), flip, the same
  jitter strengths with p = 0.8 but in a random order per image and with the hue shifted in HSV (as
  torchvision's ColorJitter, which clamps to [0, 1] after each op), grayscale p = 0.2, no blur (the
  paper blurs only on ImageNet).
- ``"byol_view1"`` / ``"byol_view2"`` (Grill et al. 2020, Table 6): the ``"simclr"`` crop and jitter
  machinery with jitter (0.4, 0.4, 0.2, 0.1), p = 0.8, grayscale p = 0.2, then blur with p = 1.0 / 0.1
  and solarize with p = 0 / 0.2. The two views differ, so a model must call one pipeline per view;
  our BYOL applies one ``augment_fn`` to both views, so these rows are building blocks, not wired in.

Departures from the papers, all on purpose: the blur keeps this module's small-image sigma range
(0.1, 1.5) px instead of 10% of a 224-px image; the crop is resampled with grid_sample, which reads
pixels just outside the crop box at its border where torchvision's resize clamps to the box; grey
uses ITU-R 601 weights 0.299 where torchvision uses 0.2989.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import torch
from torch.nn import functional as F

Op = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]

# ITU-R 601 luma weights: the grey value a "grayscale" image takes.
_LUMA = (0.299, 0.587, 0.114)
# RGB -> YIQ, the colour space in which the course recipe turns the hue (rows: Y, I, Q).
_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
CROPS = ("clamp", "torchvision")   # how random_resized_crop samples its box
ORDERS = ("fixed", "random")       # the order of color_jitter's four ops
HUE_SPACES = ("yiq", "hsv")        # where color_jitter turns the hue
_TRIES = 10                        # torchvision's RandomResizedCrop tries this many boxes before a central crop


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


def _rand(n: int | tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """n (a count or a shape) uniform numbers in [0, 1) drawn on x's device (from generator, which must live there)."""
    if generator is not None and generator.device.type != x.device.type:
        raise ValueError(f"the generator lives on {generator.device} but the images on {x.device}; "
                         f"create it with torch.Generator(device='{x.device.type}')")
    return torch.rand(n, device=x.device, generator=generator)


def _uniform(lo: float, hi: float, n: int | tuple[int, ...], x: torch.Tensor,
             g: torch.Generator | None) -> torch.Tensor:
    """n numbers uniform in [lo, hi) on x's device."""
    return lo + (hi - lo) * _rand(n, x, g)


def _apply_with_p(x: torch.Tensor, out: torch.Tensor, p: float, g: torch.Generator | None) -> torch.Tensor:
    """Keep out for a random fraction p of the images and x for the rest."""
    if p >= 1.0:
        return out
    keep = (_rand(len(x), x, g) < p).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
    return torch.where(keep, out, x)


def _choose(name: str, value: str, valid: tuple[str, ...]) -> str:
    """Return value if it is one of valid, else raise an error that lists them."""
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    return value


def _boxes_clamp(b: int, x: torch.Tensor, g: torch.Generator | None, scale: tuple[float, float],
                 ratio: tuple[float, float]) -> torch.Tensor:
    """The course's crop: area and log-aspect drawn once, each side clamped to the image (crops grow)."""
    area = _uniform(scale[0], scale[1], b, x, g)                                             # (B,)
    aspect = _uniform(math.log(ratio[0]), math.log(ratio[1]), b, x, g).exp()
    cw = (area * aspect).sqrt().clamp(max=1.0)
    ch = (area / aspect).sqrt().clamp(max=1.0)
    cx = (1 - cw) * (2 * _rand(b, x, g) - 1)  # centre in [-1, 1] coordinates
    cy = (1 - ch) * (2 * _rand(b, x, g) - 1)
    return torch.stack([cx, cy, cw, ch], 1)                                                 # (B, 4)


def _central_fallback(h: int, w: int, ratio: tuple[float, float]) -> tuple[int, int]:
    """torchvision's box (height, width) in pixels after 10 failed tries: the whole image, aspect clamped to ratio."""
    if w / h < min(ratio):
        return round(w / min(ratio)), w
    if w / h > max(ratio):
        return h, round(h * max(ratio))
    return h, w


def _boxes_torchvision(b: int, x: torch.Tensor, g: torch.Generator | None, scale: tuple[float, float],
                       ratio: tuple[float, float]) -> torch.Tensor:
    """torchvision's RandomResizedCrop box, all tries at once: the first of 10 (area, aspect) draws that fits.

    Sides are whole pixels, as in torchvision; a box that does not fit is rejected rather than
    clamped, which keeps the area distribution of the paper's crops (more small crops than "clamp").
    """
    h, w = x.shape[-2:]
    area = h * w * _uniform(scale[0], scale[1], (b, _TRIES), x, g)                           # (B, 10) pixels
    aspect = _uniform(math.log(ratio[0]), math.log(ratio[1]), (b, _TRIES), x, g).exp()
    pw, ph = (area * aspect).sqrt().round(), (area / aspect).sqrt().round()                  # (B, 10) sides
    fits = (pw >= 1) & (pw <= w) & (ph >= 1) & (ph <= h)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)                                      # (B, 1): first fit
    found = fits.any(1)                                                                       # (B,)
    fh, fw = _central_fallback(h, w, ratio)
    pw = torch.where(found, pw.gather(1, first).squeeze(1), float(fw))                        # (B,)
    ph = torch.where(found, ph.gather(1, first).squeeze(1), float(fh))
    left = torch.where(found, (_rand(b, x, g) * (w - pw + 1)).floor(), ((w - pw) / 2).floor())
    top = torch.where(found, (_rand(b, x, g) * (h - ph + 1)).floor(), ((h - ph) / 2).floor())
    # Pixel box -> centre and half-extent in grid_sample's [-1, 1] coordinates (align_corners=False).
    return torch.stack([(2 * left + pw) / w - 1, (2 * top + ph) / h - 1, pw / w, ph / h], 1)   # (B, 4)


def crop_boxes(x: torch.Tensor, generator: torch.Generator | None = None, *,
               scale: tuple[float, float] = (0.2, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
               crop: str = "clamp") -> torch.Tensor:
    """The boxes random_resized_crop would cut from x with this generator state: (B, 4) = (cx, cy, w, h).

    (cx, cy) is the box centre in [-1, 1] image coordinates and (w, h) its sides as fractions of the
    image's, so w * h is the crop's area fraction (what benchmarks/augment_recipe.py measures).
    """
    _check(x, "crop_boxes")
    _choose("crop", crop, CROPS)
    if not 0 < scale[0] <= scale[1] or not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"need 0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1], "
                         f"got scale={scale}, ratio={ratio}")
    sample = _boxes_clamp if crop == "clamp" else _boxes_torchvision
    return sample(len(x), x, generator, scale, ratio)


def random_resized_crop(x: torch.Tensor, generator: torch.Generator | None = None, *,
                        scale: tuple[float, float] = (0.2, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
                        size: int | None = None, crop: str = "clamp") -> torch.Tensor:
    """Crop a random area (fraction `scale` of the image, aspect `ratio`) of each image and resize it back.

    crop="clamp" (the course's default) clamps a box that overflows the image; crop="torchvision"
    samples as torchvision's RandomResizedCrop (see crop_boxes).
    """
    box = crop_boxes(x, generator, scale=scale, ratio=ratio, crop=crop)                      # (B, 4)
    b = len(x)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)                            # (B, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = box[:, 2], box[:, 0]
    theta[:, 1, 1], theta[:, 1, 2] = box[:, 3], box[:, 1]
    out_size = (b, x.shape[1], size or x.shape[2], size or x.shape[3])
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


def _on_device(m: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A copy of the small CPU constant m on device, written entry by entry with scalar fills.

    A fill carries its value in the kernel launch, so unlike a host-to-device copy it never makes
    the host wait; it runs once per (device, dtype) thanks to the cache of _yiq_matrices.
    """
    out = torch.empty(m.shape, device=device, dtype=m.dtype)
    for entry, value in zip(out.view(-1), m.reshape(-1).tolist()):
        entry.fill_(value)
    return out


@functools.lru_cache(maxsize=None)
def _yiq_matrices(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(RGB -> YIQ, YIQ -> RGB) as (3, 3) constants of dtype on device, computed once per (device, dtype).

    The inverse is taken on the CPU in dtype (float32 for the half types, which inv does not take),
    so float32 images get exactly the matrices the per-call code computed before.
    """
    exact = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    to_yiq = torch.tensor(_TO_YIQ, dtype=exact)
    from_yiq = torch.linalg.inv(to_yiq)
    if device == torch.device("cpu"):   # the host itself (a smoke run's "cpu:0" takes the device path)
        return to_yiq.to(dtype), from_yiq.to(dtype)
    return _on_device(to_yiq.to(dtype), device), _on_device(from_yiq.to(dtype), device)


def _hue_rotation(x: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of each image by `turn` (B,) of a full circle, as a rotation in YIQ colour space."""
    to_yiq, from_yiq = _yiq_matrices(x.device, x.dtype)                                      # (3, 3) each
    cos, sin = torch.cos(2 * math.pi * turn), torch.sin(2 * math.pi * turn)                  # (B,)
    rot = torch.zeros(len(x), 3, 3, device=x.device, dtype=x.dtype)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = from_yiq @ rot @ to_yiq                                                            # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x)


def _rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hue (a fraction of a turn in [0, 1)), saturation and value of RGB images in [0, 1]: three (B, H, W)."""
    r, g, b = x.unbind(1)
    top, bottom = x.amax(1), x.amin(1)
    spread = top - bottom
    sat = spread / torch.where(top > 0, top, torch.ones_like(top))
    safe = torch.where(spread > 0, spread, torch.ones_like(spread))  # grey pixels: hue 0, as torchvision
    hue = torch.where(top == r, (g - b) / safe,
                      torch.where(top == g, 2 + (b - r) / safe, 4 + (r - g) / safe))          # sixths of a turn
    return torch.remainder(hue / 6, 1.0), sat, top


def _hsv_to_rgb(hue: torch.Tensor, sat: torch.Tensor, val: torch.Tensor) -> torch.Tensor:
    """RGB images (B, 3, H, W) from hue (turns), saturation and value (B, H, W), with no branch per pixel.

    Closed form: channel(n) = V - V S clamp(min(k, 4 - k), 0, 1), k = (n + 6 hue) mod 6, n = 5, 3, 1 for R, G, B.
    """
    channels = []
    for n in (5, 3, 1):
        k = torch.remainder(n + 6 * hue, 6)                                                   # (B, H, W)
        channels.append(val - val * sat * torch.minimum(k, 4 - k).clamp(0, 1))
    return torch.stack(channels, 1)                                                          # (B, 3, H, W)


def _hue_shift_hsv(x: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """Shift the hue of each image by `turn` (B,) of a full circle in HSV space, as torchvision's adjust_hue."""
    hue, sat, val = _rgb_to_hsv(x.clamp(0, 1))
    return _hsv_to_rgb(torch.remainder(hue + turn.view(-1, 1, 1), 1.0), sat, val)


def _jitter_factors(b: int, x: torch.Tensor, g: torch.Generator | None, brightness: float, contrast: float,
                    saturation: float, hue: float) -> torch.Tensor:
    """Per-image factors (B, 4): brightness, contrast, saturation in [max(0, 1-s), 1+s], hue turn in [-h, h]."""
    return torch.stack([_uniform(max(0.0, 1 - brightness), 1 + brightness, b, x, g),
                        _uniform(max(0.0, 1 - contrast), 1 + contrast, b, x, g),
                        _uniform(max(0.0, 1 - saturation), 1 + saturation, b, x, g),
                        _uniform(-hue, hue, b, x, g)], 1)


def _jitter_random_order(x: torch.Tensor, g: torch.Generator | None, strengths: tuple[float, float, float, float],
                         hue_space: str) -> torch.Tensor:
    """The four jitter ops in a random order per image, each clamping to [0, 1], without a per-image loop.

    Each image draws a permutation of the ops (0 brightness, 1 contrast, 2 saturation, 3 hue). As in
    torchvision, the first three blend the image with a reference: black, its mean grey, its grey
    image; so at each of the 4 steps one blend serves them all, with the reference and factor each
    image's permutation puts there, and torch.where takes the hue shift for the images whose turn it is.
    """
    b = len(x)
    factors = _jitter_factors(b, x, g, *strengths)                                           # (B, 4)
    order = _rand((b, 4), x, g).argsort(1)                                                   # (B, 4) permutations
    shift = _hue_shift_hsv if hue_space == "hsv" else _hue_rotation
    out = x
    for step in range(4):
        op = order[:, step].view(-1, 1, 1, 1)                                                # (B, 1, 1, 1)
        grey = _grey(out)                                                                    # (B, 1, H, W)
        ref = torch.where(op == 2, grey, torch.where(op == 1, grey.mean((1, 2, 3), keepdim=True), 0.0))
        blended = (ref + (out - ref) * factors.gather(1, op.view(-1, 1)).view(-1, 1, 1, 1)).clamp(0, 1)
        out = torch.where(op == 3, shift(out, factors[:, 3]).clamp(0, 1), blended)
    return out


def color_jitter(x: torch.Tensor, generator: torch.Generator | None = None, *, brightness: float = 0.4,
                 contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.1, p: float = 0.8,
                 order: str = "fixed", hue_space: str = "yiq") -> torch.Tensor:
    """Random brightness, contrast, saturation (factors in [1-s, 1+s]) and hue shift, for a fraction p of images.

    order="fixed" (the course's default) applies them in that order and clamps once at the end;
    order="random" draws an order per image and clamps after each op, as torchvision's ColorJitter.
    hue_space="yiq" turns the hue as a rotation in YIQ space; "hsv" shifts it in HSV (torchvision's
    adjust_hue), on the images clamped to [0, 1] where HSV is defined.
    """
    _check(x, "color_jitter", rgb=True)
    _choose("order", order, ORDERS)
    _choose("hue_space", hue_space, HUE_SPACES)
    if order == "random":
        out = _jitter_random_order(x, generator, (brightness, contrast, saturation, hue), hue_space)
        return _apply_with_p(x, out, p, generator)
    b = len(x)
    out = x * _uniform(1 - brightness, 1 + brightness, b, x, generator).view(-1, 1, 1, 1)
    mean = _grey(out).mean(dim=(1, 2, 3), keepdim=True)                                     # (B, 1, 1, 1)
    out = mean + (out - mean) * _uniform(1 - contrast, 1 + contrast, b, x, generator).view(-1, 1, 1, 1)
    grey = _grey(out)
    out = grey + (out - grey) * _uniform(1 - saturation, 1 + saturation, b, x, generator).view(-1, 1, 1, 1)
    if hue > 0:
        shift = _hue_shift_hsv if hue_space == "hsv" else _hue_rotation
        out = shift(out, _uniform(-hue, hue, b, x, generator))
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


ROTATIONS = ("quarter", "any")     # random_rotation's angles: multiples of 90 degrees, or any angle


def random_rotation(x: torch.Tensor, generator: torch.Generator | None = None, *,
                    angles: str = "quarter") -> torch.Tensor:
    """Rotate each (square) image by a random multiple of 90 degrees, or (angles="any") by a uniform
    random angle, resampled bilinearly with the corners filled from the nearest border pixels."""
    _check(x, "random_rotation")
    if _choose("angles", angles, ROTATIONS) == "any":
        a = 2 * math.pi * _rand(len(x), x, generator)                                          # (B,)
        theta = torch.zeros(len(x), 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
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


def solarize(x: torch.Tensor, generator: torch.Generator | None = None, *, threshold: float = 0.5,
             p: float = 0.2) -> torch.Tensor:
    """Invert every pixel at or above threshold (v -> 1 - v) in a random fraction p of the images (BYOL's view 2)."""
    _check(x, "solarize")
    return _apply_with_p(x, torch.where(x >= threshold, 1 - x, x), p, generator)


def color_distortion(x: torch.Tensor, generator: torch.Generator | None = None, *, strength: float = 0.5,
                     jitter: tuple[float, float, float, float] | None = None, p: float = 0.8,
                     grayscale_p: float = 0.2, order: str = "fixed", hue_space: str = "yiq") -> torch.Tensor:
    """SimCLR's colour distortion: jitter (0.8 s, 0.8 s, 0.8 s, 0.2 s) with p=0.8, then grayscale with p=0.2.

    jitter gives the four strengths (brightness, contrast, saturation, hue) directly instead, as
    BYOL's (0.4, 0.4, 0.2, 0.1); order and hue_space go to color_jitter.
    """
    b, c, s, h = jitter if jitter is not None else (0.8 * strength, 0.8 * strength, 0.8 * strength, 0.2 * strength)
    x = color_jitter(x, generator, brightness=b, contrast=c, saturation=s, hue=h, p=p, order=order,
                     hue_space=hue_space)
    return random_grayscale(x, generator, p=grayscale_p)


def crop_flip(x: torch.Tensor, generator: torch.Generator | None = None, *, scale: tuple[float, float] = (0.2, 1.0),
              crop: str = "clamp") -> torch.Tensor:
    """Random resized crop followed by a random horizontal flip."""
    return horizontal_flip(random_resized_crop(x, generator, scale=scale, crop=crop), generator)


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
    """Apply ops one after the other: Compose([crop_flip, color_distortion])(x, generator).

    settings holds the recipe settings when simclr_augment built it (empty otherwise).
    """

    def __init__(self, ops: Sequence[Op | str], settings: dict | None = None) -> None:
        unknown = [o for o in ops if isinstance(o, str) and o not in OPS]
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; valid names: {', '.join(OPS)}")
        self.ops = [OPS[o] if isinstance(o, str) else o for o in ops]
        self.settings = dict(settings or {})

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return one augmented view of the batch x (B, C, H, W)."""
        _check(x, "Compose")
        for op in self.ops:
            x = op(x, generator)
        return x


# The recipes of simclr_augment, by name (the module docstring says where each comes from). Keys:
#   scale, crop        random_resized_crop's area range and box sampler ("clamp" | "torchvision")
#   rotate             a random rotation after the crop (not in any paper's recipe; see simclr_augment)
#   rotation           its angles: "quarter" (multiples of 90 degrees) or "any" (uniform in [0, 360))
#   colour             colour jitter + grayscale at all; strength s gives jitter (0.8s, 0.8s, 0.8s, 0.2s)
#   jitter             (brightness, contrast, saturation, hue) strengths instead of strength's, or None
#   jitter_p, grayscale_p   probability of the jitter and of grayscale per image
#   order, hue_space   color_jitter's order ("fixed" | "random") and hue space ("yiq" | "hsv")
#   blur, blur_p       Gaussian blur at all, and its probability;  solarize_p: solarize's probability
_COURSE = dict(scale=(0.2, 1.0), crop="clamp", rotate=False, rotation="quarter", colour=True, strength=0.5, jitter=None,
               jitter_p=0.8, grayscale_p=0.2, order="fixed", hue_space="yiq", blur=True, blur_p=0.5,
               solarize_p=0.0)
_SIMCLR = {**_COURSE, "scale": (0.08, 1.0), "crop": "torchvision", "order": "random", "hue_space": "hsv",
           "blur": False}
_BYOL = {**_SIMCLR, "jitter": (0.4, 0.4, 0.2, 0.1), "blur": True}
RECIPES: dict[str, dict] = {
    "course": _COURSE,
    "simclr": _SIMCLR,
    "byol_view1": {**_BYOL, "blur_p": 1.0, "solarize_p": 0.0},
    "byol_view2": {**_BYOL, "blur_p": 0.1, "solarize_p": 0.2},
}


def recipe_settings(recipe: str = "course", **overrides) -> dict:
    """The settings of a RECIPES row with some overridden; clear errors for an unknown recipe or key."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown augmentation recipe {recipe!r}; valid recipes: {', '.join(RECIPES)}")
    unknown = sorted(set(overrides) - set(RECIPES[recipe]))
    if unknown:
        raise TypeError(f"unknown augmentation setting(s) {unknown}; valid settings: {', '.join(RECIPES[recipe])}")
    settings = {**RECIPES[recipe], **overrides}
    _choose("crop", settings["crop"], CROPS)
    _choose("order", settings["order"], ORDERS)
    _choose("hue_space", settings["hue_space"], HUE_SPACES)
    _choose("rotation", settings["rotation"], ROTATIONS)
    return settings


def simclr_augment(recipe: str = "course", **overrides) -> Compose:
    """The two-view pipeline of a recipe: crop + flip, colour distortion, blur, solarize (as its settings say).

    recipe names a row of RECIPES ("course", the default, or "simclr", "byol_view1", "byol_view2");
    keywords override single settings, e.g. simclr_augment(colour=False) or simclr_augment("simclr", blur=True).
    rotate=True adds a random quarter turn after the crop, one of the ops the paper tried (Figure 5).
    It is not in the paper's recipe; the course's profiles switch it on for the shapes set, whose
    backgrounds run in a random direction per image (notebook 07, section 4, measures what it buys).
    """
    st = recipe_settings(recipe, **overrides)
    ops: list[Op] = [lambda x, g=None: crop_flip(x, g, scale=st["scale"], crop=st["crop"])]
    if st["rotate"]:
        ops.append(lambda x, g=None: random_rotation(x, g, angles=st["rotation"]))
    if st["colour"]:
        ops.append(lambda x, g=None: color_distortion(x, g, strength=st["strength"], jitter=st["jitter"],
                                                      p=st["jitter_p"], grayscale_p=st["grayscale_p"],
                                                      order=st["order"], hue_space=st["hue_space"]))
    if st["blur"] and st["blur_p"] > 0:
        ops.append(lambda x, g=None: gaussian_blur(x, g, p=st["blur_p"]))
    if st["solarize_p"] > 0:
        ops.append(lambda x, g=None: solarize(x, g, p=st["solarize_p"]))
    return Compose(ops, settings={"recipe": recipe, **st})
