"""The InfoNCE bound on Gaussians of known MI: the best critic's estimate stays below the truth and below log N."""
from __future__ import annotations

import math

import pytest
import torch

from course_lib import bounds


def test_pairs_have_the_asked_correlation():
    x, c, rho = bounds.gaussian_pairs(20000, 2, 1.0, torch.Generator().manual_seed(0))
    assert abs(-2 / 2 * math.log(1 - rho ** 2) - 1.0) < 1e-9
    measured = torch.corrcoef(torch.stack([x[:, 0], c[:, 0]]))[0, 1].item()
    assert abs(measured - rho) < 0.02


def test_the_best_critic_is_the_log_density_ratio():
    x, c, rho = torch.randn(3, 2), torch.randn(3, 2), 0.6
    normal = torch.distributions.Normal
    by_hand = torch.empty(3, 3)
    for i in range(3):
        for j in range(3):
            by_hand[i, j] = (normal(rho * x[i], math.sqrt(1 - rho ** 2)).log_prob(c[j]) - normal(0.0, 1.0).log_prob(c[j])).sum()
    torch.testing.assert_close(bounds.best_critic(x, c, rho), by_hand, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n", [4, 64])
def test_the_estimate_is_bounded_by_the_truth_and_by_log_n(n):
    g = torch.Generator().manual_seed(0)
    low = bounds.infonce_estimate(n, 0.5, 4, 4096, g)
    high = bounds.infonce_estimate(n, 12.0, 4, 4096, g)
    assert low <= 0.5 + 0.05 and low > 0.3
    assert high <= math.log(n) + 1e-9 and high > math.log(n) - 0.3


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        bounds.gaussian_pairs(0, 2, 1.0)
    with pytest.raises(ValueError):
        bounds.gaussian_pairs(4, 2, 0.0)
