"""LARS (You, Gitman & Ginsburg 2017), the optimiser SimCLR trains with at large batches.

SGD with momentum in which each weight tensor's step is scaled by its *trust ratio*
eta * |w| / |grad w + weight_decay * w|, so that every layer moves by about the same fraction of its
weights whatever the size of its gradient. As in SimCLR (Chen et al. 2020, Appendix B.1), biases and
BatchNorm parameters (every tensor with one dimension) are left out of both the trust ratio and the
weight decay. Notebook 11 compares it with SGD and AdamW at a large batch.
"""
from __future__ import annotations

import torch


class LARS(torch.optim.Optimizer):
    """LARS: SGD with momentum, each weight tensor's update scaled by eta * |w| / |g| (g with weight decay)."""

    def __init__(self, params, lr: float, *, momentum: float = 0.9, weight_decay: float = 1e-6,
                 eta: float = 0.001) -> None:
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0 or eta <= 0:
            raise ValueError(f"LARS needs lr > 0, 0 <= momentum < 1, weight_decay >= 0 and eta > 0; got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}, eta={eta}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if p.dim() > 1:   # a weight tensor: weight decay and the trust ratio
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = p.norm(), g.norm()
                    trust = torch.where((w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, 1.0)
                    g = g * trust
                buf = self.state[p].get("momentum")
                buf = g.clone() if buf is None else buf.mul_(group["momentum"]).add_(g)
                self.state[p]["momentum"] = buf
                p.add_(buf, alpha=-group["lr"])
        return loss
