"""Checks for exercise 06: a gradient saliency map and the share of it that falls on the object."""
from __future__ import annotations

from typing import Callable

import torch

from .report import Checker


def _maps(out: object, shape: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"expected a tensor of shape {shape} (B, H, W), got {got}")
    return out


def saliency_map(fn: Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor], torch.Tensor]) -> None:
    """Check fn(score, x) -> |d score_i / d x_i| maximised over colour channels, (B, C, H, W) -> (B, H, W)."""
    c = Checker("saliency", fn, asks=("course_lib.vision.probing.saliency",))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 4, 5, generator=g)                       # (B, C, H, W)
    w = torch.randn(2, 4, 5, generator=g)                         # a linear score's weights, signs mixed
    w[1, 0, 0] = -9.0                                             # a large negative weight in channel 1
    linear = lambda v: (v * w).sum((1, 2, 3))                     # (B,): d score / d x = w for every image

    def shape() -> str | None:
        s = _maps(fn(linear, x.clone()), (3, 4, 5))
        return None if s.is_floating_point() and bool((s >= 0).all()) else "a saliency map is non-negative floats"

    def absolute() -> str | None:
        s = _maps(fn(linear, x.clone()), (3, 4, 5))
        return None if abs(float(s[0, 0, 0]) - 9.0) < 1e-5 else (
            f"a score with weight -9 on one pixel should give saliency 9 there, got {float(s[0, 0, 0]):.4g}: "
            "take the absolute value of the gradient")

    def channel_max() -> str | None:
        s = _maps(fn(linear, x.clone()), (3, 4, 5))
        want = w.abs().amax(0).expand(3, 4, 5)
        if torch.allclose(s, want, atol=1e-5):
            return None
        if torch.allclose(s, w.abs().sum(0).expand(3, 4, 5), atol=1e-5):
            return "you summed over the colour channels; take the maximum of |gradient| over them"
        return "for a linear score the map should be max over channels of |weight|, the same for every image"

    def per_image() -> str | None:
        square = lambda v: (v ** 2).sum((1, 2, 3))                  # d score_i / d x_i = 2 x_i
        s = _maps(fn(square, x.clone()), (3, 4, 5))
        want = (2 * x).abs().amax(1)
        return None if torch.allclose(s, want, atol=1e-5) else (
            "with score_i = sum of x_i squared the map of image i should be max over channels of |2 x_i|: "
            "each image's map must come from its own score")

    def untouched() -> str | None:
        before = x.clone()
        s = fn(linear, x)
        if not torch.equal(x, before) or x.requires_grad or x.grad is not None:
            return "the input images must be left as they were (work on a detached copy that requires grad)"
        leaf = x.clone().requires_grad_(True)       # an input that already requires grad: no .grad may appear
        s_leaf = fn(linear, leaf)
        if leaf.grad is not None:
            return "a gradient reached the input tensor's .grad: work on a detached copy (x.detach().clone())"
        return None if not (s.requires_grad or s_leaf.requires_grad) else "return a plain tensor, detached from the graph"

    for name, test in [("returns a non-negative (B, H, W) map", shape),
                       ("uses the absolute value of the gradient", absolute),
                       ("maximum over the colour channels", channel_max),
                       ("each image's map comes from its own score", per_image),
                       ("leaves the input alone and returns a detached map", untouched)]:
        c.check(name, test)
    c.done()


def saliency_share(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check fn(sal (B, H, W), mask (B, H, W) bool) -> (B,) share of each map's total inside its mask."""
    c = Checker("saliency_share", fn)
    g = torch.Generator().manual_seed(1)
    sal = torch.rand(3, 4, 4, generator=g) + 0.05                 # (B, H, W), positive
    mask = torch.rand(3, 4, 4, generator=g) > 0.5                 # (B, H, W) bool
    want = (sal * mask).sum((1, 2)) / sal.sum((1, 2))

    def shape() -> str | None:
        out = fn(sal, mask)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (3,) or not out.is_floating_point():
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            return f"expected one float per image, shape (3,), got {got}"
        return None

    def uniform() -> str | None:
        out = fn(torch.ones(3, 4, 4), mask)
        area = mask.float().mean((1, 2))
        return None if torch.allclose(out, area, atol=1e-6) else (
            f"a uniform map should give each mask's share of the pixels {area.tolist()}, got {out.tolist()}")

    def known() -> str | None:
        out = fn(sal, mask)
        if torch.allclose(out, want, atol=1e-6):
            return None
        pooled = (sal * mask).sum() / sal.sum()
        if torch.allclose(out, pooled.expand(3), atol=1e-6):
            return "each image needs its own share: sum over each map's pixels, not over the whole batch"
        return f"expected {[round(v, 4) for v in want.tolist()]}, got {[round(v, 4) for v in out.tolist()]}"

    def scale() -> str | None:
        out = fn(sal * torch.tensor([100.0, 0.01, 3.0])[:, None, None], mask)
        return None if torch.allclose(out, want, atol=1e-5) else "scaling a map must not change its share (divide by its total)"

    def limits() -> str | None:
        full, empty = fn(sal, torch.ones_like(mask)), fn(sal, torch.zeros_like(mask))
        ok = torch.allclose(full, torch.ones(3), atol=1e-6) and torch.allclose(empty, torch.zeros(3), atol=1e-6)
        return None if ok else "a mask that covers everything should give 1, an empty mask 0"

    for name, test in [("returns one float per image", shape), ("a uniform map gives the mask's area", uniform),
                       ("known shares on random maps", known), ("each map's scale does not matter", scale),
                       ("full mask 1, empty mask 0", limits)]:
        c.check(name, test)
    c.done()
