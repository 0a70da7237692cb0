"""A claim prints its verdict with its figures, and only a relied-on claim under CLAIMS_STRICT stops the run."""
from __future__ import annotations

import pytest

from course_lib import claims
from course_lib.claims import ClaimNotShown, claim


def test_a_claim_prints_its_verdict_and_figures(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLAIMS_STRICT", raising=False)
    assert claim("the loss falls", 0.4 < 0.9, "0.90 -> 0.40") is True
    assert claim("the probe gains 10 points", 3.0 >= 10, "+3.0", relied_on=True) is False  # not strict
    out = capsys.readouterr().out.splitlines()
    assert out == ["as the lecture says: the loss falls  [0.90 -> 0.40]",
                   "not in this run: the probe gains 10 points  [+3.0]"]
    assert [c.holds for c in claims.made()[-2:]] == [True, False]


def test_strict_fails_only_relied_on_claims_that_do_not_hold(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMS_STRICT", "1")
    claim("an aside", False, "x")                        # not relied on: printed, no error
    claim("the lesson", True, "y", relied_on=True)       # holds: fine
    with pytest.raises(ClaimNotShown, match="the lesson we need.*z = 1"):
        claim("the lesson we need", False, "z = 1", relied_on=True)
    assert capsys.readouterr().out.splitlines()[-1] == "not in this run: the lesson we need  [z = 1]"
    monkeypatch.setenv("CLAIMS_STRICT", "0")
    assert claim("the lesson we need", False, "z = 1", relied_on=True) is False


def test_numpy_and_torch_booleans_are_verdicts() -> None:
    import numpy as np
    import torch
    assert claim("numpy", np.float64(2.0) > 1) is True and claim("torch", torch.tensor(0.0) > 1) is False


def test_ipython_shows_one_line_for_a_failed_claim() -> None:
    assert ClaimNotShown("the text relies on x")._render_traceback_() == ["ClaimNotShown: the text relies on x"]
