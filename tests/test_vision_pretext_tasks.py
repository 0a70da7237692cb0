"""Masks, context encoder, relative-position pairs, jigsaw permutation sets, probing helpers (issue 9)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.data.shapes import make_shapes
from course_lib.vision import encoders, inpainting, jigsaw, masks, patches, probing


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind", masks.MASK_KINDS)
def test_masks_binary_with_the_central_area(kind: str) -> None:
    m = masks.make_mask(kind, 5, 32, 16, generator=g())
    assert m.shape == (5, 1, 32, 32) and set(m.unique().tolist()) <= {0.0, 1.0}
    area = m.sum((1, 2, 3))
    if kind == "block":  # 4 blocks of 8x8 may overlap
        assert (area <= 256).all() and (area >= 64).all()
    else:
        assert (area == 256).all()
    if kind != "central":
        assert not torch.equal(m[0], m[1]), "random masks should differ between images"
        assert torch.equal(m, masks.make_mask(kind, 5, 32, 16, generator=g())), "same generator, same masks"


def test_mask_errors() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        masks.make_mask("central", 2, 16, 17)
    with pytest.raises(ValueError, match="unknown mask kind"):
        masks.make_mask("ellipse", 2, 16, 8)
    with pytest.raises(ValueError, match="does not match"):
        masks.apply_mask(torch.rand(2, 3, 8, 8), torch.ones(2, 1, 4, 4))


def test_apply_mask_fills_the_hole_with_the_context_mean() -> None:
    x = torch.rand(2, 3, 8, 8, generator=g())
    m = masks.central_mask(2, 8, 4)
    out = masks.apply_mask(x, m)
    assert torch.equal(out * (1 - m), x * (1 - m))
    ctx_mean = (x * (1 - m)).sum((2, 3)) / (1 - m).sum((2, 3))
    assert torch.allclose(out[:, :, 3, 3], ctx_mean)


def test_masked_l2_ignores_the_context_and_has_the_right_value() -> None:
    x = torch.rand(2, 3, 8, 8, generator=g())
    m = masks.central_mask(2, 8, 4)
    x_hat = x + 5.0 * (1 - m)  # wrong everywhere outside the hole only
    assert inpainting.masked_l2(x_hat, x, m).item() == 0.0
    x_hat = x + 0.5 * m
    assert math.isclose(inpainting.masked_l2(x_hat, x, m).item(), 0.25, rel_tol=1e-6)
    y = torch.full((1, 3, 4, 4), 0.2)
    assert math.isclose(inpainting.psnr(y + 0.1, y, torch.ones(1, 1, 4, 4)), 20.0, rel_tol=1e-4)


@pytest.mark.parametrize("adv", [0.0, 0.001])
def test_context_encoder_protocol_and_one_step_lowers_the_loss(adv: float) -> None:
    torch.manual_seed(0)
    model = inpainting.ContextEncoder(encoders.ConvEncoder(width=4), image_size=16, mask="region", hole=8,
                                      adv_weight=adv, width=4)
    assert model.encoder.dim == 32 and (model.discriminator is not None) == (adv > 0)
    x = torch.rand(8, 3, 16, 16, generator=g())
    loss = model.loss(x)
    assert loss.dim() == 0 and torch.isfinite(loss)
    if adv:
        # the generator's adversarial term must not push gradients into the discriminator
        model.zero_grad()
        mask = model.masks(8)
        fake = x * (1 - mask) + model.inpaint(x, mask) * mask
        frozen = {k: v.detach() for k, v in model.discriminator.named_parameters()}
        torch.func.functional_call(model.discriminator, frozen, (fake,)).sum().backward()
        assert all(p.grad is None for p in model.discriminator.parameters())
    with pytest.raises(ValueError, match="built for 16x16"):
        model.inpaint(torch.rand(1, 3, 24, 24), torch.zeros(1, 1, 24, 24))


def test_grid_positions_fit_and_errors() -> None:
    pos = patches.grid_positions(4, 48, patch=12, gap=3, jitter=2, generator=g())
    assert pos.shape == (4, 9, 2) and pos.min() >= 0 and (pos + 12).max() <= 48
    with pytest.raises(ValueError, match="needs 42 pixels"):
        patches.grid_positions(1, 32, patch=12, gap=3, jitter=0)


def test_relative_position_pairs_are_consistent() -> None:
    x = torch.rand(64, 3, 48, 48, generator=g())
    a, b, y, pos = patches.relative_position_pairs(x, patch=12, gap=4, jitter=2, generator=g(1))
    assert a.shape == b.shape == (64, 3, 12, 12) and y.shape == (64,) and set(y.tolist()) <= set(range(8))
    offset = pos[:, 1] - pos[:, 0]                        # (B, 2) pixels
    expected = 16 * patches.NEIGHBOURS[y]                  # stride = patch + gap
    assert ((offset - expected).abs() <= 4).all()          # each patch jitters by at most 2
    for i in (0, 17):
        r, c = pos[i, 1].tolist()
        assert torch.equal(b[i], x[i, :, r:r + 12, c:c + 12])
    no_gap = patches.relative_position_pairs(x, patch=16, generator=g(1))[3]
    assert ((no_gap[:, 1] - no_gap[:, 0]) == 16 * patches.NEIGHBOURS[patches.relative_position_pairs(
        x, patch=16, generator=g(1))[2]]).all()


def test_drop_channels_keeps_one_channel() -> None:
    p = torch.rand(6, 3, 8, 8, generator=g())
    out = patches.drop_channels(p, generator=g(2))
    kept = [(out[i] == p[i]).flatten(1).all(1) for i in range(6)]
    assert all(k.sum() == 1 for k in kept)
    for i in range(6):
        other = out[i][~kept[i]]
        assert other.std() < p[i][kept[i]].std() / 20


def test_relative_position_net_protocol() -> None:
    torch.manual_seed(0)
    net = patches.RelativePositionNet(encoders.ConvEncoder(width=4), patch=12, gap=2, jitter=1, channel_drop=True)
    loss = net.loss(torch.rand(4, 3, 48, 48))
    assert loss.dim() == 0 and torch.isfinite(loss)
    # on a smooth image with touching patches, matching borders finds the neighbour every time
    ramp = torch.linspace(0, 1, 36)
    smooth = (ramp[:, None] * 0.7 + ramp[None, :] ** 2)[None, None].expand(16, 3, 36, 36)
    a, b, y, _ = patches.relative_position_pairs(smooth, patch=12, generator=g(4))
    assert torch.equal(patches.edge_match_predict(a, b), y)


def test_permutation_sets() -> None:
    best = jigsaw.permutation_set(30, kind="max", generator=g())
    worst = jigsaw.permutation_set(30, kind="min", generator=g())
    rand = jigsaw.permutation_set(30, kind="random", generator=g())
    for p in (best, worst, rand):
        assert p.shape == (30, 9) and len({tuple(r) for r in p.tolist()}) == 30
        assert (p.sort(1).values == torch.arange(9)).all()
    (avg_b, min_b), (avg_w, min_w) = jigsaw.set_stats(best), jigsaw.set_stats(worst)
    assert min_b >= 6 and avg_b > jigsaw.set_stats(rand)[0] - 0.2 and avg_w < avg_b - 3 and min_w == 2
    assert torch.equal(best, jigsaw.permutation_set(30, kind="max", generator=g()))
    assert len(jigsaw.all_permutations(4)) == 24
    with pytest.raises(ValueError, match="only 362,880"):
        jigsaw.permutation_set(math.factorial(9) + 1)
    with pytest.raises(ValueError, match="unknown kind"):
        jigsaw.permutation_set(3, kind="far")


def test_jigsaw_tiles_shuffle_and_net() -> None:
    x = torch.rand(3, 3, 48, 48, generator=g())
    tiles = jigsaw.jigsaw_tiles(x, patch=12, gap=3)
    assert tiles.shape == (3, 9, 3, 12, 12) and torch.equal(tiles[1, 0], x[1, :, 3:15, 3:15])
    perms = jigsaw.permutation_set(5, generator=g())
    label = torch.tensor([0, 3, 4])
    shuffled = jigsaw.shuffle_tiles(tiles, perms, label)
    assert torch.equal(shuffled[1, 2], tiles[1, perms[3, 2]])
    net = jigsaw.JigsawNet(encoders.ConvEncoder(width=4), perms, patch=12, gap=3, jitter=1)
    assert net.loss(x).dim() == 0
    with pytest.raises(ValueError, match="grid"):
        jigsaw.jigsaw_tiles(torch.rand(1, 3, 20, 20), patch=12)
    normed = jigsaw.normalize_tiles(tiles + torch.arange(9.0)[None, :, None, None, None])  # a brightness ramp
    means = normed.mean((3, 4))                                                            # (B, 9, C)
    assert torch.allclose(means, means[:, :1].expand_as(means), atol=1e-5), "every tile gets the puzzle's mean"
    assert torch.allclose(normed - means[..., None, None], tiles - tiles.mean((3, 4), keepdim=True), atol=1e-5)


def test_probing_helpers() -> None:
    torch.manual_seed(0)
    enc = encoders.ConvEncoder(width=4)
    feats = probing.layer_features(enc, torch.rand(5, 3, 16, 16))
    assert [f.shape for f in feats] == [(5, 4), (5, 8), (5, 16), (5, 32)]
    sal = probing.saliency(lambda x: x[:, 0, 2, 3] * 3.0, torch.rand(2, 3, 8, 8))
    assert sal.shape == (2, 8, 8) and sal[0, 2, 3] == 3.0 and sal.sum() == 6.0


def test_fixed_sky_option_puts_light_on_top_only_when_asked() -> None:
    x_fixed, y_fixed = make_shapes(60, 32, seed=3, fixed_sky=True)
    x_rand, y_rand = make_shapes(60, 32, seed=3)
    assert np.array_equal(y_fixed, y_rand)
    brightness = lambda x: (x[:, :4].mean((1, 2, 3)) - x[:, -4:].mean((1, 2, 3)))  # top minus bottom rows
    assert (brightness(x_fixed.astype(float)) > 0).all()
    assert (brightness(x_rand.astype(float)) < 0).any()


def test_conv_encoder_without_batch_norm_keeps_the_default_and_the_shapes() -> None:
    torch.manual_seed(0)
    default = encoders.ConvEncoder(width=4)
    torch.manual_seed(0)
    plain = encoders.ConvEncoder(width=4, batch_norm=False)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in default.modules())      # the default is unchanged
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, torch.nn.Conv2d))
    x = torch.rand(2, 3, 16, 16)
    assert plain(x).shape == default(x).shape == (2, plain.dim)
    assert [f.shape for f in probing.layer_features(plain, x)] == [(2, 4), (2, 8), (2, 16), (2, 32)]


def test_object_masks_match_the_rendered_shapes() -> None:
    from course_lib import data
    for train in (True, False):
        imgs = data.load_images("shapes", train=train, n=40, seed=2, size=24)
        m = probing.object_masks(40, 24, seed=2, train=train)
        assert m.shape == (40, 24, 24) and m.dtype == torch.bool and m.flatten(1).any(1).all()
        x = imgs.x.permute(0, 2, 3, 1)                                                   # (N, H, W, 3)
        for i in range(40):                     # the object's pixels (off its anti-aliased rim) share one colour
            inner = m[i] & ~torch.nn.functional.max_pool2d((~m[i]).float()[None], 3, 1, 1)[0].bool()
            if inner.sum() > 1:
                assert x[i][inner].std(0).max() < 0.02


@pytest.mark.parametrize("upsample", ["bilinear", "transposed"])
def test_decoder_upsample_options_paint_full_images(upsample: str) -> None:
    torch.manual_seed(0)
    model = inpainting.ContextEncoder(encoders.ConvEncoder(width=4), image_size=16, mask="central", hole=8,
                                      adv_weight=0.001, width=4, upsample=upsample)
    x = torch.rand(4, 3, 16, 16, generator=g())
    out = model.inpaint(x, model.masks(4))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    model.loss(x)
    assert set(model.parts) == {"rec", "adv", "disc"} and all(v.dim() == 0 for v in model.parts.values())
    with pytest.raises(ValueError, match="unknown upsample"):
        inpainting.Decoder(8, 16, upsample="cubic")


def test_gradient_energy_is_lower_for_a_blurred_fill() -> None:
    x = (torch.rand(2, 3, 16, 16, generator=g()) > 0.5).float()
    m = masks.central_mask(2, 16, 8)
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    assert inpainting.gradient_energy(blurred, m) < inpainting.gradient_energy(x, m)
    assert inpainting.gradient_energy(torch.full_like(x, 0.3), m) == 0.0
    step = torch.zeros(1, 1, 4, 4)
    step[..., 2:] = 1.0  # one vertical edge of height 1: 4 of the 24 neighbour pairs differ by 1
    assert math.isclose(inpainting.gradient_energy(step, torch.ones(1, 1, 4, 4)), 4 / 24, rel_tol=1e-6)
