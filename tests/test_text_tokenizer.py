"""The WordPiece tokenizer: training, round trip, specials, clear errors."""
from __future__ import annotations

import pytest

from course_lib.text.tokenizer import SPECIALS, WordPiece

CORPUS = [s.split() for s in [
    "the frog jumped into the pond", "frogs jump and jumping frogs jumped",
    "the toad is jumping near the pond", "a frog and a toad", "the ponds are full of frogs",
]] * 3


@pytest.fixture(scope="module")
def tok() -> WordPiece:
    return WordPiece.train(CORPUS, vocab_size=60, min_count=1)


def test_specials_first_and_size(tok: WordPiece) -> None:
    assert tok.pieces[:5] == list(SPECIALS) and len(tok) == 60
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)


def test_merges_frequent_words_and_marks_continuations(tok: WordPiece) -> None:
    assert "the" in tok.pieces and "frog" in tok.pieces
    pieces = tok.tokenize("frogging")            # an unseen word, spelled with pieces
    assert pieces[0] == "frog" and len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])


def test_round_trip_and_specials_kept(tok: WordPiece) -> None:
    text = "the frogs jumped [MASK] the ponds"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("[MASK] Frog")[0] == tok.mask_id
    assert tok.encode("The FROG") == tok.encode(["the", "frog"])


def test_unknown_character_gives_unk(tok: WordPiece) -> None:
    assert tok.encode("the xylophone") == [tok.encode("the")[0], tok.unk_id]


def test_clear_errors(tok: WordPiece) -> None:
    with pytest.raises(ValueError, match="unknown special token"):
        tok.encode("the [FOO] frog")
    with pytest.raises(ValueError, match="empty input"):
        tok.encode("   ")
    with pytest.raises(ValueError, match="empty corpus"):
        WordPiece.train([], vocab_size=100)
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        WordPiece([p for p in tok.pieces if p != "[MASK]"])
    with pytest.raises(ValueError, match="outside this vocabulary"):
        tok.decode([len(tok)])
    with pytest.raises(ValueError, match="smaller than"):
        WordPiece.train(CORPUS, vocab_size=10, min_count=1)


def test_encode_pair_trims_longer_segment(tok: WordPiece) -> None:
    a, b = list(range(5, 25)), list(range(5, 9))
    ids, seg = tok.encode_pair(a, b, max_len=16)
    assert len(ids) == len(seg) == 16 and ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    assert ids.count(tok.sep_id) == 2 and seg.count(1) == len(b) + 1  # b kept whole, a trimmed
