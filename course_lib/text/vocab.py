"""Tokenisation and a word vocabulary: min count, frequent-word subsampling, the unigram^0.75 noise.

The conventions follow word2vec (Mikolov et al. 2013, "Distributed Representations of Words and
Phrases and their Compositionality") and gensim, so our vectors and gensim's are trained on the
same words: ids are ordered by decreasing count, words rarer than `min_count` are dropped from the
text (not mapped to an unknown token), and a word of corpus frequency f is kept with probability
(sqrt(f / sample) + 1) * sample / f.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (letters, with an inner apostrophe kept: "it's"); punctuation dropped."""
    return _TOKEN.findall(text.lower())


@dataclass
class Corpus:
    """A tokenised corpus as one flat id stream: ids (N,) and the sentence each token belongs to (N,)."""

    ids: np.ndarray        # (N,) int64 word ids
    sentence: np.ndarray   # (N,) int64 sentence index: context windows never cross a sentence

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Vocab:
    """Words ordered by decreasing count, with their counts and a word -> id index."""

    words: list[str]
    counts: np.ndarray                       # (V,) int64 corpus counts, decreasing
    index: dict[str, int] = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.index:
            self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, sentences, *, min_count: int = 5, max_size: int | None = None) -> "Vocab":
        """Count the words of tokenised `sentences`; keep those seen >= min_count times (the max_size commonest)."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counter: Counter = Counter()
        for sentence in sentences:
            if isinstance(sentence, str):
                raise TypeError("sentences must be lists of tokens, got a string; "
                                "split it first, e.g. [tokenize(line) for line in lines]")
            counter.update(sentence)
        if not counter:
            raise ValueError("the corpus is empty: no sentence holds a single token. "
                             "Check that the text was loaded and tokenised (e.g. data.wiki_sentences()).")
        # Ties broken by the word itself so that the ids never depend on the order of the corpus.
        kept = sorted(((w, n) for w, n in counter.items() if n >= min_count), key=lambda wn: (-wn[1], wn[0]))
        if max_size is not None:
            kept = kept[:max_size]
        if not kept:
            raise ValueError(f"min_count={min_count} leaves no words: the commonest word occurs "
                             f"{max(counter.values())} times in {sum(counter.values()):,} tokens. "
                             "Lower min_count or use a bigger corpus.")
        return cls([w for w, _ in kept], np.array([n for _, n in kept], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        """The id of one word; KeyError that says the word is out of vocabulary."""
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"{word!r} is not in the vocabulary ({len(self):,} words); it is rarer than "
                           "min_count in the training corpus or never occurs") from None

    def encode(self, sentences) -> Corpus:
        """The ids of every in-vocabulary token, sentence by sentence, as one flat stream (OOV words dropped)."""
        ids, sent = [], []
        for s, sentence in enumerate(sentences):
            row = [self.index[w] for w in sentence if w in self.index]
            ids.extend(row)
            sent.extend([s] * len(row))
        if not ids:
            raise ValueError("no token of these sentences is in the vocabulary; nothing to train on")
        return Corpus(np.asarray(ids, dtype=np.int64), np.asarray(sent, dtype=np.int64))

    def keep_probs(self, sample: float = 1e-3) -> np.ndarray:
        """(V,) probability of keeping each occurrence of each word under word2vec's subsampling."""
        if sample <= 0:
            return np.ones(len(self))                          # sample=0 switches subsampling off
        f = self.counts / self.counts.sum()
        return np.minimum(1.0, (np.sqrt(f / sample) + 1) * sample / f)

    def noise_probs(self, power: float = 0.75) -> np.ndarray:
        """(V,) the negative-sampling distribution: unigram counts raised to `power`, normalised."""
        p = self.counts.astype(np.float64) ** power
        return p / p.sum()


def subsample(corpus: Corpus, keep: np.ndarray, generator: torch.Generator) -> Corpus:
    """Drop each token with probability 1 - keep[id]; the draw comes from `generator` (seeded runs)."""
    u = torch.rand(len(corpus), generator=generator, dtype=torch.float64).numpy()
    mask = u < keep[corpus.ids]
    return Corpus(corpus.ids[mask], corpus.sentence[mask])
