"""Count-based language-model baselines: unigram and interpolated bigram perplexity over token ids.

Every neural language model of the course (notebook 01's Bengio-style LM, notebook 03's BERT) is
judged beside these, on the same ids and the same held-out split: a model that does not beat the
bigram has learned nothing a table of counts could not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _ids(ids, name: str, vocab_size: int) -> np.ndarray:
    """Check one id sequence: 1-D integers in [0, vocab_size), at least 2 of them."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or len(arr) < 2:
        raise ValueError(f"{name} must be a 1-D sequence of at least 2 token ids, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= vocab_size:
        raise ValueError(f"{name} has ids outside [0, {vocab_size}): min {arr.min()}, max {arr.max()}")
    return arr.astype(np.int64)


@dataclass
class BigramLM:
    """P(w_t | w_{t-1}) = lam * bigram + (1 - lam) * unigram, add-`alpha` smoothed unigram."""

    vocab_size: int
    unigram: np.ndarray           # (V,) probabilities
    pairs: dict                   # (prev * V + next) -> count, for the pairs seen in training
    prev_counts: np.ndarray       # (V,) how often each id is followed by another one
    lam: float

    @classmethod
    def fit(cls, train_ids, vocab_size: int, *, alpha: float = 1.0, lam: float = 0.7) -> "BigramLM":
        """Count unigrams and adjacent pairs of `train_ids` (the sequence is one long stream)."""
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lam must lie in [0, 1], got {lam}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0 (add-alpha smoothing), got {alpha}")
        ids = _ids(train_ids, "train_ids", vocab_size)
        counts = np.bincount(ids, minlength=vocab_size).astype(np.float64)
        unigram = (counts + alpha) / (counts.sum() + alpha * vocab_size)
        keys, n = np.unique(ids[:-1] * vocab_size + ids[1:], return_counts=True)
        prev_counts = np.bincount(ids[:-1], minlength=vocab_size).astype(np.float64)
        return cls(vocab_size, unigram, dict(zip(keys.tolist(), n.tolist())), prev_counts, lam)

    def prob(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """P(nxt | prev) for aligned arrays of ids."""
        keys = prev * self.vocab_size + nxt
        pair = np.fromiter((self.pairs.get(k, 0) for k in keys.tolist()), np.float64, len(keys))
        seen = self.prev_counts[prev]
        bigram = np.divide(pair, seen, out=np.zeros_like(pair), where=seen > 0)
        # An id never seen as a predecessor has no bigram estimate: fall back to the unigram alone.
        lam = np.where(seen > 0, self.lam, 0.0)
        return lam * bigram + (1 - lam) * self.unigram[nxt]


def unigram_perplexity(train_ids, test_ids, vocab_size: int, *, alpha: float = 1.0) -> float:
    """exp of the mean negative log-likelihood of test_ids[1:] under add-alpha unigram frequencies."""
    lm = BigramLM.fit(train_ids, vocab_size, alpha=alpha, lam=0.0)
    test = _ids(test_ids, "test_ids", vocab_size)
    return float(math.exp(-np.log(lm.unigram[test[1:]]).mean()))


def bigram_perplexity(train_ids, test_ids, vocab_size: int, *, alpha: float = 1.0,
                      lam: float = 0.7) -> float:
    """Perplexity of test_ids[1:] given each previous id, under the interpolated bigram."""
    lm = BigramLM.fit(train_ids, vocab_size, alpha=alpha, lam=lam)
    test = _ids(test_ids, "test_ids", vocab_size)
    return float(math.exp(-np.log(lm.prob(test[:-1], test[1:])).mean()))
