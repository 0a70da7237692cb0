"""Build the notebook the grader actually runs, from the instructor's source and a submission.

The instructor's tagged cells are the skeleton, in the source's order. Only the student's
answers (cells whose grade_id names a solution cell) and the cells they added are taken from
the submission; every test and locked cell comes from the source, so a student who edits,
deletes, reorders or duplicates them, or changes their metadata or points, changes nothing.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from . import nbio, shadow, values

TRAILER = '\n__import__("builtins").print("{nonce}", flush=True)\n'


@dataclass
class Step:
    """One code cell to execute: who wrote it and, for tests, what it is worth."""
    code: str
    origin: str                      # "instructor" | "student" | "test"
    grade_id: str | None = None
    points: float = 0.0
    hidden: bool = False
    nonce: str | None = None         # printed only if the test code ran to its end
    got: list[str] = field(default_factory=list)   # values the grader compares (values.py)
    rtol: float = values.RTOL
    atol: float = values.ATOL


@dataclass
class Plan:
    """The composed run plus notes for the student's feedback."""
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def tests(self) -> list[Step]:
        """The graded steps in order."""
        return [s for s in self.steps if s.origin == "test"]


def _student_cells(student: nbio.Notebook, source_roles: dict[str, str], plan: Plan
                   ) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Answers by grade_id, and the student's own cells grouped by the tagged cell they precede."""
    answers: dict[str, str] = {}
    before: dict[str, list[str]] = {}
    pending: list[str] = []
    for cell in student.get("cells", []):
        gid = nbio.grade_id(cell)
        if gid in source_roles:
            before.setdefault(gid, []).extend(pending)
            pending = []
            if source_roles[gid] == "solution":
                if gid in answers:
                    plan.notes.append(f"answer cell {gid!r} appears twice; the first copy was graded")
                elif cell.get("cell_type") == "code":
                    answers[gid] = nbio.source_text(cell)
        elif cell.get("cell_type") == "code" and nbio.source_text(cell).strip():
            pending.append(nbio.source_text(cell))
    if pending:
        plan.notes.append(f"{len(pending)} code cell(s) after the last graded cell were not run "
                          "(they cannot change a grade)")
    return answers, before


def test_step(cell: nbio.Cell, trusted: bool = False, kernel_verdict: bool = False) -> Step:
    """A test cell as run: with got* values, only their computing part (the whole cell when
    trusted) plus a report of the values; otherwise (or with kernel_verdict, as `validate` does
    where there is no trusted run) the whole cell plus the nonce print."""
    src, nonce = nbio.source_text(cell), secrets.token_hex(16)
    split = None if kernel_verdict else values.split_test(src)
    if split is None:
        code, names = src + TRAILER.format(nonce=nonce), []
    else:
        names = split[1]
        code = (src if trusted else split[0]) + values.report_code(names, nonce)
    rtol, atol = values.tolerance(src)
    return Step(code, "test", nbio.grade_id(cell), nbio.points(cell), nbio.is_hidden(cell), nonce,
                names, rtol, atol)


def compose(source: nbio.Notebook, student: nbio.Notebook | None, trusted: bool = False,
            kernel_verdict: bool = False) -> Plan:
    """Compose the graded run; student=None grades an unusable submission (stubs only);
    trusted=True is the reference run of the solution itself (test cells run whole)."""
    plan = Plan()
    tagged = [c for c in source["cells"] if nbio.role(c) != "free"]
    roles = {nbio.grade_id(c): nbio.role(c) for c in tagged}
    answers, before = _student_cells(student, roles, plan) if student else ({}, {})
    gated = [] if trusted else shadow.all_paths(source)   # the library must not answer (shadow.py)
    if gated:
        plan.steps.append(Step(shadow.install_code(gated), "instructor", "grader:write-yourself"))

    ours = {nbio.source_text(c) for c in source["cells"] if c.get("cell_type") == "code"}   # e.g. Colab's install cell

    def student_step(code: str, gid: str | None = None) -> Step:
        why = None if code in ours else shadow.delegation(code, gated)
        if why is None:
            return Step(code, "student", gid)
        plan.notes.append(f"{'answer cell ' + repr(gid) if gid else 'a cell you added'} was not run: {why}, "
                          "which could use course_lib's own version of what the exercise asks you to write")
        return Step(shadow.refused_cell(why, gated), "student", gid)

    for cell in tagged:
        gid, role = nbio.grade_id(cell), nbio.role(cell)
        for code in before.get(gid, []):
            plan.steps.append(student_step(code))
        if cell.get("cell_type") != "code":
            continue
        if role == "solution":
            if gid in answers:
                plan.steps.append(student_step(answers[gid], gid))
            elif student is not None:
                plan.notes.append(f"answer cell {gid!r} is missing from the submission; the cells "
                                  "around it were run in its place")
        elif role == "test":
            plan.steps.append(test_step(cell, trusted, kernel_verdict))
        else:
            plan.steps.append(Step(nbio.source_text(cell), "instructor", gid))
    return plan
