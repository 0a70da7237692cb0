"""Corpus choice for notebooks 01-02: the offline excerpt, the text8 fallback, pretrained vectors offline."""
from __future__ import annotations

import pytest

from course_lib.data import DownloadError
from course_lib.text import corpus


def test_wiki_and_max_words() -> None:
    sentences, note = corpus.load("wiki", max_words=1000)
    assert "Wikipedia" in note and 1000 <= sum(len(s) for s in sentences) < 1000 + max(len(s) for s in sentences)


def test_auto_falls_back_to_wiki_and_says_why(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise DownloadError("no network", reason="no network: could not connect")

    monkeypatch.setattr(corpus, "load_text8", offline)
    sentences, note = corpus.load("auto", max_words=500)
    assert sentences and "text8 could not be had (no network: could not connect)" in note
    with pytest.raises(DownloadError):
        corpus.load("text8")


def test_text8_is_cut_into_pseudo_sentences(monkeypatch) -> None:
    monkeypatch.setattr(corpus, "load_text8", lambda max_words=None: ["w"] * 2500)
    sentences, note = corpus.load("text8")
    assert [len(s) for s in sentences] == [1000, 1000, 500] and note.startswith("text8")


def test_unknown_corpus_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown corpus"):
        corpus.load("wikipedia")


def test_pretrained_skips_with_one_line(monkeypatch) -> None:
    kv, note = corpus.pretrained(None)
    assert kv is None and "skipped" in note
    import gensim.downloader

    def offline(name):
        raise OSError("network is unreachable")

    monkeypatch.setattr(gensim.downloader, "load", offline)
    kv, note = corpus.pretrained("glove-wiki-gigaword-100")
    assert kv is None and "skipped" in note and "network is unreachable" in note and "\n" not in note
