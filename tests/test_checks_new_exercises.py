"""The checks of exercises 06 (saliency) and 09 (weighted kNN, few labels) pass right answers, fail
typical mistakes with a hint, and refuse the library's own version (issue 18, item 10)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from _tools import own_copy
from course_lib import checks, evaluation
from course_lib.vision import probing


def saliency_ok(score, x):
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(score(x).sum(), x)
    return grad.abs().amax(1)


def share_ok(sal, mask):
    return (sal * mask).sum((1, 2)) / sal.sum((1, 2))


def knn_ok(z_train, y_train, z_test, k=20, temperature=0.07):
    sim = F.normalize(z_test, dim=1) @ F.normalize(z_train, dim=1).T
    top, idx = sim.topk(k, dim=1)
    votes = torch.zeros(len(z_test), int(y_train.max()) + 1).scatter_add_(1, y_train[idx], (top / temperature).exp())
    return votes.argmax(1)


def subset_ok(y, fraction, seed=0):
    if not 0 < fraction <= 1:
        raise ValueError(fraction)
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        picked.append(idx[torch.randperm(len(idx), generator=g)[:max(1, round(fraction * len(idx)))]])
    return torch.cat(picked).sort().values


def test_correct_answers_pass(capsys) -> None:
    checks.saliency_map(saliency_ok)
    checks.saliency_map(own_copy(probing.saliency))
    checks.saliency_share(share_ok)
    checks.weighted_knn(knn_ok)
    checks.label_subset(subset_ok)
    checks.label_subset(own_copy(evaluation.label_subset))
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.count("checks passed.") == 6


def test_answers_match_the_library() -> None:
    g = torch.Generator().manual_seed(0)
    z_tr, y_tr, z_te = torch.randn(80, 5, generator=g), torch.randint(0, 3, (80,), generator=g), torch.randn(30, 5, generator=g)
    y_te = torch.randint(0, 3, (30,), generator=g)
    want = evaluation.knn(z_tr, y_tr, z_te, y_te, k=20)
    assert (knn_ok(z_tr, y_tr, z_te) == y_te).float().mean().item() == pytest.approx(want)
    y = torch.randint(0, 5, (300,), generator=g)
    assert torch.equal(subset_ok(y, 0.1, seed=4), evaluation.label_subset(y, 0.1, seed=4))


@pytest.mark.parametrize("fn, hint", [
    (lambda score, x: (lambda v: (torch.autograd.grad(score(v).sum(), v)[0]).abs().sum(1))(
        x.detach().clone().requires_grad_(True)), "summed over the colour channels"),
    (lambda score, x: (lambda v: torch.autograd.grad(score(v).sum(), v)[0].amax(1))(
        x.detach().clone().requires_grad_(True)), "absolute value"),
    (lambda score, x: (lambda v: (score(v).sum().backward(), v.grad.abs().amax(1))[1])(x.requires_grad_(True)),
     "left as they were"),
])
def test_saliency_mistakes_fail(fn, hint, capsys) -> None:
    with pytest.raises(AssertionError):
        checks.saliency_map(fn)
    assert hint in capsys.readouterr().out


@pytest.mark.parametrize("fn, hint", [
    (lambda sal, mask: ((sal * mask).sum() / sal.sum()).expand(len(sal)), "each image needs its own share"),
    (lambda sal, mask: (sal * mask).sum((1, 2)), "divide by its total"),
    (lambda sal, mask: mask.float().mean((1, 2)), "expected"),
])
def test_share_mistakes_fail(fn, hint, capsys) -> None:
    with pytest.raises(AssertionError):
        checks.saliency_share(fn)
    assert hint in capsys.readouterr().out


def knn_majority(z_train, y_train, z_test, k=20, temperature=0.07):
    idx = (F.normalize(z_test, dim=1) @ F.normalize(z_train, dim=1).T).topk(k, dim=1).indices
    return F.one_hot(y_train[idx], int(y_train.max()) + 1).sum(1).argmax(1)


def knn_dot(z_train, y_train, z_test, k=20, temperature=0.07):
    top, idx = (z_test @ z_train.T).topk(k, dim=1)
    return torch.zeros(len(z_test), int(y_train.max()) + 1).scatter_add_(1, y_train[idx], (top / temperature).exp()).argmax(1)


@pytest.mark.parametrize("fn, hint", [(knn_majority, "exp(cos / T)"), (knn_dot, "cosine similarity"),
                                      (lambda *a, **k: knn_ok(*a, **k).int(), "long tensor")])
def test_knn_mistakes_fail(fn, hint, capsys) -> None:
    with pytest.raises(AssertionError):
        checks.weighted_knn(fn)
    assert hint in capsys.readouterr().out


def subset_first(y, fraction, seed=0):
    if not 0 < fraction <= 1:
        raise ValueError(fraction)
    return torch.cat([torch.nonzero(y == c).flatten()[:max(1, round(fraction * int((y == c).sum())))]
                      for c in torch.unique(y)]).sort().values


@pytest.mark.parametrize("fn, hint", [
    (subset_first, "draw each class's examples at random"),
    (lambda y, f, seed=0: torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:max(1, round(f * len(y)))].sort().values
     if 0 < f <= 1 else (_ for _ in ()).throw(ValueError()), "examples per class"),
    (lambda y, f, seed=0: subset_ok(y, f, seed).flip(0), "sorted"),
    (lambda y, f, seed=0: subset_ok(y, min(max(f, 1e-3), 1.0), seed), "raise ValueError"),
])
def test_subset_mistakes_fail(fn, hint, capsys) -> None:
    with pytest.raises(AssertionError):
        checks.label_subset(fn)
    assert hint in capsys.readouterr().out


def test_the_library_version_is_refused(capsys) -> None:
    for check, fn in [(checks.saliency_map, probing.saliency), (checks.label_subset, evaluation.label_subset)]:
        with pytest.raises(checks.CheckFailed, match="write this yourself"):
            check(fn)
    with pytest.raises(checks.CheckFailed, match="write this yourself"):   # an answer that calls the library
        checks.weighted_knn(lambda zt, yt, zq, k=20, temperature=0.07:
                            yt[evaluation.nearest_neighbours(zt, zq, k=1)[1][:, 0]])
    capsys.readouterr()


def stub(*args, **kwargs):
    raise NotImplementedError()


def test_stub_fails_with_one_clear_message(capsys) -> None:
    for check in (checks.saliency_map, checks.saliency_share, checks.weighted_knn, checks.label_subset):
        with pytest.raises(checks.CheckFailed, match="write `stub` first"):
            check(stub)
        assert capsys.readouterr().out.count("`stub` is not written yet") == 1
