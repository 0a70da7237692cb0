"""Word-vector evaluation that works the same on our vectors and on a gensim KeyedVectors.

- nearest neighbours by cosine similarity;
- analogies a : b :: c : ? by 3CosAdd (Mikolov et al. 2013) and 3CosMul (Levy & Goldberg 2014),
  always excluding the three question words, in every casing, from the answers;
- accuracy on Mikolov's questions-words.txt, per section, with the conventions of gensim's
  `KeyedVectors.evaluate_word_analogies` (case_insensitive=True): words compared case-insensitively
  (folded with str.upper, as gensim does; a folded word's vector is that of its first, i.e. most
  frequent, casing), the question words never answers in any casing, only the first `restrict_vocab`
  words searched, and questions with a word outside them skipped and counted;
- Spearman correlation with human judgements on WordSim353 and SimLex-999.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F


class WordVectors:
    """Words (ordered by decreasing frequency) and their vectors (V, D), with a word -> row index."""

    def __init__(self, words: list[str], vectors) -> None:
        vectors = torch.as_tensor(np.asarray(vectors) if not isinstance(vectors, torch.Tensor) else vectors)
        if vectors.dim() != 2 or len(words) != len(vectors):
            raise ValueError(f"need one vector per word: {len(words)} words, vectors of shape {tuple(vectors.shape)}")
        if len(words) == 0:
            raise ValueError("WordVectors needs at least one word")
        self.words = list(words)
        self.vectors = vectors.detach().float().cpu()              # (V, D)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.normed = F.normalize(self.vectors, dim=1)              # (V, D) unit rows: dot = cosine

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> torch.Tensor:
        return self.vectors[self.row(word)]

    def row(self, word: str) -> int:
        """Row of one word; a KeyError that names the word and says it is out of vocabulary."""
        if word not in self.index:
            raise KeyError(f"{word!r} is out of vocabulary ({len(self):,} words): it was rarer than "
                           "min_count in the training corpus or never seen; pick another word")
        return self.index[word]

    @property
    def folded(self) -> list[str]:
        """Every word case-folded (as gensim folds: str.upper), computed once."""
        if getattr(self, "_folded", None) is None:
            self._folded = [_fold(w) for w in self.words]
        return self._folded

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.normed[self.row(a)] @ self.normed[self.row(b)])


def as_word_vectors(obj) -> WordVectors:
    """Our WordVectors, our Word2Vec, a gensim KeyedVectors or a gensim Word2Vec, as WordVectors."""
    if isinstance(obj, WordVectors):
        return obj
    wv = getattr(obj, "wv", obj)                  # a trained model (ours or gensim's) holds its vectors in .wv
    if isinstance(wv, WordVectors):
        return wv
    if hasattr(wv, "index_to_key") and hasattr(wv, "vectors"):   # gensim KeyedVectors
        return WordVectors(list(wv.index_to_key), wv.vectors)
    raise TypeError(f"expected word vectors (ours or a gensim KeyedVectors/Word2Vec), got {type(obj).__name__}")


def neighbours(vectors, word: str, k: int = 8) -> list[tuple[str, float]]:
    """The k words with the highest cosine similarity to `word` (itself excluded), with their cosines."""
    wv = as_word_vectors(vectors)
    sims = wv.normed @ wv.normed[wv.row(word)]                      # (V,)
    sims[wv.row(word)] = -float("inf")
    top = sims.topk(min(k, len(wv) - 1))
    return [(wv.words[i], float(s)) for s, i in zip(top.values, top.indices)]


def _fold(word: str) -> str:
    """A word's case-folded form: str.upper, as gensim's case_insensitive=True (so 'King' == 'KING' == 'king')."""
    return word.upper()


def _folded_rows(wv: WordVectors, limit: int) -> dict[str, int]:
    """Folded word -> row over the first `limit` words; the first (commonest) casing wins, as in gensim."""
    rows = {}
    folded = wv.folded
    for i in reversed(range(limit)):
        rows[folded[i]] = i
    return rows


def _casing_groups(wv: WordVectors, rows: dict[str, int], limit: int) -> torch.Tensor:
    """(limit,) for every row, the row of its folded word's first casing: rows i, j are one word iff equal."""
    return torch.tensor([rows[w] for w in wv.folded[:limit]], dtype=torch.long)


def _best_not_asked(scores: torch.Tensor, group: torch.Tensor, asked: torch.Tensor) -> torch.Tensor:
    """(Q,) the best-scoring row of each question whose casing group is none of its asked groups (Q, 3).

    The asked rows themselves are already -inf; another casing of a question word ('King' for 'king')
    is removed here, one at a time, only where it is what would be answered (rare, so cheap)."""
    pred = scores.argmax(1)
    while True:
        clash = (group[pred].unsqueeze(1) == asked).any(1)
        clash &= torch.isfinite(scores.gather(1, pred.unsqueeze(1)).squeeze(1))   # nothing left to try
        if not clash.any():
            return pred
        q = clash.nonzero().squeeze(1)
        scores[q, pred[q]] = -float("inf")
        pred[q] = scores[q].argmax(1)


def _analogy_scores(normed: torch.Tensor, a, b, c, method: str) -> torch.Tensor:
    """Scores (Q, V') of every candidate d for questions a : b :: c : d given as row ids (Q,)."""
    cos_a, cos_b, cos_c = (normed[i] @ normed.T for i in (a, b, c))   # (Q, V') each
    if method == "add":    # 3CosAdd: cos(d, b - a + c) up to a positive factor
        return cos_b - cos_a + cos_c
    if method == "mul":    # 3CosMul, cosines shifted to [0, 1] so the product and ratio make sense
        return ((cos_b + 1) / 2) * ((cos_c + 1) / 2) / ((cos_a + 1) / 2 + 1e-3)
    raise ValueError(f"method must be 'add' (3CosAdd) or 'mul' (3CosMul), got {method!r}")


def analogy(vectors, a: str, b: str, c: str, *, method: str = "add", k: int = 1) -> list[tuple[str, float]]:
    """Answer a : b :: c : ? (e.g. man : king :: woman : ?); a, b, c are never answers, in any casing.

    The question words are looked up exactly as written (their own vectors); answers are every word
    except the three and their other casings ('King', 'KING' for 'king'), so up to k of them."""
    wv = as_word_vectors(vectors)
    rows = [wv.row(w) for w in (a, b, c)]                           # KeyError for an out-of-vocabulary word
    scores = _analogy_scores(wv.normed, *([r] for r in rows), method)[0]   # (V,)
    asked = {_fold(w) for w in (a, b, c)}
    scores[[i for i, w in enumerate(wv.folded) if w in asked]] = -float("inf")
    top = scores.topk(min(k, int(torch.isfinite(scores).sum())))
    return [(wv.words[i], float(s)) for s, i in zip(top.values, top.indices)]


@dataclass
class AnalogyResult:
    """Accuracy per section of questions-words.txt over the questions whose four words are known."""

    sections: dict[str, tuple[int, int]] = field(default_factory=dict)   # name -> (correct, answered)
    skipped: int = 0              # questions with a word outside the first `restrict_vocab` words

    def accuracy(self, which: str = "all") -> float:
        """Accuracy over 'all', 'semantic', 'syntactic' (gram* sections) or one section; nan if none answered."""
        names = {"all": list(self.sections),
                 "semantic": [s for s in self.sections if not s.startswith("gram")],
                 "syntactic": [s for s in self.sections if s.startswith("gram")]}.get(which, [which])
        correct = sum(self.sections[s][0] for s in names if s in self.sections)
        answered = sum(self.sections[s][1] for s in names if s in self.sections)
        return correct / answered if answered else float("nan")

    @property
    def answered(self) -> int:
        return sum(n for _, n in self.sections.values())


def analogy_accuracy(vectors, path: str | Path | None = None, *, method: str = "add",
                     restrict_vocab: int = 300_000, batch: int = 256, restrict: int | None = None) -> AnalogyResult:
    """Accuracy on questions-words.txt (default: gensim's copy) by gensim's conventions.

    As `KeyedVectors.evaluate_word_analogies(path, restrict_vocab)` with its default
    case_insensitive=True: every word is folded with str.upper, and a folded word's vector is that of
    its first casing among the first `restrict_vocab` words; a question with a word that does not fold
    to one of them is skipped (counted in `skipped`); the answer is searched among those words only,
    never one of the three question words in any casing, and it is right when it folds to the
    expected word ('Queen' answers 'queen'). method='add' gives gensim's figures (3CosAdd, its only
    method); 'mul' is 3CosMul under the same conventions. `restrict` is the old name of
    `restrict_vocab`. One corner differs on purpose: gensim looks for a non-question word only among
    its 5 best candidates and counts the question wrong if all 5 are casings of question words;
    here the search continues (both agree unless a vocabulary holds more than 5 such casings)."""
    wv = as_word_vectors(vectors)
    if restrict is not None:
        restrict_vocab = restrict
    if path is None:
        from ..data import analogy_path
        path = analogy_path()
    limit = min(restrict_vocab, len(wv))
    ok = _folded_rows(wv, limit)
    group = _casing_groups(wv, ok, limit)
    normed = wv.normed[:limit]
    result, section, questions = AnalogyResult(), None, []

    def flush() -> None:
        if section is None or not questions:
            return
        q = torch.tensor(questions)                                   # (Q, 4) rows of a, b, c, d (first casings)
        correct = 0
        for lo in range(0, len(q), batch):
            qb = q[lo:lo + batch]
            scores = _analogy_scores(normed, qb[:, 0], qb[:, 1], qb[:, 2], method)   # (Qb, V')
            scores.scatter_(1, qb[:, :3], -float("inf"))              # never answer with a question word
            pred = _best_not_asked(scores, group, qb[:, :3])          # ... nor with another casing of one
            correct += int((group[pred] == qb[:, 3]).sum())           # any casing of d is right
        result.sections[section] = (correct, len(q))

    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            flush()
            section, questions = line[1:].strip(), []
            continue
        words = [_fold(w) for w in line.split()]
        if len(words) != 4:
            continue
        if all(w in ok for w in words):
            questions.append([ok[w] for w in words])
        else:
            result.skipped += 1
    flush()
    return result


@dataclass
class SimilarityResult:
    """Spearman correlation between cosine similarities and human scores over the pairs in vocabulary."""

    spearman: float
    pairs_used: int
    pairs_total: int


def _similarity_file(name: str) -> Path:
    from ..data.text import gensim_test_file
    return gensim_test_file(name)


def wordsim353_path() -> Path:
    """gensim's copy of WordSim353 (relatedness: 'coffee'-'cup' scores high)."""
    return _similarity_file("wordsim353.tsv")


def simlex999_path() -> Path:
    """gensim's copy of SimLex-999 (similarity only: 'coffee'-'cup' scores low, unlike WordSim353)."""
    return _similarity_file("simlex999.txt")


def similarity_spearman(vectors, path: str | Path) -> SimilarityResult:
    """Spearman rho of cosine similarity vs the human score of each `word1<TAB>word2<TAB>score` line."""
    from scipy.stats import spearmanr

    wv = as_word_vectors(vectors)
    folded = _folded_rows(wv, len(wv))
    ours, human, total = [], [], 0
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.strip().split("\t")
        if line.startswith("#") or len(parts) != 3:
            continue
        total += 1
        a, b = _fold(parts[0]), _fold(parts[1])
        if a in folded and b in folded:
            ours.append(float(wv.normed[folded[a]] @ wv.normed[folded[b]]))
            human.append(float(parts[2]))
    if total == 0:
        raise ValueError(f"{path} holds no 'word1<TAB>word2<TAB>score' lines")
    rho = float(spearmanr(ours, human).statistic) if len(ours) >= 3 else float("nan")
    return SimilarityResult(rho, len(ours), total)
