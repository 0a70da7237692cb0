"""Student side: run your notebook the way the grader will, with the visible tests only.

The visible tests come from exercises/<name>.ipynb when the course folder is there (so an
edited test cell is replaced, as in grading); otherwise from your notebook itself.
"""
from __future__ import annotations

import re
from pathlib import Path

from . import nbio
from .compose import compose
from .execute import REPO, Limits, run_plan
from .score import Graded, score


def _is_empty(code: str) -> bool:
    body = code.split("__import__(\"builtins\").print(")[0]
    return not [ln for ln in body.splitlines() if ln.strip() and not re.match(r"\s*#", ln)]


def validate(notebook: Path, source: Path | None = None, limits: Limits | None = None,
             profile: str | None = None) -> Graded:
    """Run a notebook with the visible tests and print what would pass."""
    notebook = Path(notebook)
    student = nbio.read_notebook(notebook)
    if source is None:
        candidate = REPO / "exercises" / notebook.name
        source = candidate if candidate.is_file() else notebook
    plan = compose(nbio.read_notebook(source), student, kernel_verdict=True)  # no trusted run here
    hidden = {s.grade_id for s in plan.tests if _is_empty(s.code)}
    plan.steps = [s for s in plan.steps if s.grade_id not in hidden or s.origin != "test"]
    graded = score(plan, run_plan(plan, limits or Limits(), profile), "you", notebook.stem)
    print(f"Validating {notebook} against the visible tests of {source}")
    for t in graded.tests:
        mark = "PASS" if t.status == "passed" else "FAIL"
        detail = "" if t.status == "passed" else f": {t.message.splitlines()[0] if t.message else t.status}"
        print(f"  {mark} {t.name} ({t.max_score:g} pt){detail}")
    if hidden:
        print(f"  (hidden tests, run only when graded: {', '.join(sorted(hidden))})")
    if graded.problem:
        print(f"  problem: {graded.problem}")
    print(f"Visible tests: {graded.score:g} / {graded.max_score:g} points would pass.")
    return graded
