"""Reading notebooks we do not trust, and the nbgrader cell metadata we do.

A submission is untrusted bytes: anything can be wrong with it (not UTF-8, not JSON, an old
nbformat, cells missing). `parse_notebook` turns every such problem into a readable reason
instead of an exception, so one broken file never stops a batch.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Cell = dict[str, Any]
Notebook = dict[str, Any]


class NotebookError(ValueError):
    """A notebook that cannot be used; the message says what is wrong and how to fix it."""


def source_text(cell: Cell) -> str:
    """The cell's source as one string (nbformat allows a string or a list of lines)."""
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def parse_notebook(raw: bytes, name: str = "notebook") -> Notebook:
    """Parse untrusted bytes into a v4 notebook dict, or raise NotebookError with the reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotebookError(f"{name} is not UTF-8 text (bad byte at offset {e.start}); "
                            "re-save it from Jupyter") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotebookError(f"{name} is not valid JSON ({e.msg} at line {e.lineno}); it was "
                            "probably edited by hand or truncated; re-save it from Jupyter") from None
    except RecursionError:
        raise NotebookError(f"{name} is JSON nested too deeply to be a notebook") from None
    if not isinstance(nb, dict):
        raise NotebookError(f"{name} is JSON but not a notebook (top level is not an object)")
    if nb.get("nbformat") != 4:
        raise NotebookError(f"{name} has nbformat {nb.get('nbformat')!r}, expected 4; open it in a "
                            "current Jupyter and save it again")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise NotebookError(f"{name} has no 'cells' list; it is not a Jupyter notebook")
    good = [c for c in cells if isinstance(c, dict) and isinstance(c.get("cell_type"), str)]
    if len(good) != len(cells):
        raise NotebookError(f"{name} has {len(cells) - len(good)} malformed cell(s) without a "
                            "cell_type; re-save it from Jupyter")
    return nb


def read_notebook(path: Path) -> Notebook:
    """Read and parse a notebook file; NotebookError if it is unusable."""
    return parse_notebook(Path(path).read_bytes(), Path(path).name)


def dumps(nb: Notebook) -> str:
    """Serialise deterministically, in the exact layout Jupyter itself writes."""
    import nbformat  # imported here: reading untrusted bytes above needs only the stdlib

    return nbformat.writes(nbformat.from_dict(nb), version=4) + "\n"


def meta(cell: Cell) -> dict[str, Any]:
    """The cell's nbgrader metadata, or {} when it has none (or it is malformed)."""
    md = cell.get("metadata")
    nbg = md.get("nbgrader") if isinstance(md, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def grade_id(cell: Cell) -> str | None:
    """The nbgrader grade_id of a cell, if it is a non-empty string."""
    gid = meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def role(cell: Cell) -> str:
    """What the grader does with a cell: 'solution', 'test', 'locked' or 'free'."""
    m = meta(cell)
    if not m or grade_id(cell) is None:
        return "free"
    if m.get("solution"):
        return "solution"
    if m.get("grade"):
        return "test"
    return "locked" if m.get("locked") else "free"


def points(cell: Cell) -> float:
    """Points of a test cell (0 for anything else)."""
    p = meta(cell).get("points", 0)
    return float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else 0.0


def is_hidden(cell: Cell) -> bool:
    """Whether a test cell carries hidden tests (the grader keeps their code out of feedback)."""
    return "### BEGIN HIDDEN TESTS" in source_text(cell)


def check_source(nb: Notebook, name: str) -> None:
    """Raise NotebookError if an instructor notebook breaks the format rules."""
    seen: set[str] = set()
    for i, cell in enumerate(nb["cells"]):
        gid, src = grade_id(cell), source_text(cell)
        if meta(cell) and gid is None:
            raise NotebookError(f"{name} cell {i}: nbgrader metadata without a grade_id")
        if gid is not None:
            if gid in seen:
                raise NotebookError(f"{name}: grade_id {gid!r} is used twice; ids must be unique")
            seen.add(gid)
        if role(cell) == "test" and points(cell) <= 0:
            raise NotebookError(f"{name}: test cell {gid!r} has no points; set nbgrader.points")
        for begin, end in (("### BEGIN SOLUTION", "### END SOLUTION"),
                           ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")):
            if src.count(begin) != src.count(end):
                raise NotebookError(f"{name} cell {gid or i}: {begin!r} and {end!r} do not pair up")
        if "### BEGIN SOLUTION" in src and role(cell) != "solution":
            raise NotebookError(f"{name} cell {gid or i}: solution markers in a cell that is not "
                                "marked nbgrader.solution")
