"""Checks for exercise 03: BERT's 80/10/10 masking rule."""
from __future__ import annotations

from typing import Callable

import torch

from .report import Checker

# A toy vocabulary: ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK], 5..V-1 ordinary pieces.
_PAD, _CLS, _SEP, _MASK, _SPECIAL, _V = 0, 2, 3, 4, [0, 1, 2, 3, 4], 50


def _batch(g: torch.Generator, n: int = 400, t: int = 60) -> torch.Tensor:
    """(n, t) sequences [CLS] a [SEP] b [SEP] with padding at the end of a random length."""
    ids = torch.randint(5, _V, (n, t), generator=g)
    ids[:, 0], ids[:, 20], ids[:, 45] = _CLS, _SEP, _SEP
    lengths = torch.randint(46, t + 1, (n,), generator=g)
    ids[torch.arange(t)[None, :] >= lengths[:, None]] = _PAD
    ids[:, 45] = _SEP
    return ids


def _call(fn: Callable, ids: torch.Tensor, seed: int, p: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    out = fn(ids.clone(), vocab_size=_V, mask_id=_MASK, special_ids=_SPECIAL, p=p,
             generator=torch.Generator().manual_seed(seed))
    if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(o, torch.Tensor) for o in out)):
        raise TypeError(f"expected a tuple (inputs, labels) of two tensors, got {type(out).__name__}")
    return out


def mask_tokens(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Check fn(ids, *, vocab_size, mask_id, special_ids, p, generator) -> (inputs, labels)."""
    c = Checker("mask_tokens", fn, asks=("course_lib.text.bert.mask_tokens",))
    ids = _batch(torch.Generator().manual_seed(0))
    ids_before = ids.clone()
    special = torch.isin(ids, torch.tensor(_SPECIAL))
    n_ordinary = int((~special).sum())

    def shapes() -> str | None:
        inputs, labels = _call(fn, ids, 1)
        if inputs.shape != ids.shape or labels.shape != ids.shape:
            return f"inputs and labels must have the shape of ids {tuple(ids.shape)}, got {tuple(inputs.shape)} and {tuple(labels.shape)}"
        if inputs.dtype != torch.long or labels.dtype != torch.long:
            return f"inputs and labels must be long tensors, got {inputs.dtype} and {labels.dtype}"
        return None

    def rate() -> str | None:
        _, labels = _call(fn, ids, 1)
        frac = (labels != -100).sum().item() / n_ordinary
        # n_ordinary is ~18,000: the binomial standard deviation of the rate is ~0.0027.
        return None if abs(frac - 0.15) < 0.012 else f"chose {frac:.1%} of the ordinary tokens; should be about 15%"

    def specials_never() -> str | None:
        inputs, labels = _call(fn, ids, 2)
        if (labels[special] != -100).any():
            return "a special token ([PAD], [CLS], [SEP]...) was chosen; only ordinary tokens may be"
        if not torch.equal(inputs[special], ids[special]):
            return "a special token or padding was changed in inputs; leave them as they are"
        return None

    def labels_right() -> str | None:
        inputs, labels = _call(fn, ids, 3)
        chosen = labels != -100
        if not torch.equal(labels[chosen], ids[chosen]):
            return "at a chosen position the label must be the ORIGINAL token id"
        if not torch.equal(inputs[~chosen], ids[~chosen]):
            return "a token that was not chosen changed in inputs; only chosen ones may change"
        return None

    def proportions() -> str | None:
        inputs, labels = _call(fn, ids, 4, p=0.5)         # more chosen tokens: tighter estimates
        chosen = labels != -100
        n = int(chosen.sum())
        masked = (inputs[chosen] == _MASK).sum().item() / n
        same = (inputs[chosen] == ids[chosen]).sum().item() / n
        other = 1 - masked - same
        # n is ~60,000; a random replacement equals the original 1 time in 45 (about 0.2% of n).
        if abs(masked - 0.8) > 0.02 or abs(other - 0.1) > 0.015 or abs(same - 0.1) > 0.015:
            return (f"of the chosen tokens {masked:.1%} became [MASK], {other:.1%} another token and "
                    f"{same:.1%} stayed; should be about 80% / 10% / 10%")
        return None

    def random_ordinary() -> str | None:
        inputs, labels = _call(fn, ids, 5, p=0.5)
        chosen = labels != -100
        replaced = inputs[chosen & (inputs != ids) & (inputs != _MASK)]
        if torch.isin(replaced, torch.tensor(_SPECIAL)).any() or (replaced >= _V).any() or (replaced < 0).any():
            return "a random replacement is a special token or outside the vocabulary; draw among ordinary ids"
        if len(replaced.unique()) < _V - 10:
            return f"random replacements used only {len(replaced.unique())} different ids; draw uniformly among all ordinary ones"
        return None

    def seeded() -> str | None:
        a, b = _call(fn, ids, 6), _call(fn, ids, 6)
        if not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])):
            return "two calls with generators of the same seed differ; draw all randomness from `generator`"
        c2 = _call(fn, ids, 7)
        return None if not torch.equal(a[1], c2[1]) else "different seeds gave the same mask; use `generator`"

    def untouched() -> str | None:
        fn(ids, vocab_size=_V, mask_id=_MASK, special_ids=_SPECIAL, p=0.15, generator=torch.Generator().manual_seed(8))
        return None if torch.equal(ids, ids_before) else "your function changed `ids` in place; work on a copy"

    for name, test in [("returns long (inputs, labels) shaped like ids", shapes),
                       ("chooses about 15% of the ordinary tokens", rate),
                       ("never chooses special tokens or padding", specials_never),
                       ("labels: the original id where chosen, -100 elsewhere", labels_right),
                       ("80% [MASK], 10% random, 10% unchanged", proportions),
                       ("random replacements are ordinary tokens, spread over the vocabulary", random_ordinary),
                       ("the same seed gives the same masks", seeded),
                       ("the input is left unchanged", untouched)]:
        c.check(name, test)
    c.done()
