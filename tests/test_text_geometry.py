"""Embedding geometry helpers: PCA, purity, capital pairs, offsets, the t-SNE counterexample's data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.text import geometry, vectors


def test_pca_2d_keeps_the_leading_directions_and_a_fixed_sign() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200, 5, generator=g) * torch.tensor([10.0, 3.0, 0.1, 0.1, 0.1])
    p = geometry.pca_2d(z)
    assert p.shape == (200, 2)
    assert abs(np.corrcoef(p[:, 0], z[:, 0])[0, 1]) > 0.99 and abs(np.corrcoef(p[:, 1], z[:, 1])[0, 1]) > 0.99
    assert np.allclose(geometry.pca_2d(-z), p, atol=1e-4)  # the sign convention removes SVD's arbitrary flip
    with pytest.raises(ValueError, match="at least 2 points"):
        geometry.pca_2d(np.zeros((1, 3)))


def test_neighbour_purity_is_one_for_separated_groups_and_low_for_random_labels() -> None:
    z = np.r_[np.zeros((10, 2)), np.full((10, 2), 100.0)] + np.random.default_rng(0).normal(size=(20, 2))
    labels = np.repeat([0, 1], 10)
    assert geometry.neighbour_purity(z, labels, k=5) == 1.0
    assert geometry.neighbour_purity(z, np.tile([0, 1], 10), k=5) < 0.7


def test_counterexample_has_the_stated_ratios() -> None:
    x, labels, truth = geometry.tsne_counterexample(seed=0)
    stats = geometry.cluster_stats(x, labels)
    assert stats["std_ratio_A_B"] == pytest.approx(truth["std_ratio_A_B"], rel=0.1)
    assert stats["gap_ratio_BC_AB"] == pytest.approx(truth["gap_ratio_BC_AB"], rel=0.1)


def test_capital_pairs_and_offset_alignment(tmp_path) -> None:
    words = ["athens", "greece", "paris", "france", "rome", "italy", "tokyo"]
    offset = torch.tensor([0.0, 0.0, 3.0])
    countries = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    vecs = torch.stack([countries[0] + offset, countries[0], countries[1] + offset, countries[1],
                        countries[2] + offset, countries[2], torch.tensor([5.0, 5.0, 5.0])])
    wv = vectors.WordVectors(words, vecs)
    path = tmp_path / "q.txt"
    path.write_text(": capital-common-countries\nAthens Greece Paris France\nRome Italy Tokyo Japan\n"
                    ": family\nboy girl brother sister\n")
    pairs = geometry.capital_pairs(wv, path)
    assert pairs == [("france", "paris"), ("greece", "athens"), ("italy", "rome")]
    aligned, shuffled = geometry.offset_alignment(wv, pairs)
    assert aligned > 0.8 and shuffled < aligned - 0.1, (aligned, shuffled)
    with pytest.raises(ValueError, match="at least 3"):
        geometry.offset_alignment(wv, pairs[:2])


def test_group_words_skips_unknown_words_and_needs_enough() -> None:
    wv = vectors.WordVectors(["one", "two", "red", "blue", "frog"], torch.eye(5))
    words, labels, names = geometry.group_words(wv, {"numbers": ["one", "two", "zz"], "colours": ["red", "blue"]})
    assert words == ["one", "two", "red", "blue"] and labels.tolist() == [0, 0, 1, 1] and names == ["numbers", "colours"]
    with pytest.raises(ValueError, match="only 1"):
        geometry.group_words(wv, {"x": ["frog", "zz"]})
