"""Checks for exercise 11: the InfoNCE loss of a critic matrix and the bound log N - L_N on mutual information.

scores[i, j] = f(x_i, c_j) scores anchor i against candidate j; anchor i's positive is candidate i (the
diagonal). L_N is the mean over the anchors of -log softmax(scores[i])[i] (van den Oord et al. 2018).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .report import Checker

# What in the library already computes InfoNCE: the bound's estimate, and MoCo's loss (which a student could
# feed a critic matrix: queries = the identity, keys = the scores, the queue = the scores with the diagonal masked).
ASKS = ("course_lib.bounds.infonce_estimate", "course_lib.vision.moco.info_nce")

# A non-symmetric critic matrix: its row softmax and its column softmax give different losses.
_A = torch.tensor([[3.0, 0.0, 1.0, -1.0],
                   [2.0, 1.0, 0.0, 0.5],
                   [0.0, 4.0, 2.0, 1.0],
                   [1.0, -2.0, 0.0, 0.5]])


def _scalar(out: object, what: str) -> float:
    if not isinstance(out, torch.Tensor) or out.dim() != 0 or not out.is_floating_point():
        got = f"{out.dtype} of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"expected a scalar float tensor ({what}), got {got}")
    return float(out)


def reference(scores: torch.Tensor) -> float:
    """L_N of a critic matrix (N, N), in float64: mean over rows i of logsumexp_j scores[i, j] - scores[i, i]."""
    s = scores.double()
    return (s.logsumexp(dim=1) - s.diagonal()).mean().item()


def _close(got: float, want: float, tol: float = 1e-4) -> bool:
    return math.isfinite(got) and abs(got - want) <= tol * max(1.0, abs(want))


def _random(n: int, seed: int, scale: float = 2.0) -> torch.Tensor:
    return scale * torch.randn(n, n, generator=torch.Generator().manual_seed(seed))


def infonce_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Check fn(scores (N, N)) -> L_N: the mean over rows i of -log softmax(scores[i])[i], computed stably."""
    c = Checker("infonce_loss", fn, asks=ASKS)

    def loss(scores: torch.Tensor) -> float:
        return _scalar(fn(scores.clone()), "the mean loss over the N anchors")

    def output_type() -> str | None:
        loss(_A)
        return None

    def uninformative() -> str | None:
        n = 4
        got, want = loss(torch.zeros(n, n)), math.log(n)
        if _close(got, want):
            return None
        if _close(got, n * want):
            return (f"all-zero scores (N={n}): expected log N = {want:.4f}, got N log N = {got:.4f}: "
                    "take the mean over the anchors, not the sum")
        if _close(got, -want):
            return (f"all-zero scores (N={n}): expected log N = {want:.4f}, got {got:.4f}: "
                    "the loss is MINUS log softmax, so it is never negative")
        return f"all-zero scores (N={n}): every candidate is equally likely, expected log N = {want:.4f}, got {got:.4f}"

    def rows() -> str | None:
        got, want, columns = loss(_A), reference(_A), reference(_A.T)
        if _close(got, want):
            return None
        if _close(got, columns):
            return (f"on a non-symmetric matrix you took the softmax over the columns ({got:.4f}, expected {want:.4f}): "
                    "row i holds anchor i's scores against every candidate, so normalise each row (dim=1)")
        if _close(got, -want):
            return f"expected {want:.4f}, got {got:.4f}: the sign is flipped (the loss is -log softmax, never negative)"
        first = (_A.double().logsumexp(dim=1) - _A.double()[:, 0]).mean().item()
        if _close(got, first):
            return f"expected {want:.4f}, got {got:.4f}: the positive of row i is scores[i, i] (the diagonal), not column 0"
        return f"on a fixed non-symmetric 4x4 matrix expected {want:.4f}, got {got:.4f}"

    def row_shift() -> str | None:
        shift = torch.tensor([[5.0], [-3.0], [100.0], [0.5]])   # one constant per anchor
        got, want = loss(_A + shift), reference(_A)
        return None if _close(got, want) else (f"adding a constant to each row changed the loss ({want:.4f} -> {got:.4f}): "
                                               "a softmax over one row does not change when all of that row moves together; "
                                               "normalise each row on its own, not the whole matrix")

    def stable() -> str | None:
        for what, scores in (("1000 x the scores", 1000 * _A), ("the scores - 1000", _A - 1000)):
            got, want = loss(scores), reference(scores)
            if not math.isfinite(got):
                return (f"with {what} the loss is {got}: exp overflows or underflows in float32; use torch.logsumexp "
                        "(or subtract each row's maximum before exponentiating)")
            if not _close(got, want):
                return f"with {what} expected {want:.4f}, got {got:.4f}"
        return None

    def non_negative() -> str | None:
        got = [loss(_random(n, seed)) for n, seed in ((3, 1), (8, 2), (20, 3))]
        return None if min(got) >= 0 else (f"the loss must be >= 0 (-log of a probability), got {min(got):.4f}: "
                                           "is the sign flipped?")

    def random() -> str | None:
        for n, seed, scale in ((2, 4, 1.0), (5, 5, 3.0), (17, 6, 0.5), (64, 7, 10.0)):
            scores = _random(n, seed, scale)
            got, want = loss(scores), reference(scores)
            if not _close(got, want):
                return f"on a random {n}x{n} matrix (scale {scale:g}) expected {want:.5f}, got {got:.5f}"
        return None

    def float64() -> str | None:
        got, single = fn(_A.double()), loss(_A)
        ok = isinstance(got, torch.Tensor) and got.dim() == 0 and _close(float(got), single)
        return None if ok else "a float64 matrix should give a scalar tensor with the same value as the float32 one"

    def bad_shape() -> str | None:
        for bad in (torch.zeros(3, 4), torch.zeros(4), torch.zeros(2, 3, 3)):
            try:
                fn(bad)
            except ValueError:
                continue
            return f"scores of shape {tuple(bad.shape)} is not a square (N, N) matrix: raise ValueError"
        return None

    for name, test in [("returns a scalar float tensor", output_type),
                       ("all-zero scores give log N (the mean, not the sum)", uninformative),
                       ("softmax over each row, positives on the diagonal", rows),
                       ("unchanged by adding a constant to a row", row_shift),
                       ("stable for very large and very negative scores", stable),
                       ("never negative", non_negative),
                       ("matches -log softmax on random matrices", random),
                       ("works in float64 too", float64),
                       ("a matrix that is not (N, N) raises ValueError", bad_shape)]:
        c.check(name, test)
    c.done()


def mi_lower_bound(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Check fn(scores (N, N)) -> log N - L_N in nats, the InfoNCE lower bound on I(x; c)."""
    c = Checker("mi_lower_bound", fn, asks=ASKS)

    def bound(scores: torch.Tensor) -> float:
        return _scalar(fn(scores.clone()), "the bound in nats")

    def output_type() -> str | None:
        bound(_A)
        return None

    def uninformative() -> str | None:
        got = bound(torch.zeros(8, 8))
        if abs(got) < 1e-5:
            return None
        if _close(got, 2 * math.log(8)):
            return (f"all-zero scores (N=8) gave 2 log N = {got:.4f}: "
                    "the bound is log N MINUS the loss, and certifies 0 nats here")
        return f"a critic that scores every candidate alike certifies 0 nats, got {got:.4f}"

    def perfect() -> str | None:
        for n in (2, 8, 50):
            got, want = bound(100.0 * torch.eye(n)), math.log(n)
            if _close(got, want):
                continue
            if _close(got, -want):
                return f"N={n}: expected log N = {want:.4f}, got {got:.4f}: the bound is log N - L_N, not L_N - log N"
            if _close(got, math.log2(n)):
                return (f"N={n}: expected log N = {want:.4f} nats, got log2 N = {got:.4f}: "
                        "use the natural logarithm, as the loss does")
            if _close(got, math.log(n * n)):
                return (f"N={n}: expected log N = {want:.4f}, got log N^2 = {got:.4f}: "
                        "N is the number of rows, not of entries")
            return f"a critic that always picks the positive (N={n}) certifies log N = {want:.4f} nats, got {got:.4f}"
        return None

    def at_most_log_n() -> str | None:
        for n, seed, scale, boost in ((3, 8, 1.0, 0.0), (16, 9, 1.0, 2.0), (16, 9, 5.0, 150.0), (40, 10, 50.0, 1500.0)):
            scores = _random(n, seed, scale) + boost * torch.eye(n)       # the larger the boost, the nearer log N
            got = bound(scores)
            if not math.isfinite(got) or got > math.log(n) + 1e-5:
                return f"the bound can never exceed log N = {math.log(n):.4f} (L_N >= 0), got {got:.4f} for N={n}"
        return None

    def random() -> str | None:
        for n, seed, scale in ((2, 11, 1.0), (6, 12, 3.0), (33, 13, 0.3)):
            scores = _random(n, seed, scale)
            got, want = bound(scores), math.log(n) - reference(scores)
            if not _close(got, want):
                return f"on a random {n}x{n} matrix expected log N - L_N = {want:.5f}, got {got:.5f}"
        return None

    for name, test in [("returns a scalar float tensor", output_type),
                       ("an uninformative critic gives 0 nats", uninformative),
                       ("a perfect critic gives log N (natural log, N rows)", perfect),
                       ("never above log N", at_most_log_n),
                       ("log N - L_N on random matrices", random)]:
        c.check(name, test)
    c.done()
