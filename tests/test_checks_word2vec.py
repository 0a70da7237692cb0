"""The word2vec checks pass a correct answer and fail the usual mistakes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from _tools import own_copy
from course_lib import checks
from course_lib.text import vectors, word2vec


def test_negative_sampling_checks_pass_the_library_loss(capsys) -> None:
    checks.negative_sampling_loss(own_copy(word2vec.ns_loss))
    assert "All 6 checks passed" in capsys.readouterr().out


def _summed(W_in, W_out, c, o, n):
    return word2vec.ns_loss(W_in, W_out, c, o, n) * len(c)


def _unstable(W_in, W_out, c, o, n):
    w = W_in[c]
    neg = (W_out[n] * w.unsqueeze(1)).sum(-1)
    return -(torch.log(torch.sigmoid((w * W_out[o]).sum(-1))) + torch.log(torch.sigmoid(-neg)).sum(1)).mean()


def _wrong_sign(W_in, W_out, c, o, n):
    w = W_in[c]
    neg = (W_out[n] * w.unsqueeze(1)).sum(-1)
    return -(F.logsigmoid((w * W_out[o]).sum(-1)) + F.logsigmoid(neg).sum(1)).mean()


def _detached(W_in, W_out, c, o, n):
    return word2vec.ns_loss(W_in.detach(), W_out.detach(), c, o, n)


@pytest.mark.parametrize("wrong, failing", [(_summed, "formula"), (_unstable, "finite"), (_wrong_sign, "noise"),
                                            (_detached, "gradient")])
def test_negative_sampling_checks_catch_mistakes(wrong, failing, capsys) -> None:
    with pytest.raises(AssertionError):
        checks.negative_sampling_loss(wrong)
    fails = [l for l in capsys.readouterr().out.splitlines() if "FAIL" in l]
    assert any(failing in l for l in fails), fails


def _library_solver(V, words, a, b, c):
    return own_copy(vectors.analogy)(vectors.WordVectors(words, V), a, b, c)[0][0]


def _no_exclusion(V, words, a, b, c):
    i = {w: k for k, w in enumerate(words)}
    u = F.normalize(V, dim=1)
    return words[int((u @ (u[i[b]] - u[i[a]] + u[i[c]])).argmax())]


def _dot_product(V, words, a, b, c):
    i = {w: k for k, w in enumerate(words)}
    s = V @ (V[i[b]] - V[i[a]] + V[i[c]])
    s[[i[a], i[b], i[c]]] = -float("inf")
    return words[int(s.argmax())]


def test_analogy_checks(capsys) -> None:
    checks.analogy_solver(_library_solver)
    assert "All 5 checks passed" in capsys.readouterr().out
    for wrong, failing in ((_no_exclusion, "question word"), (_dot_product, "queen")):
        with pytest.raises(AssertionError):
            checks.analogy_solver(wrong)
        fails = [l for l in capsys.readouterr().out.splitlines() if "FAIL" in l]
        assert any(failing in l for l in fails), fails
