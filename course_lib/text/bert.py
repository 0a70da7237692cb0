"""A tiny BERT (Devlin et al., 2018), readable top to bottom: embeddings, transformer blocks, the two
pretraining heads, the masking rule and the sentence-pair data.

    cfg = BertConfig(vocab_size=len(tok), max_len=64, dim=128, n_layers=2, n_heads=4)
    model = Bert(cfg)
    data = pretraining_pairs(sentences, tok, max_len=64, seed=0)   # ids, segments, is_next
    loss = model.loss(ids, segments, is_next, tok.special_ids, tok.mask_id, generator=g)

Departures from the paper, all for a model that trains in a minute on a laptop CPU: a few small
layers instead of 12 of width 768; pre-LayerNorm blocks (as GPT-2 and nanoGPT), which tolerate a
large learning rate without warm-up; masks drawn afresh every batch (RoBERTa's dynamic masking)
instead of ten fixed copies; and the MLM head scores only the chosen positions, not all of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

IGNORE = -100  # label of a position that is not predicted (cross_entropy's ignore_index)


@dataclass
class BertConfig:
    """Sizes of the model. BERT-base: dim 768, 12 layers, 12 heads, max_len 512, vocab 30,522."""

    vocab_size: int
    max_len: int = 64        # longest input, specials included (the position table's size)
    dim: int = 128           # d, the width of every token vector
    n_layers: int = 2
    n_heads: int = 4
    ff_mult: int = 4         # the feed-forward layer is ff_mult * dim wide
    dropout: float = 0.1
    pad_id: int = 0
    pos_init_scale: float = 0.3  # the learned position table starts as scaled sinusoids (0: BERT's random start)


def sinusoids(n: int, dim: int) -> torch.Tensor:
    """The Transformer paper's fixed position code (n, dim): sin and cos of position / 10000^(2i/dim).
    We use it only to START BERT's learned position table: nearby positions then have similar vectors
    and a fixed offset is a rotation, so attention can learn "look one token to the left" in a few
    hundred steps; from BERT's random start a tiny model needed far more than a one-minute run has."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]                      # (n, 1)
    freq = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (dim/2,)
    out = torch.zeros(n, dim)
    out[:, 0::2], out[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)[:, :dim // 2]
    return out


class Embeddings(nn.Module):
    """Input vector of each token = token embedding + segment embedding + position embedding."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.seg = nn.Embedding(2, cfg.dim)               # sentence A or sentence B
        self.pos = nn.Embedding(cfg.max_len, cfg.dim)     # learned, one vector per position
        self.norm = nn.LayerNorm(cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def parts(self, ids: torch.Tensor, segments: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The three summands, each (B, T, D), to look at them one by one."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.tok(ids), self.seg(segments), self.pos(positions).expand(ids.shape[0], -1, -1)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        return self.drop(self.norm(sum(self.parts(ids, segments))))  # (B, T, D)


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product attention over all tokens (both directions), padding masked out."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.n_heads, self.dropout = cfg.n_heads, cfg.dropout
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)                                    # 3 x (B, T, D)
        q, k, v = (t.view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2) for t in (q, k, v))
        # keep (B, T): True for real tokens; every query may look at every real key, none at [PAD].
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :],
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, T, D))                       # (B, T, D)


class Block(nn.Module):
    """One transformer encoder layer: x + attention(norm(x)), then x + feed-forward(norm(x))."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = SelfAttention(cfg)
        self.ff = nn.Sequential(nn.Linear(cfg.dim, cfg.ff_mult * cfg.dim), nn.GELU(),
                                nn.Linear(cfg.ff_mult * cfg.dim, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), keep))
        return x + self.drop(self.ff(self.norm2(x)))


class Bert(nn.Module):
    """The encoder plus BERT's two pretraining heads: masked-token prediction and next-sentence prediction."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        if cfg.dim % cfg.n_heads:
            raise ValueError(f"dim={cfg.dim} must be divisible by n_heads={cfg.n_heads}")
        self.cfg = cfg
        self.embed = Embeddings(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.dim)
        # MLM head: a transform, then scores against every token embedding (weights tied to the input
        # table, so a token's input and output vectors are the same parameters), plus a bias per token.
        self.mlm_transform = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.LayerNorm(cfg.dim))
        self.mlm_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        # NSP head: the [CLS] vector through a tanh "pooler", then two classes (0 random, 1 next).
        self.pooler = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.Tanh())
        self.nsp = nn.Linear(cfg.dim, 2)
        self.apply(self._init)
        with torch.no_grad():  # see sinusoids(): a start that already knows which positions are near
            self.embed.pos.weight.copy_(cfg.pos_init_scale * sinusoids(cfg.max_len, cfg.dim))

    @staticmethod
    def _init(m: nn.Module) -> None:
        # BERT's initialisation: normal(0, 0.02) weights, zero biases.
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        """Contextual vectors h (B, T, D) of token ids (B, T); segments default to all sentence A."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be a (batch, length) tensor, got shape {tuple(ids.shape)}")
        if ids.shape[1] > self.cfg.max_len:
            raise ValueError(f"the input has {ids.shape[1]} tokens but this model reads at most "
                             f"max_len={self.cfg.max_len}; trim it or build a model with a larger max_len")
        segments = torch.zeros_like(ids) if segments is None else segments
        keep = ids != self.cfg.pad_id                                    # (B, T)
        x = self.embed(ids, segments)
        for block in self.blocks:
            x = block(x, keep)
        return self.norm(x)                                              # (B, T, D)

    @torch.no_grad()
    def init_mlm_bias(self, ids: torch.Tensor, special_ids: Sequence[int]) -> None:
        """Start the MLM output bias at the log-frequency of each ordinary token in `ids` (specials
        at -10): the untrained model then already guesses by frequency, and training time goes to
        learning the context instead of the counts (a few hundred Adam steps of size lr otherwise)."""
        ordinary = ids[~torch.isin(ids, torch.tensor(list(special_ids), device=ids.device))]
        counts = torch.bincount(ordinary.flatten(), minlength=self.cfg.vocab_size).float() + 1.0
        self.mlm_bias.copy_(counts.log() - counts.sum().log())
        self.mlm_bias[list(special_ids)] = -10.0

    def mlm_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Scores over the vocabulary (..., V) for contextual vectors h (..., D)."""
        return self.mlm_transform(h) @ self.embed.tok.weight.T + self.mlm_bias

    def nsp_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Is-next scores (B, 2) from the [CLS] position of h (B, T, D)."""
        return self.nsp(self.pooler(h[:, 0]))

    def losses(self, ids: torch.Tensor, segments: torch.Tensor, is_next: torch.Tensor,
               special_ids: Sequence[int], mask_id: int, *, p: float = 0.15,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """BERT's two pretraining losses on freshly masked ids: (MLM cross-entropy, NSP cross-entropy)."""
        inputs, labels = mask_tokens(ids, vocab_size=self.cfg.vocab_size, mask_id=mask_id,
                                     special_ids=special_ids, p=p, generator=generator)
        h = self(inputs, segments)
        chosen = labels != IGNORE                                        # (B, T), ~15% of real tokens
        mlm = F.cross_entropy(self.mlm_logits(h[chosen]), labels[chosen])  # only chosen positions scored
        return mlm, F.cross_entropy(self.nsp_logits(h), is_next)

    def loss(self, *args, **kwargs) -> torch.Tensor:
        """The pretraining objective: MLM loss + NSP loss (arguments as for `losses`)."""
        mlm, nsp = self.losses(*args, **kwargs)
        return mlm + nsp


def mask_tokens(ids: torch.Tensor, *, vocab_size: int, mask_id: int, special_ids: Sequence[int],
                p: float = 0.15, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: choose each non-special token with probability p; of those, 80% -> [MASK],
    10% -> a random non-special token, 10% unchanged. Return (inputs, labels), labels -100 elsewhere."""
    if mask_id not in special_ids:
        raise ValueError(f"mask_id={mask_id} is not among special_ids={list(special_ids)}: the vocabulary "
                         "needs a [MASK] token, and it must never be chosen itself")
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    special = torch.tensor(list(special_ids), device=ids.device)
    can_choose = ~torch.isin(ids, special)                                        # (B, T)
    u = torch.rand(ids.shape, generator=generator, device=ids.device)
    chosen = can_choose & (u < p)
    # One more uniform number per position decides the fate of a chosen token: <0.8, <0.9, else.
    fate = torch.rand(ids.shape, generator=generator, device=ids.device)
    to_mask = chosen & (fate < 0.8)
    to_random = chosen & (fate >= 0.8) & (fate < 0.9)
    # Random replacements are drawn among the ordinary tokens only (never [PAD], [CLS], ...).
    ordinary = torch.ones(vocab_size, dtype=torch.bool, device=ids.device)
    ordinary[special] = False
    pool = ordinary.nonzero().squeeze(1)
    random_ids = pool[torch.randint(len(pool), ids.shape, generator=generator, device=ids.device)]
    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(to_random, random_ids, inputs)
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    return inputs, labels


def pretraining_pairs(sentences: Sequence[Sequence[int]], tok, *, max_len: int,
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sentence pairs for NSP from consecutive id lists: pair i is sentence i with, at random half the
    time, sentence i+1 (is_next=1) or a random other sentence (is_next=0). `tok` is the WordPiece
    tokenizer that made the ids. Returns ids, segments (N, max_len) padded with [PAD], is_next (N,)."""
    n = len(sentences)
    if n == 0:
        raise ValueError("the sentence list is empty: pass the encoded sentences of a corpus, in order")
    if n < 3:
        raise ValueError(f"need at least 3 sentences to build next/random sentence pairs, got {n}")
    if any(len(s) == 0 for s in sentences):
        raise ValueError("a sentence is empty; drop empty sentences before building pairs")
    g = torch.Generator().manual_seed(seed)
    is_next = (torch.rand(n - 1, generator=g) < 0.5).long()                      # (N,)
    # A random partner: any sentence but the true next one (shifted by 2..n-1 places, wrapping round).
    other = (torch.arange(n - 1) + 2 + torch.randint(n - 2, (n - 1,), generator=g)) % n
    ids = torch.full((n - 1, max_len), tok.pad_id, dtype=torch.long)
    segments = torch.zeros((n - 1, max_len), dtype=torch.long)
    for i in range(n - 1):
        b = sentences[i + 1] if is_next[i] else sentences[int(other[i])]
        row, seg = tok.encode_pair(sentences[i], b, max_len)   # [CLS] a [SEP] b [SEP], trimmed
        ids[i, :len(row)] = torch.tensor(row)
        segments[i, :len(seg)] = torch.tensor(seg)
    return ids, segments, is_next


# ---- Measuring what pretraining learned ------------------------------------------------------------

def most_frequent_token(ids: torch.Tensor, special_ids: Sequence[int]) -> int:
    """The ordinary token seen most often in `ids`: the guess of the frequency baseline."""
    ordinary = ids[~torch.isin(ids, torch.tensor(list(special_ids)))]
    if ordinary.numel() == 0:
        raise ValueError("no ordinary tokens to count: `ids` holds only special tokens")
    return int(torch.bincount(ordinary).argmax())


@torch.no_grad()
def encode_batches(model: Bert, ids: torch.Tensor, segments: torch.Tensor | None = None,
                   batch_size: int = 256) -> torch.Tensor:
    """Contextual vectors h (N, T, D) of many sequences, in eval mode, batch by batch."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    segments = torch.zeros_like(ids) if segments is None else segments
    out = [model(ids[i:i + batch_size].to(device), segments[i:i + batch_size].to(device)).cpu()
           for i in range(0, len(ids), batch_size)]
    model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def mlm_accuracy(model: Bert, ids: torch.Tensor, segments: torch.Tensor, tok, *, baseline_id: int,
                 seed: int = 0) -> dict:
    """Held-out MLM accuracy with a fixed seeded masking: on the [MASK] positions alone (the honest
    figure), on every chosen position (flattered by the 10% left unchanged), and the accuracy of
    always guessing `baseline_id` on the same [MASK] positions."""
    g = torch.Generator().manual_seed(seed)
    inputs, labels = mask_tokens(ids, vocab_size=len(tok), mask_id=tok.mask_id,
                                 special_ids=tok.special_ids, generator=g)
    h = encode_batches(model, inputs, segments)
    chosen = labels != IGNORE
    masked = inputs == tok.mask_id                        # a subset of chosen: the 80% shown as [MASK]
    pred = model.mlm_logits(h[chosen].to(next(model.parameters()).device)).argmax(-1).cpu()
    hit = pred == labels[chosen]
    is_mask = masked[chosen]
    return {"mask_acc": hit[is_mask].float().mean().item(), "chosen_acc": hit.float().mean().item(),
            "baseline_acc": (labels[masked] == baseline_id).float().mean().item(),
            "n_mask": int(masked.sum())}


@torch.no_grad()
def nsp_accuracy(model: Bert, ids: torch.Tensor, segments: torch.Tensor, is_next: torch.Tensor) -> float:
    """How often the NSP head tells a true next sentence from a random one (chance: 50%)."""
    h = encode_batches(model, ids, segments)
    pred = model.nsp_logits(h.to(next(model.parameters()).device)).argmax(-1).cpu()
    return (pred == is_next).float().mean().item()


@torch.no_grad()
def fill_mask(model: Bert, tok, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
    """For each [MASK] in `text`, the k most probable pieces and their probabilities."""
    ids = [tok.cls_id] + tok.encode(text) + [tok.sep_id]
    if tok.mask_id not in ids:
        raise ValueError(f"no [MASK] in {text!r}: write [MASK] where a piece should be guessed")
    x = torch.tensor([ids])
    h = encode_batches(model, x)[0]                                  # (T, D)
    where = (x[0] == tok.mask_id).nonzero().squeeze(1)
    probs = model.mlm_logits(h[where].to(next(model.parameters()).device)).softmax(-1).cpu()
    top = probs.topk(k, dim=-1)
    return [[(tok.pieces[int(i)], float(p)) for p, i in zip(ps, js)] for ps, js in zip(top.values, top.indices)]


# ---- Fine-tuning on a labelled sentence task --------------------------------------------------------

class Classifier(nn.Module):
    """BERT for a sentence label: the [CLS] vector through the (NSP-pretrained) pooler, then a linear layer."""

    def __init__(self, bert: Bert, n_classes: int) -> None:
        super().__init__()
        self.bert, self.head = bert, nn.Linear(bert.cfg.dim, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.bert.pooler(self.bert(ids)[:, 0]))   # (B, n_classes)


def finetune_cv(make_bert, ids: torch.Tensor, labels: torch.Tensor, *, folds: int, epochs: int,
                lr: float, batch_size: int, seed: int = 0, desc: str = "fine-tune") -> list[float]:
    """Fine-tune a fresh `make_bert()` on all but one fold and score the held-out fold, for each of
    `folds` stratified folds; return the held-out accuracies. ids (N, T) with [CLS] first, labels (N,)."""
    from .. import training  # imported here: training is only needed to fine-tune

    if len(ids) != len(labels) or len(ids) < 2 * folds:
        raise ValueError(f"need as many labels as sequences and at least 2 per fold: got {len(ids)} "
                         f"sequences, {len(labels)} labels, folds={folds}")
    g = torch.Generator().manual_seed(seed)
    fold_of = torch.empty(len(labels), dtype=torch.long)
    for c in labels.unique():                                # stratified: each fold gets its share of each class
        members = (labels == c).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=g)]
        fold_of[members] = torch.arange(len(members)) % folds
    accs = []
    for f in range(folds):
        train, test = fold_of != f, fold_of == f
        torch.manual_seed(seed + f)                          # the same head init for every encoder
        model = Classifier(make_bert(), int(labels.max()) + 1)
        training.fit(model, lambda m, b: F.cross_entropy(m(b[0]), b[1]),
                     training.loader(ids[train], labels[train], batch_size=batch_size, seed=seed + f),
                     epochs=epochs, lr=lr, desc=f"{desc} fold {f + 1}/{folds}", progress=False)
        model.eval()
        with torch.no_grad():   # fit left the model on the run's device; the folds live on the CPU
            device = next(model.parameters()).device
            accs.append((model(ids[test].to(device)).argmax(-1).cpu() == labels[test]).float().mean().item())
    return accs


# ---- Why attention: its cost beside a recurrent and a convolutional layer ---------------------------

class LayerTimings(dict):
    """{layer name: [seconds per length]}, the best (minimum) over `rounds` rounds of timing."""

    def __init__(self, lengths: Sequence[int], seconds: dict[str, list[float]], rounds: int) -> None:
        super().__init__(seconds)
        self.lengths, self.rounds = list(lengths), rounds


def time_layers(lengths: Sequence[int], *, dim: int = 64, batch: int = 8, repeats: int = 5,
                seconds: float = 3.0, max_rounds: int = 100, seed: int = 0) -> LayerTimings:
    """Seconds for forward + backward of one self-attention, LSTM and conv layer (kernel 3) of width
    `dim` on random (batch, n, dim) inputs, for each length n in `lengths`: the best of several rounds.

    Made to survive a busy machine: each round times every layer at every length once, in turn, so a
    burst of load spoils one round rather than one length; rounds go on until at least `repeats` of
    them and `seconds` of timing are done (at most `max_rounds`), and the minimum of each is kept,
    since other work can only add time. The result's `.rounds` says how many rounds were run."""
    import time

    torch.manual_seed(seed)
    attn = SelfAttention(BertConfig(vocab_size=1, dim=dim, n_heads=4, dropout=0.0))
    lstm = nn.LSTM(dim, dim, batch_first=True)
    conv = nn.Conv1d(dim, dim, kernel_size=3, padding=1)
    layers = {"self-attention": lambda x: attn(x, torch.ones(x.shape[:2], dtype=torch.bool)),
              "LSTM": lambda x: lstm(x)[0],
              "convolution (k=3)": lambda x: conv(x.transpose(1, 2)).transpose(1, 2)}
    inputs = [torch.randn(batch, n, dim, requires_grad=True) for n in lengths]
    for x in inputs:
        for layer in layers.values():
            layer(x).sum().backward()                         # warm-up: the first call pays set-up costs
    best = {name: [float("inf")] * len(inputs) for name in layers}
    start, rounds = time.perf_counter(), 0
    while rounds < max_rounds and (rounds < repeats or time.perf_counter() - start < seconds):
        for i, x in enumerate(inputs):
            for name, layer in layers.items():
                t0 = time.perf_counter()
                layer(x).sum().backward()
                best[name][i] = min(best[name][i], time.perf_counter() - t0)
        rounds += 1
    return LayerTimings(lengths, best, rounds)


def loglog_slope(lengths: Sequence[int], secs: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) against log(n): p where the time grows like n^p."""
    x, y = [math.log(n) for n in lengths], [math.log(t) for t in secs]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)


def timing_verdict(timings: LayerTimings, *, margin: float = 0.2) -> list[str]:
    """The slopes this run measured and what they say about Table 1, as printable lines.

    Per layer: the slope fitted over every length and the slope of the last step (the two largest
    lengths, where attention's n x n scores weigh most). Then Table 1's two predictions, each with the
    claims module's verdict ("shown in this run" / "not shown in this run") and the slopes behind it:
    attention's last-step slope exceeds the LSTM's by more than `margin`; the LSTM's overall slope is
    within 1 +- 0.25 (linear in n). These are printed, not claim()ed: wall-clock timings vary with the
    machine's load, so they are not a reproducible verdict."""
    from ..claims import Claim

    n = timings.lengths
    if len(n) < 2:
        raise ValueError("need at least two lengths to measure a slope")
    fit = {name: loglog_slope(n, s) for name, s in timings.items()}
    last = {name: loglog_slope(n[-2:], s[-2:]) for name, s in timings.items()}
    lines = [f"log-log slope (fit over n={n[0]}..{n[-1]} | last step n={n[-2]}->{n[-1]}), best of "
             f"{timings.rounds} rounds: " + ", ".join(f"{name} {fit[name]:.2f} | {last[name]:.2f}" for name in fit)]
    a, r, s = last["self-attention"], last["LSTM"], fit["LSTM"]
    verdicts = [("at the largest lengths self-attention's time grows faster than the LSTM's (Table 1: n^2 vs n)",
                 a > r + margin, f"slope {a:.2f} vs {r:.2f}"),
                ("the LSTM's time grows about linearly in n (Table 1: n sequential steps)",
                 abs(s - 1) <= 0.25, f"slope {s:.2f}")]
    return lines + [Claim(text, holds, figures, relied_on=False).line() for text, holds, figures in verdicts]


def plot_layer_timings(timings: LayerTimings, ax=None):
    """Log-log plot of `time_layers`' result in milliseconds, ticks at the timed lengths, readable
    labels (no minor-tick labels), and dashed guides of slope 1 and 2; returns the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

    if ax is None:
        ax = plt.subplots(figsize=(6, 4))[1]
    n = timings.lengths
    ms = {name: [1e3 * t for t in secs] for name, secs in timings.items()}
    for name, values in ms.items():
        ax.plot(n, values, "o-", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    lo, hi = min(min(v) for v in ms.values()) / 1.5, max(max(v) for v in ms.values()) * 1.5
    start = sorted(v[0] for v in ms.values())[len(ms) // 2]          # the guides start at the middle layer
    for p, style in ((1, ":"), (2, "--")):
        ax.plot([n[0], n[-1]], [start, start * (n[-1] / n[0]) ** p], style, color="0.55", lw=1,
                label=f"guide: slope {p} (time ∝ n{'²' if p == 2 else ''})")
    ax.set_ylim(lo, hi)                                               # guides clipped to the data's range
    ax.xaxis.set_major_locator(FixedLocator(n))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    decades = math.log10(hi / lo)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0,) if decades > 3 else (1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="sequence length n (log scale)", ylabel="milliseconds, forward + backward (log scale)",
           title=f"one layer, best of {timings.rounds} rounds")
    ax.legend(fontsize="small", loc="upper left")
    return ax
