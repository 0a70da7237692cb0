"""Grade a folder of submissions: one isolated run each, outputs rewritten after every one.

Layout: SUBMISSIONS/<student_id>/<assignment>.ipynb (nbgrader's
SUBMISSIONS/<student_id>/<assignment>/<assignment>.ipynb works too), matched by file name to
SOURCE/<assignment>.ipynb. Results are keyed by a hash of the submission and of the source, so
a rerun skips what is already graded and regrades only changed files.
"""
from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from . import nbio
from .compose import compose
from .execute import Limits, run_plan
from .report import atomic_write, feedback_md, gradebook_csv, gradescope_json, write_all
from .score import Graded, score, unrunnable

STATE = "state.json"
STATE_VERSION = 1


def find_submissions(submissions: Path, assignments: list[str]) -> dict[tuple[str, str], Path | None]:
    """{(student_id, assignment): path or None if missing} for every student folder."""
    found: dict[tuple[str, str], Path | None] = {}
    students = sorted(p for p in Path(submissions).iterdir() if p.is_dir() and not p.name.startswith("."))
    for student in students:
        for a in assignments:
            paths = [student / f"{a}.ipynb", student / a / f"{a}.ipynb"]
            found[(student.name, a)] = next((p for p in paths if p.is_file()), None)
    return found


def _load_state(out: Path) -> dict[str, dict]:
    try:
        state = json.loads((out / STATE).read_text(encoding="utf-8"))
        return state["entries"] if state.get("version") == STATE_VERSION else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def grade_one(source_nb: nbio.Notebook, raw: bytes | None, student: str, assignment: str,
              limits: Limits, profile: str | None) -> Graded:
    """Grade one submission's bytes (None = no file) against its source notebook."""
    if raw is None:
        return unrunnable(compose(source_nb, None), student, assignment,
                          f"no submission found (expected {student}/{assignment}.ipynb)")
    try:
        student_nb = nbio.parse_notebook(raw, f"{assignment}.ipynb")
    except nbio.NotebookError as e:
        return unrunnable(compose(source_nb, None), student, assignment, str(e))
    plan = compose(source_nb, student_nb)
    return score(plan, run_plan(plan, limits, profile), student, assignment)


def autograde(submissions: Path, out: Path, source: Path = Path("solutions"), limits: Limits | None = None,
              profile: str | None = "ci", jobs: int = 1,
              progress: Callable[[Graded, bool], None] | None = None) -> list[Graded]:
    """Grade every submission (resuming from OUT/state.json) and return all results."""
    submissions, out, limits = Path(submissions), Path(out), limits or Limits()
    if not submissions.is_dir():
        raise FileNotFoundError(f"submissions folder {submissions} does not exist; expected "
                                "SUBMISSIONS/<student_id>/<assignment>.ipynb")
    sources = {p.stem: p.read_bytes() for p in sorted(Path(source).glob("*.ipynb"))}
    if not sources:
        raise FileNotFoundError(f"no source notebooks in {source}; pass --source")
    submitted = {p.stem for p in submissions.glob("*/*.ipynb")} | {p.stem for p in submissions.glob("*/*/*.ipynb")}
    assignments = sorted(a for a in sources if a in submitted)
    parsed = {a: nbio.parse_notebook(sources[a], f"{a}.ipynb") for a in assignments}
    todo = find_submissions(submissions, assignments)

    out.mkdir(parents=True, exist_ok=True)
    entries, lock = _load_state(out), threading.Lock()
    results = {k: Graded.from_json(e["graded"]) for k, e in entries.items()}
    names = {f"{s}/{a}" for s, a in todo}

    def key_of(item: tuple[str, str], raw: bytes | None) -> str:
        h = hashlib.sha256(sources[item[1]])
        h.update(b"missing" if raw is None else hashlib.sha256(raw).digest())
        return h.hexdigest()

    def save(name: str, g: Graded, key: str) -> None:
        with lock:
            entries[name], results[name] = {"key": key, "graded": g.to_json()}, g
            atomic_write(out / "feedback" / g.student_id / f"{g.assignment}.md", feedback_md(g))
            atomic_write(out / "results" / g.student_id / g.assignment / "results.json", gradescope_json(g))
            atomic_write(out / "gradebook.csv", gradebook_csv([g for n, g in results.items() if n in names]))
            atomic_write(out / STATE, json.dumps({"version": STATE_VERSION, "entries": entries}, indent=1))

    def work(item: tuple[str, str]) -> None:
        path = todo[item]
        raw = path.read_bytes() if path else None
        name, key = f"{item[0]}/{item[1]}", key_of(item, raw)
        if entries.get(name, {}).get("key") == key:
            if progress:
                progress(results[name], True)
            return
        g = grade_one(parsed[item[1]], raw, item[0], item[1], limits, profile)
        g.sha256 = hashlib.sha256(raw).hexdigest() if raw else ""
        save(name, g, key)
        if progress:
            progress(g, False)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(work, sorted(todo)))
    final = [results[f"{s}/{a}"] for s, a in sorted(todo)]
    write_all(out, final)  # repairs any output a submission tampered with while it ran
    return final
