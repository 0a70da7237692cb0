"""Checks for exercises 01 and 02: the negative-sampling loss and the 3CosAdd analogy solver."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .report import Checker


def _direct_ns_loss(W_in, W_out, centre, context, negatives) -> float:
    """The objective written out pair by pair with math.log, for tiny inputs."""
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    total = 0.0
    for c, o, negs in zip(centre.tolist(), context.tolist(), negatives.tolist()):
        total -= math.log(sig(float(W_in[c] @ W_out[o])))
        total -= sum(math.log(sig(-float(W_in[c] @ W_out[n]))) for n in negs)
    return total / len(centre)


def _tiny_batch(seed: int = 0, V: int = 7, D: int = 4):
    g = torch.Generator().manual_seed(seed)
    W_in = (0.5 * torch.randn(V, D, generator=g)).requires_grad_()
    W_out = (0.5 * torch.randn(V, D, generator=g)).requires_grad_()
    centre, context = torch.tensor([0, 2, 0]), torch.tensor([1, 3, 4])
    negatives = torch.tensor([[5, 1], [4, 4], [3, 5]])               # (B=3, K=2); rows 6 never used
    return W_in, W_out, centre, context, negatives


def negative_sampling_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Check fn(W_in, W_out, centre, context, negatives) -> mean skip-gram negative-sampling loss (a scalar)."""
    c = Checker("negative_sampling_loss", fn, asks=("course_lib.text.word2vec.ns_loss",))

    def scalar() -> str | None:
        loss = fn(*_tiny_batch())
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            return f"return a 0-dim tensor (one number for the batch), got {type(loss).__name__} " \
                   f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else ''}"
        return None

    def known_value() -> str | None:
        W_in, W_out, centre, context, negatives = _tiny_batch()
        zeros = torch.zeros_like(W_in)
        got = float(fn(zeros, zeros, centre, context, negatives))
        want = 3 * math.log(2)  # every score is 0: -log s(0) = log 2, for the context word and 2 noise words
        if abs(got - want) > 1e-5:
            return f"with all-zero vectors every term is -log sigmoid(0) = log 2, so the loss is 3 log 2 = {want:.4f}; got {got:.4f}"
        return None

    def direct_formula() -> str | None:
        batch = _tiny_batch(1)
        got, want = float(fn(*batch).detach()), _direct_ns_loss(*(t.detach() for t in batch))
        if abs(got - want) > 1e-4:
            hint = " (did you sum over the batch instead of averaging?)" if abs(got - 3 * want) < 1e-3 else ""
            return f"on a tiny batch the loss should be {want:.5f}, got {got:.5f}{hint}"
        return None

    def noise_sign() -> str | None:
        W_in, W_out, centre, context, negatives = _tiny_batch(2)
        with torch.no_grad():
            W_out[negatives.flatten()] = W_in[centre].repeat_interleave(2, 0) * 3  # noise words agree with the centre
        if float(fn(W_in, W_out, centre, context, negatives).detach()) < 1.0:
            return "noise words whose vectors point along the centre's must make the loss large: use log sigmoid(-score) for them"
        return None

    def gradient_rows() -> str | None:
        W_in, W_out, centre, context, negatives = _tiny_batch(3)
        fn(W_in, W_out, centre, context, negatives).backward()
        if W_in.grad is None or W_out.grad is None:
            return "no gradient reached W_in or W_out: compute the loss from them with torch operations (no .detach(), no numpy)"
        used_in = set(centre.tolist())
        used_out = set(context.tolist()) | set(negatives.flatten().tolist())
        for name, grad, used in (("W_in", W_in.grad, used_in), ("W_out", W_out.grad, used_out)):
            touched = {i for i in range(len(grad)) if grad[i].abs().sum() > 0}
            if touched != used:
                return f"{name} should get gradient in exactly rows {sorted(used)}, got rows {sorted(touched)}"
        return None

    def stable() -> str | None:
        W_in, W_out, centre, context, negatives = _tiny_batch(4)
        with torch.no_grad():
            W_in *= 100.0  # scores in the hundreds: sigmoid rounds to 0 or 1 in float32
        loss = fn(W_in, W_out, centre, context, negatives)
        if not torch.isfinite(loss):
            return "the loss is inf/nan for large scores: use F.logsigmoid (stable) instead of torch.log(torch.sigmoid(...))"
        return None

    for name, test in [("returns a scalar tensor", scalar),
                       ("all-zero vectors give 3 log 2 (one true + two noise words)", known_value),
                       ("matches the formula written out pair by pair", direct_formula),
                       ("noise words are pushed away (log sigmoid of minus the score)", noise_sign),
                       ("gradient reaches exactly the rows used", gradient_rows),
                       ("finite for very large scores", stable)]:
        c.check(name, test)
    c.done()


WORDS = ["king", "queen", "man", "woman", "apple", "prince"]


def _vectors() -> torch.Tensor:
    # king - man + woman = queen exactly; prince points roughly like king but is much longer, so a
    # solver that ranks by raw dot products answers "prince"; in "man : king :: prince : ?" the
    # question words king and prince score highest, so a solver that keeps them answers with one.
    return torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                         [-1.0, 0.2, -0.3], [9.0, 9.5, 0.9]])


def analogy_solver(fn: Callable[..., str]) -> None:
    """Check fn(vectors (V, D), words, a, b, c) -> the word d of a : b :: c : d by 3CosAdd on unit vectors."""
    c = Checker("solve_analogy", fn, asks=("course_lib.text.vectors.analogy",))

    def returns_word() -> str | None:
        got = fn(_vectors(), WORDS, "man", "king", "woman")
        return None if isinstance(got, str) else f"return the answer as a word (str), got {type(got).__name__}"

    def known_answer() -> str | None:
        got = fn(_vectors(), WORDS, "man", "king", "woman")
        if got in ("man", "king", "woman"):
            return f"answered {got!r}, one of the question words: leave a, b and c out of the candidates"
        if got == "prince":
            return "answered 'prince', whose vector is long but not well aligned: compare unit vectors (cosine), not raw dot products"
        return None if got == "queen" else f"man : king :: woman : ? should be 'queen' here, got {got!r}"

    def excludes_inputs() -> str | None:
        V = _vectors()
        for a, b, cc in [("man", "king", "prince"), ("woman", "queen", "man"), ("queen", "king", "woman")]:
            got = fn(V, WORDS, a, b, cc)
            if got in (a, b, cc):
                return f"{a} : {b} :: {cc} : ? answered {got!r}, a question word"
        return None

    def unknown_word() -> str | None:
        try:
            fn(_vectors(), WORDS, "man", "king", "frog")
        except KeyError:
            return None
        except Exception as err:  # noqa: BLE001
            return f"a word outside the vocabulary should raise KeyError, got {type(err).__name__}"
        return "a word outside the vocabulary ('frog') should raise KeyError, but nothing was raised"

    def input_untouched() -> str | None:
        V = _vectors()
        fn(V, WORDS, "man", "king", "woman")
        return None if torch.equal(V, _vectors()) else "your function changed the vectors in place"

    for name, test in [("returns a word", returns_word),
                       ("man : king :: woman : queen on a tiny space", known_answer),
                       ("never answers with a question word", excludes_inputs),
                       ("unknown word -> KeyError", unknown_word),
                       ("the vectors are left unchanged", input_untouched)]:
        c.check(name, test)
    c.done()
