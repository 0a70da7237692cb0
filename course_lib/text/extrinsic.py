"""Extrinsic evaluation: sentence polarity from averaged word vectors, against a bag-of-words baseline.

The data are the 200 labelled movie-review sentences (100 negative, 100 positive) from Pang & Lee
that gensim ships as test data. With so few sentences every score is cross-validated, and its
spread over folds is part of the result.
"""
from __future__ import annotations

import numpy as np

from .vectors import as_word_vectors
from .vocab import tokenize


def polarity_sentences() -> tuple[list[list[str]], np.ndarray]:
    """The tokenised sentences of gensim's pang_lee_polarity.cor and their labels (N,): 1 positive, 0 negative."""
    from ..data.text import gensim_test_file

    sentences, labels = [], []   # the file is Windows-1252 (a few curly quotes and dashes), not UTF-8
    for line in gensim_test_file("pang_lee_polarity.cor").read_text(encoding="cp1252").splitlines():
        label, _, text = line.partition(" ")
        if label not in ("__label__pos", "__label__neg"):
            continue
        sentences.append(tokenize(text))
        labels.append(int(label == "__label__pos"))
    return sentences, np.asarray(labels)


def average_vectors(vectors, sentences: list[list[str]]) -> tuple[np.ndarray, float]:
    """Each sentence as the mean of its in-vocabulary unit word vectors (N, D) (zeros if none); and the token coverage."""
    wv = as_word_vectors(vectors)
    normed = wv.normed.numpy()
    X = np.zeros((len(sentences), normed.shape[1]), dtype=np.float32)   # (N, D)
    known = total = 0
    for i, sentence in enumerate(sentences):
        rows = [wv.index[w] for w in sentence if w in wv.index]
        known, total = known + len(rows), total + len(sentence)
        if rows:
            X[i] = normed[rows].mean(0)
    return X, known / max(1, total)


def bag_of_words(sentences: list[list[str]]):
    """A sparse (N, vocabulary) word-count matrix of the sentences: the baseline that knows no similarity."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(analyzer=lambda s: s).fit_transform(sentences)


def cross_validated_accuracy(X, y, *, folds: int = 10, seed: int = 0, C: float = 1.0) -> tuple[float, float]:
    """Mean and standard deviation over stratified folds of a logistic regression's test accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(y) < 2 * folds:
        raise ValueError(f"{len(y)} examples are too few for {folds}-fold cross-validation; use fewer folds")
    dense = isinstance(X, np.ndarray)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)) if dense \
        else LogisticRegression(C=C, max_iter=2000)
    scores = cross_val_score(model, X, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return float(scores.mean()), float(scores.std())
