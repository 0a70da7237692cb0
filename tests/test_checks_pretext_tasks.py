"""The exercise-05 checks pass correct answers and fail broken ones (issue 9)."""
from __future__ import annotations

import pytest
import torch

from _tools import own_copy
from course_lib import checks
from course_lib.vision import inpainting, patches


def _sampler(x, patch, gap, jitter, generator=None):
    return own_copy(patches.relative_position_pairs)(x, patch=patch, gap=gap, jitter=jitter, generator=generator)


def _greedy(pool, n, first=0):
    chosen, d = [first], (pool != pool[first]).sum(1)
    for _ in range(n - 1):
        s = d.clone()
        s[chosen] = -1
        chosen.append(int(s.argmax()))
        d = torch.minimum(d, (pool != pool[chosen[-1]]).sum(1))
    return pool[chosen]


def test_correct_answers_pass(capsys) -> None:
    checks.masked_reconstruction_loss(own_copy(inpainting.masked_l2))
    checks.greedy_hamming(_greedy)
    checks.relative_position_sampler(_sampler)
    assert "FAIL" not in capsys.readouterr().out


@pytest.mark.parametrize("broken", [
    lambda x_hat, x, m: ((x_hat - x) ** 2).mean(),                       # counts the context
    lambda x_hat, x, m: ((x_hat - x) ** 2 * m).sum(),                     # not normalised
])
def test_broken_loss_fails(broken) -> None:
    with pytest.raises(AssertionError):
        checks.masked_reconstruction_loss(broken)


def test_broken_greedy_and_sampler_fail() -> None:
    with pytest.raises(AssertionError):
        checks.greedy_hamming(lambda pool, n, first=0: pool[first:first + n])  # consecutive rows: close together
    with pytest.raises(AssertionError):  # labels shuffled: positions no longer match labels
        checks.relative_position_sampler(lambda x, p, g, j, generator=None: (
            lambda o: (o[0], o[1], (o[2] + 1) % 8, o[3]))(_sampler(x, p, g, j, generator)))
    with pytest.raises(AssertionError):
        checks.relative_position_sampler(lambda *a, **k: (_ for _ in ()).throw(NotImplementedError()))
