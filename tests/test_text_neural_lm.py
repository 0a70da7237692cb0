"""Bengio-style neural LM: shapes, windows, perplexity against known values, clear errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.text import neural_lm


def test_forward_shape_and_windows() -> None:
    model = neural_lm.NeuralLM(vocab_size=7, context=3, dim=4, hidden=5)
    X, y = neural_lm.windows(np.arange(10) % 7, 3)
    assert X.shape == (7, 3) and y.shape == (7,)
    assert X[0].tolist() == [0, 1, 2] and y[0].item() == 3 and X[-1].tolist() == [6, 0, 1]
    assert model(X).shape == (7, 7)


def test_untrained_perplexity_is_about_the_vocabulary_size_and_training_lowers_it() -> None:
    torch.manual_seed(0)
    ids = np.tile(np.arange(6), 50)  # a deterministic cycle: the next id is always known
    model = neural_lm.NeuralLM(6, context=2, dim=8, hidden=16, direct=False)
    with torch.no_grad():
        model.U.weight.zero_(); model.U.bias.zero_()  # all-zero logits: uniform prediction
    assert neural_lm.perplexity(model, ids, 2) == pytest.approx(6.0, rel=1e-5)
    X, y = neural_lm.windows(ids, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad(); model.loss(X, y).backward(); opt.step()
    assert neural_lm.perplexity(model, ids, 2, batch_size=7) < 1.1


def test_perplexity_matches_the_mean_cross_entropy() -> None:
    torch.manual_seed(1)
    ids = torch.randint(0, 9, (40,))
    model = neural_lm.NeuralLM(9, context=4, dim=3, hidden=6)
    X, y = neural_lm.windows(ids, 4)
    with torch.no_grad():
        expected = math.exp(model.loss(X, y).item())
    assert neural_lm.perplexity(model, ids, 4, batch_size=5) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("ids, context, match", [([1, 2], 2, "more than context"), ([[1, 2, 3]], 1, "1-D"),
                                                   ([0.5, 1.0, 2.0], 1, "integer"), ([1, 2, 3], 0, "context")])
def test_bad_input_is_a_clear_error(ids, context, match) -> None:
    with pytest.raises(ValueError, match=match):
        neural_lm.windows(ids, context)


def test_model_errors() -> None:
    with pytest.raises(ValueError, match="hidden"):
        neural_lm.NeuralLM(5, 2, 3, 0)
    model = neural_lm.NeuralLM(5, 2, 3, 4)
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="vocabulary"):
        neural_lm.perplexity(model, [0, 1, 9, 2], 2)
    with pytest.raises(ValueError, match="context=3"):
        neural_lm.perplexity(model, [0, 1, 2, 3], 3)


def test_lm_stream_maps_rare_words_to_unk_and_holds_out_the_last_sentences() -> None:
    sentences = [["a", "b", "a"], ["c", "a"], ["b", "z"], ["a", "q"]]
    train, test, words = neural_lm.lm_stream(sentences, max_words=2, test_fraction=0.25)
    assert words == ["</s>", "<unk>", "a", "b"]
    assert train.tolist() == [2, 3, 2, 0, 1, 2, 0, 3, 1, 0] and test.tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="empty"):
        neural_lm.lm_stream([[], ["a"]], max_words=5)
