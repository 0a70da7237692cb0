"""Checks for exercises 07 and 08: NT-Xent, MoCo's momentum update and queue, the BYOL loss."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .report import Checker


def _scalar(out: object) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.dim() != 0:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"expected a scalar tensor (the mean loss), got {got}")
    return out


def _close(a: torch.Tensor, b: float, tol: float = 1e-4) -> bool:
    return abs(float(a) - b) <= tol * max(1.0, abs(b))


def nt_xent(fn: Callable[..., torch.Tensor]) -> None:
    """Check fn(z1, z2, tau) -> NT-Xent (SimCLR eq. 1) averaged over the 2N anchors."""
    from ..vision.simclr import nt_xent as reference

    c = Checker("nt_xent", fn, asks=("course_lib.vision.simclr.nt_xent",))
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)

    def scalar() -> str | None:
        _scalar(fn(z1, z2, 0.5))
        return None

    def known_value() -> str | None:
        # Two images whose views are identical and orthogonal: anchor i sees its partner at sim 1 and
        # the two other views at sim 0, so l = -log(e^(1/tau) / (e^(1/tau) + 2)).
        eye = torch.eye(2, 3)
        want = -math.log(math.exp(2.0) / (math.exp(2.0) + 2.0))
        got = _scalar(fn(eye, eye.clone(), 0.5))
        return None if _close(got, want) else f"views [[1,0,0],[0,1,0]] twice with tau=0.5: expected {want:.5f}, got {float(got):.5f}"

    def matches() -> str | None:
        want, got = reference(z1, z2, 0.3).item(), _scalar(fn(z1, z2, 0.3))
        return None if _close(got, want) else (f"on random views expected {want:.5f}, got {float(got):.5f}; "
                                              "is every anchor's partner the other view, and the anchor itself excluded?")

    def symmetric() -> str | None:
        a, b = _scalar(fn(z1, z2, 0.5)), _scalar(fn(z2, z1, 0.5))
        return None if _close(a, float(b)) else f"swapping the views changed the loss ({float(a):.5f} vs {float(b):.5f})"

    def cosine() -> str | None:
        a, b = _scalar(fn(z1, z2, 0.5)), _scalar(fn(10 * z1, 0.1 * z2, 0.5))
        return None if _close(a, float(b)) else "rescaling the embeddings changed the loss: normalise them (cosine similarity)"

    def temperature_limits() -> str | None:
        hot = _scalar(fn(z1, z2, 1e4))
        if not _close(hot, math.log(2 * len(z1) - 1), 1e-3):
            return (f"with a huge tau every view is equally likely: expected log(2N-1) = "
                    f"{math.log(2 * len(z1) - 1):.4f}, got {float(hot):.4f}")
        cold = _scalar(fn(torch.eye(3), torch.eye(3), 0.01))
        return None if float(cold) < 1e-6 else f"perfect views with tau=0.01 should give a loss near 0, got {float(cold):.3g}"

    def gradient() -> str | None:
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        _scalar(fn(a, b, 0.5)).backward()
        ok = a.grad is not None and b.grad is not None and a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
        return None if ok else "the loss must be differentiable with respect to both views"

    for name, test in [("returns a scalar tensor", scalar), ("known value on orthogonal views", known_value),
                       ("matches SimCLR eq. 1 on random views", matches), ("symmetric in the two views", symmetric),
                       ("invariant to the length of the embeddings", cosine),
                       ("temperature limits: log(2N-1) when hot, 0 for perfect views when cold", temperature_limits),
                       ("gradients reach both views", gradient)]:
        c.check(name, test)
    c.done()


def momentum_update(fn: Callable[[nn.Module, nn.Module, float], None]) -> None:
    """Check fn(online, target, m) updates target in place: theta_t <- m theta_t + (1 - m) theta_o."""
    c = Checker("momentum_update", fn, asks=("course_lib.vision.moco.momentum_update",))

    def pair() -> tuple[nn.Module, nn.Module]:
        torch.manual_seed(0)
        online, target = nn.Linear(3, 2), nn.Linear(3, 2)
        target.requires_grad_(False)
        return online, target

    def known_value() -> str | None:
        online, target = pair()
        want = 0.9 * target.weight.detach().clone() + 0.1 * online.weight.detach()
        fn(online, target, 0.9)
        return None if torch.allclose(target.weight, want, atol=1e-6) else "with m=0.9 the target should become 0.9 target + 0.1 online"

    def limits() -> str | None:
        online, target = pair()
        before = target.weight.detach().clone()
        fn(online, target, 1.0)
        if not torch.allclose(target.weight, before):
            return "m=1 must leave the target unchanged"
        fn(online, target, 0.0)
        return None if torch.allclose(target.weight, online.weight) else "m=0 must copy the online weights"

    def every_parameter() -> str | None:
        online, target = pair()
        fn(online, target, 0.0)
        return None if torch.allclose(target.bias, online.bias) else "the biases must be updated too (all parameters)"

    def online_untouched() -> str | None:
        online, target = pair()
        before = online.weight.detach().clone()
        fn(online, target, 0.5)
        return None if torch.equal(online.weight, before) else "the online network must not change"

    def no_graph() -> str | None:
        online, target = pair()
        fn(online, target, 0.5)
        return None if target.weight.grad_fn is None else "the update must not be recorded by autograd (use torch.no_grad())"

    for name, test in [("known value with m=0.9", known_value), ("m=1 keeps, m=0 copies", limits),
                       ("updates every parameter", every_parameter), ("leaves the online network alone", online_untouched),
                       ("outside autograd", no_graph)]:
        c.check(name, test)
    c.done()


def enqueue(fn: Callable[[torch.Tensor, int, torch.Tensor], int]) -> None:
    """Check fn(queue (K, D), ptr, keys (N, D)) -> new ptr: overwrite the oldest N keys in place, FIFO."""
    c = Checker("enqueue", fn, asks=("course_lib.vision.moco.Queue.push",))

    def order() -> str | None:
        queue, ptr = torch.zeros(6, 2), 0
        for batch in range(1, 5):
            ptr = fn(queue, ptr, torch.full((2, 2), float(batch)))
        got = queue[:, 0].int().tolist()
        return None if got == [4, 4, 2, 2, 3, 3] else (f"after 4 batches of 2 keys in a queue of 6 the slots should "
                                                       f"hold batches [4, 4, 2, 2, 3, 3], got {got}")

    def pointer() -> str | None:
        queue, ptrs, ptr = torch.zeros(6, 2), [], 0
        for _ in range(4):
            ptr = fn(queue, ptr, torch.ones(2, 2))
            ptrs.append(int(ptr))
        return None if ptrs == [2, 4, 0, 2] else f"the returned pointer should go 2, 4, 0, 2; got {ptrs}"

    def detached() -> str | None:
        queue, keys = torch.zeros(4, 2), torch.ones(2, 2, requires_grad=True)
        fn(queue, 0, keys * 2)
        return None if not queue.requires_grad else "the queue must not keep the keys' autograd graph (detach them)"

    def bad_size() -> str | None:
        try:
            fn(torch.zeros(5, 2), 0, torch.ones(2, 2))
        except ValueError:
            return None
        return "a queue of 5 slots cannot take batches of 2 keys: raise ValueError"

    for name, test in [("first in, first out", order), ("returns the next write position", pointer),
                       ("stores keys without gradients", detached), ("K not a multiple of N is a ValueError", bad_size)]:
        c.check(name, test)
    c.done()


def byol_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check fn(p, z) -> mean of 2 - 2 cos(p_i, z_i), with no gradient reaching the target z."""
    c = Checker("byol_loss", fn, asks=("course_lib.vision.byol.byol_loss",))
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)

    def known_values() -> str | None:
        e = torch.eye(3)
        for target, want in [(e, 0.0), (-e, 4.0), (e.roll(1, 0), 2.0)]:
            got = _scalar(fn(e, target))
            if not _close(got, want, 1e-5):
                return f"for unit vectors that are equal / opposite / orthogonal expect 0 / 4 / 2; got {float(got):.4f} for {want}"
        return None

    def scale() -> str | None:
        a, b = _scalar(fn(p, z)), _scalar(fn(5 * p, 0.2 * z))
        return None if _close(a, float(b)) else "the loss must normalise p and z (it only depends on their directions)"

    def mean() -> str | None:
        rows = [float(_scalar(fn(p[i:i + 1], z[i:i + 1]))) for i in range(4)]
        return None if _close(_scalar(fn(p, z)), sum(rows) / 4) else "the loss should be the mean over the batch"

    def stop_gradient() -> str | None:
        pp, zz = p.clone().requires_grad_(), z.clone().requires_grad_()
        _scalar(fn(pp, zz)).backward()
        if zz.grad is not None and zz.grad.abs().sum() > 0:
            return "a gradient reached the target z: BYOL's target gets no gradient (use z.detach())"
        return None if pp.grad is not None and pp.grad.abs().sum() > 0 else "the gradient must reach the prediction p"

    for name, test in [("known values (equal, opposite, orthogonal)", known_values),
                       ("invariant to the length of p and z", scale), ("mean over the batch", mean),
                       ("no gradient reaches the target network", stop_gradient)]:
        c.check(name, test)
    c.done()
