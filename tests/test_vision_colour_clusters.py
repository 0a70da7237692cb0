"""Colorization (Lab, ab bins with rebalancing, both losses) and DeepCluster (k-means with the empty-cluster fix, the loop)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import data
from course_lib.data.shapes import make_shapes, shape_factors
from course_lib.vision import colorization as col, deepcluster as dc, encoders


def test_lab_round_trips_and_matches_known_colours():
    x = torch.rand(2, 3, 5, 5)
    torch.testing.assert_close(col.lab_to_rgb(col.rgb_to_lab(x)), x, atol=2e-4, rtol=0)
    white, red = torch.ones(1, 3, 1, 1), torch.tensor([1.0, 0.0, 0.0])[None, :, None, None]
    torch.testing.assert_close(col.rgb_to_lab(white).flatten(), torch.tensor([100.0, 0.0, 0.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(col.rgb_to_lab(red).flatten(), torch.tensor([53.24, 80.09, 67.20]), atol=0.1, rtol=0)
    grey = torch.full((1, 3, 2, 2), 0.5)
    assert col.chroma(col.rgb_to_lab(grey)[:, 1:]).max() < 0.01


def test_bins_weigh_rare_colours_up_and_average_one():
    ab = torch.zeros(1, 2, 10, 10)
    ab[0, 0, 0, :3] = 60.0                               # 3 vivid pixels among 100 grey ones
    bins = col.ABBins(ab, bin_size=10.0, lam=0.5)
    assert len(bins) == 2
    grey = bins.nearest(torch.zeros(1, 2, 1, 1)).item()
    vivid = bins.nearest(torch.tensor([60.0, 0.0]).view(1, 2, 1, 1)).item()
    assert bins.weights[vivid] > bins.weights[grey]
    assert torch.isclose((bins.p * bins.weights).sum(), torch.tensor(1.0))
    logits = torch.full((1, 2, 1, 1), -20.0)
    logits[0, vivid] = 20.0
    torch.testing.assert_close(bins.decode(logits).flatten(), bins.centres[vivid])   # a sure bin decodes to its centre


def test_both_losses_train_and_classification_needs_bins():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16)
    bins = col.ABBins(col.pooled_ab(x, 2))
    for kind in ("regression", "classification"):
        model = col.Colorizer(encoders.ConvEncoder(width=4, in_channels=1), loss=kind, bins=bins)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        start = model.loss(x).item()
        for _ in range(15):
            opt.zero_grad()
            model.loss(x).backward()
            opt.step()
        assert model.loss(x).item() < start
        assert model.encoder(x).shape == (8, model.encoder.dim)        # takes RGB, reads L only
        assert col.colorize(model, x).shape == x.shape
    with pytest.raises(ValueError, match="bins"):
        col.Colorizer(encoders.ConvEncoder(width=4, in_channels=1), loss="classification")
    with pytest.raises(ValueError, match="loss"):
        col.Colorizer(encoders.ConvEncoder(width=4, in_channels=1), loss="l1")


def test_the_encoder_ignores_colour_given_the_same_lightness():
    enc = col.LightnessEncoder(encoders.ConvEncoder(width=4, in_channels=1)).eval()
    x = torch.rand(2, 3, 16, 16)
    lab = col.rgb_to_lab(x)
    lab[:, 1:] = 0.0                                     # the same L, no colour
    grey = col.lab_to_rgb(lab)
    torch.testing.assert_close(enc.lightness(grey), enc.lightness(x), atol=0.05, rtol=0)


def test_shapes_colour_ties_hue_to_class_and_changes_nothing_else():
    x, y = make_shapes(60, 16, seed=3, colours="by_class")
    plain, y2 = make_shapes(60, 16, seed=3)
    assert np.array_equal(y, y2) and x.shape == plain.shape and not np.array_equal(x, plain)
    f = shape_factors(60, seed=3)
    hue = (y + f["hue"]) / 10                            # what "by_class" draws from the same random numbers
    assert np.all((hue >= y / 10) & (hue < (y + 1) / 10))
    ds = data.load_images("shapes_colour", train=True, n=20, size=16)
    assert ds.name == "shapes_colour" and ds.x.shape == (20, 3, 16, 16)


def test_kmeans_finds_separated_clusters_and_refills_empty_ones():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    z = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    truth = torch.arange(3).repeat_interleave(50)
    assign, _ = dc.kmeans(z, 3, generator=torch.Generator().manual_seed(1))
    assert dc.nmi(assign, truth) > 0.99
    # 4 centroids for 2 points: without the fix two clusters stay empty; with it none does
    two = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    a_off, refilled_off = dc.kmeans(two, 4, fix_empty=False, generator=torch.Generator().manual_seed(0))
    a_on, refilled_on = dc.kmeans(two, 4, fix_empty=True, generator=torch.Generator().manual_seed(0))
    assert refilled_off == 0 and len(a_off.unique()) <= 2
    assert refilled_on > 0
    with pytest.raises(ValueError, match="k must be"):
        dc.kmeans(z, 0)


def test_pca_whiten_gives_unit_vectors_of_the_asked_size():
    z = torch.randn(100, 16) * torch.linspace(0.1, 5.0, 16)
    w = dc.pca_whiten(z, 8)
    assert w.shape == (100, 8)
    torch.testing.assert_close(w.norm(dim=1), torch.ones(100))


def test_a_deepcluster_round_reports_its_figures():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 16, 16)
    y = torch.arange(64) % 4
    enc = dc.SobelEncoder(encoders.ConvEncoder(width=4, in_channels=2))
    h = dc.train_deepcluster(enc, x, rounds=2, k=8, batch_size=16, pca_dim=8, y=y, progress=False)
    assert len(h.rounds) == 2 and h.rounds[0].nmi_previous is None and h.rounds[1].nmi_previous is not None
    assert all(0 <= r.nmi_labels <= 1 and 0 < r.largest_share <= 1 for r in h.rounds)
    assert enc(x).shape == (64, enc.dim)


def test_fixed_bins_count_the_data_and_in_gamut_covers_every_colour():
    fixed = col.ABBins.in_gamut(bin_size=10.0)
    rgb = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    ab = col.pooled_ab(rgb, 4)
    counted = col.ABBins(ab, bin_size=10.0, centres=fixed.centres)
    assert len(counted) == len(fixed) and torch.equal(counted.centres, fixed.centres)
    assert counted.p.sum().item() == pytest.approx(1.0) and (counted.p == 0).any()   # unseen bins: p = 0
    assert torch.allclose((counted.p * counted.weights).sum(), torch.tensor(1.0))
    seen = col.ABBins(ab, bin_size=10.0)                                         # the default: the bins that occur
    assert len(seen) < len(fixed) and counted.p.max() == pytest.approx(seen.p.max().item())
    assert (torch.cdist(seen.centres, fixed.centres).min(dim=1).values < 1e-4).all()   # every seen bin is in gamut


def test_with_in_channels_replaces_the_first_convolution_only():
    conv = encoders.with_in_channels(encoders.ConvEncoder(width=4), 1)
    assert conv(torch.rand(2, 1, 16, 16)).shape == (2, 32)
    res = encoders.with_in_channels(encoders.ResNet18Encoder(), 2)
    assert res.net.conv1.in_channels == 2 and res.net.layer1[0].conv1.in_channels == 64
    assert res.features(torch.rand(2, 2, 32, 32)).shape == (2, 512, 4, 4)
    with pytest.raises(TypeError, match="no convolution"):
        encoders.with_in_channels(torch.nn.Linear(3, 3), 1)


def test_registry_colorization_rebalances_on_its_training_images():
    from course_lib.vision import methods

    model = methods.build("colorization", encoders.ConvEncoder(width=4), image_size=16)
    before = model.weights.clone()
    x = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.3 + 0.35   # dull colours
    methods.train(model, x, epochs=1, batch_size=8, lr=1e-3, progress=False)
    ab = col.pooled_ab(x, 2)
    assert torch.allclose(model.weights, col.ABBins(ab, centres=model.bins.centres).weights)
    assert not torch.allclose(model.weights, before)


def test_deepcluster_reclusters_every_round_and_samples_uniformly_over_clusters():
    from course_lib import training
    from course_lib.vision import methods

    x = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    model = methods.build("deepcluster", encoders.ConvEncoder(width=4), k=4, pca_dim=8, epochs_per_round=2)
    h = methods.train(model, x, epochs=4, batch_size=8, lr=1e-3, progress=False)
    assert len(model.assignments) == 2 and len(h.epoch_losses) == 4      # rounds at epochs 0 and 2
    counts = torch.bincount(model.assignments[-1], minlength=4).float()
    assert torch.allclose(model.sampling_weights, 1 / counts[model.assignments[-1]])
    with pytest.raises(RuntimeError, match="no clusters yet"):
        methods.build("deepcluster", encoders.ConvEncoder(width=4)).loss(x[:4])
    loader = training.DeviceLoader(torch.arange(6.0), batch_size=6, seed=0)
    loader.weights = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    drawn = next(iter(loader))[0]
    assert set(drawn.tolist()) <= {2.0, 5.0} and len(drawn) == 6          # with replacement, by weight
