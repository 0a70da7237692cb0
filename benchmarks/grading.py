"""How much time does the grader add per submission, beyond running the notebook itself?

Reference: the same notebook executed plainly with nbclient in this process (kernel start,
cells, shutdown). Grader: `autograde` on a batch of copies (worker subprocess, composition,
the trusted run of the solution for got* values, once per batch and so shared by the copies,
signed lines, watchdog, atomic outputs after each). Overhead = grader time - reference time. The grader runs twice: without isolation
(COURSE_GRADER_ISOLATION=none, the old grader's kind of run) and with the strongest isolation
this machine allows (jail: uid, namespaces, cgroup), so the cost of isolation is the difference.

    python benchmarks/grading.py                 # 20 copies of the tiny fixture
    python benchmarks/grading.py --real 2        # plus 2 copies of each solutions/ notebook (ci)

It also grades the fault suite's batch (tests/test_grading_faults.py) once and reports
"fault_cases" (its submissions) and "fault_cases_won" (attack rows that won; must be 0).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from course_lib.grading import isolation  # noqa: E402
from course_lib.grading.autograde import autograde  # noqa: E402
from course_lib.grading.execute import Limits  # noqa: E402

TINY = REPO / "tests" / "grading_fixtures" / "source"


def plain_seconds(path: Path, profile: str | None) -> float:
    """Wall time of one plain nbclient run of the notebook in a scratch folder."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": tmp}}).execute(stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def grade_seconds(path: Path, source: Path, copies: int, profile: str | None, jobs: int, mode: str) -> float:
    """Seconds per submission for `copies` copies of the solution, isolation `mode` ('none' or 'auto')."""
    os.environ.pop("COURSE_GRADER_ISOLATION", None)
    if mode == "none":
        os.environ["COURSE_GRADER_ISOLATION"] = "none"
    isolation.probe.cache_clear()
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        for i in range(copies):
            (subs / f"s{i:02d}").mkdir(parents=True)
            shutil.copy(path, subs / f"s{i:02d}" / path.name)
        t0 = time.perf_counter()
        results = autograde(subs, Path(tmp) / "out", source, Limits(600, 1200, 4096), profile, jobs,
                            log=lambda line: None)
        total = time.perf_counter() - t0
    os.environ.pop("COURSE_GRADER_ISOLATION", None)
    assert all(g.score == g.max_score for g in results), "the reference notebook should get full marks"
    return total / copies


def bench(source: Path, copies: int, profile: str | None, jobs: int, figures: dict) -> None:
    """Print reference vs grader seconds per submission for every notebook in source."""
    for path in sorted(source.glob("*.ipynb")):
        reference = statistics.mean(plain_seconds(path, profile) for _ in range(min(copies, 3)))
        plain = grade_seconds(path, source, copies, profile, jobs, "none")
        jailed = grade_seconds(path, source, copies, profile, jobs, "auto")
        mode = isolation.probe().mode
        print(f"{path.name}: {copies} submissions, jobs={jobs}")
        print(f"  plain nbclient run (reference):      {reference:6.2f} s per notebook")
        print(f"  grader, no isolation:                {plain:6.2f} s per submission "
              f"(overhead {plain - reference:+.2f} s)")
        print(f"  grader, isolation '{mode}':{' ' * (16 - len(mode))}{jailed:6.2f} s per submission "
              f"(overhead {jailed - reference:+.2f} s; isolation costs {jailed - plain:+.2f} s)")
        figures[path.stem] = {"reference_s": round(reference, 2), "grader_none_s": round(plain, 2),
                              "grader_isolated_s": round(jailed, 2), "isolation_mode": mode,
                              "overhead_none_s": round(plain - reference, 2),
                              "overhead_isolated_s": round(jailed - reference, 2)}


def _fault_suite():
    spec = importlib.util.spec_from_file_location("grading_faults", REPO / "tests" / "test_grading_faults.py")
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    return suite


def fault_cases() -> int:
    """How many submissions the fault suite (tests/test_grading_faults.py) grades in its batch here."""
    return len(_fault_suite().cases(Path("out"), Path("home"), Path("subs")))


def fault_cases_won() -> list[str]:
    """Grade the fault suite's batch once; the attack rows that won (scored above blank, changed
    another row, or got what they were after). Must be []."""
    suite = _fault_suite()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        won = suite.won(suite.run_batch(Path(tmp)))
    print(f"fault suite: one batch in {time.perf_counter() - t0:.0f} s; attacks that won: {won or 'none'}")
    return won


def main() -> None:
    """Parse arguments and run the benchmark."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--copies", type=int, default=20)
    p.add_argument("--real", type=int, default=0, help="also grade N copies of each solutions/ notebook")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--no-faults", action="store_true", help="skip grading the fault suite (fault_cases_won)")
    args = p.parse_args()
    print(f"[grading benchmark] {os.cpu_count()} CPU cores, python {sys.version.split()[0]}")
    print(isolation.probe().describe())
    figures: dict = {"fault_cases": fault_cases()}
    if not args.no_faults:
        figures["fault_cases_won"] = len(fault_cases_won())
    bench(TINY, args.copies, None, args.jobs, figures)
    if args.real:
        os.environ["COURSE_PROFILE"] = "ci"  # the plain reference run reads it from the environment
        bench(REPO / "solutions", args.real, "ci", args.jobs, figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
