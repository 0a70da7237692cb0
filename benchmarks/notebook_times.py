"""Execute every notebook and solution in the ci profile and print each one's wall time and the total.

    .venv/bin/python benchmarks/notebook_times.py [--profile ci] [paths...]

Goal (COURSE_DESIGN): each lecture notebook about 60-90 s in ci, never over 120 s; each solution never
over 60 s; all together <= 15 min on 2 cores. Notebooks run one after another in fresh kernels, as CI runs them.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
CAP_S, SOLUTION_CAP_S, GOAL_TOTAL_S = 120.0, 60.0, 15 * 60.0


def cap(path: Path) -> float:
    return SOLUTION_CAP_S if path.parent.name == "solutions" else CAP_S


def time_notebook(path: Path) -> float:
    """Run one notebook top to bottom in a fresh kernel; return seconds (kernel start included)."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--profile", default="ci", choices=["ci", "cpu", "gpu"])
    args = parser.parse_args()
    os.environ["COURSE_PROFILE"] = args.profile
    paths = [p.resolve() for p in args.paths] or sorted([*REPO.glob("notebooks/*.ipynb"), *REPO.glob("solutions/*.ipynb")])
    total, times = 0.0, {}
    print(f"{'notebook':<40} {'seconds':>8}  (profile={args.profile}, {os.cpu_count()} cores)")
    for path in paths:
        seconds = time_notebook(path)
        total += seconds
        times[path.relative_to(REPO).as_posix()] = round(seconds, 1)
        flag = f"  OVER the {cap(path):.0f} s cap" if seconds > cap(path) else ""
        print(f"{path.relative_to(REPO).as_posix():<40} {seconds:8.1f}{flag}", flush=True)
    print(f"{'total':<40} {total:8.1f}  ({total / GOAL_TOTAL_S:.0%} of the 15-minute goal)")
    print(json.dumps({"profile": args.profile, "cores": os.cpu_count(), "seconds": times,
                      "total_s": round(total, 1), "over_cap": [k for k, v in times.items() if v > cap(REPO / k)]}))


if __name__ == "__main__":
    main()
