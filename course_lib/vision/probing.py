"""Looking inside a pretext-trained encoder: probe every block, pretext accuracy, gradient saliency.

`judge` is the one verdict every pretext notebook prints: linear probe and kNN accuracy on the class
labels (through `course_lib.evaluation`) for each encoder, the random-init one beside the trained ones.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .. import evaluation


def judge(encoders: dict[str, nn.Module], train, test, *, device: torch.device | str | None = None,
          seed: int = 0, verbose: bool = True) -> dict[str, dict[str, float]]:
    """Linear-probe and kNN accuracy of each frozen encoder on train/test ImageData: {name: {probe, knn}}."""
    out = {}
    for name, enc in encoders.items():
        z_train = evaluation.embed(enc, train.x, device=device)  # (N, D)
        z_test = evaluation.embed(enc, test.x, device=device)
        out[name] = {"probe": evaluation.linear_probe(z_train, train.y, z_test, test.y, seed=seed),
                     "knn": evaluation.knn(z_train, train.y, z_test, test.y)}
        if verbose:
            print(f"{name:>28}: linear probe {out[name]['probe']:6.1%}   kNN {out[name]['knn']:6.1%}")
    return out


def blocks_of(encoder: nn.Module) -> list[nn.Module]:
    """The stages of an encoder, input to output (its `features` Sequential, or `stages`)."""
    for attr in ("features", "stages"):
        seq = getattr(encoder, attr, None)
        if isinstance(seq, nn.Sequential):
            return list(seq)
    raise AttributeError(f"{type(encoder).__name__} has no `features` or `stages` Sequential to probe block by block")


@torch.no_grad()
def layer_features(encoder: nn.Module, x: torch.Tensor, *, batch_size: int = 512,
                   device: torch.device | str | None = None) -> list[torch.Tensor]:
    """Globally average-pooled output of every block: a list of (N, C_l) CPU tensors, input to output."""
    blocks = blocks_of(encoder)
    device = device or next(encoder.parameters()).device
    was = encoder.training
    encoder.eval()
    feats: list[list[torch.Tensor]] = [[] for _ in blocks]
    try:
        for i in range(0, len(x), batch_size):
            h = x[i:i + batch_size].to(device)
            for l, block in enumerate(blocks):
                h = block(h)                                   # (b, C_l, H_l, W_l)
                feats[l].append(h.mean((2, 3)).float().cpu())  # (b, C_l)
    finally:
        encoder.train(was)
    return [torch.cat(f) for f in feats]


def probe_per_layer(encoder: nn.Module, train, test, *, device=None, seed: int = 0) -> list[float]:
    """Linear-probe accuracy of the pooled output of each block."""
    tr = layer_features(encoder, train.x, device=device)
    te = layer_features(encoder, test.x, device=device)
    return [evaluation.linear_probe(a, train.y, b, test.y, seed=seed) for a, b in zip(tr, te)]


@torch.no_grad()
def pretext_accuracy(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256, seed: int = 0) -> float:
    """Accuracy of a model's `logits_and_labels(x, generator)` on held-out images, with a fixed seed."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    correct = 0
    try:
        for i in range(0, len(x), batch_size):
            logits, y = model.logits_and_labels(x[i:i + batch_size].to(device), generator=g)
            correct += (logits.argmax(1) == y).sum().item()
    finally:
        model.train(was)
    return correct / len(x)


def object_masks(n: int, size: int = 32, seed: int = 0, *, train: bool = True) -> torch.Tensor:
    """The object's mask of every image that data.load_images("shapes", train=train, n=n, seed=seed, size=size)
    returns: (N, S, S) bool, True where the shape covers at least half of the pixel: the generator's own
    coverage of the factors it drew (data.shapes.coverage of split_factors), exact, not guessed from colours.
    The same masks fit "shapes_plain" and "shapes_colour" (their shapes and poses are drawn alike)."""
    from ..data import shapes

    return torch.from_numpy(shapes.coverage(shapes.split_factors(n, seed, train=train), size) >= 0.5)


def saliency(score: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """|d score / d pixel|, max over colour channels (Simonyan et al. 2014): (B, C, H, W) -> (B, H, W)."""
    x = x.detach().clone().requires_grad_(True)
    s = score(x)  # (B,) one scalar per image
    (grad,) = torch.autograd.grad(s.sum(), x)
    return grad.abs().amax(1)
