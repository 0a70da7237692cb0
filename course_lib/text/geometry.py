"""Embedding geometry: word groups, country-capital pairs, a 2-D PCA, and a t-SNE counterexample."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .vectors import as_word_vectors

# Semantic groups for the cluster pictures; words missing from a vocabulary are left out.
WORD_GROUPS: dict[str, list[str]] = {
    "numbers": "one two three four five six seven eight nine ten hundred thousand".split(),
    "months": "january february march april may june july august september october november december".split(),
    "family": "father mother son daughter brother sister wife husband uncle aunt".split(),
    "countries": "france germany italy spain england china japan india russia greece egypt canada".split(),
    "colours": "red blue green yellow black white orange purple brown".split(),
    "science": "physics chemistry biology mathematics theory energy atoms molecules".split(),
    "music": "music song album band guitar piano rock jazz singer opera".split(),
    "religion": "god church christian islam muslim jewish catholic religion bible".split(),
}


def group_words(vectors, groups: dict[str, list[str]] | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """(words, group label of each (N,), group names) for the words of `groups` that have a vector."""
    wv = as_word_vectors(vectors)
    groups = WORD_GROUPS if groups is None else groups
    words, labels, names = [], [], []
    for name, members in groups.items():
        present = [w for w in members if w in wv]
        if present:
            labels += [len(names)] * len(present)
            words += present
            names.append(name)
    if len(words) < 4:
        raise ValueError(f"only {len(words)} of the group words have vectors; train on a bigger corpus "
                         "or pass groups= with words from this vocabulary")
    return words, np.asarray(labels), names


def capital_pairs(vectors, path: str | Path | None = None) -> list[tuple[str, str]]:
    """(country, capital) pairs from the capital sections of questions-words.txt whose two words have vectors."""
    wv = as_word_vectors(vectors)
    if path is None:
        from ..data import analogy_path
        path = analogy_path()
    pairs, section = {}, ""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        if section in ("capital-common-countries", "capital-world"):
            a, b, c, d = line.lower().split()
            for capital, country in ((a, b), (c, d)):
                if capital in wv and country in wv:
                    pairs[country] = capital
    return sorted(pairs.items())


def pca_2d(z) -> np.ndarray:
    """Project rows of z (N, D) on their two leading principal components: (N, 2)."""
    z = torch.as_tensor(np.asarray(z), dtype=torch.float64)
    if z.dim() != 2 or len(z) < 2:
        raise ValueError(f"pca_2d needs at least 2 points of shape (N, D), got {tuple(z.shape)}")
    centred = z - z.mean(0)
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    out = centred @ vt[:2].T                                        # (N, 2)
    # Fix the sign of each axis (SVD may flip it) so the picture is the same on every machine.
    signs = torch.sign(out[out.abs().argmax(0), torch.arange(out.shape[1])])
    return (out * signs).float().numpy()


def tsne_counterexample(seed: int = 0, n: int = 60, dim: int = 50) -> tuple[np.ndarray, np.ndarray, dict]:
    """Three Gaussian clusters whose sizes and distances t-SNE does not keep: points (3n, dim), labels, truth.

    A is wide (std 3), B is tight (std 0.3), and C lies 10x farther from B than A does.
    """
    g = torch.Generator().manual_seed(seed)
    centres = torch.zeros(3, dim, dtype=torch.float64)
    centres[1, 0] = 20.0                                            # A-B: 20 apart
    centres[2, 0] = 220.0                                           # B-C: 200 apart
    stds = torch.tensor([3.0, 0.3, 1.0], dtype=torch.float64)
    labels = torch.arange(3).repeat_interleave(n)
    x = centres[labels] + stds[labels, None] * torch.randn(3 * n, dim, generator=g, dtype=torch.float64)
    return x.float().numpy(), labels.numpy(), {"std_ratio_A_B": 10.0, "gap_ratio_BC_AB": 10.0}


def cluster_stats(points: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Spread ratio of clusters 0 and 1 (mean distance to their centre) and the gap ratio (1-2 vs 0-1 centres)."""
    points = np.asarray(points, dtype=np.float64)
    centre = [points[labels == k].mean(0) for k in range(3)]
    spread = [np.linalg.norm(points[labels == k] - centre[k], axis=1).mean() for k in range(3)]
    return {"std_ratio_A_B": spread[0] / spread[1],
            "gap_ratio_BC_AB": np.linalg.norm(centre[2] - centre[1]) / np.linalg.norm(centre[1] - centre[0])}


def neighbour_purity(z, labels, k: int = 5) -> float:
    """Fraction of each point's k nearest neighbours (Euclidean, itself excluded) that share its label."""
    z = torch.as_tensor(np.asarray(z), dtype=torch.float64)
    labels = torch.as_tensor(np.asarray(labels))
    if len(z) <= k:
        raise ValueError(f"need more than k={k} points, got {len(z)}")
    d = torch.cdist(z, z)                                           # (N, N)
    d.fill_diagonal_(float("inf"))
    nearest = d.topk(k, largest=False).indices                      # (N, k)
    return float((labels[nearest] == labels[:, None]).double().mean())


def offset_alignment(vectors, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """Mean cosine of each pair's offset (second - first) with the mean offset, and the same for shuffled pairs.

    High for real pairs and low for shuffled ones means the relation is (roughly) one direction in the space.
    """
    wv = as_word_vectors(vectors)
    if len(pairs) < 3:
        raise ValueError(f"need at least 3 pairs, got {len(pairs)}")
    a = torch.stack([wv.normed[wv.row(x)] for x, _ in pairs])       # (P, D)
    b = torch.stack([wv.normed[wv.row(y)] for _, y in pairs])       # (P, D)

    def alignment(offsets: torch.Tensor) -> float:
        mean = offsets.mean(0, keepdim=True)
        # leave-one-out mean, so a pair is not compared with itself
        loo = (mean * len(offsets) - offsets) / (len(offsets) - 1)
        return float(torch.nn.functional.cosine_similarity(offsets, loo, dim=1).mean())

    shuffled = torch.roll(torch.arange(len(pairs)), 1)              # every first word with another's second
    return alignment(b - a), alignment(b[shuffled] - a)
