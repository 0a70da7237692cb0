"""Jigsaw puzzles (Noroozi & Favaro, ECCV 2016): shuffle 3x3 tiles by one of N permutations, predict which.

The permutation set matters: Noroozi & Favaro chose it greedily so that permutations are far apart
in Hamming distance (the number of positions where two permutations differ), which made the task
harder and the features better. `permutation_set` builds such sets, and sets chosen for *minimal*
distance or at random, to compare.
"""
from __future__ import annotations

import functools
import math

import numpy as np

import torch
from torch import nn
from torch.nn import functional as F

from .patches import crop, draw_device, grid_positions

SET_KINDS = ("max", "min", "random")


@functools.lru_cache(maxsize=2)
def _pool(k: int) -> np.ndarray:
    """All k! permutations as columns (k, k!) uint8, built by inserting each value at every position."""
    p = np.zeros((1, 0), dtype=np.uint8)
    for v in range(k):
        p = np.concatenate([np.insert(p, pos, v, axis=1) for pos in range(v + 1)])
    return np.ascontiguousarray(p.T)


def all_permutations(k: int = 9) -> torch.Tensor:
    """Every permutation of range(k), in a fixed order: (k!, k) long (9! = 362,880 rows)."""
    if not 1 <= k <= 9:
        raise ValueError(f"k must be between 1 and 9 (9! = 362,880 rows already), got {k}")
    return torch.from_numpy(_pool(k).T.astype(np.int64))


def hamming(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Pairwise Hamming distances between rows of p (N, k) and q (M, k): (N, M)."""
    return (p[:, None, :] != q[None, :, :]).sum(-1)


def permutation_set(n: int, *, kind: str = "max", k: int = 9, generator: torch.Generator | None = None) -> torch.Tensor:
    """Choose n permutations of range(k) greedily: "max" (farthest first), "min" (closest first) or "random"."""
    if kind not in SET_KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid kinds are {', '.join(SET_KINDS)}")
    if not 1 <= k <= 9:
        raise ValueError(f"k must be between 1 and 9 tiles, got {k}")
    if not 1 <= n <= math.factorial(k):
        raise ValueError(f"cannot choose {n} distinct permutations of {k} tiles: there are only "
                         f"{math.factorial(k):,} (k!); ask for 1 <= n <= {math.factorial(k):,}")
    cols = _pool(k)             # (k, k!): one column per permutation, 3 MB for k = 9
    total = cols.shape[1]
    if kind == "random":
        return torch.from_numpy(cols.T[torch.randperm(total, generator=generator)[:n].numpy()].astype(np.int64))

    def dist(j: int) -> np.ndarray:  # Hamming distance of every permutation to permutation j: (k!,)
        d = np.zeros(total, dtype=np.int32)
        for row in cols:
            d += row != row[j]
        return d

    first = int(torch.randint(0, total, (1,), generator=generator))
    chosen = [first]
    d_min = dist(first)          # distance of every candidate to the nearest chosen permutation
    d_sum = d_min.copy()         # sum of its distances to all chosen permutations
    for _ in range(n - 1):
        if kind == "max":  # farthest point: largest minimum distance, ties by the largest average
            score = d_min * (k * n + 1) + d_sum
            score[chosen] = -1
            nxt = int(score.argmax())
        else:              # closest point: smallest average distance to the set, not already chosen
            score = d_sum.copy()
            score[chosen] = np.iinfo(score.dtype).max
            nxt = int(score.argmin())
        chosen.append(nxt)
        d = dist(nxt)
        np.minimum(d_min, d, out=d_min)
        d_sum += d
    return torch.from_numpy(cols.T[chosen].astype(np.int64))


def set_stats(perms: torch.Tensor) -> tuple[float, int]:
    """(average, minimum) Hamming distance over all pairs of distinct permutations in the set."""
    d = hamming(perms, perms).float()
    n = len(perms)
    if n < 2:
        return 0.0, 0
    off = ~torch.eye(n, dtype=torch.bool)
    return d[off].mean().item(), int(d[off].min())


def jigsaw_tiles(x: torch.Tensor, *, patch: int, gap: int = 0, jitter: int = 0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """The 9 tiles of a 3x3 grid per image in reading order: (B, C, H, W) -> (B, 9, C, p, p)."""
    b = len(x)
    pos = grid_positions(b, min(x.shape[-2:]), grid=3, patch=patch, gap=gap, jitter=jitter, generator=generator,
                         device=draw_device(generator, x.device))                             # (B, 9, 2)
    tiles = [crop(x, pos[:, i], patch) for i in range(9)]
    return torch.stack(tiles, dim=1)


def shuffle_tiles(tiles: torch.Tensor, perms: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Put tile perms[label][i] at position i: (B, 9, C, p, p) -> (B, 9, C, p, p)."""
    order = perms.to(tiles.device)[label]                 # (B, 9)
    idx = torch.arange(len(tiles), device=tiles.device)[:, None]
    return tiles[idx, order]


def normalize_tiles(tiles: torch.Tensor) -> torch.Tensor:
    """Give every tile the mean colour of its whole puzzle: (B, 9, C, p, p) -> same shape.

    Noroozi & Favaro normalise each tile on its own, because a tile's average colour and brightness
    (a sky gradient, vignetting) tell where it came from without any understanding of the content.
    Shifting each tile to the puzzle's mean keeps the input statistics of whole images, which the
    frozen encoder sees later in the probe.
    """
    tile_mean = tiles.mean((3, 4), keepdim=True)          # (B, 9, C, 1, 1)
    return tiles - tile_mean + tile_mean.mean(1, keepdim=True)


class JigsawNet(nn.Module):
    """Noroozi's context-free network: one shared encoder per tile, features concatenated, MLP to N classes."""

    def __init__(self, encoder: nn.Module, perms: torch.Tensor, *, patch: int, gap: int = 0, jitter: int = 0,
                 puzzles_per_image: int = 1, normalize: bool = True, hidden: int = 256) -> None:
        super().__init__()
        if not hasattr(encoder, "dim"):
            raise AttributeError("JigsawNet needs an encoder with a .dim attribute (its output size)")
        if puzzles_per_image < 1:
            raise ValueError(f"puzzles_per_image must be at least 1, got {puzzles_per_image}")
        self.puzzles_per_image, self.normalize = puzzles_per_image, normalize
        if perms.dim() != 2 or perms.shape[1] != 9:
            raise ValueError(f"perms must be (N, 9) permutations of the 9 tiles, got {tuple(perms.shape)}")
        self.encoder, self.patch, self.gap, self.jitter = encoder, patch, gap, jitter
        self.register_buffer("perms", perms.long())
        self.head = nn.Sequential(nn.Linear(9 * encoder.dim, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, len(perms)))

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """Logits (B, N) for which permutation shuffled the tiles (B, 9, C, p, p)."""
        b = len(tiles)
        z = self.encoder(tiles.flatten(0, 1))   # (9B, dim)
        return self.head(z.view(b, -1))          # (B, N)

    def logits_and_labels(self, x: torch.Tensor, generator: torch.Generator | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cut, shuffle by a random permutation of the set, and return (logits, permutation index)."""
        x = x.repeat(self.puzzles_per_image, 1, 1, 1) if self.training else x  # (kB, C, H, W)
        tiles = jigsaw_tiles(x, patch=self.patch, gap=self.gap, jitter=self.jitter, generator=generator)
        if self.normalize:
            tiles = normalize_tiles(tiles)
        # Drawn on the generator's device (default: the images'), so no host-to-device copy per step.
        label = torch.randint(0, len(self.perms), (len(x),), generator=generator,
                              device=draw_device(generator, x.device)).to(x.device)
        return self(shuffle_tiles(tiles, self.perms, label)), label

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the permutation prediction."""
        logits, y = self.logits_and_labels(x)
        return F.cross_entropy(logits, y)
