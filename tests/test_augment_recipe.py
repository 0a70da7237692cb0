"""Augmentation recipes against torchvision, and training steps without host-device syncs (issue 17)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from course_lib import profiles, syncs
from course_lib.vision import augment, encoders, jigsaw, masks, methods, patches

PRETEXT = ("rotation", "context_encoder", "relative_position", "jigsaw")


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def fingerprint(t: torch.Tensor) -> list[float]:
    """Sum and a sine-weighted sum of a tensor: changes with any value or order, not with float rounding."""
    t = t.detach().double().flatten()
    return [t.sum().item(), (t * torch.arange(1, len(t) + 1, dtype=torch.float64).sin()).sum().item()]


# Fingerprints of the default (ci) behaviour, recorded with the code before issue 17 (commit 54a30fa).
BEFORE = {"simclr_g": [23114.600527, 2.885398], "simclr_rot_global": [25595.039895, -14.435015],
          "op_crop": [24626.677261, -41.888234], "op_colour": [25183.202829, 20.188235],
          "op_blur": [24599.852406, 4.067071], "op_rotate": [24599.309952, 56.672739],
          "op_noise": [24587.783288, 23.754736], "op_cutout": [24610.10747, 43.844316],
          "rp_a": [3450.51039, -6.939029], "rp_b": [3449.49131, 36.199731], "rp_y": [66.0, 7.731602],
          "rp_pos": [1239.0, 72.645001], "rp_drop": [3428.361249, -1.357278], "rpg_y": [59.0, -3.057542],
          "rpg_pos": [1172.0, 91.220561], "rpg_drop": [3491.193473, -25.31353], "jig_tiles": [31137.747688, -3.959643],
          "mask_block_g": [1849.0, 8.863917], "mask_block_global": [1834.0, 22.632845],
          "mask_region_g": [2048.0, -40.878349], "mask_region_global": [2048.0, -20.401252],
          "loss_context_encoder": [0.094605, 0.079607],
          "loss_relative_position": [2.083077, 1.752849], "loss_jigsaw": [3.23211, 2.719726],
          "jig_labels": [365.0, -34.539209]}


def _default_outputs() -> dict[str, torch.Tensor]:
    """The outputs BEFORE was recorded from: every default random draw of augment and the pretext tasks."""
    out = {}
    x = torch.rand(16, 3, 32, 32, generator=g(0))
    x48 = torch.rand(16, 3, 48, 48, generator=g(1))
    out["simclr_g"] = augment.simclr_augment()(x, g(0))
    torch.manual_seed(1)
    out["simclr_rot_global"] = augment.simclr_augment(rotate=True)(x)
    for name, op in augment.OPS.items():
        out[f"op_{name}"] = op(x, g(2))
    torch.manual_seed(3)
    a, b, y, pos = patches.relative_position_pairs(x48, patch=12, gap=4, jitter=2)
    out.update(rp_a=a, rp_b=b, rp_y=y, rp_pos=pos, rp_drop=patches.drop_channels(a))
    gen = g(4)
    a, b, y, pos = patches.relative_position_pairs(x48, patch=12, gap=4, jitter=2, generator=gen)
    out.update(rpg_y=y, rpg_pos=pos, rpg_drop=patches.drop_channels(b, generator=gen))
    out["jig_tiles"] = jigsaw.jigsaw_tiles(x48, patch=12, gap=3, jitter=2, generator=g(5))
    for kind in ("block", "region"):
        out[f"mask_{kind}_g"] = masks.make_mask(kind, 8, 32, 16, generator=g(6))
        torch.manual_seed(7)
        out[f"mask_{kind}_global"] = masks.make_mask(kind, 8, 32, 16)
    for name in PRETEXT[1:]:  # rotation draws no random numbers
        torch.manual_seed(8)
        model = methods.build(name, encoders.make_encoder("convnet", width=8), image_size=32)
        out[f"loss_{name}"] = model.loss(x)
        if name == "jigsaw":
            torch.manual_seed(9)
            out["jig_labels"] = model.logits_and_labels(x)[1]
    return out


def test_ci_defaults_draw_the_same_numbers_as_before() -> None:
    got = {k: fingerprint(v) for k, v in _default_outputs().items()}
    assert got.keys() == BEFORE.keys()
    for key, value in BEFORE.items():
        assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-3), key


def _sync_report(fn, x: torch.Tensor) -> syncs.SyncReport:
    """The syncs of fn(x) on meta tensors (Python-data copies, host reads, host-device mixes)."""
    report, x = syncs.SyncReport(), x.to(syncs.DEVICE)
    try:
        with syncs._Creations(report), syncs._Watch(report):
            fn(x)
    except syncs._StopStep:
        report.complete = False
    return report


@pytest.mark.parametrize("name", PRETEXT)
def test_pretext_steps_do_not_sync(name: str) -> None:
    model = methods.build(name, encoders.make_encoder("convnet", width=8), image_size=32)
    report = syncs.count_syncs(model, torch.rand(8, 3, 32, 32))
    assert report.complete and report.count == 0, report.ops


@pytest.mark.parametrize("recipe", list(augment.RECIPES))
def test_augmentations_do_not_sync(recipe: str) -> None:
    pipeline = augment.simclr_augment(recipe, rotate=True)
    for _ in range(2):  # the first call on a device also builds the cached colour constants
        report = _sync_report(pipeline, torch.rand(8, 3, 32, 32))
        assert report.complete and report.count == 0, report.ops


def test_torchvision_crop_matches_torchvision_area_distribution() -> None:
    x = torch.zeros(4000, 3, 32, 32)
    ours = augment.crop_boxes(x, g(0), scale=(0.08, 1.0), crop="torchvision")                   # (N, 4)
    clamp = augment.crop_boxes(x, g(0), scale=(0.08, 1.0), crop="clamp")
    torch.manual_seed(0)
    rrc = v2.RandomResizedCrop(32, scale=(0.08, 1.0))
    sample = getattr(rrc, "make_params", None) or rrc._get_params  # make_params since torchvision 0.21
    params = [sample([x[0]]) for _ in range(4000)]
    theirs = torch.tensor([p["height"] * p["width"] / 1024 for p in params])
    area = ours[:, 2] * ours[:, 3]
    assert abs(area.mean() - theirs.mean()) < 0.02
    assert abs(area.median() - theirs.median()) < 0.03
    assert (clamp[:, 2] * clamp[:, 3]).mean() > theirs.mean() + 0.02  # clamping the sides favours big crops
    # Whole pixels, inside the image: left = (cx + 1 - w) * 32 / 2 is a whole number >= 0.
    assert torch.allclose(ours[:, 2:] * 32, (ours[:, 2:] * 32).round(), atol=1e-4)
    left = (ours[:, :2] + 1 - ours[:, 2:]) * 16
    assert torch.allclose(left, left.round(), atol=1e-3)
    assert left.min() > -1e-4 and (left + ours[:, 2:] * 32).max() < 32 + 1e-3


def test_torchvision_crop_falls_back_to_a_central_crop() -> None:
    # Areas above the image's never fit: torchvision then takes the whole width, height clamped to ratio 2.
    box = augment.crop_boxes(torch.zeros(5, 3, 32, 32), g(0), scale=(1.2, 1.5), ratio=(2.0, 3.0), crop="torchvision")
    assert torch.allclose(box, torch.tensor([0.0, 0.0, 1.0, 0.5]).expand(5, 4))
    with pytest.raises(ValueError, match="unknown crop"):
        augment.random_resized_crop(torch.zeros(1, 3, 8, 8), crop="pil")


def test_hsv_hue_shift_matches_torchvision_adjust_hue() -> None:
    x = torch.rand(4, 3, 12, 12, generator=g(1))
    x[0] = 0.5                     # grey: no hue at all
    x[1, :, :3] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]  # saturated red rows
    for turn in (-0.5, -0.2, 0.0, 0.07, 0.33, 0.5):
        ours = augment._hue_shift_hsv(x, torch.full((4,), turn))
        theirs = torch.stack([TF.adjust_hue(im, turn) for im in x])
        assert torch.allclose(ours, theirs, atol=1e-5), turn


def test_random_order_jitter_follows_a_drawn_order_per_image(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fixed factors, so each output depends only on its image's order; the order is the jitter's first draw.
    factors = torch.tensor([1.6, 0.5, 1.8, 0.2])
    monkeypatch.setattr(augment, "_jitter_factors", lambda b, *_: factors.expand(b, 4))
    x = torch.rand(1, 3, 10, 10, generator=g(2)).expand(64, -1, -1, -1).contiguous()
    out = augment.color_jitter(x, g(3), p=1.0, order="random", hue_space="hsv")
    order = torch.rand((64, 4), generator=g(3)).argsort(1)                                 # (64, 4)
    assert len({tuple(o) for o in order.tolist()}) > 10
    ops = [lambda im: TF.adjust_brightness(im, 1.6), lambda im: TF.adjust_contrast(im, 0.5),
           lambda im: TF.adjust_saturation(im, 1.8), lambda im: TF.adjust_hue(im, 0.2)]
    for im, got, o in zip(x, out, order.tolist()):
        want = im
        for k in o:
            want = ops[k](want)
        assert torch.allclose(got, want, atol=2e-3), o  # torchvision's grey weighs red 0.2989, ours 0.299
    assert (out - out[:1]).abs().amax((1, 2, 3)).max() > 0.05  # the order changes the result


def test_recipes_settings_and_errors() -> None:
    assert augment.recipe_settings()["crop"] == "clamp" and augment.recipe_settings()["blur"]
    paper = augment.simclr_augment("simclr")
    assert paper.settings["scale"] == (0.08, 1.0) and not paper.settings["blur"]
    assert paper.settings["order"] == "random" and paper.settings["hue_space"] == "hsv"
    assert augment.RECIPES["byol_view2"]["solarize_p"] == 0.2 and augment.RECIPES["byol_view1"]["blur_p"] == 1.0
    x = torch.rand(6, 3, 16, 16)
    for recipe in augment.RECIPES:
        v = augment.simclr_augment(recipe)(x, g(0))
        assert v.shape == x.shape and 0 <= v.min() and v.max() <= 1, recipe
    assert torch.equal(augment.solarize(x, p=1.0), torch.where(x >= 0.5, 1 - x, x))
    with pytest.raises(ValueError, match="unknown augmentation recipe"):
        augment.simclr_augment("mocov3")
    with pytest.raises(TypeError, match="unknown augmentation setting"):
        augment.simclr_augment("simclr", solarise=0.1)
    with pytest.raises(ValueError, match="unknown order"):
        augment.color_jitter(x, order="shuffled")


def test_profiles_choose_the_recipe() -> None:
    for profile, recipe in (("ci", "course"), ("cpu", "course"), ("gpu", "simclr")):
        run = SimpleNamespace(**profiles.budget("07_simclr", profile))
        assert methods.augment_for(run).settings["recipe"] == recipe, profile
    run = SimpleNamespace(**profiles.budget("07_simclr", "gpu"))
    assert not methods.augment_for(run, colour=False).settings["colour"]  # options still override
