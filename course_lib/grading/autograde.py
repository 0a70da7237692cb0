"""Grade a folder of submissions: one isolated run each, outputs rewritten after every one.

Layout: SUBMISSIONS/<student_id>/<assignment>.ipynb (nbgrader's
SUBMISSIONS/<student_id>/<assignment>/<assignment>.ipynb works too), matched by file name to
SOURCE/<assignment>.ipynb. Results are keyed by a hash of the submission and of the source, so
a rerun skips what is already graded and regrades only changed files.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable

from . import files, isolation, nbio
from .compose import compose
from .execute import Limits, run_plan
from .files import Refused
from .report import atomic_write, feedback_md, gradebook_csv, gradescope_json, write_all
from .sandbox import kill_tree
from .score import Graded, score, trusted_values, unrunnable

STATE = "state.json"
STATE_VERSION = 2
KEY = ".grader-key"   # signs state.json entries; kernels cannot read the output folder
KILLED = ("grading this submission stopped the grader (it was still in progress when the grader "
          "died), so it scores 0; delete its entry from state.json to grade it again")


def _key(out: Path) -> bytes:
    path = out / KEY
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        key = os.urandom(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
        return key


def _mac(key: bytes, name: str, entry: dict) -> str:
    body = json.dumps({k: v for k, v in entry.items() if k != "mac"}, sort_keys=True)
    return hmac.new(key, f"{name}\n{body}".encode(), hashlib.sha256).hexdigest()


def read_submissions(submissions: Path, sources: set[str]) -> dict[tuple[str, str], bytes | Refused | None]:
    """{(student_id, assignment): the notebook's bytes, why it was refused, or None if missing}
    for every student folder and every assignment anyone submitted. Student ids are folder names
    as text (bytes that are not UTF-8 escaped); a folder that holds a link, FIFO, device or hard
    link, or cannot be read, is refused as a whole: nothing of it is read."""
    found: dict[str, dict[str, bytes] | Refused] = {}
    for entry in sorted(Path(submissions).iterdir()):
        if entry.name.startswith(".") or not (entry.is_symlink() or entry.is_dir()):
            continue
        try:
            found[files.shown(entry.name)] = _read_student(entry, sources)
        except Exception as e:  # noqa: BLE001 - whatever goes wrong, this student alone is refused
            found[files.shown(entry.name)] = e if isinstance(e, Refused) else \
                Refused(f"{files.shown(entry.name)} could not be read ({type(e).__name__}: {e})")
    assignments = sorted({a for notebooks in found.values() if isinstance(notebooks, dict) for a in notebooks})
    return {(student, a): notebooks if isinstance(notebooks, Refused) else notebooks.get(a)
            for student, notebooks in found.items() for a in assignments}


def _read_student(folder: Path, sources: set[str]) -> dict[str, bytes]:
    """{assignment: bytes} of one student's notebooks (<a>.ipynb or <a>/<a>.ipynb); Refused if
    anything in the folder is not a plain folder or file."""
    files.check_tree(folder)
    out: dict[str, bytes] = {}
    for a in sorted(sources):
        path = next((p for p in (folder / f"{a}.ipynb", folder / a / f"{a}.ipynb") if p.is_file()), None)
        if path is not None:
            out[a] = files.read_plain(path)
    return out


def _load_state(out: Path, key: bytes) -> tuple[dict[str, dict], int]:
    """The signed entries of state.json, and how many entries were dropped as forged."""
    try:
        state = json.loads((out / STATE).read_text(encoding="utf-8"))
        entries = state["entries"] if state.get("version") == STATE_VERSION else {}
        good = {n: e for n, e in entries.items() if isinstance(e, dict)
                and hmac.compare_digest(str(e.get("mac", "")), _mac(key, n, e))}
        return good, len(entries) - len(good)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, 0


def reference_values(source_nb: nbio.Notebook, assignment: str, limits: Limits, profile: str | None,
                     hide: list[Path]) -> dict[str, dict]:
    """Run the solution once (trusted) and keep the got* values its tests computed."""
    plan = compose(source_nb, source_nb, trusted=True)
    if not any(s.got for s in plan.tests):
        return {}
    found, problems = trusted_values(plan, run_plan(plan, limits, profile, hide))
    if problems:
        raise RuntimeError(f"the reference run of {assignment}.ipynb failed, so no submission can be "
                           "compared with it:\n  " + "\n  ".join(problems))
    return found


def grade_one(source_nb: nbio.Notebook, raw: bytes | Refused | None, student: str, assignment: str,
              limits: Limits, profile: str | None, trusted: dict[str, dict] | None = None,
              hide: list[Path] | None = None) -> Graded:
    """Grade one submission's bytes (None = no file) against its source notebook."""
    if raw is None:
        return unrunnable(compose(source_nb, None), student, assignment,
                          f"no submission found (expected {student}/{assignment}.ipynb)")
    if isinstance(raw, Refused):
        return unrunnable(compose(source_nb, None), student, assignment,
                          f"the submission was not read: {raw}; submit plain files only")
    try:
        student_nb = nbio.parse_notebook(raw, f"{assignment}.ipynb")
    except nbio.NotebookError as e:
        return unrunnable(compose(source_nb, None), student, assignment, str(e))
    plan = compose(source_nb, student_nb)
    return score(plan, run_plan(plan, limits, profile, hide), student, assignment, trusted)


def autograde(submissions: Path, out: Path, source: Path = Path("solutions"), limits: Limits | None = None,
              profile: str | None = "ci", jobs: int = 1,
              progress: Callable[[Graded, bool], None] | None = None,
              log: Callable[[str], None] = print, stop_on_signals: bool = False) -> list[Graded]:
    """Grade every submission (resuming from OUT/state.json) and return all results. With
    stop_on_signals (the command line; it needs the main thread), SIGTERM and SIGINT stop the
    batch and leave nothing running or behind."""
    submissions, out, limits = Path(submissions), Path(out), limits or Limits()
    if jobs > 1 and limits.threads is None:   # kernels at once share the cores instead of thrashing
        limits = replace(limits, threads=max(1, len(os.sched_getaffinity(0)) // jobs))
    if not submissions.is_dir():
        raise FileNotFoundError(f"submissions folder {submissions} does not exist; expected "
                                "SUBMISSIONS/<student_id>/<assignment>.ipynb")
    sources = {p.stem: p.read_bytes() for p in sorted(Path(source).glob("*.ipynb"))}
    if not sources:
        raise FileNotFoundError(f"no source notebooks in {source}; pass --source")
    # every submission is read (and hashed) before any kernel starts: nobody can change another's file
    raws = read_submissions(submissions, set(sources))
    todo = sorted(raws)
    assignments = sorted({a for _, a in todo})
    parsed = {a: nbio.parse_notebook(sources[a], f"{a}.ipynb") for a in assignments}
    hide = [Path(source), submissions, out]

    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    key = _key(out)
    entries, forged = _load_state(out, key)
    lock = threading.Lock()
    results = {k: Graded.from_json(e["graded"]) for k, e in entries.items() if "graded" in e}
    names = {f"{s}/{a}" for s, a in todo}
    log(isolation.probe().describe())
    if forged:
        log(f"[grader] {forged} entr(y/ies) of {out / STATE} had no valid signature and will be regraded")
    for a in assignments:
        weak = [s.grade_id for s in compose(parsed[a], None).tests if not s.got]
        if weak:
            log(f"[grader] {a}: test(s) {', '.join(map(str, weak))} assign no got* values, so their verdict "
                "is computed in the student's process, where it can be faked (see solutions/README.md)")

    def key_of(item: tuple[str, str], raw: bytes | Refused | None) -> str:
        h = hashlib.sha256(sources[item[1]])
        h.update(b"missing" if raw is None else f"not read: {raw}".encode() if isinstance(raw, Refused)
                 else hashlib.sha256(raw).digest())
        return h.hexdigest()

    def sign(name: str, entry: dict) -> dict:
        entry["mac"] = _mac(key, name, entry)
        return entry

    def reference(a: str) -> dict[str, dict]:   # kept (signed) in state.json until the source changes
        name, k = f"#reference/{a}", hashlib.sha256(sources[a] + f"|{profile}".encode()).hexdigest()
        with lock:
            if entries.get(name, {}).get("key") == k and isinstance(entries[name].get("values"), dict):
                return entries[name]["values"]
        found = reference_values(parsed[a], a, limits, profile, hide)
        with lock:
            entries[name] = sign(name, {"key": k, "values": found})
            write_state()
        return found

    def write_state() -> None:
        atomic_write(out / STATE, json.dumps({"version": STATE_VERSION, "entries": entries}, indent=1))

    def save(name: str, g: Graded, file_key: str) -> None:
        with lock:
            entries[name], results[name] = sign(name, {"key": file_key, "graded": g.to_json()}), g
            atomic_write(out / "feedback" / g.student_id / f"{g.assignment}.md", feedback_md(g))
            atomic_write(out / "results" / g.student_id / g.assignment / "results.json", gradescope_json(g))
            atomic_write(out / "gradebook.csv", gradebook_csv([g for n, g in results.items() if n in names]))
            write_state()

    def work(item: tuple[str, str]) -> None:
        raw = raws[item]
        if trusted[item[1]].exception() is not None:   # waits for the reference; its error is raised below
            return
        name, file_key = f"{item[0]}/{item[1]}", key_of(item, raw)
        entry = entries.get(name, {})
        if entry.get("key") == file_key and "graded" in entry:
            if progress:
                progress(results[name], True)
            return
        if entry.get("key") == file_key and entry.get("status") == "in progress":
            g = unrunnable(compose(parsed[item[1]], None), item[0], item[1], KILLED)
        else:
            with lock:   # a submission that kills the grader now scores 0 on the rerun
                entries[name] = sign(name, {"key": file_key, "status": "in progress"})
                write_state()
            g = grade_one(parsed[item[1]], raw, item[0], item[1], limits, profile, trusted[item[1]].result(), hide)
        g.sha256 = hashlib.sha256(raw).hexdigest() if isinstance(raw, bytes) else ""
        save(name, g, file_key)
        if progress:
            progress(g, False)

    def failed(item: tuple[str, str], e: Exception) -> None:   # the grader's own failure is this one's 0
        name = f"{item[0]}/{item[1]}"
        g = unrunnable(compose(parsed[item[1]], None), item[0], item[1],
                       f"the grader failed on this submission ({type(e).__name__}: {str(e)[:300]})")
        try:
            save(name, g, "")   # no file key: shown now, graded again on the next run
        except Exception:  # noqa: BLE001 - still reported, from memory, by write_all below
            with lock:
                results[name] = g
        if progress:
            progress(g, False)

    def stop(signum: int, frame: object) -> None:
        """SIGTERM/SIGINT: with no submission able to save any more (the lock is never given back),
        kill every worker and kernel, remove this grader's run folders and cgroups, and exit. Where
        no kernel can signal the grader (a jail), the submissions in progress did not stop it, so
        their entries are dropped and the next run grades them."""
        lock.acquire(timeout=10)
        kill_tree(os.getpid())
        iso = isolation.probe()
        isolation.sweep_stale(iso.cgroup_root, own=True)
        if iso.mode != "none":
            for name in [n for n, e in entries.items() if e.get("status") == "in progress"]:
                del entries[name]
            write_state()
        log(f"[grader] stopped by signal {signum}; every worker and kernel was killed")
        os._exit(128 + signum)

    if stop_on_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        # references first: the queue is FIFO, so a submission that waits for its reference never
        # holds the thread that reference needs; they run alongside other assignments' students
        trusted: dict[str, Future] = {a: pool.submit(reference, a) for a in assignments}
        futures = {item: pool.submit(work, item) for item in todo}
    for item, future in futures.items():   # one raising cancels nobody: each outcome is collected
        if future.exception() is not None:
            failed(item, future.exception())
    write_state()
    for a in assignments:   # a solution that cannot be run is the instructor's error: say so loudly
        if trusted[a].exception() is not None:
            raise trusted[a].exception()
    final = [results[f"{s}/{a}"] for s, a in todo]
    write_all(out, final)  # repairs any output a submission tampered with while it ran
    return final
