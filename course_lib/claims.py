"""Claims: a sentence that interprets a measured figure, printed with the figure and its verdict.

A notebook's markdown may state only what holds whatever the run prints (or quote a paper). A
sentence that reads a figure of this run is printed by the run instead, beside the figure:

    from course_lib.claims import claim
    claim("SimCLR's features beat random init by at least 10 points",
          trained - random >= 10, f"probe {trained:.1f}% vs {random:.1f}%", relied_on=True)

prints one of

    shown in this run: SimCLR's features beat random init by at least 10 points  [probe 45.1% vs 30.2%]
    not shown in this run: SimCLR's features beat random init by at least 10 points  [probe 33.0% vs 30.2%]

relied_on=True marks a claim that the notebook's own text builds on (the lesson of the cell).

**Scale.** ``scale`` names the smallest profile where the lesson must show: ``"ci"`` (the default:
the miniature CI runs shows it) or ``"cpu"`` (a laptop run shows it, the miniature cannot). In the
``ci`` profile a cpu-scale claim also prints the laptop run's verdict and figures for the same
sentence, read from ``data/reference/cpu_claims.json`` (written by
``benchmarks/course_claims.py --profile cpu --write``, with its date and commit), so a student on
the miniature still sees what the lesson looks like where it shows.

**Strict runs.** Under ``CLAIMS_STRICT=1`` (``make test`` sets it) a relied-on claim that does not
hold at a scale its profile covers raises ClaimNotShown, so CI fails instead of shipping prose that
its run contradicts; in ``ci`` a cpu-scale claim with no laptop figures recorded raises too (the
reference no longer matches the notebook). Students never run strict: a claim that fails on their
machine is printed as "not shown in this run", which is itself a lesson about short runs. The
grader's kernels never see the variable (its environment allow-list does not pass it).

With ``COURSE_CLAIMS_LOG`` set to a file, every claim is also appended to it as one JSON line
(``benchmarks/course_claims.py`` reads them).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

HOLDS, FAILS = "shown in this run", "not shown in this run"
SCALES = ("ci", "cpu")                 # smallest profile where a claim's lesson must show
_RANK = {"ci": 0, "cpu": 1, "gpu": 2}  # a profile shows every claim of its scale or smaller
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference" / "cpu_claims.json"


@dataclass(frozen=True)
class Claim:
    text: str
    holds: bool
    figures: str
    relied_on: bool
    scale: str = "ci"
    notebook: str | None = None

    def line(self) -> str:
        figures = f"  [{self.figures}]" if self.figures else ""
        return f"{HOLDS if self.holds else FAILS}: {self.text}{figures}"


class ClaimNotShown(AssertionError):
    """A claim the notebook's text relies on does not hold in this (strict) run."""

    def _render_traceback_(self) -> list[str]:   # IPython: one short message, no library frames
        return [f"ClaimNotShown: {self}"]


_made: list[Claim] = []


def strict() -> bool:
    return os.environ.get("CLAIMS_STRICT", "").strip() not in ("", "0")


@lru_cache(maxsize=4)
def _reference(path: Path, mtime: float) -> dict:
    return json.loads(path.read_text())


def laptop(notebook: str | None, text: str, path: Path | None = None) -> dict | None:
    """The laptop (cpu profile) run's record of this notebook's claim TEXT, with the run's date and
    commit under "run"; None when the reference holds no such claim."""
    path = path or REFERENCE
    if notebook is None or not path.exists():
        return None
    entry = _reference(path, path.stat().st_mtime).get("notebooks", {}).get(notebook, {})
    for c in entry.get("claims", []):
        if c["text"] == text:
            return {**c, "run": {k: entry.get(k) for k in ("date", "commit")}}
    return None


def _run():
    from . import runtime   # runtime imports torch; claims stays importable without a run
    return runtime._current


def claim(text: str, holds: bool, figures: str = "", relied_on: bool = False, scale: str = "ci") -> None:
    """Print TEXT with FIGURES and whether it holds in this run (see the module's docstring).

    holds must be computed from this run's figures (never a constant). Returns nothing, so a claim on
    a cell's last line echoes no bare True/False; ``made()[-1].holds`` has the verdict."""
    if scale not in SCALES:
        raise ValueError(f"claim scale must be one of {SCALES}, got {scale!r}")
    run = _run()
    profile, notebook = (run.profile, run.notebook) if run is not None else (None, None)
    c = Claim(str(text), bool(holds), str(figures), bool(relied_on), scale, notebook)  # bool(): numpy/torch
    _made.append(c)
    print(c.line())
    if os.environ.get("COURSE_CLAIMS_LOG"):
        with open(os.environ["COURSE_CLAIMS_LOG"], "a") as f:
            f.write(json.dumps({**asdict(c), "profile": profile}) + "\n")
    below_scale = profile is not None and _RANK.get(profile, 2) < _RANK[scale]
    if below_scale:
        ref = laptop(notebook, c.text)
        if ref is not None:
            figs = f"  [{ref['figures']}]" if ref["figures"] else ""
            print(f"    on a laptop (cpu profile, run {ref['run']['date']}): "
                  f"{HOLDS if ref['holds'] else FAILS}{figs}")
            if relied_on and not ref["holds"] and strict():
                raise ClaimNotShown(f"the text relies on \"{c.text}\", which the laptop run does not show "
                                    f"({ref['figures'] or 'no figures given'})")
        elif strict():
            raise ClaimNotShown(f"\"{c.text}\" is a cpu-scale claim with no laptop figures in "
                                f"{REFERENCE.name}; run benchmarks/course_claims.py --profile cpu --write")
        else:
            print("    (this lesson shows at laptop scale: run the notebook with COURSE_PROFILE=cpu)")
    if relied_on and not c.holds and strict() and not below_scale:
        raise ClaimNotShown(f"the text relies on \"{c.text}\", which this run does not show "
                            f"({c.figures or 'no figures given'}); fix the method or the ci budget, "
                            "or the text")


def made() -> list[Claim]:
    """Every claim printed in this process, in order."""
    return list(_made)
