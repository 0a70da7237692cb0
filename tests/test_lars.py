"""LARS: each weight tensor moves by eta * lr of its norm on the first step; biases take plain SGD."""
from __future__ import annotations

import pytest
import torch

from course_lib.lars import LARS


def test_first_step_moves_each_weight_by_the_same_fraction_and_biases_by_sgd() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    with torch.no_grad():
        net[2].weight.mul_(50.0)                                     # very different weight norms per layer
    before = [p.detach().clone() for p in net.parameters()]
    opt = LARS(net.parameters(), lr=0.5, momentum=0.9, weight_decay=0.0, eta=0.01)
    net(torch.randn(32, 8)).square().mean().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    opt.step()
    for p, w0, g in zip(net.parameters(), before, grads):
        step = (p.detach() - w0).norm() / w0.norm()
        if p.dim() > 1:
            assert step.item() == pytest.approx(0.5 * 0.01, rel=1e-4)   # lr * eta of the weights, whatever |g|
        else:
            assert torch.allclose(p.detach(), w0 - 0.5 * g, atol=1e-6)  # a bias: plain SGD


def test_bad_arguments_are_refused() -> None:
    p = [torch.nn.Parameter(torch.ones(2, 2))]
    for kwargs in ({"lr": 0.0}, {"lr": 0.1, "momentum": 1.0}, {"lr": 0.1, "eta": 0.0}, {"lr": 0.1, "weight_decay": -1}):
        with pytest.raises(ValueError, match="LARS needs"):
            LARS(p, **kwargs)
