"""Claims: a sentence that interprets a measured figure, printed with the figure and its verdict.

A notebook's markdown may state only what holds whatever the run prints (or quote a paper). A
sentence that reads a figure of this run is printed by the run instead, beside the figure:

    from course_lib.claims import claim
    claim("SimCLR's features beat random init by at least 10 points",
          trained - random >= 10, f"probe {trained:.1f}% vs {random:.1f}%", relied_on=True)

prints one of

    as the lecture says: SimCLR's features beat random init by at least 10 points  [probe 45.1% vs 30.2%]
    not in this run: SimCLR's features beat random init by at least 10 points  [probe 33.0% vs 30.2%]

relied_on=True marks a claim that the notebook's own text builds on (the lesson of the cell). Under
`CLAIMS_STRICT=1` (`make test` sets it; the `ci` profile's sizes are chosen so these hold) a relied-on
claim that does not hold raises ClaimNotShown, so CI fails instead of shipping prose that its run
contradicts. Students never run strict: a claim that fails on their machine is printed as
"not in this run", which is itself a lesson about short runs. The grader's kernels never see the
variable (its environment allow-list does not pass it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

HOLDS, FAILS = "as the lecture says", "not in this run"


@dataclass(frozen=True)
class Claim:
    text: str
    holds: bool
    figures: str
    relied_on: bool

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


def claim(text: str, holds: bool, figures: str = "", relied_on: bool = False) -> bool:
    """Print TEXT with FIGURES and whether it holds in this run; return whether it holds.

    holds must be computed from this run's figures (never a constant). With relied_on under
    CLAIMS_STRICT=1, a claim that does not hold raises ClaimNotShown after it is printed."""
    if not isinstance(holds, bool):
        holds = bool(holds)   # numpy/torch booleans
    c = Claim(str(text), holds, str(figures), bool(relied_on))
    _made.append(c)
    print(c.line())
    if relied_on and not holds and strict():
        raise ClaimNotShown(f"the text relies on \"{c.text}\", which this run does not show "
                            f"({c.figures or 'no figures given'}); fix the method or the ci budget, "
                            "or the text")
    return holds


def made() -> list[Claim]:
    """Every claim printed in this process, in order."""
    return list(_made)
