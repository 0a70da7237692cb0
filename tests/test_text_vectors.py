"""Word-vector evaluation: hand-made vectors with known answers, and agreement with gensim's own evaluation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.text import extrinsic, vectors, word2vec

# A tiny space where the answers are known: king - man + woman = queen exactly; prince points like
# king but is long; in "man : king :: prince : ?" the question words themselves score highest.
WORDS = ["king", "queen", "man", "woman", "apple", "prince"]
VECS = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.2, -0.3],
                     [2.0, 2.1, 0.1]])


def test_neighbours_rank_by_cosine_and_skip_the_word() -> None:
    wv = vectors.WordVectors(WORDS, VECS)
    near = vectors.neighbours(wv, "king", k=2)
    assert [w for w, _ in near] == ["prince", "man"]  # prince is far in length but close in angle
    assert near[0][1] == pytest.approx(float(torch.cosine_similarity(VECS[0], VECS[5], dim=0)))


@pytest.mark.parametrize("method", ["add", "mul"])
def test_analogy_finds_queen_and_never_answers_with_its_input(method) -> None:
    wv = vectors.WordVectors(WORDS, VECS)
    answers = vectors.analogy(wv, "man", "king", "woman", method=method, k=3)
    assert answers[0][0] == "queen"
    assert not {"man", "king", "woman"} & {w for w, _ in answers}
    assert not {"man", "king", "prince"} & {w for w, _ in vectors.analogy(wv, "man", "king", "prince", method=method, k=3)}


def test_analogy_with_an_unknown_word_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="out of vocabulary"):
        vectors.analogy(vectors.WordVectors(WORDS, VECS), "man", "king", "frog")
    with pytest.raises(ValueError, match="3CosAdd"):
        vectors.analogy(vectors.WordVectors(WORDS, VECS), "man", "king", "woman", method="sub")


def test_bad_vectors_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="one vector per word"):
        vectors.WordVectors(["a", "b"], torch.zeros(3, 2))
    with pytest.raises(TypeError, match="word vectors"):
        vectors.as_word_vectors([1, 2, 3])


def test_analogy_accuracy_on_a_tiny_file(tmp_path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(": family\nman king woman queen\nMan King Woman Queen\nman king woman prince\n"
                    ": gram-test\nman king frog queen\n")
    result = vectors.analogy_accuracy(vectors.WordVectors(WORDS, VECS), path)
    assert result.sections == {"family": (2, 3)} and result.skipped == 1
    assert result.accuracy() == pytest.approx(2 / 3) and result.accuracy("semantic") == pytest.approx(2 / 3)
    assert np.isnan(result.accuracy("syntactic"))


@pytest.fixture(scope="module")
def gensim_model():
    from course_lib import data
    return word2vec.gensim_word2vec(data.wiki_sentences()[:8000], vector_size=30, min_count=3, epochs=2, seed=0)


def test_analogy_accuracy_matches_gensim(gensim_model) -> None:
    from course_lib import data
    ours = vectors.analogy_accuracy(gensim_model.wv)
    score, sections = gensim_model.wv.evaluate_word_analogies(data.analogy_path())
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections
              if s["section"] != "Total accuracy" and (s["correct"] or s["incorrect"])}
    assert ours.sections == theirs and ours.answered > 100
    assert ours.accuracy() == pytest.approx(score)


def test_similarity_spearman_matches_gensim(gensim_model) -> None:
    for path in (vectors.wordsim353_path(), vectors.simlex999_path()):
        ours = vectors.similarity_spearman(gensim_model.wv, path)
        _, spearman, oov = gensim_model.wv.evaluate_word_pairs(path)
        assert ours.spearman == pytest.approx(spearman.statistic, abs=1e-3)  # float32 vs float64 near-ties
        assert 100 * (1 - ours.pairs_used / ours.pairs_total) == pytest.approx(oov)


def test_same_results_for_gensim_vectors_and_ours(gensim_model) -> None:
    kv = gensim_model.wv
    ours = vectors.WordVectors(list(kv.index_to_key), torch.from_numpy(kv.vectors.copy()))
    word = kv.index_to_key[50]
    assert [w for w, _ in vectors.neighbours(ours, word, 5)] == [w for w, _ in kv.most_similar(word, topn=5)]


def test_extrinsic_features_and_cross_validation() -> None:
    sentences, y = extrinsic.polarity_sentences()
    assert len(sentences) == 200 and y.sum() == 100 and all(sentences)
    wv = vectors.WordVectors(["good", "bad"], torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    X, coverage = extrinsic.average_vectors(wv, [["good", "good", "bad", "zzz"], ["zzz"]])
    assert np.allclose(X, [[2 / 3, 1 / 3], [0, 0]]) and coverage == pytest.approx(3 / 5)
    # A feature that is the label itself is learned perfectly; pure noise is not.
    rng = np.random.default_rng(0)
    perfect = np.c_[y, rng.normal(size=len(y))].astype(np.float32)
    assert extrinsic.cross_validated_accuracy(perfect, y)[0] == 1.0
    assert extrinsic.cross_validated_accuracy(rng.normal(size=(200, 5)), y)[0] < 0.7
    assert extrinsic.bag_of_words(sentences).shape[0] == 200
    with pytest.raises(ValueError, match="too few"):
        extrinsic.cross_validated_accuracy(perfect[:10], y[:10])
