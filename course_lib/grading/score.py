"""Turn what the grader observed into points: a test passes only if we saw it succeed.

Two independent observations must agree: the kernel's execute_reply says "ok", and the
test cell printed its per-run random nonce, which the grader appended after the test code
(so it appears only if every line of the test ran). Anything else (an error, a timeout, a dead
kernel, a cell that never ran, a swallowed print) scores 0 for that test.
"""
from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass, field

from . import values
from .compose import Plan, Step

BUILTIN_ERRORS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}


@dataclass
class TestResult:
    """One graded test cell's outcome."""
    name: str
    max_score: float
    score: float
    status: str          # passed | failed | error | timeout | not run
    message: str
    output: str
    hidden: bool


@dataclass
class Graded:
    """Everything the reports need about one submission."""
    student_id: str
    assignment: str
    tests: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str | None = None       # why the notebook could not be (fully) run
    seconds: float = 0.0
    sha256: str = ""

    @property
    def score(self) -> float:
        """Points earned."""
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        """Points available."""
        return sum(t.max_score for t in self.tests)

    def to_json(self) -> dict:
        """A JSON-ready dict (the resume state stores these)."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Graded":
        """Rebuild from to_json()."""
        d = dict(d)
        d["tests"] = [TestResult(**t) for t in d.get("tests", [])]
        return cls(**d)


def _outcome(cell: dict, fatal: str | None, step: Step, trusted: dict | None) -> tuple[str, str]:
    status = cell.get("status")
    if status == "ok" and step.got:   # decided here, from values, not by the student's process
        why = values.verdict(trusted, values.parse_report(cell.get("values") or ""), step.got,
                             step.rtol, step.atol)
        return ("passed", "") if why is None else ("failed", why)
    if status == "ok" and cell.get("nonce_seen"):
        return "passed", ""
    if status == "ok":
        return "failed", "the test did not run to its end (its completion marker never printed)"
    if status == "error":
        return "failed", cell.get("error") or "the test raised an error"
    if status == "timeout":
        return "timeout", fatal or "the cell ran past the time limit"
    if status == "died":
        return "error", fatal or "the kernel died"
    return "not run", f"not run: {fatal}" if fatal else "not run"


def _error_type(cell: dict) -> str:
    """The name of the exception a cell raised if it is a built-in one, else 'an exception': a
    class name, like a message, is the student's to choose and could carry a hidden test's source."""
    name = str(cell.get("error") or "").split(":", 1)[0].strip()
    return name if name in BUILTIN_ERRORS else "an exception"


def _hidden_message(status: str, cell: dict) -> str:
    """A hidden test's message: fixed text and a built-in exception's name, never what the
    student's code raised, printed or reported (it can read the test's source in its kernel)."""
    if status == "passed":
        return ""
    if cell.get("status") == "error":
        return f"the hidden test raised {_error_type(cell)}"
    return {"timeout": "the hidden test ran past the time limit",
            "error": "the kernel died during the hidden test",
            "not run": "the hidden test did not run"}.get(status, "the hidden test failed")


def trusted_values(plan: Plan, result: dict) -> tuple[dict[str, dict], list[str]]:
    """From the reference run of the solution: {grade_id: got* values}, and what went wrong."""
    found, problems = {}, []
    cells = result.get("cells", [])
    for i, step in enumerate(plan.steps):
        if step.origin != "test" or not step.got:
            continue
        cell = cells[i] if i < len(cells) else {}
        vals = values.parse_report(cell.get("values") or "") if cell.get("status") == "ok" else None
        bad = [n for n in step.got if vals is not None and not _comparable(vals.get(n))]
        if vals is None:
            problems.append(f"{step.grade_id}: the solution's run gave no values "
                            f"({cell.get('error') or cell.get('status') or result.get('fatal')})")
        elif bad:
            problems.append(f"{step.grade_id}: {', '.join(bad)} cannot be compared (use numbers, strings, "
                            "tensors, arrays, or lists/dicts of them)")
        else:
            found[step.grade_id] = vals
    return found, problems


def _comparable(v: object) -> bool:
    return values.differ(v, v) is None


def score(plan: Plan, result: dict, student_id: str, assignment: str,
          trusted: dict[str, dict] | None = None) -> Graded:
    """Score every test of the plan from the worker's observations (and the trusted values)."""
    graded = Graded(student_id, assignment, notes=list(plan.notes), problem=result.get("fatal"),
                    seconds=float(result.get("seconds", 0.0)))
    cells, after_hidden = result.get("cells", []), False
    for i, step in enumerate(plan.steps):
        cell = cells[i] if i < len(cells) else {}
        if step.origin != "test":
            if cell.get("status") == "error" and step.origin == "student":
                graded.notes.append("one of your cells raised " + (_error_type(cell) if after_hidden
                                                                    else cell.get("error", "an error")[:300]))
            continue
        status, message = _outcome(cell, result.get("fatal"), step, (trusted or {}).get(step.grade_id or ""))
        if step.hidden:
            message, after_hidden = _hidden_message(status, cell), True
        graded.tests.append(TestResult(step.grade_id or f"test {i}", step.points,
                                       step.points if status == "passed" else 0.0, status, message,
                                       "" if step.hidden else str(cell.get("output", "")), step.hidden))
    return graded


def unrunnable(plan: Plan, student_id: str, assignment: str, reason: str) -> Graded:
    """A submission we could not even read: every test listed, every test 0."""
    return score(plan, {"cells": [], "fatal": reason}, student_id, assignment)
