"""Text corpora: the Wikipedia excerpt, the word-vector test sets, and text8 over local HTTP."""
from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from course_lib import data
from course_lib.data import text

from _local_http import closed_port_url, serve


def test_wiki_sentences_parsed_then_cached(tmp_cache):
    sentences = data.wiki_sentences()
    tokens = sum(len(s) for s in sentences)
    assert len(sentences) > 20_000 and tokens > 400_000
    assert all(s and all(w == w.lower() for w in s) for s in sentences[:1000])
    assert sentences[0][:3] == ["anarchism", "is", "a"]
    assert list(tmp_cache.glob("wiki_sentences_*.txt.gz"))
    assert data.wiki_sentences() == sentences  # read back from the cache


def test_evaluation_sets_ship_with_gensim():
    lines = data.analogy_path().read_text().splitlines()
    assert lines[0].startswith(":") and sum(not l.startswith(":") for l in lines) > 19_000
    rows = [l.split("\t") for l in data.wordsim_path().read_text().splitlines()
            if not l.startswith("#")]
    assert len(rows) >= 350 and float(rows[0][2]) > 0


def _zip_with_text8(words: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("text8", words)
    return buf.getvalue()


def test_load_text8_downloads_verifies_and_truncates(tmp_cache, monkeypatch):
    blob = _zip_with_text8(" anarchism originated as a term of abuse first used against")
    monkeypatch.setenv("COURSE_TEXT8_SHA256", hashlib.sha256(blob).hexdigest())
    with serve({"/text8.zip": (200, blob, None)}) as base:
        monkeypatch.setattr(text, "TEXT8_URL", f"{base}/text8.zip")
        assert data.load_text8(max_words=3, progress=False) == ["anarchism", "originated", "as"]
    words = data.load_text8(progress=False)  # cached now: no server needed
    assert len(words) == 10 and words[-1] == "against"


def test_load_text8_wrong_checksum_and_offline(tmp_cache, monkeypatch):
    blob = _zip_with_text8(" a b c")
    with serve({"/text8.zip": (200, blob, None)}) as base:
        monkeypatch.setattr(text, "TEXT8_URL", f"{base}/text8.zip")
        with pytest.raises(data.DownloadError, match="checksum mismatch"):
            data.load_text8(progress=False)  # the real text8 checksum cannot match our blob
    monkeypatch.setattr(text, "TEXT8_URL", closed_port_url("/text8.zip"))
    with pytest.raises(data.DownloadError, match="no network") as info:
        data.load_text8(sha256="0" * 64, progress=False)
    assert "text8.zip" in str(info.value) and list(tmp_cache.iterdir()) == []
