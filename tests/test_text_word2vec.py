"""Vocabulary, pair building and the word2vec update: known values, the autograd gradient, clear errors."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from course_lib.text import vocab as vocab_mod
from course_lib.text import word2vec
from course_lib.text.vocab import Corpus, Vocab

SENTENCES = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat"], ["a", "cat", "and", "a", "dog"]]


def test_tokenize_lowercases_and_drops_punctuation() -> None:
    assert vocab_mod.tokenize("It's a Frog, isn't it?") == ["it's", "a", "frog", "isn't", "it"]


def test_vocab_orders_by_count_and_applies_min_count() -> None:
    v = Vocab.build(SENTENCES, min_count=2)
    assert v.words == ["the", "a", "cat", "dog", "sat"]          # ties broken alphabetically
    assert v.counts.tolist() == [3, 2, 2, 2, 2]
    assert "mat" not in v and v.id("cat") == 2
    corpus = v.encode(SENTENCES)
    assert corpus.ids.tolist() == [0, 2, 4, 0, 0, 3, 4, 1, 2, 1, 3]   # "on", "mat", "and" dropped
    assert corpus.sentence.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert len(Vocab.build(SENTENCES, min_count=1, max_size=3)) == 3
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v.id("mat")


def test_keep_probs_follow_word2vecs_formula_and_noise_is_unigram_to_the_075() -> None:
    v = Vocab(["a", "b"], np.array([900, 100]))
    f = np.array([0.9, 0.1])
    assert np.allclose(v.keep_probs(0.01), np.minimum(1, (np.sqrt(f / 0.01) + 1) * 0.01 / f))
    assert np.allclose(v.keep_probs(0), 1.0)
    assert np.allclose(v.noise_probs(), np.array([900, 100]) ** 0.75 / (900 ** 0.75 + 100 ** 0.75))


@pytest.mark.parametrize("sentences, kwargs, error, match", [
    ([], {}, ValueError, "empty"), ([[], []], {}, ValueError, "empty"),
    (SENTENCES, {"min_count": 10}, ValueError, "leaves no words"),
    (["the cat sat"], {}, TypeError, "lists of tokens"), (SENTENCES, {"min_count": 0}, ValueError, "min_count")])
def test_bad_corpus_is_a_clear_error(sentences, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        Vocab.build(sentences, **kwargs)
    if error is ValueError and "min_count" in kwargs or not sentences:
        with pytest.raises(error, match=match):
            word2vec.Word2Vec(sentences, progress=False, **kwargs)


@pytest.mark.parametrize("window", [0, -1, 1.5])
def test_window_must_be_a_positive_whole_number(window) -> None:
    corpus = Corpus(np.arange(5), np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="window"):
        word2vec.skipgram_pairs(corpus, window, torch.Generator())
    with pytest.raises(ValueError, match="window"):
        word2vec.Word2Vec(SENTENCES, window=window, min_count=1, progress=False)


def _stream(n: int = 400, sentence_len: int = 7) -> Corpus:
    return Corpus(np.arange(n) % 50, np.arange(n) // sentence_len)


def test_skipgram_pairs_stay_in_the_window_and_the_sentence() -> None:
    corpus = _stream()
    pos = torch.arange(len(corpus))
    # Give every token its own id so that a pair tells us the two positions.
    centre, context = word2vec.skipgram_pairs(Corpus(pos.numpy(), corpus.sentence), 3, torch.Generator().manual_seed(0))
    dist = (centre - context).abs()
    assert dist.min() >= 1 and dist.max() <= 3
    assert torch.equal(torch.from_numpy(corpus.sentence)[centre], torch.from_numpy(corpus.sentence)[context])
    # A dynamic window b ~ U{1..3} keeps distance d with probability (3 - d + 1) / 3, and a sentence
    # of 7 tokens holds 7 - d pairs at distance d.
    counts = torch.bincount(dist, minlength=4)[1:].float()
    expected = torch.tensor([(7 - d) * (4 - d) / 3 for d in (1, 2, 3)])
    assert torch.allclose(counts / counts[0], expected / expected[0], atol=0.06)
    again = word2vec.skipgram_pairs(Corpus(pos.numpy(), corpus.sentence), 3, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], centre) and torch.equal(again[1], context)


def test_cbow_windows_hold_the_same_pairs_as_skipgram() -> None:
    corpus = Corpus(np.arange(300), np.arange(300) // 11)
    centre, context = word2vec.skipgram_pairs(corpus, 4, torch.Generator().manual_seed(3))
    c, ctx = word2vec.cbow_windows(corpus, 4, torch.Generator().manual_seed(3))
    assert ctx.shape == (len(c), 8)
    cbow_pairs = Counter((int(a), int(b)) for a, row in zip(c, ctx) for b in row if b >= 0)
    assert cbow_pairs == Counter(zip(centre.tolist(), context.tolist()))


def test_the_closed_form_update_is_sgd_on_ns_loss() -> None:
    model = word2vec.Word2Vec(SENTENCES, min_count=1, vector_size=6, negative=3, epochs=1, progress=False)
    torch.manual_seed(0)
    model.W_in, model.W_out = torch.randn(len(model.vocab), 6), torch.randn(len(model.vocab), 6)
    centre, context = torch.tensor([0, 1, 0, 2]), torch.tensor([3, 0, 4, 0])
    negatives = torch.tensor([[1, 2, 0], [3, 3, 4], [2, 1, 1], [4, 0, 3]])
    model._negatives = lambda shape, g: negatives
    W_in, W_out = model.W_in.clone().requires_grad_(), model.W_out.clone().requires_grad_()
    word2vec.ns_loss(W_in, W_out, centre, context, negatives).backward()
    lr = 0.1
    loss = model._step(centre, context, lr, torch.Generator())
    # The batch update adds -lr * (sum over pairs of the gradient) = -lr * B * grad(mean loss).
    assert torch.allclose(model.W_in, W_in.detach() - lr * 4 * W_in.grad, atol=1e-5)
    assert torch.allclose(model.W_out, W_out.detach() - lr * 4 * W_out.grad, atol=1e-5)
    assert float(loss) == pytest.approx(float(word2vec.ns_loss(W_in, W_out, centre, context, negatives).detach()), rel=1e-5)


def test_negatives_follow_the_noise_distribution() -> None:
    model = word2vec.Word2Vec(vector_size=4, min_count=1, progress=False)
    model.build_vocab([["a"] * 81 + ["b"] * 16 + ["c"]])
    draws = model._negatives((100_000,), torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=3).double() / len(draws)
    assert torch.allclose(freq, torch.from_numpy(model.vocab.noise_probs()), atol=0.005)


@pytest.mark.parametrize("sg", [1, 0])
def test_training_is_seeded_and_lowers_the_loss(sg) -> None:
    rng = np.random.default_rng(0)
    # Two topics that never mix: words 0-19 together, words 20-39 together.
    sentences = [[f"w{t * 20 + i}" for i in rng.integers(0, 20, 8)] for t in (0, 1) for _ in range(150)]
    runs = [word2vec.Word2Vec(sentences, vector_size=16, window=3, min_count=1, sg=sg, epochs=5, sample=0,
                              batch_size=128, progress=False, workers=1) for _ in range(2)]
    assert torch.equal(runs[0].W_in, runs[1].W_in), "same seed, same vectors"
    model = runs[0]
    assert model.losses[-1] < model.losses[0] and model.epochs_done == 5
    from course_lib.text import vectors
    for word, topic in (("w1", range(0, 20)), ("w25", range(20, 40))):
        near = [w for w, _ in vectors.neighbours(model, word, k=10)]
        assert sum(int(w[1:]) in topic for w in near) >= 9, f"{word}'s neighbours mix the topics: {near}"


def test_time_budget_cuts_and_says_so(capsys) -> None:
    sentences = [[f"w{i % 30}" for i in range(j, j + 10)] for j in range(300)]
    model = word2vec.Word2Vec(sentences, vector_size=8, min_count=1, epochs=50, batch_size=4,
                              time_budget_s=0.0, progress=False)
    assert model.stopped_by_budget and model.epochs_done < 50
    assert "[time]" in capsys.readouterr().out


def test_gensim_gets_the_same_settings_and_is_reproducible() -> None:
    sentences = [[f"w{(i * 7 + j) % 40}" for i in range(12)] for j in range(200)]
    settings = dict(vector_size=10, window=3, min_count=2, negative=3, sample=1e-3, sg=1, epochs=2, seed=5,
                    batch_size=64)
    a, b = (word2vec.gensim_word2vec(sentences, **settings) for _ in range(2))
    assert np.array_equal(a.wv.vectors, b.wv.vectors)
    assert a.vector_size == 10 and a.window == 3 and a.negative == 3 and a.epochs == 2
    ours = word2vec.Word2Vec(sentences, progress=False, **settings)
    assert set(ours.vocab.words) == set(a.wv.index_to_key)
