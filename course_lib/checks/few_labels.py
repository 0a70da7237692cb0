"""Checks for exercise 09: the similarity-weighted kNN of Wu et al. (2018) and a class-balanced few-label subset."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .report import Checker


def _predictions(out: object, n: int) -> list[int]:
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n,) or out.dtype != torch.long:
        got = f"{out.dtype} {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"expected a long tensor of shape ({n},), one class per test point, got {got}")
    return out.tolist()


def _reference(z_train, y_train, z_test, k, temperature):
    sim = F.normalize(z_test, dim=1) @ F.normalize(z_train, dim=1).T            # (M, N)
    top, idx = sim.topk(k, dim=1)                                                # (M, k)
    votes = torch.zeros(len(z_test), int(y_train.max()) + 1)
    votes.scatter_add_(1, y_train[idx], (top / temperature).exp())
    return votes.argmax(1)


def weighted_knn(fn: Callable[..., torch.Tensor]) -> None:
    """Check fn(z_train, y_train, z_test, k, temperature) -> labels (M,) by exp(cos / T)-weighted votes."""
    c = Checker("weighted_knn_predict", fn, asks=("course_lib.evaluation.knn", "course_lib.evaluation.nearest_neighbours"))
    # One training point of class 1 right on the query's direction, two of class 0 further away.
    z_tr = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.6, -0.8], [-1.0, 0.0]])
    y_tr = torch.tensor([1, 0, 0, 2])
    query = torch.tensor([[5.0, 0.0]])
    g = torch.Generator().manual_seed(2)
    z_a, y_a, z_b = torch.randn(60, 6, generator=g), torch.randint(0, 4, (60,), generator=g), torch.randn(15, 6, generator=g)

    def output_type() -> str | None:
        _predictions(fn(z_tr, y_tr, query, k=3, temperature=0.07), 1)
        return None

    def cold() -> str | None:
        p = _predictions(fn(z_tr, y_tr, query, k=3, temperature=0.07), 1)
        return None if p == [1] else (f"with T=0.07 the neighbour at cosine 1 (class 1) outweighs two at cosine 0.6 "
                                      f"(class 0): expected [1], got {p}; weight each vote by exp(cos / T)")

    def hot() -> str | None:
        p = _predictions(fn(z_tr, y_tr, query, k=3, temperature=100.0), 1)
        return None if p == [0] else (f"with T=100 the weights are nearly equal, so the majority (class 0) wins: "
                                      f"expected [0], got {p}")

    def only_k() -> str | None:
        p = _predictions(fn(z_tr, y_tr, query, k=1, temperature=100.0), 1)
        return None if p == [1] else f"with k=1 only the nearest neighbour (class 1) votes: expected [1], got {p}"

    def cosine() -> str | None:
        scale = torch.tensor([[0.01], [100.0], [3.0], [7.0]])
        p = _predictions(fn(z_tr * scale, y_tr, query * 0.001, k=3, temperature=0.07), 1)
        return None if p == [1] else "rescaling feature vectors changed the prediction; use cosine similarity"

    def random() -> str | None:
        for k, t in ((1, 0.07), (7, 0.07), (7, 0.5), (20, 1.0)):
            p = _predictions(fn(z_a, y_a, z_b, k=k, temperature=t), 15)
            want = _reference(z_a, y_a, z_b, k, t).tolist()
            if p != want:
                return f"on random features with k={k}, T={t}: expected {want}, got {p}"
        return None

    for name, test in [("returns one long label per test point", output_type),
                       ("a low temperature trusts the nearest neighbour", cold),
                       ("a high temperature gives the majority vote", hot),
                       ("only the k nearest vote", only_k),
                       ("invariant to the length of each feature vector", cosine),
                       ("matches the weighted vote on random features", random)]:
        c.check(name, test)
    c.done()


def label_subset(fn: Callable[..., torch.Tensor]) -> None:
    """Check fn(y, fraction, seed) -> sorted indices of a random, class-balanced fraction of the labels."""
    c = Checker("label_subset", fn, asks=("course_lib.evaluation.label_subset",))
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 9 + [3] * 3)[torch.randperm(92, generator=torch.Generator().manual_seed(3))]

    def indices(out: object) -> torch.Tensor:
        if not isinstance(out, torch.Tensor) or out.dim() != 1 or out.dtype != torch.long:
            got = f"{out.dtype} {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
            raise TypeError(f"expected a 1-D long tensor of indices into y, got {got}")
        return out

    def sorted_unique() -> str | None:
        idx = indices(fn(y, 0.3, seed=0))
        if len(idx) and (idx.min() < 0 or idx.max() >= len(y)):
            return "indices must lie in 0 .. len(y) - 1"
        return None if bool((idx[1:] > idx[:-1]).all()) else "return the indices sorted, each once"

    def counts() -> str | None:
        idx = indices(fn(y, 0.3, seed=0))
        got = torch.bincount(y[idx], minlength=4).tolist()
        want = [15, 9, 3, 1]                                    # round(0.3 * n_c) for n_c = 50, 30, 9, 3
        return None if got == want else (f"classes of sizes 50, 30, 9, 3 at fraction 0.3 should give "
                                         f"round(0.3 * n_c) = {want} examples per class, got {got}")

    def one_per_class() -> str | None:
        got = torch.bincount(y[indices(fn(y, 0.01, seed=0))], minlength=4).tolist()
        return None if got == [1, 1, 1, 1] else f"at 1% every class must keep at least one example: got {got} per class"

    def seeded() -> str | None:
        a, b = indices(fn(y, 0.3, seed=5)), indices(fn(y, 0.3, seed=5))
        if not torch.equal(a, b):
            return "the same seed must give the same subset (use a torch.Generator seeded with it)"
        others = [indices(fn(y, 0.3, seed=s)) for s in (6, 7, 8)]
        if all(torch.equal(a, o) for o in others):
            return "other seeds gave the same subset: draw each class's examples at random"
        return None

    def whole() -> str | None:
        idx = indices(fn(y, 1.0, seed=0))
        return None if idx.tolist() == list(range(len(y))) else "fraction 1 must keep every example"

    def bad_fraction() -> str | None:
        for f in (0.0, 1.5, -0.1):
            try:
                fn(y, f, seed=0)
            except ValueError:
                continue
            return f"fraction {f} is outside (0, 1]: raise ValueError"
        return None

    for name, test in [("sorted, unique indices into y", sorted_unique),
                       ("round(fraction * n_c) examples of each class", counts),
                       ("at least one example per class", one_per_class),
                       ("random, and the same for the same seed", seeded),
                       ("fraction 1 keeps everything", whole),
                       ("a fraction outside (0, 1] raises ValueError", bad_fraction)]:
        c.check(name, test)
    c.done()
