"""A WordPiece-style subword tokenizer trained here: BPE merges build the vocabulary, greedy
longest-match splits words into pieces, and a piece that continues a word carries BERT's ``##``.

    tok = WordPiece.train(sentences, vocab_size=3000)      # sentences: lists of words
    ids = tok.encode("the frogs jumped [MASK] the pond")   # list[int]
    tok.decode(ids)                                       # 'the frogs jumped [MASK] the pond'

Why subwords: a word-level vocabulary of a few thousand words maps every rare word to [UNK], and a
model must learn each word form separately; pieces share statistics ("jump", "##ed", "##ing"), so a
small vocabulary still spells every word and a masked continuation piece can be inferred from its
neighbours (Sennrich et al. 2016 for BPE; Wu et al. 2016 for WordPiece, which BERT uses).
"""
from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from typing import Iterable, Sequence

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIALS: tuple[str, ...] = (PAD, UNK, CLS, SEP, MASK)  # ids 0..4 in every vocabulary we train
_TOKEN = re.compile(r"\[[A-Za-z]+\]|[^\W_]+|[^\w\s]|_")  # a [SPECIAL], a run of letters/digits, or one symbol


class WordPiece:
    """A subword vocabulary: `pieces[i]` is the string of id i; word continuations start with '##'."""

    def __init__(self, pieces: Sequence[str]) -> None:
        missing = [s for s in SPECIALS if s not in pieces]
        if missing:
            raise ValueError(f"the vocabulary lacks the special token(s) {missing}; BERT needs all of "
                             f"{list(SPECIALS)} (train one with WordPiece.train, which adds them)")
        if len(set(pieces)) != len(pieces):
            raise ValueError("the vocabulary holds a piece twice; every piece needs one id")
        self.pieces = list(pieces)
        self.index = {p: i for i, p in enumerate(self.pieces)}
        self.special_ids = [self.index[s] for s in SPECIALS]
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = self.special_ids
        self.max_piece = max(len(p) for p in self.pieces)
        self._cache: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self.pieces)

    def __repr__(self) -> str:
        return f"WordPiece({len(self)} pieces)"

    @classmethod
    def train(cls, sentences: Iterable[Sequence[str]], vocab_size: int = 3000, *,
              min_count: int = 2) -> "WordPiece":
        """Learn `vocab_size` pieces from word lists by byte-pair merges of the most frequent pair."""
        counts = Counter(w.lower() for s in sentences for w in s)
        if not counts:
            raise ValueError("cannot train a tokenizer on an empty corpus: pass a list of word lists")
        # Every character seen at least `min_count` times, at a word start and as a continuation, so
        # every word made of them stays spellable; a word with a rarer character becomes [UNK].
        chars: Counter = Counter()
        for w, n in counts.items():
            for c in w:
                chars[c] += n
        alphabet = sorted(c for c, n in chars.items() if n >= min_count)
        vocab = list(SPECIALS) + alphabet + ["##" + c for c in alphabet]
        if vocab_size < len(vocab):
            raise ValueError(f"vocab_size={vocab_size} is smaller than the {len(vocab)} specials and "
                             "characters of this corpus; ask for at least that many")
        words = [[w[0]] + ["##" + c for c in w[1:]] for w, n in counts.items() if n >= min_count]
        freq = [n for n in counts.values() if n >= min_count]
        pair_n: Counter = Counter()               # (left, right) -> weighted count
        where: dict = defaultdict(set)            # (left, right) -> indices of words holding it
        for i, w in enumerate(words):
            for pair in zip(w, w[1:]):
                pair_n[pair] += freq[i]
                where[pair].add(i)
        # A max-heap with lazy deletion: stale entries are skipped when their count has changed.
        heap = [(-n, pair) for pair, n in pair_n.items()]
        heapq.heapify(heap)
        while len(vocab) < vocab_size and heap:
            neg, pair = heapq.heappop(heap)
            if pair_n.get(pair, 0) != -neg or -neg == 0:
                continue
            merged = pair[0] + pair[1][2:]        # "jum" + "##p" -> "jump"; "##ju" + "##mp" -> "##jump"
            vocab.append(merged)
            touched: set = set()
            for i in where.pop(pair):
                w, n = words[i], freq[i]
                for p in zip(w, w[1:]):           # forget this word's old pairs...
                    pair_n[p] -= n
                    touched.add(p)
                out, j = [], 0
                while j < len(w):
                    if j + 1 < len(w) and (w[j], w[j + 1]) == pair:
                        out.append(merged)
                        j += 2
                    else:
                        out.append(w[j])
                        j += 1
                words[i] = out
                for p in zip(out, out[1:]):       # ...and count its new ones
                    pair_n[p] += n
                    where[p].add(i)
                    touched.add(p)
            for p in touched:
                if pair_n[p] > 0:
                    heapq.heappush(heap, (-pair_n[p], p))
            pair_n.pop(pair, None)
        return cls(list(dict.fromkeys(vocab)))

    def token_to_id(self, piece: str) -> int:
        """The id of one piece; a clear error for an unknown [SPECIAL] token."""
        if piece in self.index:
            return self.index[piece]
        if piece.startswith("[") and piece.endswith("]"):
            raise ValueError(f"unknown special token {piece!r}; this tokenizer knows {list(SPECIALS)}")
        return self.unk_id

    def _word(self, word: str) -> list[int]:
        """Greedy longest-match-first split of one word (BERT's WordPiece rule); [UNK] if impossible."""
        if word in self._cache:
            return self._cache[word]
        ids, start = [], 0
        while start < len(word):
            for end in range(min(len(word), start + self.max_piece), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.index:
                    ids.append(self.index[piece])
                    start = end
                    break
            else:  # a character the corpus never showed: the whole word becomes [UNK], as in BERT
                ids = [self.unk_id]
                break
        self._cache[word] = ids
        return ids

    def tokenize(self, text: str | Sequence[str]) -> list[str]:
        """Split text (a string, or a list of words) into piece strings."""
        return [self.pieces[i] for i in self.encode(text)]

    def encode(self, text: str | Sequence[str]) -> list[int]:
        """Ids of the pieces of `text`: a string (lower-cased; [MASK] etc. kept) or a list of words."""
        words = _TOKEN.findall(text) if isinstance(text, str) else list(text)
        if not words:
            raise ValueError(f"cannot encode an empty input ({text!r}): give at least one word")
        ids: list[int] = []
        for w in words:
            if w.startswith("[") and w.endswith("]") and len(w) > 2:
                ids.append(self.token_to_id(w.upper()))
            else:
                ids.extend(self._word(w.lower()))
        return ids

    def decode(self, ids: Iterable[int], *, skip: Sequence[str] = (PAD,)) -> str:
        """Glue pieces back into words: '##' pieces join the word before them."""
        words: list[str] = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.pieces):
                raise ValueError(f"id {i} is outside this vocabulary of {len(self.pieces)} pieces")
            piece = self.pieces[i]
            if piece in skip:
                continue
            if piece.startswith("##") and words and words[-1] not in SPECIALS:
                words[-1] += piece[2:]                # a continuation after [MASK] keeps its "##"
            else:
                words.append(piece)
        return " ".join(words)

    def encode_pair(self, a: Sequence[int], b: Sequence[int], max_len: int) -> tuple[list[int], list[int]]:
        """[CLS] a [SEP] b [SEP] as ids and segment ids (0 for a, 1 for b), trimmed to `max_len`."""
        if max_len < 5:
            raise ValueError(f"max_len={max_len} leaves no room: a pair needs 3 specials plus 2 pieces")
        a, b = list(a), list(b)
        while len(a) + len(b) > max_len - 3:      # trim the longer segment first, as BERT does
            (a if len(a) >= len(b) else b).pop()
        ids = [self.cls_id] + a + [self.sep_id] + b + [self.sep_id]
        return ids, [0] * (len(a) + 2) + [1] * (len(b) + 1)
