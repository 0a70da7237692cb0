"""No host-device sync in a training step of any registered method (course_lib.syncs counts them on
the meta device), with the augmentations of every profile; and the counter itself catches syncs."""
from __future__ import annotations

import pytest
import torch

import course_lib
from course_lib import syncs
from course_lib.vision import encoders, methods


@pytest.mark.parametrize("profile", ["ci", "gpu"])
@pytest.mark.parametrize("name", list(methods.METHODS))
def test_every_method_steps_without_a_sync(name: str, profile: str, monkeypatch) -> None:
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    run = course_lib.setup("09_evaluation", profile=profile, quiet=True) if profile == "ci" else None
    options = {"augment_fn": methods.augment_for(run or _gpu_row())} if name in methods.AUGMENTING else {}
    model = methods.build(name, encoders.make_encoder("convnet", width=8), image_size=32, **options)
    report = syncs.count_syncs(model, torch.rand(8, 3, 32, 32))
    assert report.count == 0 and report.complete, f"{name} ({profile} row): {report.ops}"


def _gpu_row():
    """The gpu row's settings without setup() (which would try to download CIFAR-10)."""
    from types import SimpleNamespace

    from course_lib import profiles

    return SimpleNamespace(**profiles.budget("09_evaluation", "gpu"))


@pytest.mark.parametrize("loss", ["nt_xent", "nt_logistic", "margin"])
def test_every_simclr_loss_steps_without_a_sync(loss: str) -> None:
    model = methods.build("simclr", encoders.make_encoder("convnet", width=8), loss=loss)
    report = syncs.count_syncs(model, torch.rand(8, 3, 32, 32))
    assert report.count == 0 and report.complete, report.ops


class _Leaky(torch.nn.Module):
    """A method with the three kinds of sync the counter must see."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.encoder, self.kind = torch.nn.Linear(4, 4), kind

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x.flatten(1)[:, :4])
        if self.kind == "item":
            return z.sum() * float(z.mean())                              # .item() on the device
        if self.kind == "mask":
            return z[z > 0].sum()                                         # boolean-mask indexing
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(0))  # drawn on the host
        return (z + noise.to(z.device)).sum()                             # ... and copied over


@pytest.mark.parametrize("kind", ["item", "mask", "host_rng"])
def test_the_counter_sees_syncs(kind: str) -> None:
    report = syncs.count_syncs(_Leaky(kind), torch.rand(8, 3, 4, 4))
    assert report.count >= 1, kind


def test_the_momentum_update_is_a_few_ops() -> None:
    model = methods.build("moco", encoders.make_encoder("resnet18"))
    assert syncs.count_dispatched(model.momentum_update, 1, 10) <= 10  # not one op per parameter (~250)
