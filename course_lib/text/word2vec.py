"""Skip-gram and CBOW with negative sampling (Mikolov et al. 2013), in PyTorch, fast on a CPU.

Every epoch: subsample frequent words, draw a window size b ~ U{1..window} per centre word, build
all (centre, context) pairs with a few vectorised tensor operations (a loop over the 2*window
offsets, never over words), shuffle them, and update the vectors batch by batch with the
closed-form gradient of the negative-sampling objective

    log s(v_o . w_c) + sum_{k=1..K} log s(-v_nk . w_c),   n_k ~ unigram^0.75,  s = sigmoid

written into only the rows used with `index_add_` (a sparse update: no dense gradient of the
V x D tables is ever formed; on our 2-core CPU it ran ~2x faster than `index_put_(accumulate=True)`
for these shapes: `benchmarks/word2vec.py` measures both). The learning rate decays linearly from `alpha` to
`min_alpha`, as in word2vec and gensim, whose argument names this class takes so that one dict of
settings trains both.
"""
from __future__ import annotations

import time
import zlib
from contextlib import contextmanager

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from .vectors import WordVectors
from .vocab import Corpus, Vocab, subsample

_CHUNK_TOKENS = 1 << 20  # pairs are built for ~1M tokens at a time, so text8 fits in memory


def _check_window(window: int) -> int:
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a whole number >= 1 (words on each side of the centre), got {window}")
    return int(window)


def skipgram_pairs(corpus: Corpus, window: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """All (centre, context) id pairs within a dynamic window b ~ U{1..window} per centre: two (P,) tensors."""
    window = _check_window(window)
    ids, sent = torch.from_numpy(corpus.ids), torch.from_numpy(corpus.sentence)
    n = len(ids)
    b = torch.randint(1, window + 1, (n,), generator=generator)   # (N,) each centre's window size
    centres, contexts = [], []
    for o in range(1, min(window, n - 1) + 1):
        same = sent[o:] == sent[:-o]                                # (N-o,) tokens i and i+o share a sentence
        right = same & (b[:-o] >= o)                                # centre i sees i+o
        left = same & (b[o:] >= o)                                  # centre i+o sees i
        centres += [ids[:-o][right], ids[o:][left]]
        contexts += [ids[o:][right], ids[:-o][left]]
    if not centres:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    return torch.cat(centres), torch.cat(contexts)


def cbow_windows(corpus: Corpus, window: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Every centre with its context ids in a dynamic window: centre (M,), context (M, 2*window) padded with -1."""
    window = _check_window(window)
    ids, sent = torch.from_numpy(corpus.ids), torch.from_numpy(corpus.sentence)
    n = len(ids)
    b = torch.randint(1, window + 1, (n,), generator=generator)
    ctx = torch.full((n, 2 * window), -1, dtype=torch.long)        # (N, 2W): left offsets, then right
    for o in range(1, min(window, n - 1) + 1):
        see = (sent[o:] == sent[:-o]) & (b[:-o] >= o)               # centre i sees i+o (to its right)
        ctx[:-o, window + o - 1] = torch.where(see, ids[o:], -1)
        see = (sent[o:] == sent[:-o]) & (b[o:] >= o)                # centre i+o sees i (to its left)
        ctx[o:, o - 1] = torch.where(see, ids[:-o], -1)
    has = (ctx >= 0).any(1)                                         # a centre alone in its sentence has no context
    return ids[has], ctx[has]


def ns_loss(W_in: torch.Tensor, W_out: torch.Tensor, centre: torch.Tensor, context: torch.Tensor,
            negatives: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -log s(v_o . w_c) - sum_k log s(-v_k . w_c); ids centre (B,), context (B,), negatives (B, K)."""
    w = W_in[centre]                                                # (B, D) centre word vectors w_c
    v_pos = W_out[context]                                          # (B, D) context vectors v_o
    v_neg = W_out[negatives]                                        # (B, K, D) noise vectors v_k
    pos = (w * v_pos).sum(-1)                                       # (B,)
    neg = torch.bmm(v_neg, w.unsqueeze(2)).squeeze(2)               # (B, K)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(1)).mean()


@contextmanager
def _threads(n: int | None):
    """Run the block with torch using n threads (None: leave as is)."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class Word2Vec:
    """Skip-gram (sg=1) or CBOW (sg=0) with negative sampling; arguments named as in gensim.models.Word2Vec."""

    def __init__(self, sentences=None, *, vector_size: int = 100, window: int = 5, min_count: int = 5,
                 negative: int = 5, sample: float = 1e-3, sg: int = 1, epochs: int = 5, alpha: float = 0.025,
                 min_alpha: float = 1e-4, seed: int = 0, batch_size: int = 2048, workers: int | None = None,
                 max_vocab_size: int | None = None, ns_exponent: float = 0.75,
                 time_budget_s: float | None = None, progress: bool = True, device: str | torch.device = "cpu"):
        if negative < 1:
            raise ValueError(f"negative must be >= 1 noise words per pair (hierarchical softmax is not built), got {negative}")
        if vector_size < 1 or epochs < 1 or batch_size < 1:
            raise ValueError(f"vector_size, epochs and batch_size must be >= 1, got {vector_size}, {epochs}, {batch_size}")
        self.window = _check_window(window)
        self.vector_size, self.min_count, self.negative, self.sample = vector_size, min_count, negative, sample
        self.sg, self.epochs, self.alpha, self.min_alpha, self.seed = sg, epochs, alpha, min_alpha, seed
        self.batch_size, self.workers, self.max_vocab_size = batch_size, workers, max_vocab_size
        self.ns_exponent, self.time_budget_s, self.progress = ns_exponent, time_budget_s, progress
        self.device = torch.device(device)
        self.losses: list[float] = []          # mean loss of every epoch
        self.seconds, self.epochs_done, self.stopped_by_budget = 0.0, 0, False
        if sentences is not None:
            self.build_vocab(sentences)
            self.train(sentences)

    def build_vocab(self, sentences) -> None:
        """Count words, keep the frequent ones, and initialise the two tables as word2vec does."""
        self.vocab = Vocab.build(sentences, min_count=self.min_count, max_size=self.max_vocab_size)
        g = torch.Generator().manual_seed(self.seed)
        V, D = len(self.vocab), self.vector_size
        self.W_in = ((torch.rand(V, D, generator=g) - 0.5) / D).to(self.device)   # (V, D) the word vectors w
        self.W_out = torch.zeros(V, D, device=self.device)                      # (V, D) the context vectors v
        # word2vec's unigram table: word i fills a share noise_probs[i] of it, so a uniform index is a draw.
        cdf = np.cumsum(self.vocab.noise_probs(self.ns_exponent))
        size = max(1 << 20, 100 * V)
        self.noise_table = torch.from_numpy(np.searchsorted(cdf, (np.arange(size) + 0.5) / size).clip(max=V - 1))

    @property
    def wv(self) -> WordVectors:
        """The trained word vectors (W_in), with the evaluation methods of `vectors.WordVectors`."""
        return WordVectors(self.vocab.words, self.W_in.cpu())

    def _negatives(self, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
        """Noise ids drawn from unigram^0.75 through a lookup table, as word2vec's C code does."""
        return self.noise_table[torch.randint(len(self.noise_table), shape, generator=g)]

    def _step(self, centre: torch.Tensor, context: torch.Tensor, lr: float, g: torch.Generator) -> torch.Tensor:
        """One SGD step on a batch; skip-gram: context (B,), CBOW: context (B, 2W) padded with -1."""
        B, D = len(centre), self.vector_size
        negatives = self._negatives((B, self.negative), g).to(self.device)   # drawn on the CPU: seeded
        centre, context = centre.to(self.device), context.to(self.device)
        if self.sg:
            inputs, target = centre, context
            h = self.W_in.index_select(0, inputs)                   # (B, D)
        else:
            mask = context >= 0                                     # (B, 2W)
            inputs = context.clamp(min=0)
            n_ctx = mask.sum(1, keepdim=True)                       # (B, 1)
            h = (self.W_in.index_select(0, inputs.reshape(-1)).view(B, -1, D)
                 * mask.unsqueeze(2)).sum(1) / n_ctx                # (B, D) mean of the context vectors
            target = centre
        out = torch.cat([target.unsqueeze(1), negatives], 1)          # (B, 1+K) true context, then noise
        U = self.W_out.index_select(0, out.reshape(-1)).view(B, -1, D)   # (B, 1+K, D)
        s = (U * h.unsqueeze(1)).sum(-1)                            # (B, 1+K) scores (faster than bmm here)
        sig = torch.sigmoid(s)
        gs = -sig
        gs[:, 0] += 1.0                                             # label 1 for the true context, 0 for noise
        loss = -(F.logsigmoid(s[:, 0]).sum() + F.logsigmoid(-s[:, 1:]).sum()) / B   # a tensor: no sync per step
        gs *= lr                                                    # (B, 1+K) ascent step on the log-likelihood
        grad_h = torch.bmm(gs.unsqueeze(1), U).squeeze(1)           # (B, D)
        grad_U = gs.unsqueeze(2) * h.unsqueeze(1)                   # (B, 1+K, D)
        # Sparse updates: only the rows in the batch are touched, repeated rows add up.
        self.W_out.index_add_(0, out.reshape(-1), grad_U.reshape(-1, D))
        if self.sg:
            self.W_in.index_add_(0, inputs, grad_h)
        else:  # as in word2vec/gensim (cbow_mean=1): every context word receives the whole update of h
            rows = inputs[mask]                                     # (n,) the real context words
            per_row = grad_h.unsqueeze(1).expand(-1, mask.shape[1], -1)[mask]   # (n, D)
            self.W_in.index_add_(0, rows, per_row)
        return loss

    def train(self, sentences) -> None:
        """Train for `epochs` passes over `sentences` (vocabulary from build_vocab)."""
        corpus = self.vocab.encode(sentences)
        keep = self.vocab.keep_probs(self.sample)
        g = torch.Generator().manual_seed(self.seed)
        expected_tokens = self.epochs * float(keep[corpus.ids].sum())  # for the learning-rate schedule
        build = skipgram_pairs if self.sg else cbow_windows
        done_tokens, start = 0.0, time.perf_counter()
        self.epochs_done, self.stopped_by_budget = 0, False
        bar = tqdm(total=self.epochs * len(corpus), desc="skip-gram" if self.sg else "CBOW",
                   unit="tok", unit_scale=True, disable=not self.progress)
        with _threads(self.workers), bar:
            for epoch in range(self.epochs):
                total, steps = torch.zeros((), device=self.device), 0
                for lo in range(0, len(corpus), _CHUNK_TOKENS):
                    chunk = Corpus(corpus.ids[lo:lo + _CHUNK_TOKENS], corpus.sentence[lo:lo + _CHUNK_TOKENS])
                    kept = subsample(chunk, keep, g)
                    centre, context = build(kept, self.window, g)
                    order = torch.randperm(len(centre), generator=g)
                    centre, context = centre[order], context[order]
                    per_pair = len(kept) / max(1, len(centre))      # schedule tokens each pair stands for
                    for i in range(0, len(centre), self.batch_size):
                        frac = min(1.0, done_tokens / expected_tokens)
                        lr = max(self.min_alpha, self.alpha - (self.alpha - self.min_alpha) * frac)
                        c, x = centre[i:i + self.batch_size], context[i:i + self.batch_size]
                        total += self._step(c, x, lr, g)
                        steps += 1
                        done_tokens += len(c) * per_pair
                        if (self.time_budget_s is not None and steps % 32 == 0
                                and time.perf_counter() - start > self.time_budget_s):
                            self.stopped_by_budget = True
                            break
                    bar.update(len(chunk.ids))
                    if self.stopped_by_budget:
                        break
                self.losses.append(total.item() / max(1, steps))
                if self.stopped_by_budget:
                    print(f"[time] word2vec: the time budget of {self.time_budget_s:g} s cut training "
                          f"in epoch {epoch + 1} of {self.epochs}")
                    break
                self.epochs_done = epoch + 1
        self.seconds = time.perf_counter() - start


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's own str hash changes unless PYTHONHASHSEED is set)."""
    return zlib.crc32(text.encode("utf-8"))


def gensim_word2vec(sentences, *, workers: int = 1, **settings):
    """gensim's Word2Vec on the same settings; workers=1 and a stable hash make it reproducible run to run.

    gensim seeds each word's initial vector with hash(word + str(seed)); Python randomises str
    hashes per process, so without `hashfxn` two runs differ. With workers > 1 the threads race
    for the shared tables, so only workers=1 gives the same vectors every time.
    """
    from gensim.models import Word2Vec as GensimWord2Vec

    settings = {k: v for k, v in settings.items() if k not in ("batch_size", "progress", "time_budget_s")}
    return GensimWord2Vec(sentences, workers=workers, hashfxn=stable_hash, **settings)
