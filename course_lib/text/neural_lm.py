"""A Bengio-style neural language model (Bengio et al. 2003, "A Neural Probabilistic Language Model").

The model reads the previous `context` words, looks each one up in a shared embedding table C,
concatenates them into x, and scores every word of the vocabulary:

    y = b + W x + U tanh(d + H x)        P(w_t | w_{t-context} .. w_{t-1}) = softmax(y)

The direct connection W x is optional in the paper and here (`direct=True`); it triples the cost
of the output layer for a small gain, so it is off by default. The embedding table C is the
by-product that word2vec later keeps and the LM throws away.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class NeuralLM(nn.Module):
    """Bengio's feed-forward LM: embed `context` previous words, concatenate, tanh hidden layer, softmax."""

    def __init__(self, vocab_size: int, context: int, dim: int, hidden: int, *, direct: bool = False):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("context", context), ("dim", dim), ("hidden", hidden)):
            if int(value) < 1:
                raise ValueError(f"NeuralLM needs {name} >= 1, got {value}")
        self.vocab_size, self.context, self.dim = int(vocab_size), int(context), int(dim)
        self.C = nn.Embedding(vocab_size, dim)                      # the word feature vectors
        self.H = nn.Linear(context * dim, hidden)                   # H x + d
        self.U = nn.Linear(hidden, vocab_size)                      # U tanh(.) + b
        # The paper's optional direct connection W x from the embeddings to the output.
        self.W = nn.Linear(context * dim, vocab_size, bias=False) if direct else None
        nn.init.normal_(self.C.weight, std=0.1)

    def forward(self, ctx: torch.Tensor) -> torch.Tensor:
        """Logits (B, vocab_size) for the word that follows each row of ctx (B, context)."""
        if ctx.dim() != 2 or ctx.shape[1] != self.context:
            raise ValueError(f"NeuralLM expects context ids of shape (B, {self.context}), got {tuple(ctx.shape)}")
        x = self.C(ctx).flatten(1)                                  # (B, context * dim)
        y = self.U(torch.tanh(self.H(x)))                           # (B, V)
        return y + self.W(x) if self.W is not None else y

    def loss(self, ctx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the next word: the training objective (its exp is the perplexity)."""
        return F.cross_entropy(self(ctx), target)


def windows(ids, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (previous `context` ids, next id) pair of a 1-D id sequence: X (N, context), y (N,)."""
    arr = _check_ids(ids, context)
    t = torch.as_tensor(arr)
    X = t.unfold(0, context, 1)[:-1]                                # (N, context), row i = ids[i:i+context]
    y = t[context:]                                                 # (N,)
    return X.contiguous(), y.contiguous()


@torch.no_grad()
def perplexity(model: NeuralLM, ids, context: int, batch_size: int = 4096) -> float:
    """exp of the mean negative log-likelihood of ids[context:], each given its `context` predecessors."""
    if context != model.context:
        raise ValueError(f"context={context} but the model reads {model.context} previous words")
    X, y = windows(ids, context)
    if int(y.max()) >= model.vocab_size:
        raise ValueError(f"ids reach {int(y.max())} but the model's vocabulary has {model.vocab_size} words")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(y), batch_size):
        xb, yb = X[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
        total += F.cross_entropy(model(xb).float(), yb, reduction="sum").item()
    model.train(was_training)
    return float(math.exp(total / len(y)))


def _check_ids(ids, context: int) -> np.ndarray:
    """A 1-D non-negative integer id array long enough to hold at least one (context, next) window."""
    if int(context) < 1:
        raise ValueError(f"context must be >= 1 previous word, got {context}")
    arr = ids.cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D sequence of integer token ids, got shape {arr.shape} dtype {arr.dtype}")
    if len(arr) <= context:
        raise ValueError(f"ids has {len(arr)} tokens: need more than context={context} to predict anything")
    if arr.min() < 0:
        raise ValueError(f"ids must be non-negative token ids, got min {arr.min()}")
    return arr.astype(np.int64)


UNK, EOS = "<unk>", "</s>"


def lm_stream(sentences, *, max_words: int, test_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sentences as one id stream for language modelling: the `max_words` commonest words, the rest <unk>,
    </s> after each sentence; the last `test_fraction` of the sentences held out. Returns (train, test, words)."""
    from collections import Counter

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    sentences = [s for s in sentences if len(s)]
    if len(sentences) < 2:
        raise ValueError("the corpus is empty: need at least two non-empty sentences (one to train, one to test)")
    counts = Counter(w for s in sentences for w in s)
    words = [EOS, UNK] + [w for w, _ in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))[:max_words]]
    index = {w: i for i, w in enumerate(words)}
    split = max(1, min(len(sentences) - 1, round(len(sentences) * (1 - test_fraction))))
    streams = []
    for part in (sentences[:split], sentences[split:]):
        ids = [index.get(w, 1) for s in part for w in (*s, EOS)]
        streams.append(np.asarray(ids, dtype=np.int64))
    return streams[0], streams[1], words
