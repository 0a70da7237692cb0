"""What a `gpu` row costs: FLOPs per image measured with FlopCounterMode, minutes estimated on a free Colab T4.

The gpu rows of notebooks 07-09 (the SSL stage) are sized with this, so that each notebook fits the
``expected_min`` its banner promises on the GPU a student most often gets: a free Colab T4.

- ``flops_per_image(method)``: FLOPs of one training step per image (forward + backward of
  ``loss(x)``, both views, every target network), counted by torch's FlopCounterMode on the meta
  device (shapes only: a ResNet-18 step is counted in a second on any machine). Optimiser and
  augmentations are not counted (a few percent).
- ``plan(notebook, row)``: the notebook's work, mirrored from its cells: (what, images processed),
  e.g. ("simclr", epochs x training images) per training run and ("embed", images) per evaluation.
- ``t4_minutes(notebook, row)``: total FLOPs / (T4_PEAK x T4_EFFICIENCY).

T4_PEAK is NVIDIA's fp16 tensor-core peak; T4_EFFICIENCY is the fraction of it that a ResNet-18 at
32 px in fp16 with channels_last is assumed to reach (a statement, not a measurement: no T4 was
lent to the course's CI; replace it with a measured figure from benchmarks/ssl_gpu.py when one is).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

T4_PEAK = 65e12          # FLOP/s, fp16 with tensor cores (NVIDIA T4 datasheet)
T4_EFFICIENCY = 0.30     # assumed fraction of peak reached in training (see the module docstring)
CIFAR10 = {"train": 50_000, "test": 10_000}   # the gpu rows' images when n_train / n_test are None


@lru_cache(maxsize=None)
def flops_per_image(method: str, encoder: str = "resnet18", image_size: int = 32, batch: int = 8) -> float:
    """FLOPs of one training step per image of a registered method ("embed": one forward pass of the encoder)."""
    from .vision import encoders, methods

    net = encoders.make_encoder(encoder)
    x = torch.rand(batch, 3, image_size, image_size, device="meta")
    model = None
    if method != "embed":
        model = methods.build(method, net, image_size=image_size)
        if callable(getattr(model, "refresh", None)):   # once per epoch, not per step: outside the count
            model.refresh(torch.rand(batch, 3, image_size, image_size), 0)
        model.to("meta")
    with FlopCounterMode(display=False) as counter:
        if model is None:
            net.to("meta")(x)
        else:
            model.loss(x).backward()
    return counter.get_total_flops() / batch


def plan(notebook: str, row: dict) -> list[tuple[str, float]]:
    """(method or "embed" or "finetune", images processed) for everything notebook 07, 08 or 09 trains and evaluates."""
    n = row["n_train"] or CIFAR10["train"]
    n_eval = n + (row["n_test"] or CIFAR10["test"])           # one score_encoder: embed train + test
    if notebook == "07_simclr":
        k = len(row["grid_ops"])
        # grid cells, temperatures, two losses, h vs g(h): each from small_seeds seeds
        short = (k * (k + 1) // 2 + len(row["taus"]) + 2 + 1) * row.get("small_seeds", 1)
        return [("simclr", 2 * row["epochs"] * n),              # the main run and the run without colour
                ("simclr", short * row["small_epochs"] * row["small_n"]),
                ("embed", (row["epochs"] // row["knn_every"] + 3 + 1 + short) * n_eval)]
    if notebook == "08_moco_byol_simsiam":
        return [*((m, row["epochs"] * n) for m in ("moco", "byol", "simsiam")),
                ("simsiam", 2 * row["collapse_epochs"] * n), ("byol", 2 * row["collapse_epochs"] * n),
                ("embed", (4 + 4) * n_eval)]
    if notebook == "09_evaluation":
        from .vision import methods

        labelled = sum(row["label_fractions"]) * n
        curve = sum(row.get("labels_per_class", ())) * 10                  # 10 classes: the label-efficiency curve
        digits = 1797                                                       # the transfer set, both splits
        return [*((m, row["epochs"] * n) for m in methods.METHODS),
                ("finetune", (len(methods.METHODS) + 1) * row["ft_epochs"] * labelled
                 + row["ft_epochs"] * curve + row["epochs"] * n),          # + the curve's and transfer's supervised nets
                ("embed", (len(methods.METHODS) + 2) * (n_eval + digits))]
    raise ValueError(f"no cost plan for {notebook!r}: plans exist for 07_simclr, 08_moco_byol_simsiam, 09_evaluation")


def total_flops(notebook: str, row: dict) -> float:
    """FLOPs of a notebook's plan (fine-tuning counted as a supervised step: 3 forward passes per image)."""
    encoder = row.get("encoder", "resnet18")
    cost = {"finetune": 3 * flops_per_image("embed", encoder)}
    return sum(images * cost.get(what) if what in cost else images * flops_per_image(what, encoder)
               for what, images in plan(notebook, row))


def t4_minutes(notebook: str, row: dict) -> float:
    """Estimated minutes of the notebook's GPU work on a T4 (see T4_PEAK and T4_EFFICIENCY)."""
    return total_flops(notebook, row) / (T4_PEAK * T4_EFFICIENCY) / 60
