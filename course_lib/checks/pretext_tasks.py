"""Checks for exercise 05: masked reconstruction loss, greedy max-Hamming permutations, relative-position sampler."""
from __future__ import annotations

from typing import Callable

import torch

from .report import Checker

# Label k <-> grid offset (d_row, d_col) of the neighbour from the centre (as course_lib.vision.patches).
NEIGHBOURS = torch.tensor([[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1]])


def masked_reconstruction_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Check fn(x_hat, x, mask) -> scalar mean squared error over the hole pixels (mask (B, 1, H, W), 1 = hole)."""
    c = Checker("masked_l2", fn, asks=("course_lib.vision.inpainting.masked_l2",))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 6, 6, generator=g)
    mask = torch.zeros(2, 1, 6, 6)
    mask[:, :, 2:4, 1:5] = 1.0  # an 2x4 hole in each image

    def scalar() -> str | None:
        out = fn(x + 0.1, x, mask)
        if not isinstance(out, torch.Tensor) or out.dim() != 0:
            return f"expected a 0-dimensional tensor (a scalar loss), got {getattr(out, 'shape', type(out).__name__)}"
        return None

    def zero_outside() -> str | None:
        wrong_outside = x + 3.0 * (1 - mask)  # errors only in the context
        out = float(fn(wrong_outside, x, mask))
        return None if abs(out) < 1e-7 else f"errors outside the hole should not count; got loss {out:.4f}, expected 0"

    def known_value() -> str | None:
        out = float(fn(x + 0.5 * mask, x, mask))
        return None if abs(out - 0.25) < 1e-5 else (f"with an error of 0.5 on every hole pixel the mean squared error "
                                                    f"is 0.25, got {out:.4f} (average over hole pixels and channels)")

    def normalised() -> str | None:
        big = torch.zeros(2, 1, 6, 6)
        big[:, :, 1:5, 1:5] = 1.0
        small, large = float(fn(x + 0.3, x, mask)), float(fn(x + 0.3, x, big))
        return None if abs(small - large) < 1e-5 else (f"the same per-pixel error gave {small:.4f} for a small hole and "
                                                       f"{large:.4f} for a large one; divide by the number of hole pixels")

    def gradient() -> str | None:
        x_hat = torch.rand(2, 3, 6, 6, generator=g).requires_grad_(True)
        fn(x_hat, x, mask).backward()
        if x_hat.grad is None:
            return "no gradient reached x_hat; build the loss from tensor operations"
        if x_hat.grad[(mask.expand_as(x_hat) == 0)].abs().max() > 0:
            return "the gradient is non-zero outside the hole"
        return None

    for name, test in [("returns a scalar tensor", scalar), ("zero when only the context is wrong", zero_outside),
                       ("known value: error 0.5 in the hole gives 0.25", known_value),
                       ("independent of the hole's size", normalised),
                       ("gradient only inside the hole", gradient)]:
        c.check(name, test)
    c.done()


def _min_dist_to(rows: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Minimum Hamming distance of each row of `rows` (P, k) to the set `chosen` (m, k): (P,)."""
    return (rows[:, None, :] != chosen[None, :, :]).sum(-1).min(1).values


def greedy_property(pool: torch.Tensor, chosen: torch.Tensor, first: int) -> str | None:
    """None if `chosen` is a valid greedy farthest-point selection from `pool` starting at pool[first], else why not."""
    if not isinstance(chosen, torch.Tensor) or chosen.dim() != 2 or chosen.shape[1] != pool.shape[1]:
        return f"expected a tensor of shape (n, {pool.shape[1]}), got {getattr(chosen, 'shape', type(chosen).__name__)}"
    if not torch.equal(chosen[0].long(), pool[first].long()):
        return f"the first permutation should be pool[first] = {pool[first].tolist()}, got {chosen[0].tolist()}"
    if len({tuple(r) for r in chosen.tolist()}) != len(chosen):
        return "the chosen permutations are not all different"
    in_pool = {tuple(r) for r in pool.tolist()}
    if any(tuple(r) not in in_pool for r in chosen.tolist()):
        return "some chosen rows are not permutations from the pool"
    chosen = chosen.long()
    for i in range(1, len(chosen)):
        remaining = pool[[tuple(r) not in {tuple(q) for q in chosen[:i].tolist()} for r in pool.tolist()]]
        best = int(_min_dist_to(remaining, chosen[:i]).max())
        got = int(_min_dist_to(chosen[i:i + 1], chosen[:i])[0])
        if got != best:
            return (f"step {i}: the chosen permutation is {got} away from the set so far, but a candidate "
                    f"{best} away was available; pick the one with the largest minimum distance")
    return None


def greedy_hamming(fn: Callable[..., torch.Tensor]) -> None:
    """Check fn(pool, n, first) -> (n, k) permutations chosen greedily for maximal minimum Hamming distance."""
    import itertools

    c = Checker("greedy_max_hamming")
    pool = torch.tensor(list(itertools.permutations(range(4))))  # (24, 4)

    def shape() -> str | None:
        out = fn(pool, 5, 0)
        return None if isinstance(out, torch.Tensor) and tuple(out.shape) == (5, 4) else \
            f"expected shape (5, 4), got {getattr(out, 'shape', type(out).__name__)}"

    def greedy() -> str | None:
        return greedy_property(pool, fn(pool, 6, 0), 0)

    def other_start() -> str | None:
        return greedy_property(pool, fn(pool, 4, 13), 13)

    def far_apart() -> str | None:
        out = fn(pool, 4, 0).long()
        d = (out[:, None] != out[None]).sum(-1) + 4 * torch.eye(4, dtype=torch.long)
        return None if int(d.min()) == 4 else (f"4 permutations of 4 items can all differ in every position "
                                               f"(minimum distance 4); your set's minimum is {int(d.min())}")

    def input_untouched() -> str | None:
        before = pool.clone()
        fn(pool, 3, 0)
        return None if torch.equal(pool, before) else "your function changed the pool in place"

    for name, test in [("returns (n, k) permutations", shape), ("each step adds the farthest candidate", greedy),
                       ("starts from pool[first]", other_start),
                       ("minimum Hamming distance of the chosen set is maximal (4 of 4)", far_apart),
                       ("the pool is left unchanged", input_untouched)]:
        c.check(name, test)
    c.done()


def pair_consistency(out, x: torch.Tensor, patch: int, gap: int, jitter: int) -> str | None:
    """None if (centre, neighbour, label, pos) from a relative-position sampler is consistent with x, else why not."""
    if not (isinstance(out, tuple) and len(out) == 4):
        return "expected a tuple (centre, neighbour, label, positions)"
    a, b, y, pos = out
    n, ch, size = len(x), x.shape[1], x.shape[-1]
    if tuple(a.shape) != (n, ch, patch, patch) or tuple(b.shape) != (n, ch, patch, patch):
        return f"patches should have shape {(n, ch, patch, patch)}, got {tuple(a.shape)} and {tuple(b.shape)}"
    if tuple(y.shape) != (n,) or y.dtype != torch.long or y.min() < 0 or y.max() > 7:
        return f"labels should be a long tensor of shape ({n},) with values 0..7"
    if tuple(pos.shape) != (n, 2, 2):
        return f"positions should have shape ({n}, 2, 2): (centre, neighbour) x (row, col); got {tuple(pos.shape)}"
    pos = pos.long()
    if pos.min() < 0 or (pos + patch).max() > size:
        return "a patch lies (partly) outside the image"
    stride, origin = patch + gap, (size - (3 * patch + 2 * gap)) // 2
    if ((pos[:, 0] - (origin + stride)).abs() > jitter).any():
        return (f"the centre patch should start at row/col {origin + stride} (origin {origin} + stride {stride}), "
                f"moved by at most jitter={jitter}")
    offset = pos[:, 1] - pos[:, 0]
    if ((offset - stride * NEIGHBOURS[y]).abs() > 2 * jitter).any():
        return "a neighbour's position does not match its label (offset = (patch + gap) * NEIGHBOURS[label] +- jitter)"
    for i in range(n):
        (r0, c0), (r1, c1) = pos[i].tolist()
        if not (torch.equal(a[i], x[i, :, r0:r0 + patch, c0:c0 + patch]) and torch.equal(b[i], x[i, :, r1:r1 + patch, c1:c1 + patch])):
            return f"pair {i}: the patches are not the image's pixels at the returned positions"
    return None


def relative_position_sampler(fn: Callable[..., tuple]) -> None:
    """Check fn(x, patch, gap, jitter, generator) -> (centre, neighbour, label, positions)."""
    c = Checker("sample_pairs", fn, asks=("course_lib.vision.patches.relative_position_pairs",))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 3, 30, 30, generator=g)

    def consistent_no_jitter() -> str | None:
        return pair_consistency(fn(x, 8, 2, 0, torch.Generator().manual_seed(1)), x, 8, 2, 0)

    def consistent_jitter() -> str | None:
        return pair_consistency(fn(x, 8, 1, 1, torch.Generator().manual_seed(2)), x, 8, 1, 1)

    def all_labels() -> str | None:
        y = torch.cat([fn(x, 8, 2, 0, torch.Generator().manual_seed(s))[2] for s in range(5)])
        seen = sorted(set(y.tolist()))
        return None if seen == list(range(8)) else f"over 200 pairs every label 0..7 should occur; saw {seen}"

    def jitter_moves() -> str | None:
        pos = fn(x, 8, 1, 1, torch.Generator().manual_seed(3))[3]
        return None if len(set(pos[:, 0].flatten().tolist())) > 1 else "with jitter > 0 the patches should move"

    def reproducible() -> str | None:
        o1, o2 = fn(x, 8, 2, 1, torch.Generator().manual_seed(4)), fn(x, 8, 2, 1, torch.Generator().manual_seed(4))
        return None if torch.equal(o1[3], o2[3]) and torch.equal(o1[2], o2[2]) else \
            "the same generator seed should give the same pairs; draw all randomness from `generator`"

    def too_big() -> str | None:
        try:
            fn(x, 10, 2, 0, None)
        except ValueError:
            return None
        return "a grid that does not fit (3*10 + 2*2 > 30 pixels) should raise ValueError"

    for name, test in [("positions, labels and pixels agree (no jitter)", consistent_no_jitter),
                       ("positions, labels and pixels agree (jitter 1)", consistent_jitter),
                       ("all 8 labels occur", all_labels), ("jitter moves the patches", jitter_moves),
                       ("reproducible with a seeded generator", reproducible),
                       ("ValueError when the grid does not fit", too_big)]:
        c.check(name, test)
    c.done()
