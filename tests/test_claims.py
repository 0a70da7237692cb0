"""A claim prints its verdict with its figures, and only a relied-on claim under CLAIMS_STRICT stops the run."""
from __future__ import annotations

import json

import pytest

from course_lib import claims
from course_lib.claims import ClaimNotShown, claim


def test_a_claim_prints_its_verdict_and_figures(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLAIMS_STRICT", raising=False)
    assert claim("the loss falls", 0.4 < 0.9, "0.90 -> 0.40") is None   # nothing for a cell to echo
    claim("the probe gains 10 points", 3.0 >= 10, "+3.0", relied_on=True)  # not strict: printed only
    out = capsys.readouterr().out.splitlines()
    assert out == ["shown in this run: the loss falls  [0.90 -> 0.40]",
                   "not shown in this run: the probe gains 10 points  [+3.0]"]
    assert [c.holds for c in claims.made()[-2:]] == [True, False]


def test_strict_fails_only_relied_on_claims_that_do_not_hold(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMS_STRICT", "1")
    claim("an aside", False, "x")                        # not relied on: printed, no error
    claim("the lesson", True, "y", relied_on=True)       # holds: fine
    with pytest.raises(ClaimNotShown, match="the lesson we need.*z = 1"):
        claim("the lesson we need", False, "z = 1", relied_on=True)
    assert capsys.readouterr().out.splitlines()[-1] == "not shown in this run: the lesson we need  [z = 1]"
    monkeypatch.setenv("CLAIMS_STRICT", "0")
    claim("the lesson we need", False, "z = 1", relied_on=True)
    assert claims.made()[-1].holds is False


def test_numpy_and_torch_booleans_are_verdicts() -> None:
    import numpy as np
    import torch
    claim("numpy", np.float64(2.0) > 1)
    claim("torch", torch.tensor(0.0) > 1)
    assert [c.holds for c in claims.made()[-2:]] == [True, False]


def test_ipython_shows_one_line_for_a_failed_claim() -> None:
    assert ClaimNotShown("the text relies on x")._render_traceback_() == ["ClaimNotShown: the text relies on x"]


def _in_profile(monkeypatch: pytest.MonkeyPatch, profile: str, notebook: str = "07_simclr") -> None:
    from course_lib import runtime
    monkeypatch.setattr(runtime, "_current", runtime.Run(notebook=notebook, profile=profile, device=None,
                                                         seed=0, dataset=None, budget={}))


def _reference(tmp_path, monkeypatch, claims_of_07: list[dict]):
    path = tmp_path / "cpu_claims.json"
    path.write_text(json.dumps({"profile": "cpu", "date": "2026-12-07", "commit": "abc1234", "notebooks": {
        "07_simclr": {"date": "2026-12-07", "commit": "abc1234", "claims": claims_of_07}}}))
    monkeypatch.setattr(claims, "REFERENCE", path)


def test_a_cpu_scale_claim_in_ci_prints_the_laptop_figures(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CLAIMS_STRICT", "1")
    _in_profile(monkeypatch, "ci")
    _reference(tmp_path, monkeypatch, [{"text": "colour distortion helps", "holds": True, "figures": "+8.0"}])
    claim("colour distortion helps", False, "-2.0", relied_on=True, scale="cpu")  # not shown in ci: no error
    assert capsys.readouterr().out.splitlines() == [
        "not shown in this run: colour distortion helps  [-2.0]",
        "    on a laptop (cpu profile, run 2026-12-07): shown in this run  [+8.0]"]
    with pytest.raises(ClaimNotShown, match="no laptop figures"):   # the reference lacks this sentence
        claim("a sentence the laptop run never printed", True, scale="cpu")
    with pytest.raises(ClaimNotShown, match="relies on"):           # relied on, but not at ci scale
        claim("a ci lesson", False, relied_on=True)


def test_the_laptop_reference_must_show_a_relied_on_cpu_claim(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CLAIMS_STRICT", "1")
    _in_profile(monkeypatch, "ci")
    _reference(tmp_path, monkeypatch, [{"text": "wider is better", "holds": False, "figures": "-1"}])
    with pytest.raises(ClaimNotShown, match="laptop run does not show"):
        claim("wider is better", True, relied_on=True, scale="cpu")


def test_in_cpu_a_cpu_scale_claim_is_judged_by_its_own_run_and_logged(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CLAIMS_STRICT", "1")
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("COURSE_CLAIMS_LOG", str(log))
    _in_profile(monkeypatch, "cpu")
    claim("wider is better", True, "62 vs 40", relied_on=True, scale="cpu")
    with pytest.raises(ClaimNotShown):
        claim("wider is better", False, "40 vs 62", relied_on=True, scale="cpu")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["notebook"], r["scale"], r["holds"], r["profile"]) for r in rows] == [
        ("07_simclr", "cpu", True, "cpu"), ("07_simclr", "cpu", False, "cpu")]
    with pytest.raises(ValueError, match="scale"):
        claim("x", True, scale="laptop")
