"""Text corpora and word-vector test sets.

Offline: a real Wikipedia excerpt (106 English articles) and the analogy / word-similarity
sets that ship inside gensim's test data. Online: Matt Mahoney's text8 (first 10^8 bytes of
cleaned English Wikipedia), fetched once through ``download``.
"""
from __future__ import annotations

import bz2
import gzip
import os
import re
import warnings
import zipfile
from pathlib import Path

from .cache import CacheError, CacheWarning, atomic_write
from .downloads import cache_dir, download

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
WIKI_VERSION = 1  # bump when tokenisation changes, so the cached sentences are rebuilt
TEXT8_URL = "http://mattmahoney.net/dc/text8.zip"
# The publisher gives no checksum; this sha256 of text8.zip (31,344,016 bytes) is the value many
# independent projects pin. See data/README.md. Override with sha256= or $COURSE_TEXT8_SHA256.
TEXT8_SHA256 = "a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_MEDIA = {"jpg", "jpeg", "png", "svg", "gif", "thumb", "px"}  # leftovers of image captions


def gensim_test_file(name: str) -> Path:
    """Path of a file shipped in gensim's test data; FileNotFoundError with the fix if absent."""
    from gensim.test.utils import datapath

    path = Path(datapath(name))
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: gensim's test data should include {name!r}. "
                                "Reinstall gensim (pip install --force-reinstall gensim).")
    return path


def analogy_path() -> Path:
    """gensim's copy of Mikolov et al.'s word-analogy set, questions-words.txt."""
    return gensim_test_file("questions-words.txt")


def wordsim_path() -> Path:
    """gensim's copy of the WordSim-353 word-similarity set, wordsim353.tsv."""
    return gensim_test_file("wordsim353.tsv")


def _parse_wiki(path: Path, min_tokens: int) -> list[list[str]]:
    """Strip wiki markup from every article, split into sentences, tokenize lower-case."""
    from gensim.corpora.wikicorpus import IGNORED_NAMESPACES, extract_pages, filter_wiki
    from gensim.utils import tokenize

    sentences = []
    with bz2.open(path) as f:
        for title, text, _ in extract_pages(f):
            if any(title.startswith(ns + ":") for ns in IGNORED_NAMESPACES):
                continue
            if text.lstrip().lower().startswith("#redirect"):
                continue
            for piece in _SENTENCE_END.split(filter_wiki(text)):
                tokens = [t for t in tokenize(piece, lower=True) if len(t) <= 20]  # letters only
                if len(tokens) >= min_tokens and not _MEDIA.intersection(tokens):
                    sentences.append(tokens)
    return sentences


def wiki_sentences(*, min_tokens: int = 3) -> list[list[str]]:
    """Tokenized, lower-case sentences of the Wikipedia excerpt in gensim's test data (cached)."""
    cached = cache_dir() / f"wiki_sentences_v{WIKI_VERSION}_min{min_tokens}.txt.gz"
    if cached.exists():
        with gzip.open(cached, "rt", encoding="utf-8") as f:
            return [line.split() for line in f.read().splitlines()]
    sentences = _parse_wiki(gensim_test_file(WIKI_FILE), min_tokens)  # a few seconds, once
    try:
        with atomic_write(cached, f"the parsed Wikipedia sentences ({cached.name})") as raw, \
                gzip.open(raw, "wt", encoding="utf-8") as f:
            f.write("\n".join(" ".join(s) for s in sentences))
    except CacheError as err:  # parsed already: use them, and say how to keep them next time
        warnings.warn(f"{err} Using the sentences without caching them (parsed again next time).",
                      CacheWarning, stacklevel=2)
    return sentences


def load_text8(max_words: int | None = None, *, sha256: str | None = None,
               progress: bool = True) -> list[str]:
    """The text8 corpus as a list of words (the first ``max_words`` if given); downloads once."""
    checksum = sha256 or os.environ.get("COURSE_TEXT8_SHA256", "").strip() or TEXT8_SHA256
    path = download(TEXT8_URL, "text8.zip", sha256=checksum, progress=progress)
    words: list[str] = []
    tail = ""  # a word cut in two by the chunk boundary
    with zipfile.ZipFile(path) as archive, archive.open("text8") as f:
        # Stream in chunks: the file is one 100 MB line, and often only a prefix is wanted.
        while (chunk := f.read(1 << 22)) and (max_words is None or len(words) < max_words):
            parts = (tail + chunk.decode("ascii")).split(" ")
            tail = parts.pop()
            words.extend(p for p in parts if p)
    if tail and (max_words is None or len(words) < max_words):
        words.append(tail)
    return words if max_words is None else words[:max_words]


def polarity_sentences() -> tuple[list[list[str]], list[int]]:
    """Pang & Lee's 200 labelled movie-review sentences from gensim's test data: (word lists, labels 1=pos)."""
    from gensim.utils import tokenize

    sentences, labels = [], []
    text = gensim_test_file("pang_lee_polarity.cor").read_text(encoding="cp1252")  # Windows-1252 dashes
    for line in text.splitlines():
        label, _, text = line.partition(" ")
        if label not in ("__label__pos", "__label__neg"):
            raise ValueError(f"pang_lee_polarity.cor: unexpected label {label!r} in line {line[:60]!r}")
        sentences.append(list(tokenize(text, lower=True)))  # letters only, as wiki_sentences
        labels.append(int(label == "__label__pos"))
    return sentences, labels
