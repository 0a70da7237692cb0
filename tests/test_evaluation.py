"""Tests for course_lib.evaluation: probes score separable data high, random labels at chance."""
import numpy as np
import pytest
import torch
from torch import nn

from course_lib import evaluation


def _blobs(n: int, d: int = 16, c: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """c well-separated Gaussian blobs in d dimensions."""
    g = torch.Generator().manual_seed(seed)
    centers = 5.0 * torch.randn(c, d, generator=g)
    y = torch.randint(0, c, (n,), generator=g)
    return centers[y] + torch.randn(n, d, generator=g), y


@pytest.fixture(scope="module")
def split():
    z, y = _blobs(1200)
    y_random = torch.randint(0, 4, (1200,), generator=torch.Generator().manual_seed(1))
    return z[:800], y[:800], z[800:], y[800:], y_random[:800], y_random[800:]


def test_linear_probe_separable_and_random(split):
    z_tr, y_tr, z_te, y_te, r_tr, r_te = split
    assert evaluation.linear_probe(z_tr, y_tr, z_te, y_te) > 0.98
    assert abs(evaluation.linear_probe(z_tr, r_tr, z_te, r_te) - 0.25) < 0.1
    # deterministic
    assert evaluation.linear_probe(z_tr, y_tr, z_te, y_te) == evaluation.linear_probe(z_tr, y_tr, z_te, y_te)


def test_knn_separable_and_random(split):
    z_tr, y_tr, z_te, y_te, r_tr, r_te = split
    assert evaluation.knn(z_tr, y_tr, z_te, y_te, k=10) > 0.98
    assert abs(evaluation.knn(z_tr, r_tr, z_te, r_te, k=10) - 0.25) < 0.1
    # batching must not change the answer; k larger than N_train is clamped
    assert evaluation.knn(z_tr, y_tr, z_te, y_te, batch_size=7) == evaluation.knn(z_tr, y_tr, z_te, y_te)
    assert 0.0 <= evaluation.knn(z_tr[:5], y_tr[:5], z_te, y_te, k=50) <= 1.0


def test_bad_inputs_give_clear_errors(split):
    z_tr, y_tr, z_te, y_te, *_ = split
    with pytest.raises(TypeError, match="integer class indices"):
        evaluation.linear_probe(z_tr, y_tr.float(), z_te, y_te)
    with pytest.raises(ValueError, match="shape"):
        evaluation.knn(z_tr, y_tr[:10], z_te, y_te)
    with pytest.raises(ValueError, match="same encoder"):
        evaluation.linear_probe(z_tr, y_tr, z_te[:, :3], y_te)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        evaluation.knn(z_tr[:, :, None], y_tr, z_te, y_te)


def test_embed_restores_mode_and_batches():
    net = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Dropout(0.5))
    x = torch.randn(37, 3)
    net.train()
    z = evaluation.embed(net, x, batch_size=8)
    assert net.training and z.shape == (37, 5) and z.device.type == "cpu" and not z.requires_grad
    net.eval()
    assert torch.allclose(z, net(x), atol=1e-6)  # eval mode was used: no dropout, running BN stats
    evaluation.embed(net, x)
    assert not net.training


def test_tsne_shape_and_perplexity_clamp():
    z, _ = _blobs(40)
    out = evaluation.tsne(z, perplexity=5.0)
    assert isinstance(out, np.ndarray) and out.shape == (40, 2)
    with pytest.warns(UserWarning, match="perplexity"):
        evaluation.tsne(z[:10], perplexity=30.0)


def test_nearest_neighbours_match_brute_force_and_feed_knn(split):
    z_tr, y_tr, z_te, y_te, *_ = split
    sims, idx = evaluation.nearest_neighbours(z_tr, z_te[:50], k=5, batch_size=7)
    cos = torch.nn.functional.normalize(z_te[:50], dim=1) @ torch.nn.functional.normalize(z_tr, dim=1).T
    assert idx.shape == (50, 5) and torch.equal(idx[:, 0], cos.argmax(1))
    assert torch.allclose(sims, cos.topk(5, dim=1).values, atol=1e-6)
    assert (sims[:, :-1] >= sims[:, 1:]).all()  # nearest first
    own, own_idx = evaluation.nearest_neighbours(z_tr, z_tr[:10], k=1)  # a point is its own nearest
    assert torch.equal(own_idx[:, 0], torch.arange(10))
    with pytest.raises(ValueError, match="same encoder"):
        evaluation.nearest_neighbours(z_tr, z_te[:, :3])


def test_neighbour_agreement_separable_random_and_chance(split):
    z_tr, y_tr, z_te, y_te, r_tr, r_te = split
    assert evaluation.neighbour_agreement(z_tr, y_tr, z_te, y_te, k=8) > 0.98
    assert abs(evaluation.neighbour_agreement(z_tr, r_tr, z_te, r_te, k=8) - 0.25) < 0.06
    scores = evaluation.score_encoder(nn.Identity(), type("S", (), {"x": z_tr, "y": y_tr})(),
                                      type("S", (), {"x": z_te, "y": y_te})(), probe=False, agreement_k=4)
    assert set(scores) == {"knn", "agreement"} and scores["agreement"] > 0.98


def test_class_examples_and_spread_verdicts():
    y = torch.tensor([3, 1, 1, 0, 3, 2])
    assert evaluation.class_examples(y, 3).tolist() == [3, 1, 5]  # first 0, first 1, first 2
    lines = evaluation.spread_verdicts({"a": [0.30, 0.31, 0.32], "b": [0.35, 0.36, 0.37], "c": [0.31, 0.36, 0.33]})
    assert lines[0].startswith("a vs b: -5.0 points, beyond the spread")
    assert "within the spread" in lines[1] and "within the spread" in lines[2] and len(lines) == 3


class _TinyEncoder(nn.Module):
    """A linear encoder with the .dim attribute train_supervised reads."""

    def __init__(self, d_in: int = 16, dim: int = 8):
        super().__init__()
        self.dim, self.net = dim, nn.Linear(d_in, dim)

    def forward(self, x):
        return self.net(x)


def test_finetune_recipe_for_pretrained_encoders(split):
    z_tr, y_tr, z_te, y_te, _, _ = split
    torch.manual_seed(0)
    enc = _TinyEncoder()
    # probe_init: before any step, the network predicts as the linear probe on the frozen features does
    net = evaluation.train_supervised(enc, z_tr, y_tr, epochs=0, probe_init=True, n_classes=4)
    acc0 = (evaluation.embed(net, z_te).argmax(1) == y_te).float().mean().item()
    probe = evaluation.linear_probe(evaluation.embed(enc, z_tr), y_tr, evaluation.embed(enc, z_te), y_te)
    assert abs(acc0 - probe) < 0.01
    # encoder_lr_scale=0 freezes the encoder's weights and still trains the head; the default trains both
    frozen = evaluation.train_supervised(enc, z_tr, y_tr, epochs=1, encoder_lr_scale=0.0)
    both = evaluation.train_supervised(enc, z_tr, y_tr, epochs=1)
    assert torch.equal(frozen[0].net.weight, enc.net.weight)
    assert not torch.equal(both[0].net.weight, enc.net.weight)
    assert not torch.equal(frozen[1].weight, both[1].weight)
    # the defaults keep the plain recipe, deterministically
    kw = dict(epochs=2, seed=3)
    assert evaluation.finetune(enc, z_tr, y_tr, z_te, y_te, **kw) == evaluation.finetune(
        enc, z_tr, y_tr, z_te, y_te, encoder_lr_scale=1.0, probe_init=False, **kw)
    assert evaluation.finetune(enc, z_tr, y_tr, z_te, y_te, encoder_lr_scale=0.1, probe_init=True, **kw) > 0.9
