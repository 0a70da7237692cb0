"""Checks for exercise 10: quantising ab colours into grid bins, and Zhang et al.'s class-rebalancing weights.

The grid is notebook 10's (course_lib.vision.colorization.ABBins): bin centres at every multiple of
bin_size, so a colour's bin is round(ab / bin_size); here the centres i * bin_size, i = -K..K with
K = ceil(AB_MAX / bin_size), are numbered a-major: index = (i_a + K)(2K + 1) + (i_b + K). The weights are
Zhang, Isola & Efros (2016) eq. 4: w proportional to 1 / ((1 - lam) p + lam / Q), scaled so that sum_q p_q w_q = 1.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .report import Checker

AB_MAX = 110.0   # Zhang et al.'s ab grid spans [-110, 110]: every sRGB colour's a and b lie inside

# ABBins computes the bins of every pixel (its constructor rounds ab / bin_size, `nearest` finds the bin
# centre) and the rebalancing weights (its constructor): what the two answers ask for.
QUANTIZE_ASKS = ("course_lib.vision.colorization.ABBins.__init__", "course_lib.vision.colorization.ABBins.nearest")
WEIGHTS_ASKS = ("course_lib.vision.colorization.ABBins.__init__",)


def radius(bin_size: float) -> int:
    """K: the grid's centres are i * bin_size for i = -K..K."""
    return math.ceil(AB_MAX / bin_size)


def reference_quantize(ab: torch.Tensor, bin_size: float, rounding=torch.round) -> torch.Tensor:
    """The grid index of the nearest bin centre of every pixel: ab (N, 2, H, W) -> (N, H, W) long."""
    k = radius(bin_size)
    cell = rounding(ab / bin_size).long().clamp(-k, k) + k            # (N, 2, H, W) in 0..2K
    return cell[:, 0] * (2 * k + 1) + cell[:, 1]


def reference_weights(p: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Zhang et al.'s eq. 4 in float64: p (Q,) -> w (Q,) with sum_q p_q w_q = 1."""
    p = p.double()
    w = 1.0 / ((1 - lam) * p + lam / len(p))
    return w / (p * w).sum()


def _pixels(*pairs: tuple[float, float]) -> torch.Tensor:
    """One image of one row of pixels with the given (a, b): (1, 2, 1, P)."""
    return torch.tensor(pairs, dtype=torch.float32).T.reshape(1, 2, 1, len(pairs))


def _random_ab(seed: int, n: int = 3, size: int = 8) -> torch.Tensor:
    """The ab channels (n, 2, size, size) of images of random sRGB colours."""
    from ..vision.colorization import rgb_to_lab

    return rgb_to_lab(torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)))[:, 1:]


def _indices(out: object, shape: tuple[int, ...], bin_size: float) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.dtype != torch.long or tuple(out.shape) != shape:
        got = f"{out.dtype} of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"expected a long tensor of shape {shape} (one bin index per pixel: (N, H, W)), got {got}")
    side = 2 * radius(bin_size) + 1
    if len(out) and (out.min() < 0 or out.max() >= side * side):
        raise ValueError(f"indices must lie in 0 .. {side * side - 1} (a grid of {side} x {side} bins for "
                         f"bin_size {bin_size:g}), got {int(out.min())} .. {int(out.max())}")
    return out


def quantize_ab(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """Check fn(ab (N, 2, H, W), bin_size) -> (N, H, W) long: the grid index of each pixel's nearest bin centre."""
    c = Checker("quantize_ab", fn, asks=QUANTIZE_ASKS)

    def index(ab: torch.Tensor, bin_size: float) -> list[int]:
        return _indices(fn(ab.clone(), bin_size), (ab.shape[0], *ab.shape[2:]), bin_size).flatten().tolist()

    def output_type() -> str | None:
        index(60 * torch.randn(2, 2, 3, 5, generator=torch.Generator().manual_seed(0)), 10.0)
        return None

    def grey() -> str | None:
        got = index(_pixels((0.0, 0.0), (1.0, -2.0)), 10.0)
        return None if got == [264, 264] else (f"grey, (a, b) = (0, 0), and (1, -2) lie in the middle bin "
                                               f"(i_a, i_b) = (0, 0): index K (2K + 1) + K = 264 for bin_size 10 "
                                               f"(K = 11), got {got}")

    def a_major() -> str | None:
        ab = _pixels((10.0, 0.0), (0.0, 10.0), (-20.0, 30.0))
        got, want = index(ab, 10.0), reference_quantize(ab, 10.0).flatten().tolist()
        if got == want:
            return None
        swapped = reference_quantize(ab.flip(1), 10.0).flatten().tolist()
        if got == swapped:
            return f"a and b are swapped: index = (i_a + K)(2K + 1) + (i_b + K); expected {want}, got {got}"
        return f"(a, b) = (10, 0), (0, 10), (-20, 30) with bin_size 10: expected {want}, got {got}"

    def nearest() -> str | None:
        ab = _pixels((4.0, -6.0), (-4.0, 6.0), (14.0, -16.0), (-16.0, 14.0), (24.9, -25.1))
        got, want = index(ab, 10.0), reference_quantize(ab, 10.0).flatten().tolist()
        if got == want:
            return None
        if got == reference_quantize(ab, 10.0, torch.floor).flatten().tolist():
            return ("you floored ab / bin_size: a = -4 is 4 from the centre 0 and 6 from -10, so its bin is 0, not -1; "
                    "round to the nearest centre (flooring is off by half a bin)")
        if got == reference_quantize(ab, 10.0, torch.trunc).flatten().tolist():
            return ("you truncated ab / bin_size towards zero (.long() or int()): a = 6 is nearer the centre 10 than 0; "
                    "round to the nearest centre first")
        return f"(a, b) = (4, -6), (-4, 6), (14, -16), (-16, 14), (24.9, -25.1) with bin_size 10: expected {want}, got {got}"

    def bin_size() -> str | None:
        ab = _pixels((7.0, -3.0), (-52.0, 33.0), (96.0, -104.0))
        for size in (5.0, 20.0, 7.0):
            got, want = index(ab, size), reference_quantize(ab, size).flatten().tolist()
            if got != want:
                k = radius(size)
                return (f"with bin_size {size:g} the grid has K = ceil(110 / {size:g}) = {k}, so {2 * k + 1} x {2 * k + 1} "
                        f"bins: expected {want}, got {got}")
        return None

    def edge() -> str | None:
        ab = _pixels((130.0, -200.0), (-500.0, 3.0), (2.0, 111.0))
        out = fn(ab.clone(), 10.0)                                       # not index(): out-of-grid values get this hint
        got = out.flatten().tolist() if isinstance(out, torch.Tensor) else out
        want = reference_quantize(ab, 10.0).flatten().tolist()
        return None if got == want else (f"colours beyond the grid belong to its nearest edge bin (clamp i_a and i_b to "
                                         f"-K .. K): expected {want}, got {got}")

    def library() -> str | None:
        from ..vision.colorization import ABBins

        for seed, size in ((1, 10.0), (2, 7.0)):
            ab = _random_ab(seed)
            bins = ABBins(ab, bin_size=size)
            want = bins.centres[bins.nearest(ab)]                              # (N, H, W, 2) notebook 10's centres
            k = radius(size)
            idx = torch.tensor(index(ab, size)).view(want.shape[:-1])
            mine = torch.stack([idx // (2 * k + 1) - k, idx % (2 * k + 1) - k], dim=-1).float() * size
            wrong = int((mine != want).any(-1).sum())
            if wrong:
                return (f"on the ab values of random colours (bin_size {size:g}) the centre of your bin differs from "
                        f"notebook 10's ABBins.nearest at {wrong} of {idx.numel()} pixels")
        return None

    def bad_size() -> str | None:
        for size in (0.0, -5.0):
            try:
                fn(_pixels((1.0, 1.0)), size)
            except ValueError:
                continue
            except Exception as e:  # noqa: BLE001 - any other error is the mistake this check names
                return f"bin_size {size:g} is not a positive number: raise ValueError (your code raised {type(e).__name__})"
            return f"bin_size {size:g} is not a positive number: raise ValueError"
        return None

    for name, test in [("returns one long index per pixel, (N, H, W), on the grid", output_type),
                       ("grey is the middle bin", grey),
                       ("a picks the row of the grid, b the column", a_major),
                       ("the NEAREST centre: rounding, not flooring", nearest),
                       ("bin_size sets the grid", bin_size),
                       ("colours beyond the grid go to its edge", edge),
                       ("the same bins as notebook 10's ABBins on real colours", library),
                       ("bin_size <= 0 raises ValueError", bad_size)]:
        c.check(name, test)
    c.done()


def _rounded(w: torch.Tensor) -> list[float]:
    return [round(v, 4) for v in w.tolist()]


def _close(got: torch.Tensor, want: torch.Tensor, tol: float = 1e-4) -> bool:
    return bool(torch.isfinite(got).all()) and torch.allclose(got.double(), want.double(), rtol=tol, atol=tol * 1e-2)


def rebalance_weights(fn: Callable[..., torch.Tensor]) -> None:
    """Check fn(p (Q,), lam=0.5) -> w (Q,): w proportional to 1 / ((1 - lam) p + lam / Q), sum_q p_q w_q = 1."""
    c = Checker("rebalance_weights", fn, asks=WEIGHTS_ASKS)
    p3 = torch.tensor([0.7, 0.2, 0.1])
    g = torch.Generator().manual_seed(3)
    p12 = torch.rand(12, generator=g).add(0.05) ** 3
    p12 = p12 / p12.sum()                                                # distinct, from 0.2% to 30%

    def weights(p: torch.Tensor, *lam: float) -> torch.Tensor:
        out = fn(p.clone(), *lam)
        if not isinstance(out, torch.Tensor) or not out.is_floating_point() or tuple(out.shape) != tuple(p.shape):
            got = f"{out.dtype} of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
            raise TypeError(f"expected a float tensor of shape {tuple(p.shape)} (one weight per bin), got {got}")
        return out.detach()

    def output_type() -> str | None:
        weights(p3, 0.5)
        return None

    def known_value() -> str | None:
        got, want = weights(p3, 0.5), reference_weights(p3, 0.5)
        if _close(got, want):
            return None
        raw = 1.0 / (0.5 * p3.double() + 0.5 / 3)
        shown = f"p = [0.7, 0.2, 0.1], lam = 0.5: expected {_rounded(want)}, got {_rounded(got)}"
        if _close(got, raw):
            return f"{shown}; you left out the normalisation: divide by sum_q p_q w_q so that the expected weight is 1"
        if _close(got, raw / raw.mean()):
            return (f"{shown}; you made the MEAN weight 1 (every bin counted alike): eq. 4 makes the expected "
                    "weight under p one, sum_q p_q w_q = 1")
        if _close(got, raw / raw.sum()):
            return f"{shown}; you made the weights sum to 1: eq. 4 makes the expected weight under p one, sum_q p_q w_q = 1"
        if bool((got[:-1] > got[1:]).all()):                             # p3 falls, so w must rise
            return f"{shown}; the most common bin got the largest weight: w is the INVERSE of (1 - lam) p + lam / Q"
        return shown

    def expected_one() -> str | None:
        w = weights(p12, 0.5)
        e = float((p12.double() * w.double()).sum())
        if abs(e - 1) <= 1e-4:
            return None
        if abs(float(w.double().mean()) - 1) <= 1e-4:
            return (f"the expected weight sum_q p_q w_q is {e:.4f}, and the mean weight is 1: you normalised under the "
                    "uniform distribution; normalise under p, so that an average pixel weighs 1")
        return f"the expected weight under p, sum_q p_q w_q, must be 1 (Zhang et al. eq. 4), got {e:.4f}"

    def rare_heavier() -> str | None:
        w = weights(p12, 0.5)
        order = p12.argsort()                                            # rarest first
        return None if bool((w[order][:-1] > w[order][1:]).all()) else \
            "rarer bins must weigh more: w is proportional to 1 / ((1 - lam) p + lam / Q), which falls as p grows"

    def lam_used() -> str | None:
        one, half = weights(p12, 1.0), weights(p12, 0.5)
        if _close(one, half):
            return "lam = 1 and lam = 0.5 gave the same weights: use lam (1 - lam of p mixed with lam of the uniform 1/Q)"
        if not _close(one, torch.ones(12)):
            return f"lam = 1 mixes in only the uniform distribution, so every bin weighs 1, got {_rounded(one[:3])} ..."
        zero, want = weights(p12, 0.0), 1.0 / (12 * p12.double())
        return None if _close(zero, want) else "lam = 0 gives plain inverse frequencies, w_q = 1 / (Q p_q)"

    def uniform() -> str | None:
        for lam in (0.3, 0.7):
            w = weights(torch.full((5,), 0.2), lam)
            if not _close(w, torch.ones(5)):
                return f"when every bin is equally common there is nothing to rebalance: expected all ones, got {_rounded(w)}"
        return None

    def random() -> str | None:
        gen = torch.Generator().manual_seed(4)
        for q, lam, zeros in ((7, 0.5, 0), (40, 0.25, 5), (313, 0.9, 30)):
            p = torch.rand(q, generator=gen) ** 4
            p[torch.randperm(q, generator=gen)[:zeros]] = 0.0                # bins that never occur
            p = p / p.sum()
            got, want = weights(p, lam), reference_weights(p, lam)
            if not _close(got, want):
                worst = int((got.double() - want).abs().argmax())
                return (f"Q = {q}, lam = {lam:g} ({zeros} bins with p = 0): bin {worst} expected {float(want[worst]):.5f}, "
                        f"got {float(got[worst]):.5f}")
        return None

    def library() -> str | None:
        from ..vision.colorization import ABBins

        bins = ABBins(_random_ab(5, n=4), bin_size=10.0)
        got = weights(bins.p)                                            # the default lam: 1/2
        return None if _close(got, bins.weights) else \
            ("with the default lam, the weights differ from notebook 10's ABBins on the same bin frequencies "
             "(is lam=0.5 the default?)")

    def bad_input() -> str | None:
        for p, lam, why in ((p3, 1.5, "lam = 1.5 is outside [0, 1]"), (p3, -0.1, "lam = -0.1 is outside [0, 1]"),
                            (torch.tensor([0.5, 0.7]), 0.5, "p = [0.5, 0.7] does not sum to 1"),
                            (torch.tensor([1.2, -0.2]), 0.5, "p = [1.2, -0.2] has a negative frequency")):
            try:
                fn(p.clone(), lam)
            except ValueError:
                continue
            return f"{why}: raise ValueError"
        return None

    for name, test in [("returns one float weight per bin", output_type),
                       ("known value: p = [0.7, 0.2, 0.1], lam = 1/2 (eq. 4)", known_value),
                       ("the expected weight under p is 1", expected_one),
                       ("rarer bins weigh more", rare_heavier),
                       ("lam = 1: no rebalancing; lam = 0: inverse frequencies", lam_used),
                       ("a uniform p gives every bin weight 1", uniform),
                       ("matches eq. 4 on random distributions, zeros included", random),
                       ("the same weights as notebook 10's ABBins", library),
                       ("a lam outside [0, 1] or a p that is not a distribution raises ValueError", bad_input)]:
        c.check(name, test)
    c.done()
