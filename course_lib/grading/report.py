"""The grader's outputs: an nbgrader-style CSV gradebook, Gradescope results, feedback pages.

Every file is written atomically (a temporary file, then os.replace), so a reader never sees a
half-written gradebook, even if the batch is killed mid-way.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from .score import Graded

GRADEBOOK_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                     "email", "raw_score", "late_submission_penalty", "score", "max_score"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def atomic_write(path: Path, text: str) -> None:
    """Write text to path so that readers see either the old or the new file, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _num(x: float) -> str:
    return f"{x:g}"


def inert(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts like a formula (=, +, -, @, tab,
    CR) gets a leading single quote, as OWASP recommends against CSV injection."""
    return "'" + text if text.startswith(FORMULA_START) else text


def gradebook_csv(results: list[Graded]) -> str:
    """One row per (assignment, student), nbgrader's columns; unknown fields left empty."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, GRADEBOOK_COLUMNS, lineterminator="\n")
    w.writeheader()
    for g in sorted(results, key=lambda g: (g.assignment, g.student_id)):
        w.writerow({"assignment": inert(g.assignment), "student_id": inert(g.student_id), "raw_score": _num(g.score),
                    "late_submission_penalty": "", "score": _num(g.score), "max_score": _num(g.max_score)})
    return buf.getvalue()


def gradescope_json(g: Graded) -> str:
    """Gradescope's autograder results.json for one submission (hidden tests shown after publishing)."""
    tests = [{"name": t.name, "score": t.score, "max_score": t.max_score,
              "status": "passed" if t.status == "passed" else "failed",
              "output": (t.message + ("\n" + t.output if t.output else "")).strip(),
              "visibility": "after_published" if t.hidden else "visible"} for t in g.tests]
    out = {"score": g.score, "execution_time": round(g.seconds, 1), "tests": tests,
           "output": "\n".join(([g.problem] if g.problem else []) + g.notes)}
    return json.dumps(out, indent=1) + "\n"


def feedback_md(g: Graded) -> str:
    """A page a student can read: total, then every test with its points and what happened."""
    lines = [f"# Feedback: {g.assignment}", "", f"Student: `{g.student_id}`  ",
             f"Score: **{_num(g.score)} / {_num(g.max_score)}**", ""]
    if g.problem:
        lines += [f"> **Problem:** {g.problem}", ""]
    for note in g.notes:
        lines.append(f"- note: {note}")
    if g.notes:
        lines.append("")
    lines += ["| test | points | outcome |", "|---|---|---|"]
    for t in g.tests:
        name = t.name + (" (hidden)" if t.hidden else "")
        lines.append(f"| `{name}` | {_num(t.score)} / {_num(t.max_score)} | {t.status} |")
    for t in g.tests:
        if t.status != "passed" or t.output:
            lines += ["", f"## {t.name}: {t.status}"]
            if t.message:
                lines.append(t.message.replace("\n", " ")[:500])
            if t.output:
                lines += ["", "```text", t.output.rstrip()[:3000].replace("```", "'''"), "```"]
    return "\n".join(lines) + "\n"


def write_all(out: Path, results: list[Graded]) -> None:
    """Rewrite every output from the in-memory results (this also repairs anything tampered with)."""
    out = Path(out)
    for g in results:
        atomic_write(out / "feedback" / g.student_id / f"{g.assignment}.md", feedback_md(g))
        atomic_write(out / "results" / g.student_id / g.assignment / "results.json", gradescope_json(g))
    atomic_write(out / "gradebook.csv", gradebook_csv(results))
