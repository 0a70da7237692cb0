"""Run notebooks twice in the ci profile, in fresh kernels, and check that they print the same figures.

    .venv/bin/python benchmarks/reproducibility.py [--load] [--show] [paths...]

What is compared: per code cell, everything the cell printed to stdout and the text of its results
(``text/plain``), line by line. Not compared: stderr (progress bars, warnings), images, and every
line holding the ``[time]`` marker, the course's convention for wall-clock and throughput figures
(see course_lib/profiles.py). Everything else a notebook prints must be identical across runs.

``--load`` runs the second execution while one busy loop per core keeps the machine loaded, the
situation in which a wall-clock training budget used to change what the ci profile printed.
Default paths: every notebook in notebooks/ and solutions/. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from course_lib.profiles import TIME_MARKER  # noqa: E402


def printed_lines(nb: nbformat.NotebookNode) -> list[str]:
    """Every compared line of an executed notebook, prefixed by its cell index; [time] lines dropped.

    A cell's stdout is joined before it is cut into lines: under load the kernel may send one printed
    line in two stream messages, which must not read as a different line."""
    lines = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        texts, stdout = [], ""
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stdout":
                stdout += out.text
            elif out.output_type in ("execute_result", "display_data"):
                texts.append(out.get("data", {}).get("text/plain", ""))
            elif out.output_type == "error":
                texts.append(f"ERROR {out.ename}: {out.evalue}")
        lines += [f"[cell {i}] {line}" for text in (stdout, *texts) for line in text.splitlines()
                  if TIME_MARKER not in line]
    return lines


def execute(path: Path) -> tuple[list[str], float]:
    """Execute one notebook in a fresh kernel with COURSE_PROFILE=ci; return its lines and seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return printed_lines(nb), time.perf_counter() - start


@contextmanager
def busy_cores(enabled: bool):
    """While active, one Python busy loop per core keeps the machine loaded (when enabled)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)] \
        if enabled else []
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--load", action="store_true", help="load every core during the second run")
    parser.add_argument("--show", action="store_true", help="print the first run's compared lines (its figures)")
    args = parser.parse_args()
    os.environ["COURSE_PROFILE"] = "ci"
    paths = [p.resolve() for p in args.paths] or sorted([*REPO.glob("notebooks/*.ipynb"),
                                                         *REPO.glob("solutions/*.ipynb")])
    results = {}
    print(f"{'notebook':<42} {'lines':>6} {'differ':>7} {'run 1 s':>8} {'run 2 s':>8}  "
          f"(profile=ci, second run {'under load' if args.load else 'idle'})")
    for path in paths:
        first, t1 = execute(path)
        with busy_cores(args.load):
            second, t2 = execute(path)
        diff = [l for l in difflib.unified_diff(first, second, "run 1", "run 2", lineterm="", n=0)]
        differing = sum(1 for l in diff if l.startswith("-") and not l.startswith("---"))
        name = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)
        results[name] = {"identical": not diff, "lines": len(first), "differing": differing,
                         "seconds": [round(t1, 1), round(t2, 1)]}
        print(f"{name:<42} {len(first):>6} {differing:>7} {t1:8.1f} {t2:8.1f}  "
              f"{'identical' if not diff else 'DIFFERENT'}", flush=True)
        for line in diff:
            print("    " + line)
        if args.show:
            print("\n".join("    " + line for line in first))
    summary = {"load": args.load, "all_identical": all(r["identical"] for r in results.values()),
               "notebooks": results}
    print(json.dumps(summary))
    sys.exit(0 if summary["all_identical"] else 1)


if __name__ == "__main__":
    main()
