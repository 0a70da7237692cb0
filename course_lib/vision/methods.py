"""The ONE registry of self-supervised methods: build any of them from an encoder and train it with one call.

Every method is an nn.Module with ``.encoder`` (the network we keep) and ``loss(x)`` (its training
loss on a batch of unlabelled images); methods with a momentum/EMA target also have
``momentum_update(step, total_steps)``. So notebook 09 and the benchmarks train all of them with

    model = methods.build("byol", encoders.ConvEncoder(width=32))
    history = methods.train(model, x_unlabelled, epochs=..., batch_size=..., lr=...)
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .. import training
from .byol import BYOL
from .moco import MoCo
from .pretext import RotationNet
from .simclr import SimCLR
from .simsiam import SimSiam

# name -> constructor(encoder, **options) -> model following the protocol above.
METHODS: dict[str, Callable[..., nn.Module]] = {
    "rotation": RotationNet,
    "simclr": SimCLR,
    "moco": MoCo,
    "byol": BYOL,
    "simsiam": SimSiam,
}


def build(name: str, encoder: nn.Module, **options) -> nn.Module:
    """Build method `name` around `encoder`; options go to its constructor (e.g. tau=0.2)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; registered methods: {', '.join(METHODS)}")
    if not hasattr(encoder, "dim"):
        raise AttributeError("the encoder needs a .dim attribute (its output size), like those from "
                             "course_lib.vision.encoders")
    return METHODS[name](encoder, **options)


def _ssl_loss(model: nn.Module, batch: tuple) -> torch.Tensor:
    """fit()'s loss function for any registered method: the model's own loss on the images."""
    return model.loss(batch[0])


def _momentum(model: nn.Module, step: int, total_steps: int) -> None:
    """fit()'s per-step hook: the momentum/EMA target update of MoCo and BYOL."""
    model.momentum_update(step, total_steps)


def train(model: nn.Module, x: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
          warmup_epochs: float = 0.0, seed: int = 0, device: torch.device | str | None = None,
          time_budget_s: float | None = None, desc: str | None = None, progress: bool = True,
          checkpoint=None, amp: bool | None = None,
          callback: Callable[[nn.Module, int, int], None] | None = None) -> training.History:
    """Train a registered method on unlabelled images x (N, C, H, W) with warmup + cosine lr; return the History.

    callback(model, step, total_steps) runs after every step (after the momentum update), e.g. to
    evaluate kNN accuracy at the end of each epoch.
    """
    if not callable(getattr(model, "loss", None)) or not hasattr(model, "encoder"):
        raise TypeError(f"{type(model).__name__} does not follow the method protocol (.encoder and loss(x)); "
                        "build it with methods.build(name, encoder)")
    if device is None:
        device = next(model.parameters()).device
    # drop_last: every batch has the same size (MoCo's queue takes whole batches; BatchNorm needs > 1).
    batches = training.DeviceLoader(x, batch_size=batch_size, seed=seed, drop_last=True, device=device)
    momentum = hasattr(model, "momentum_update")

    def hook(m: nn.Module, step: int, total: int) -> None:
        if momentum:
            _momentum(m, step, total)
        if callback is not None:
            callback(m, step, total)
    return training.fit(model, _ssl_loss, batches, epochs=epochs, lr=lr, device=device, on_step=hook if momentum or callback else None,
                        schedule="cosine", warmup_steps=int(warmup_epochs * len(batches)),
                        time_budget_s=time_budget_s, desc=desc or type(model).__name__, progress=progress,
                        checkpoint=checkpoint, amp=amp)


class KnnMonitor:
    """A train() callback that measures kNN accuracy of model.encoder every `every_steps` steps."""

    def __init__(self, train, test, every_steps: int, *, k: int = 20) -> None:
        from .. import evaluation  # imported here: evaluation is only needed when monitoring

        if every_steps < 1:
            raise ValueError(f"every_steps must be positive, got {every_steps}")
        self._evaluation, self.train, self.test, self.every, self.k = evaluation, train, test, every_steps, k
        self.steps: list[int] = []
        self.accuracy: list[float] = []

    def __call__(self, model: nn.Module, step: int, total_steps: int) -> None:
        """Evaluate at every `every_steps`-th step (embed() restores training mode afterwards)."""
        if step % self.every == 0 or step == total_steps:
            self.steps.append(step)
            self.accuracy.append(self._evaluation.score_encoder(model.encoder, self.train, self.test,
                                                                k=self.k, probe=False)["knn"])


def encoder_for(run) -> nn.Module:
    """The encoder a notebook's profile names: run.encoder ("convnet" of run.width, or "resnet18")."""
    from .encoders import make_encoder

    return make_encoder(run.encoder, **({"width": run.width} if run.encoder == "convnet" else {}))
