"""The word2vec corpora: the Wikipedia excerpt gensim ships (offline) or text8 (downloaded once)."""
from __future__ import annotations

from ..data import DownloadError, load_text8, wiki_sentences

TEXT8_SENTENCE = 1000  # text8 is one unbroken stream: cut it into pseudo-sentences of this many words


def load(name: str, *, max_words: int | None = None) -> tuple[list[list[str]], str]:
    """(sentences, note) for name 'wiki', 'text8', or 'auto' (text8 if it can be had, else wiki, saying why)."""
    if name not in ("wiki", "text8", "auto"):
        raise ValueError(f"unknown corpus {name!r}; choose 'wiki' (offline), 'text8' (download) or 'auto'")
    if name in ("text8", "auto"):
        try:
            words = load_text8(max_words)
        except DownloadError as err:
            if name == "text8":
                raise
            note = f"Wikipedia excerpt (offline): text8 could not be had ({err.reason})"
        else:
            sentences = [words[i:i + TEXT8_SENTENCE] for i in range(0, len(words), TEXT8_SENTENCE)]
            return sentences, f"text8 ({len(words):,} words)"
    else:
        note = "Wikipedia excerpt (offline, shipped with gensim)"
    sentences = wiki_sentences()
    if max_words is not None:
        kept, n = [], 0
        for s in sentences:
            if n >= max_words:
                break
            kept.append(s)
            n += len(s)
        sentences = kept
    return sentences, note


def pretrained(name: str | None, *, timeout: float = 10.0):
    """(gensim KeyedVectors, note) from gensim's downloader (cached in ~/gensim-data), or (None, why not)."""
    if not name:
        return None, "pretrained vectors: skipped (this profile does not download them; the gpu profile does)"
    import socket

    import gensim.downloader

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # gensim's downloader waits forever on a dead network otherwise
    try:
        return gensim.downloader.load(name), f"pretrained vectors: {name} (gensim downloader)"
    except Exception as err:  # noqa: BLE001 - offline, firewalled or a bad name: say so and go on
        return None, f"pretrained vectors: skipped, {name} could not be loaded ({type(err).__name__}: {err})"
    finally:
        socket.setdefaulttimeout(old)
