"""The gpu rows keep their word: each SSL notebook's estimated T4 minutes fit the banner's expected_min."""
from __future__ import annotations

import pytest

from course_lib import budgets, profiles


def test_flops_per_image_match_resnet18_by_hand() -> None:
    # ResNet-18 with the CIFAR stem: 0.56 G multiply-adds forward at 32 px = 1.1 GFLOP; a training step is
    # forward + backward (about 3x) on two views: about 6.7 GFLOP for SimCLR; targets add forwards for MoCo/BYOL.
    assert budgets.flops_per_image("embed") == pytest.approx(1.11e9, rel=0.02)
    assert budgets.flops_per_image("simclr") == pytest.approx(6 * 1.11e9, rel=0.02)
    assert budgets.flops_per_image("byol") > budgets.flops_per_image("simclr")


@pytest.mark.parametrize("notebook", ["07_simclr", "08_moco_byol_simsiam", "09_evaluation"])
def test_gpu_row_fits_its_expected_minutes_on_a_t4(notebook: str) -> None:
    row = profiles.budget(notebook, "gpu")
    minutes = budgets.t4_minutes(notebook, row)
    assert minutes <= row["expected_min"], (f"{notebook}'s gpu row needs about {minutes:.0f} min on a T4 but its "
                                            f"banner says {row['expected_min']:g}: shrink the row or raise expected_min")


def test_the_estimate_grows_with_the_row() -> None:
    row = profiles.budget("09_evaluation", "gpu")
    assert budgets.t4_minutes("09_evaluation", {**row, "epochs": 2 * row["epochs"]}) > \
        1.8 * budgets.t4_minutes("09_evaluation", row)
    with pytest.raises(ValueError, match="no cost plan"):
        budgets.plan("00_tour", row)
