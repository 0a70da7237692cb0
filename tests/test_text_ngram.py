"""Count-based LM baselines: known values on tiny streams, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.text import ngram


def test_unigram_perplexity_of_a_uniform_stream_is_the_vocabulary_size() -> None:
    ids = np.tile(np.arange(5), 200)
    assert ngram.unigram_perplexity(ids, ids, 5) == pytest.approx(5.0, rel=1e-3)


def test_bigram_reads_a_deterministic_cycle() -> None:
    ids = np.tile(np.arange(5), 200)  # 0 1 2 3 4 0 1 ...: the next id is always known
    ppl = ngram.bigram_perplexity(ids, ids, 5, lam=0.9)
    assert ppl == pytest.approx(1 / (0.9 + 0.1 * 0.2), rel=1e-3)
    assert ppl < ngram.unigram_perplexity(ids, ids, 5)


def test_unseen_predecessor_falls_back_to_unigram() -> None:
    lm = ngram.BigramLM.fit(np.array([0, 1, 0, 1, 2]), 4)  # id 2 is never followed, id 3 never seen
    p = lm.prob(np.array([2, 3]), np.array([0, 0]))
    assert np.allclose(p, lm.unigram[0])
    assert np.isclose(lm.prob(np.array([0]), np.array([0]))[0], 0.3 * lm.unigram[0])  # 0 never follows 0
    assert np.isclose(lm.prob(np.array([0]), np.array([1]))[0], 0.7 + 0.3 * lm.unigram[1])


@pytest.mark.parametrize("ids, match", [([3], "at least 2"), ([0, 7], "outside"), ([0.5, 1.0], "integer")])
def test_bad_ids_are_clear_errors(ids, match) -> None:
    with pytest.raises(ValueError, match=match):
        ngram.unigram_perplexity(ids, [0, 1], 5)


def test_bad_smoothing_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="lam"):
        ngram.BigramLM.fit([0, 1, 2], 3, lam=1.5)
    with pytest.raises(ValueError, match="alpha"):
        ngram.BigramLM.fit([0, 1, 2], 3, alpha=0)
