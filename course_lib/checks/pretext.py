"""Checks for exercise 00: the rotation pretext batch and a cosine kNN classifier."""
from __future__ import annotations

from typing import Callable

import torch

from .report import Checker


def _as_pair(out: object) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise TypeError(f"expected a tuple (x_rot, y_rot) of two tensors, got {type(out).__name__}")
    return out


def rotation_batch(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Check fn(x) -> (x_rot (4B,C,H,W), y_rot (4B,)) with label k = k*90 degrees counter-clockwise."""
    c = Checker("rotation_batch", fn, asks=("course_lib.vision.pretext.rotate_batch",))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 5, 5, generator=g)  # (B, C, H, W) random, so every rotation differs
    x_before = x.clone()

    def shapes() -> str | None:
        x_rot, y_rot = _as_pair(fn(x))
        if tuple(x_rot.shape) != (12, 2, 5, 5):
            return f"x_rot has shape {tuple(x_rot.shape)}; 3 images of 2x5x5 should give (12, 2, 5, 5)"
        if tuple(y_rot.shape) != (12,) or y_rot.dtype != torch.long:
            return f"y_rot should be a long tensor of shape (12,), got {y_rot.dtype} {tuple(y_rot.shape)}"
        return None

    def labels() -> str | None:
        _, y_rot = _as_pair(fn(x))
        counts = torch.bincount(y_rot, minlength=4).tolist() if y_rot.min() >= 0 else None
        if counts != [3, 3, 3, 3]:
            return f"each label 0..3 should appear once per image (3 times here); label counts: {counts}"
        return None

    def known_values() -> str | None:
        tiny = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2): 1 2 / 3 4
        x_rot, y_rot = _as_pair(fn(tiny))
        want = {0: [[1, 2], [3, 4]], 1: [[2, 4], [1, 3]], 2: [[4, 3], [2, 1]], 3: [[3, 1], [4, 2]]}
        for img, k in zip(x_rot, y_rot.tolist()):
            if img[0].tolist() != want.get(k):
                return (f"the copy labelled {k} of [[1, 2], [3, 4]] is {img[0].tolist()}; label k must "
                        "mean a turn by k*90 degrees counter-clockwise")
        return None

    def rotates_back() -> str | None:
        x_rot, y_rot = _as_pair(fn(x))
        back = [torch.rot90(img, -int(k), dims=(1, 2)) for img, k in zip(x_rot, y_rot)]
        for i in range(len(x)):
            hits = [k for img, k in zip(back, y_rot.tolist()) if torch.equal(img, x[i])]
            if sorted(hits) != [0, 1, 2, 3]:
                return (f"undoing each copy's rotation should give back image {i} exactly four times, "
                        f"once per label; it came back for labels {sorted(hits)}")
        return None

    def input_untouched() -> str | None:
        fn(x)
        return None if torch.equal(x, x_before) else "your function changed its input tensor in place"

    for name, test in [("returns (x_rot, y_rot) with the right shapes", shapes),
                       ("every image gets each label 0-3 once", labels),
                       ("a 2x2 image rotates counter-clockwise as labelled", known_values),
                       ("rotating each copy back recovers its image", rotates_back),
                       ("the input is left unchanged", input_untouched)]:
        c.check(name, test)
    c.done()


def knn_classifier(fn: Callable[..., torch.Tensor]) -> None:
    """Check fn(z_train, y_train, z_test, k) -> predicted labels (N_test,) by cosine-similarity kNN."""
    c = Checker("knn_predict")
    # Two classes along the axes; the test points lie near one axis but far from the origin,
    # so cosine similarity and Euclidean distance disagree about their nearest neighbours.
    z_train = torch.tensor([[1.0, 0.1], [0.9, 0.0], [1.0, -0.1], [0.1, 1.0], [0.0, 0.9], [-0.1, 1.0]])
    y_train = torch.tensor([0, 0, 0, 1, 1, 1])
    z_test = torch.tensor([[9.0, 1.0], [0.5, 8.0], [3.0, 2.5]])
    want = [0, 1, 0]

    def output_type() -> str | None:
        pred = fn(z_train, y_train, z_test, k=3)
        if not isinstance(pred, torch.Tensor) or tuple(pred.shape) != (3,):
            got = tuple(pred.shape) if isinstance(pred, torch.Tensor) else type(pred).__name__
            return f"expected a tensor of shape (N_test,) = (3,), got {got}"
        if pred.dtype != torch.long:
            return f"predictions should be class indices (torch.long), got {pred.dtype}"
        return None

    def known_values() -> str | None:
        pred = fn(z_train, y_train, z_test, k=3).tolist()
        return None if pred == want else f"on a tiny 2-D example expected {want}, got {pred}"

    def k_one_memorises() -> str | None:
        pred = fn(z_train, y_train, z_train, k=1).tolist()
        return None if pred == y_train.tolist() else "with k=1 each training point should predict its own label"

    def scale_invariant() -> str | None:
        scale = torch.tensor([[0.01], [100.0], [3.0], [50.0], [0.2], [7.0]])  # per-vector lengths
        pred = fn(z_train * scale, y_train, z_test * 0.001, k=3).tolist()
        return None if pred == want else ("rescaling feature vectors changed the predictions; cosine "
                                          "similarity ignores vector length")

    def majority_vote() -> str | None:
        zt = torch.tensor([[1.0, 0.0], [0.99, 0.14], [0.98, 0.2], [0.0, 1.0], [0.1, 0.99]])
        yt = torch.tensor([2, 0, 0, 1, 1])
        pred = fn(zt, yt, torch.tensor([[1.0, 0.01]]), k=3).tolist()
        return None if pred == [0] else f"the 3 nearest neighbours have labels 2, 0, 0: expected [0], got {pred}"

    for name, test in [("returns one long label per test point", output_type),
                       ("known answers on a tiny example", known_values),
                       ("k=1 on the training set returns the training labels", k_one_memorises),
                       ("invariant to the length of each feature vector", scale_invariant),
                       ("the majority of the k nearest neighbours wins", majority_vote)]:
        c.check(name, test)
    c.done()
