"""The checks of exercises 10 (ab bins, class rebalancing) and 11 (InfoNCE loss, the bound on mutual
information) pass right answers, fail typical mistakes with a hint, and refuse the library's own
version (issue 19, item 5)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import bounds, checks
from course_lib.checks.colour_bins import AB_MAX
from course_lib.vision import colorization as col
from course_lib.vision import moco


def square(scores):
    if scores.dim() != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must be (N, N), got {tuple(scores.shape)}")
    return scores


def loss_ok(scores):
    scores = square(scores)
    return (scores.logsumexp(dim=1) - scores.diagonal()).mean()


def loss_cross_entropy(scores):   # the other usual right answer
    return F.cross_entropy(square(scores), torch.arange(len(scores)))


def bound_ok(scores):
    return math.log(len(scores)) - loss_ok(scores)


def quantize_ok(ab, bin_size):
    if not bin_size > 0:
        raise ValueError(bin_size)
    k = math.ceil(AB_MAX / bin_size)
    cell = torch.round(ab / bin_size).long().clamp(-k, k) + k      # (N, 2, H, W)
    return cell[:, 0] * (2 * k + 1) + cell[:, 1]


def weights_ok(p, lam=0.5):
    if not 0 <= lam <= 1 or (p < 0).any() or abs(float(p.sum()) - 1) > 1e-3:
        raise ValueError((lam, p))
    w = 1 / ((1 - lam) * p + lam / len(p))
    return w / (p * w).sum()


def test_correct_answers_pass(capsys) -> None:
    checks.infonce_loss(loss_ok)
    checks.infonce_loss(loss_cross_entropy)
    checks.mi_lower_bound(bound_ok)
    checks.quantize_ab(quantize_ok)
    checks.rebalance_weights(weights_ok)
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.count("checks passed.") == 5


def test_answers_match_the_library() -> None:
    g = torch.Generator().manual_seed(0)
    x, c, rho = bounds.gaussian_pairs(16, 4, 2.0, g, sets=3)
    scores = bounds.best_critic(x, c, rho)                             # (3, 16, 16)
    want = F.cross_entropy(scores.transpose(1, 2), torch.arange(16).expand(3, 16))   # bounds.infonce_estimate's L_N
    assert torch.stack([loss_ok(s) for s in scores]).mean().item() == pytest.approx(want.item(), rel=1e-5)
    s = scores[0]
    queue = s.T.masked_fill(torch.eye(16, dtype=torch.bool), -1e30)   # not -inf: the identity times -inf is nan
    via_moco = math.log(16) - moco.info_nce(torch.eye(16), s, queue, tau=1.0).item()
    assert bound_ok(s).item() == pytest.approx(via_moco, rel=1e-5)
    ab = col.pooled_ab(torch.rand(20, 3, 32, 32, generator=g), 4)
    lib = col.ABBins(ab, bin_size=10.0)
    counts = torch.bincount(quantize_ok(ab, 10.0).flatten(), minlength=23 * 23)
    p = counts[counts > 0].float() / counts.sum()                      # the bins that occur, in ABBins' order
    torch.testing.assert_close(p, lib.p)
    torch.testing.assert_close(weights_ok(p), lib.weights)


def _run(check, fn, hint: str, capsys) -> None:
    with pytest.raises(AssertionError):
        check(fn)
    out = capsys.readouterr().out
    assert hint in out, out


def loss_unstable(scores):
    e = square(scores).exp()
    return -(e.diagonal() / e.sum(1)).log().mean()


@pytest.mark.parametrize("fn, hint", [
    (lambda s: (square(s).logsumexp(dim=0) - s.diagonal()).mean(), "softmax over the columns"),
    (lambda s: (square(s).logsumexp(dim=1) - s.diagonal()).sum(), "not the sum"),
    (lambda s: -loss_ok(s), "never negative"),
    (lambda s: square(s).logsumexp(dim=1) - s.diagonal(), "expected a scalar float tensor"),
    (loss_unstable, "torch.logsumexp"),
    (lambda s: (square(s).flatten().logsumexp(0) - s.diagonal()).mean(), "adding a constant to each row"),
    (lambda s: (square(s).logsumexp(dim=1) - s[:, 0]).mean(), "not column 0"),
    (lambda s: (s.logsumexp(dim=-1) - s.diagonal(dim1=-2, dim2=-1)).mean(), "raise ValueError"),
])
def test_infonce_mistakes_fail(fn, hint, capsys) -> None:
    _run(checks.infonce_loss, fn, hint, capsys)


@pytest.mark.parametrize("fn, hint", [
    (lambda s: math.log2(len(s)) - loss_ok(s), "natural logarithm"),
    (lambda s: math.log(s.numel()) - loss_ok(s), "number of rows"),
    (lambda s: loss_ok(s) - math.log(len(s)), "not L_N - log N"),
    (lambda s: math.log(len(s)) + loss_ok(s), "MINUS the loss"),
    (lambda s: math.log(len(s)) + loss_ok(s), "never exceed log N"),
    (lambda s: math.log(len(s)) - float(loss_ok(s)), "expected a scalar float tensor"),
])
def test_bound_mistakes_fail(fn, hint, capsys) -> None:
    _run(checks.mi_lower_bound, fn, hint, capsys)


def _quantize(rounding=torch.round, swap=False, clamp=True, check_size=True):
    def fn(ab, bin_size):
        if check_size and not bin_size > 0:
            raise ValueError(bin_size)
        k = math.ceil(AB_MAX / bin_size)
        cell = rounding(ab / bin_size).long()
        cell = (cell.clamp(-k, k) if clamp else cell) + k
        a, b = (cell[:, 1], cell[:, 0]) if swap else (cell[:, 0], cell[:, 1])
        return a * (2 * k + 1) + b
    return fn


@pytest.mark.parametrize("fn, hint", [
    (_quantize(torch.floor), "off by half a bin"),
    (_quantize(torch.trunc), "truncated"),
    (_quantize(swap=True), "a and b are swapped"),
    (_quantize(clamp=False), "clamp i_a and i_b"),
    (_quantize(check_size=False), "raise ValueError"),
    (lambda ab, s: quantize_ok(ab, s).int(), "expected a long tensor"),
    (lambda ab, s: torch.round(ab / s).long()[:, 0] * 23 + torch.round(ab / s).long()[:, 1], "indices must lie in"),
    (lambda ab, s: quantize_ok(ab, 10.0) if s > 0 else quantize_ok(ab, s), "ceil(110 / 5)"),
])
def test_quantize_mistakes_fail(fn, hint, capsys) -> None:
    _run(checks.quantize_ab, fn, hint, capsys)


def _weights(normalise="p", lam_used=True, inverse=True, validate=True, default=0.5):
    def fn(p, lam=default):
        if validate and (not 0 <= lam <= 1 or (p < 0).any() or abs(float(p.sum()) - 1) > 1e-3):
            raise ValueError(lam)
        mix = (1 - (lam if lam_used else 0.5)) * p + (lam if lam_used else 0.5) / len(p)
        w = 1 / mix if inverse else mix
        return {"p": w / (p * w).sum(), "mean": w / w.mean(), "sum": w / w.sum(), None: w}[normalise]
    return fn


@pytest.mark.parametrize("fn, hint", [
    (_weights(lam_used=False), "use lam"),
    (_weights(normalise=None), "left out the normalisation"),
    (_weights(normalise="mean"), "under the uniform distribution"),
    (_weights(normalise="sum"), "weights sum to 1"),
    (_weights(inverse=False), "INVERSE"),
    (_weights(validate=False), "raise ValueError"),
    (_weights(default=0.25), "is lam=0.5 the default"),
    (lambda p, lam=0.5: weights_ok(p, lam).tolist(), "expected a float tensor"),
])
def test_weights_mistakes_fail(fn, hint, capsys) -> None:
    _run(checks.rebalance_weights, fn, hint, capsys)


def test_the_library_version_is_refused(capsys) -> None:
    for check, fn in [(checks.infonce_loss, bounds.infonce_estimate), (checks.mi_lower_bound, bounds.infonce_estimate),
                      (checks.infonce_loss, moco.info_nce), (checks.quantize_ab, col.ABBins.nearest)]:
        with pytest.raises(checks.CheckFailed, match="write this yourself"):
            check(fn)

    def via_moco(scores):   # an answer that calls the library: MoCo's InfoNCE, fed the critic matrix
        queue = scores.T.masked_fill(torch.eye(len(scores), dtype=torch.bool), -1e30)
        return moco.info_nce(torch.eye(len(scores)), scores, queue, tau=1.0)

    def via_bins(ab, bin_size):
        k = math.ceil(AB_MAX / bin_size)
        bins = col.ABBins(ab, bin_size=bin_size)
        cell = (bins.centres[bins.nearest(ab)] / bin_size).round().long().clamp(-k, k) + k   # (N, H, W, 2)
        return cell[..., 0] * (2 * k + 1) + cell[..., 1]

    def via_counts(p, lam=0.5):   # ABBins fed pixels in proportion to p
        counts = (p * 10**5).round().long()
        a = torch.repeat_interleave(10.0 * torch.arange(len(p)), counts)
        return col.ABBins(torch.stack([a, torch.zeros_like(a)]).view(1, 2, 1, -1), lam=lam).weights

    for check, fn in [(checks.infonce_loss, via_moco), (checks.mi_lower_bound, lambda s: math.log(len(s)) - via_moco(s)),
                      (checks.quantize_ab, via_bins), (checks.rebalance_weights, via_counts)]:
        with pytest.raises(checks.CheckFailed, match="write this yourself"):
            check(fn)
    capsys.readouterr()
    # Outside a check the library works as usual (notebooks 10 and 11 use it).
    assert len(col.ABBins(col.pooled_ab(torch.rand(2, 3, 16, 16), 2))) > 0
    assert bounds.infonce_estimate(4, 0.5, 2, 64, torch.Generator().manual_seed(0)) <= math.log(4)


def stub(*args, **kwargs):
    raise NotImplementedError()


def test_stub_fails_with_one_clear_message(capsys) -> None:
    for check in (checks.infonce_loss, checks.mi_lower_bound, checks.quantize_ab, checks.rebalance_weights):
        with pytest.raises(checks.CheckFailed, match="write `stub` first"):
            check(stub)
        assert capsys.readouterr().out.count("`stub` is not written yet") == 1
