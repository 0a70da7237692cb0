"""Projection and prediction heads: the small MLPs every method puts on top of the encoder."""
from __future__ import annotations

from torch import nn


def mlp(dims: list[int], *, bn: bool = True, last_bn: bool = False) -> nn.Sequential:
    """Linear layers through `dims` with (BatchNorm +) ReLU between them; optional BN on the output.

    SimCLR's g(h) = W2 relu(BN(W1 h)) is mlp([d, d, 128]); MoCo v2's is mlp([d, d, 128], bn=False);
    BYOL's projector and predictor are mlp([d, 4096, 256]); SimSiam's projector ends with BN
    (last_bn=True) and its predictor is a bottleneck mlp([d, d // 4, d]).
    """
    if len(dims) < 2 or any(d < 1 for d in dims):
        raise ValueError(f"mlp needs at least an input and an output size, all positive; got {dims}")
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        layers.append(nn.Linear(d_in, d_out, bias=not (bn and (not last or last_bn))))
        if not last:
            layers += [nn.BatchNorm1d(d_out)] if bn else []
            layers.append(nn.ReLU(inplace=True))
        elif last_bn:
            layers.append(nn.BatchNorm1d(d_out, affine=False))
    return nn.Sequential(*layers)
