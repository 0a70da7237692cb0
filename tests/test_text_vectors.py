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


# A mixed-case vocabulary where the row-index scoring went wrong both ways: the best answer to
# "man : king :: woman : ?" is 'Queen' (another casing of the expected word: right), and in
# "man : king :: boy : ?" the best candidate is 'King' (a question word's other casing: never an answer).
MIXED = {"king": [1.0, 1.0, 0.0], "queen": [0.8, 0.1, 1.0], "man": [0.0, 1.0, 0.0], "woman": [0.0, 0.0, 1.0],
         "boy": [0.1, 1.0, 0.3], "prince": [1.0, 0.9, 0.5], "Queen": [1.0, 0.0, 1.0], "King": [1.1, 1.0, 0.3],
         "apple": [-1.0, 0.2, -0.3], "KING": [0.9, 1.1, 0.2]}
MIXED_QUESTIONS = ": family\nman king woman queen\nMAN King Woman QUEEN\nman king boy prince\n"


def _keyed_vectors(words, vecs):
    from gensim.models import KeyedVectors
    kv = KeyedVectors(vector_size=len(vecs[0]))
    kv.add_vectors(list(words), np.asarray(vecs, dtype=np.float32))
    return kv


def _gensim_sections(kv, path, restrict_vocab=300_000):
    score, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=restrict_vocab)
    return score, {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections
                   if s["section"] != "Total accuracy" and (s["correct"] or s["incorrect"])}


def test_analogy_accuracy_is_case_insensitive_like_gensim(tmp_path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(MIXED_QUESTIONS)
    kv = _keyed_vectors(MIXED, list(MIXED.values()))
    ours = vectors.analogy_accuracy(kv, path)
    score, theirs = _gensim_sections(kv, path)
    assert theirs == {"family": (3, 3)} and ours.sections == theirs and ours.accuracy() == pytest.approx(score)
    # analogy() never answers with a casing of a question word either
    assert vectors.analogy(kv, "man", "king", "boy")[0][0] == "prince"
    assert not {"king", "man", "boy"} & {w.lower() for w, _ in vectors.analogy(kv, "man", "king", "boy", k=5)}


@pytest.mark.parametrize("restrict_vocab", [300_000, 150, 60])
def test_analogy_accuracy_matches_gensim_on_a_random_mixed_case_vocabulary(tmp_path, restrict_vocab) -> None:
    # 120 words in 6 sections of analogies built to be nearly right, each word with up to one more
    # casing (a noisy copy, placed later in the frequency order, sometimes before the word itself);
    # at most 3 extra casings per question, so gensim's top-5 corner never applies.
    rng = np.random.default_rng(0)
    base = [f"w{i}" for i in range(120)]
    vecs = {w: rng.normal(size=16) for w in base}
    lines = []
    for s in range(6):
        lines.append(f": section-{s}")
        offset = rng.normal(size=16)
        pairs = [(base[20 * s + 2 * j], base[20 * s + 2 * j + 1]) for j in range(10)]
        for x, y in pairs:
            vecs[y] = vecs[x] + offset + 0.9 * rng.normal(size=16)
        for (a, b), (c, d) in ((p, q) for p in pairs for q in pairs if p != q):
            cased = [w.upper() if rng.random() < 0.2 else w for w in (a, b, c, d)]
            lines.append(" ".join(cased))
    lines.insert(3, "w1 w2 unknown w3")                             # skipped: a word outside the vocabulary
    words, rows = [], []
    for w in base:
        variant = w.capitalize() if rng.random() < 0.5 else w.upper()
        copy = vecs[w] + 0.3 * rng.normal(size=16)
        order = [(w, vecs[w]), (variant, copy)] if rng.random() < 0.7 else [(variant, copy), (w, vecs[w])]
        for word, vec in order[:1 + (rng.random() < 0.6)]:
            words.append(word)
            rows.append(vec)
    perm = np.argsort(rng.random(len(words)) + np.arange(len(words)) / 40)   # shuffle locally: frequency-ish order
    words, rows = [words[i] for i in perm], [rows[i] for i in perm]
    path = tmp_path / "q.txt"
    path.write_text("\n".join(lines) + "\n")
    kv = _keyed_vectors(words, rows)
    ours = vectors.analogy_accuracy(kv, path, restrict_vocab=restrict_vocab, batch=37)
    score, theirs = _gensim_sections(kv, path, restrict_vocab)
    assert ours.sections == theirs and ours.accuracy() == pytest.approx(score) and ours.answered > 50
    assert 0 < ours.accuracy() < 1
    if restrict_vocab < len(words):
        assert ours.skipped > 1
    # the row-index scoring of before (exact row of d, no other casings excluded) disagrees here
    assert ours.sections != _row_index_accuracy(kv, path, restrict_vocab)


def _row_index_accuracy(kv, path, restrict_vocab):
    """The old evaluation: right only if the best row, question rows excluded, is d's first casing."""
    wv = vectors.as_word_vectors(kv)
    limit = min(restrict_vocab, len(wv))
    ok = {}
    for i in reversed(range(limit)):
        ok[wv.words[i].lower()] = i
    normed, out, section = wv.normed[:limit], {}, None
    for line in path.read_text().splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        q = [ok.get(w.lower()) for w in line.split()]
        if None in q:
            continue
        scores = normed @ (normed[q[1]] - normed[q[0]] + normed[q[2]])
        scores[q[:3]] = -float("inf")
        right, n = out.get(section, (0, 0))
        out[section] = (right + int(scores.argmax() == q[3]), n + 1)
    return out


def test_restrict_is_the_old_name_of_restrict_vocab(tmp_path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(MIXED_QUESTIONS)
    kv = _keyed_vectors(MIXED, list(MIXED.values()))
    old, new = vectors.analogy_accuracy(kv, path, restrict=4), vectors.analogy_accuracy(kv, path, restrict_vocab=4)
    assert old == new and new.skipped == 1 and new.sections == _gensim_sections(kv, path, 4)[1] == {"family": (2, 2)}
