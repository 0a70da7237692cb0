"""Command line: `python -m course_lib.grading {assign,autograde,validate} ...` (see --help)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import assign as assign_mod
from .autograde import autograde
from .execute import REPO, Limits
from .nbio import NotebookError
from .validate import validate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course_lib.grading", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("assign", help="generate exercises/ from solutions/")
    a.add_argument("--source", type=Path, default=REPO / "solutions")
    a.add_argument("--dest", type=Path, default=REPO / "exercises")
    a.add_argument("--check", action="store_true", help="write nothing; exit 1 if exercises differ")
    g = sub.add_parser("autograde", help="grade SUBMISSIONS/<student_id>/<assignment>.ipynb")
    g.add_argument("submissions", type=Path)
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--source", type=Path, default=REPO / "solutions")
    g.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    g.add_argument("--profile", default="ci", help="COURSE_PROFILE inside the kernel ('' keeps yours)")
    v = sub.add_parser("validate", help="run a notebook with the visible tests and print what passes")
    v.add_argument("notebook", type=Path)
    v.add_argument("--source", type=Path, default=None, help="exercise notebook with the tests")
    v.add_argument("--profile", default="", help="COURSE_PROFILE inside the kernel ('' keeps yours)")
    for s in (g, v):
        s.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout, help="seconds per cell")
        s.add_argument("--notebook-timeout", type=float, default=Limits.notebook_timeout)
        s.add_argument("--memory-mb", type=float, default=Limits.memory_mb, help="kernel RSS limit, 0 = none")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "assign":
        try:
            return _assign(args)
        except NotebookError as e:
            print(f"error: {e}")
            return 1
    return _grade(args)


def _assign(args: argparse.Namespace) -> int:
    """assign, or assign --check."""
    if args.check:
        problems = assign_mod.check(args.source, args.dest)
        for msg in problems:
            print(msg)
        if problems:
            print(f"\n{len(problems)} exercise(s) out of date: run `python -m course_lib.grading assign`")
            return 1
        print(f"exercises in {args.dest} match {args.source}")
        return 0
    written = assign_mod.assign(args.source, args.dest)
    print(f"wrote {len(written)} exercise(s)" + "".join(f"\n  {p}" for p in written))
    return 0


def _grade(args: argparse.Namespace) -> int:
    limits = Limits(args.cell_timeout, args.notebook_timeout, args.memory_mb or None)
    if args.command == "autograde":
        def show(g, skipped):
            print(f"{g.student_id}/{g.assignment}: {g.score:g}/{g.max_score:g}"
                  + (" (already graded)" if skipped else f" ({g.seconds:.1f} s)")
                  + (f" - {g.problem}" if g.problem else ""), flush=True)
        results = autograde(args.submissions, args.out, args.source, limits, args.profile or None,
                            args.jobs, show, stop_on_signals=True)
        print(f"graded {len(results)} submission(s); gradebook: {args.out / 'gradebook.csv'}")
        return 0
    graded = validate(args.notebook, args.source, limits, args.profile or None)
    return 0 if graded.score == graded.max_score else 1


if __name__ == "__main__":
    sys.exit(main())
