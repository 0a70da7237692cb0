"""Generate the student version of every notebook in solutions/ (the single source).

Solution regions become a stub that raises NotImplementedError, hidden tests disappear,
outputs are cleared and instructor cells are locked. The output is a pure function of the
input bytes, so `assign --check` can tell whether committed exercises have drifted.
"""
from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path

from . import nbio, values

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
MD_STUB = "YOUR ANSWER HERE"
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)",
                       re.S | re.M)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|$)",
                     re.S | re.M)


def _stub(match: re.Match) -> str:
    indent = match.group(1)
    return "".join(f"{indent}{line}\n" for line in STUB.splitlines())


def strip_solution(src: str, cell_type: str = "code") -> str:
    """Replace every solution region by the stub (the whole cell if it has no markers)."""
    if "### BEGIN SOLUTION" not in src:
        return STUB if cell_type == "code" else MD_STUB
    if cell_type != "code":
        return _SOLUTION.sub(MD_STUB + "\n", src).rstrip("\n")
    return _SOLUTION.sub(_stub, src).rstrip("\n")


def strip_hidden(src: str) -> str:
    """Remove hidden-test regions, markers included."""
    return _HIDDEN.sub("", src).rstrip("\n")


def _clean_meta(cell: nbio.Cell, locked: bool) -> dict:
    m = nbio.meta(cell)
    if not m:
        return {}
    out = {"grade": bool(m.get("grade")), "grade_id": nbio.grade_id(cell), "locked": locked,
           "schema_version": 3, "solution": bool(m.get("solution"))}
    if out["grade"]:
        out["points"] = m.get("points", 0)
    return out


def make_exercise(nb: nbio.Notebook, rel_source: str, rel_dest: str) -> nbio.Notebook:
    """Return the student version of one solution notebook (the input is not modified)."""
    out = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": nb.get("nbformat_minor", 5)}
    for key in ("kernelspec", "language_info", "course_lib"):   # course_lib: what the library may not answer
        if key in nb.get("metadata", {}):
            out["metadata"][key] = copy.deepcopy(nb["metadata"][key])
    for i, cell in enumerate(nb["cells"]):
        kind, src = cell["cell_type"], nbio.source_text(cell)
        role = nbio.role(cell)
        if role == "solution":
            src = strip_solution(src, kind)
        elif role == "test":
            src = strip_hidden(src)
        src = src.replace(f"/blob/main/{rel_source}", f"/blob/main/{rel_dest}")
        new = {"cell_type": kind, "id": cell.get("id") or nbio.grade_id(cell) or f"cell-{i}",
               "metadata": {}, "source": src}
        nbg = _clean_meta(cell, locked=role in ("test", "locked"))
        if nbg:
            new["metadata"]["nbgrader"] = nbg
        if role in ("test", "locked"):   # as nbgrader's generate_assignment (LockCells) does
            new["metadata"].update(deletable=False, editable=False)
        elif role == "solution":
            new["metadata"]["deletable"] = False
        if kind == "code":
            new["execution_count"], new["outputs"] = None, []
        out["cells"].append(new)
    return out


def generate(source: Path, dest: Path) -> dict[Path, str]:
    """Render every exercise in memory: {destination path: file text}."""
    source, dest = Path(source), Path(dest)
    paths = sorted(source.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks in {source}; pass --source with the solutions folder")
    rendered = {}
    for path in paths:
        nb = nbio.read_notebook(path)
        nbio.check_source(nb, path.name)
        weak = values.unverified([(nbio.grade_id(c), nbio.source_text(c)) for c in nb["cells"] if nbio.role(c) == "test"])
        if weak:
            raise nbio.NotebookError(
                f"{path}: test cell(s) {', '.join(weak)} compute no got* values, so their verdict would be decided "
                "in the student's process, where the student's code can fake it. Compute the answer's outputs on "
                "fixed inputs into got* variables (a hidden part after a visible check will do; solutions/README.md, "
                "'Hidden tests hand their values to the grader'), or opt in to the weaker guarantee with a "
                "'# grader: kernel-verdict' comment in the cell.")
        ex = make_exercise(nb, f"{source.name}/{path.name}", f"{dest.name}/{path.name}")
        rendered[dest / path.name] = nbio.dumps(ex)
    return rendered


def assign(source: Path, dest: Path) -> list[Path]:
    """Write every exercise (only files whose text changed) and return the paths written."""
    Path(dest).mkdir(parents=True, exist_ok=True)
    written = []
    for path, text in generate(source, dest).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def check(source: Path, dest: Path) -> list[str]:
    """Differences between committed exercises and a fresh generation ([] when in sync)."""
    rendered = generate(source, dest)
    problems = []
    for path, text in rendered.items():
        if not path.exists():
            problems.append(f"{path} is missing")
            continue
        old = path.read_text(encoding="utf-8")
        if old != text:
            diff = difflib.unified_diff(old.splitlines(), text.splitlines(), str(path), "fresh", lineterm="", n=1)
            problems.append("\n".join(list(diff)[:40]))
    for path in sorted(Path(dest).glob("*.ipynb")):
        if path not in rendered:
            problems.append(f"{path} has no source in {source} (delete it or add the solution)")
    return problems
