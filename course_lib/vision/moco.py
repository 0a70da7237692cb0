"""MoCo v2 (He et al., CVPR 2020; Chen et al., 2020): a queue of keys and a momentum key encoder.

A query q = g_q(f_q(x~)) must pick its key k = g_k(f_k(x~')) (the other view of the same image)
out of K + 1 candidates: k and the K keys of earlier batches kept in a queue. InfoNCE (MoCo eq. 1):

    L_q = -log exp(q.k+ / tau) / (exp(q.k+ / tau) + sum_{i=1..K} exp(q.k_i / tau))

The key encoder is not trained by gradients; it follows the query encoder slowly (eq. 2):
theta_k <- m theta_k + (1 - m) theta_q, so the keys in the queue stay consistent with each other.
Under torchrun (course_lib.distributed) every GPU enqueues the keys of all GPUs' batches and
BatchNorm is synchronised over all GPUs, as one process with the whole batch would compute it
(MoCo's shuffling BN, which normalises keys with another GPU's statistics, is not done here).
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .. import distributed
from . import augment
from .heads import mlp


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, tau: float = 0.2) -> torch.Tensor:
    """InfoNCE of queries q (N, D) against positives k (N, D) and the negatives in queue (K, D); all L2-normalised."""
    if q.shape != k.shape or q.dim() != 2:
        raise ValueError(f"q and k must both be (N, D) with the same shape, got {tuple(q.shape)} and {tuple(k.shape)}")
    if queue.dim() != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(f"the queue must be (K, {q.shape[1]}), got {tuple(queue.shape)}")
    if not tau > 0:
        raise ValueError(f"the temperature tau must be positive, got {tau} (MoCo v2 uses 0.2)")
    l_pos = (q * k).sum(1, keepdim=True)                               # (N, 1)
    l_neg = q @ queue.T                                                # (N, K)
    logits = torch.cat([l_pos, l_neg], dim=1).float() / tau            # (N, 1 + K)
    # The positive key is always at index 0.
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, m: float) -> None:
    """theta_target <- m theta_target + (1 - m) theta_online for every parameter (buffers copied).

    A few foreach ops over the parameter and buffer lists instead of a Python loop: on ResNet-18 the
    loop dispatched 240 small ops per update, these dispatch 3 (the same arithmetic, bit for bit).
    """
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"the momentum m must be in [0, 1], got {m}")
    targets, onlines = list(target.parameters()), list(online.parameters())  # no_grad: no detach needed
    if len(targets) != len(onlines):
        raise ValueError(f"online and target differ: {len(onlines)} vs {len(targets)} parameters; "
                         "the target must be a copy of the online network (copy.deepcopy)")
    if targets:  # the loop's two in-place ops, each over the whole list: bit-identical results
        torch._foreach_mul_(targets, m)
        torch._foreach_add_(targets, onlines, alpha=1 - m)
    buffers_t, buffers_o = list(target.buffers()), list(online.buffers())
    if buffers_t:
        torch._foreach_copy_(buffers_t, buffers_o)  # BatchNorm running statistics: follow the online network


class Queue(nn.Module):
    """A first-in first-out queue of K key vectors (K, D), stored as a buffer with a write pointer."""

    def __init__(self, size: int, dim: int, *, seed: int = 0) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"the queue size must be positive, got {size}")
        g = torch.Generator().manual_seed(seed)
        # Random unit vectors to start with: they act as (uninformative) negatives until replaced.
        self.register_buffer("keys", F.normalize(torch.randn(size, dim, generator=g), dim=1))  # (K, D)
        # A Python int, not a tensor: reading a GPU tensor's value every step would stall the GPU.
        self.ptr = 0

    def get_extra_state(self) -> dict:
        """The write pointer, saved in the state_dict (so checkpoints resume the queue exactly)."""
        return {"ptr": self.ptr}

    def set_extra_state(self, state: dict) -> None:
        """Restore the write pointer from a state_dict."""
        self.ptr = int(state["ptr"])

    @torch.no_grad()
    def push(self, k: torch.Tensor) -> None:
        """Replace the oldest len(k) keys by k (N, D); K must be a multiple of N."""
        size, n = len(self.keys), len(k)
        if size % n:
            raise ValueError(f"the queue size K={size} is not a multiple of the batch size N={n}; pick K "
                             f"as a multiple of N (e.g. {max(1, size // n) * n}) so each batch fills one slot "
                             "(use drop_last=True so the last batch is not smaller)")
        self.keys[self.ptr:self.ptr + n] = k.detach().to(self.keys.dtype)
        self.ptr = (self.ptr + n) % size


class MoCo(nn.Module):
    """MoCo v2: query encoder (f_q, g_q) trained by InfoNCE, key encoder (f_k, g_k) its moving average."""

    def __init__(self, encoder: nn.Module, *, proj_dim: int = 128, hidden: int | None = None,
                 queue_size: int = 4096, m: float = 0.99, tau: float = 0.2, symmetric: bool = True,
                 augment_fn: Callable | None = None) -> None:
        super().__init__()
        self.encoder = encoder                                                 # f_q
        self.head = mlp([encoder.dim, hidden or encoder.dim, proj_dim], bn=False)  # g_q: MoCo v2's MLP head
        self.key_encoder = copy.deepcopy(encoder).requires_grad_(False)       # f_k
        self.key_head = copy.deepcopy(self.head).requires_grad_(False)        # g_k
        self.queue = Queue(queue_size, proj_dim)
        self.m, self.tau, self.symmetric = m, tau, symmetric
        self.augment = augment_fn or augment.simclr_augment()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised queries q of a batch of views, (B, proj_dim)."""
        return F.normalize(self.head(self.encoder(x)), dim=1)

    @torch.no_grad()
    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised keys k from the momentum encoder, (B, proj_dim); no gradient."""
        return F.normalize(self.key_head(self.key_encoder(x)), dim=1)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """InfoNCE of each view's query against the other view's key and the queue; then enqueue the keys."""
        if len(x) < 2:
            raise ValueError(f"MoCo needs at least 2 images per batch, got {len(x)}")
        x1, x2 = self.augment(x), self.augment(x)
        q1, k2 = self(x1), self.keys(x2)
        loss = info_nce(q1, k2, self.queue.keys.clone(), self.tau)
        if self.symmetric:  # both views act as query once (as in most small-scale MoCo v2 recipes)
            q2, k1 = self(x2), self.keys(x1)
            loss = (loss + info_nce(q2, k1, self.queue.keys.clone(), self.tau)) / 2
            self.queue.push(distributed.all_gather(k1))
        # Under torchrun every rank pushes the keys of every rank's batch, in rank order: the queues
        # stay identical, as one process's queue would be with the whole batch (one process: k2 itself).
        self.queue.push(distributed.all_gather(k2))
        return loss

    def momentum_update(self, step: int = 0, total_steps: int = 1) -> None:
        """theta_k <- m theta_k + (1 - m) theta_q (MoCo eq. 2), called after every optimiser step."""
        momentum_update(self.encoder, self.key_encoder, self.m)
        momentum_update(self.head, self.key_head, self.m)
