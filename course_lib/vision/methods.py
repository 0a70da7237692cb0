"""The ONE registry of self-supervised methods: build any of them from an encoder and train it with one call.

Every method (the contrastive and non-contrastive ones of notebooks 07-08, the pretext tasks of
notebooks 00 and 04-06, colorization, DeepCluster and CPC of notebooks 10-11) is an nn.Module with
``.encoder`` (the network we keep) and ``loss(x)`` (its training loss on a batch of unlabelled images).
Optional parts of the protocol, each used by train():
- ``momentum_update(step, total_steps)``: a momentum/EMA target (MoCo, BYOL), after every step;
- ``refresh(x, epoch)``: targets computed from the whole training set (DeepCluster's clusters,
  colorization's bin frequencies), before every epoch;
- ``per_image = True``: loss(x, index) also gets the batch's indices into x (DeepCluster's labels);
- ``sampling_weights`` (N,) or None, read after every refresh: draw the epoch's images in proportion to them.
So notebook 09 and the benchmarks train all of them with

    model = methods.build("byol", encoders.ConvEncoder(width=32))
    history = methods.train(model, x_unlabelled, epochs=..., batch_size=..., lr=...)

The pretext tasks that cut images into a grid or a hole need the images' size, so the uniform call
is ``methods.build(name, encoder, image_size=32)`` (the other methods ignore it).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .. import distributed, runtime, training
from . import augment
from .byol import BYOL
from .colorization import ABBins, Colorizer
from .cpc import CPC
from .deepcluster import DeepCluster
from .encoders import with_in_channels
from .inpainting import ContextEncoder
from .jigsaw import JigsawNet, permutation_set
from .moco import MoCo
from .patches import RelativePositionNet
from .pretext import RotationNet
from .simclr import SimCLR
from .simsiam import SimSiam


def grid_geometry(image_size: int) -> dict[str, int]:
    """Patch, gap and jitter of a 3x3 grid that fills an image (32 px: 8/2/1, 48 px: 12/4/2, as notebook 05)."""
    patch = image_size // 4
    if patch < 4:
        raise ValueError(f"a 3x3 grid of patches needs images of at least 16 pixels, got {image_size}")
    return {"patch": patch, "gap": patch // 3, "jitter": patch // 6}


def _context_encoder(encoder: nn.Module, *, image_size: int, mask: str = "region", **options) -> nn.Module:
    """Pathak et al.'s context encoder with the random-region mask, the lecture's first for transfer (notebook 04)."""
    return ContextEncoder(encoder, image_size=image_size, mask=mask, **options)


def _relative_position(encoder: nn.Module, *, image_size: int, **options) -> nn.Module:
    """Doersch et al.'s relative position with all three shortcut defences of notebook 05 switched on."""
    return RelativePositionNet(encoder, **{**grid_geometry(image_size), "channel_drop": True,
                                           "pairs_per_image": 8, **options})


def _jigsaw(encoder: nn.Module, *, image_size: int, n_perms: int = 24, seed: int = 0, **options) -> nn.Module:
    """Noroozi & Favaro's jigsaw with a greedy maximal-Hamming permutation set of n_perms."""
    perms = permutation_set(n_perms, kind="max", generator=torch.Generator().manual_seed(seed))
    return JigsawNet(encoder, perms, **{**grid_geometry(image_size), "puzzles_per_image": 2, **options})


def _colorization(encoder: nn.Module, *, bin_size: float = 10.0, **options) -> nn.Module:
    """Zhang et al.'s colorization with the classification loss over the in-gamut ab bins, rebalanced on the
    training images when training starts; the encoder is given a one-channel input (the lightness)."""
    return Colorizer(with_in_channels(encoder, 1), bins=ABBins.in_gamut(bin_size=bin_size), fit_bins=True, **options)


def _deepcluster(encoder: nn.Module, **options) -> nn.Module:
    """Caron et al.'s DeepCluster on Sobel-filtered input, with both fixes and the paper's crops and flips."""
    return DeepCluster(encoder, **{"augment_fn": augment.crop_flip, **options})


def _cpc(encoder: nn.Module, *, image_size: int, patch: int = 8, steps: int = 2, **options) -> nn.Module:
    """CPC on 8-pixel patches side by side (the paper's overlap by half costs 3x more on 32-pixel images; it is
    used where side by side leaves too few rows to predict `steps` ahead), negatives from the same image: in
    notebook 11 they taught the encoder more than negatives at the same position of other images (the other
    half of the paper's set), which a patch's background tells apart."""
    stride = patch if image_size // patch > steps else max(1, patch // 2)
    return CPC(encoder, **{"patch": patch, "stride": stride, "steps": steps, "negatives": "image", **options})


# name -> constructor(encoder, **options) -> model following the protocol above.
METHODS: dict[str, Callable[..., nn.Module]] = {
    "rotation": RotationNet,
    "context_encoder": _context_encoder,
    "relative_position": _relative_position,
    "jigsaw": _jigsaw,
    "simclr": SimCLR,
    "moco": MoCo,
    "byol": BYOL,
    "simsiam": SimSiam,
    "colorization": _colorization,
    "deepcluster": _deepcluster,
    "cpc": _cpc,
}
NEED_SIZE = ("context_encoder", "relative_position", "jigsaw", "cpc")  # they cut the images into a grid or a hole
AUGMENTING = ("simclr", "moco", "byol", "simsiam")  # the methods that learn from two augmented views


def build(name: str, encoder: nn.Module, *, image_size: int | None = None, **options) -> nn.Module:
    """Build method `name` around `encoder`; options go to its constructor (e.g. tau=0.2).

    image_size is a fact about the data, not an option: the methods that cut a grid or a hole need
    it, the others ignore it, so one call builds any method: build(name, encoder, image_size=32).
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; registered methods: {', '.join(METHODS)}")
    if not hasattr(encoder, "dim"):
        raise AttributeError("the encoder needs a .dim attribute (its output size), like those from "
                             "course_lib.vision.encoders")
    if name in NEED_SIZE:
        if image_size is None:
            raise TypeError(f"{name} cuts the images into a grid or a hole, so it needs their size: "
                            f"methods.build({name!r}, encoder, image_size=32)")
        options["image_size"] = image_size
    return METHODS[name](encoder, **options)


def _ssl_loss(model: nn.Module, batch: tuple) -> torch.Tensor:
    """fit()'s loss function for any registered method: the model's own loss on the images (and their indices)."""
    return model.loss(*batch)


def _momentum(model: nn.Module, step: int, total_steps: int) -> None:
    """fit()'s per-step hook: the momentum/EMA target update of MoCo and BYOL."""
    model.momentum_update(step, total_steps)


def plain_step(model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer, step: int,
               total_steps: int) -> torch.Tensor:
    """One bare training step of a method (loss, backward, optimiser step, momentum update); return the loss.

    fit() adds autocast, loss scaling and the lr schedule around the same sequence; the sync
    counter (course_lib.syncs) and the DDP check (course_lib.distributed) use this bare one.
    """
    loss = model.loss(x)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if hasattr(model, "momentum_update"):
        _momentum(model, step, total_steps)
    return loss


def train(model: nn.Module, x: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
          warmup_epochs: float = 0.0, seed: int = 0, device: torch.device | str | None = None,
          time_budget_s: float | None = None, desc: str | None = None, progress: bool = True,
          checkpoint=None, amp: bool | None = None, compile: bool = False,
          callback: Callable[[nn.Module, int, int], None] | None = None, schedule: str | None = "cosine",
          optimizer: torch.optim.Optimizer | None = None) -> training.History:
    """Train a registered method on unlabelled images x (N, C, H, W) with warmup + cosine lr; return the History.

    The device defaults to the run's (course_lib.setup). callback(model, step, total_steps) runs after
    every step (after the momentum update), e.g. to evaluate kNN accuracy at the end of each epoch.
    compile=True compiles the encoder (in place: state_dict keys stay the same) and the augmentations
    with torch.compile; the first epoch pays the compilation. optimizer: one built on model's parameters
    (default: fit's AdamW at lr; e.g. lars.LARS); the schedule scales its learning rates.
    """
    if not callable(getattr(model, "loss", None)) or not hasattr(model, "encoder"):
        raise TypeError(f"{type(model).__name__} does not follow the method protocol (.encoder and loss(x)); "
                        "build it with methods.build(name, encoder)")
    device = runtime.resolve_device(device, model)
    if compile:
        inner = distributed.unwrap(model)  # under DDP the attributes live on the wrapped method
        inner.encoder.compile()
        if callable(getattr(inner, "augment", None)):
            inner.augment = torch.compile(inner.augment)
    inner = distributed.unwrap(model)
    refresh = getattr(inner, "refresh", None)
    index = (torch.arange(len(x)),) if getattr(inner, "per_image", False) else ()
    # drop_last: every batch has the same size (MoCo's queue takes whole batches; BatchNorm needs > 1).
    batches = training.DeviceLoader(x, *index, batch_size=batch_size, seed=seed, drop_last=True, device=device)

    def refresh_for(epoch: int) -> None:
        refresh(x, epoch)
        batches.weights = getattr(inner, "sampling_weights", None)   # e.g. uniform over DeepCluster's clusters

    if refresh is not None:
        refresh_for(0)   # before the optimiser is made: a refresh may size the model's head
    momentum = hasattr(model, "momentum_update")

    def hook(m: nn.Module, step: int, total: int) -> None:
        if momentum:
            _momentum(m, step, total)
        if refresh is not None and step % len(batches) == 0 and step < total:
            refresh_for(step // len(batches))
        if callback is not None:
            callback(m, step, total)
    hooked = momentum or callback is not None or refresh is not None
    return training.fit(model, _ssl_loss, batches, epochs=epochs, lr=lr, optimizer=optimizer, device=device,
                        on_step=hook if hooked else None, schedule=schedule,
                        warmup_steps=int(warmup_epochs * len(batches)), time_budget_s=time_budget_s,
                        desc=desc or type(model).__name__, progress=progress, checkpoint=checkpoint, amp=amp)


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


def augment_for(run, **options) -> augment.Compose:
    """The augmentations as the run's profile sets them (run.augment_recipe, run.rotate_views); options override."""
    return augment.simclr_augment(getattr(run, "augment_recipe", "course"),
                                  **{"rotate": getattr(run, "rotate_views", False), **options})


def build_for(run, name: str, **options) -> nn.Module:
    """Build method `name` as the run's profile says, on the run's device: its encoder, image size, augmentations, MoCo queue.

    Options override those defaults: build_for(run, "simclr", tau=0.1). Notebooks 07-09 and the
    benchmarks build every model through this one call. Where the profile keeps the images' own size
    (run.image_size None, as on the gpu rows), pass it: build_for(run, "jigsaw", image_size=x.shape[-1]).
    """
    defaults: dict = {"image_size": run.image_size}
    if name in AUGMENTING:
        defaults["augment_fn"] = augment_for(run)
    if name == "simclr" and hasattr(run, "tau"):
        defaults["tau"] = run.tau
    if name == "context_encoder" and run.encoder == "convnet":
        defaults["width"] = run.width   # the decoder as wide as the encoder (its default, 32, is for the gpu rows)
    if name == "byol" and hasattr(run, "byol_tau"):
        defaults["tau_base"] = run.byol_tau
    if name == "moco" and hasattr(run, "moco_queue"):
        defaults["queue_size"] = run.moco_queue
    if name == "deepcluster":
        defaults.update({key: getattr(run, f"dc_{short}") for key, short in
                         (("k", "k"), ("pca_dim", "pca"), ("epochs_per_round", "epochs")) if hasattr(run, f"dc_{short}")})
    if name == "cpc":
        defaults.update({key: getattr(run, f"cpc_{key}") for key in ("patch", "stride", "steps") if hasattr(run, f"cpc_{key}")})
    if name == "colorization" and hasattr(run, "ab_bin"):
        defaults["bin_size"] = run.ab_bin
    return build(name, encoder_for(run), **{**defaults, **options}).to(run.device)


def encoder_for(run) -> nn.Module:
    """The encoder a notebook's profile names, on the run's device: run.encoder ("convnet" of run.width, or "resnet18")."""
    from .encoders import make_encoder

    return make_encoder(run.encoder, **({"width": run.width} if run.encoder == "convnet" else {})).to(run.device)
