"""Run the course as students run it: every notebook and solution in fresh kernels, in one profile,
with each one's time against its banner and every claim it prints.

    .venv/bin/python benchmarks/course_claims.py --profile cpu [--write] [--keep DIR] [paths...]

Per notebook: seconds against the minutes its banner promised, then every claim (course_lib.claims)
with its verdict, scale, whether the text relies on it, and its figures. A relied-on claim whose
scale the profile covers (ci: ci-scale claims; cpu: all) and that is not shown counts in
``relied_not_shown``. ``--write`` (with ``--profile cpu``) stores the run as the laptop reference,
``data/reference/cpu_claims.json``, with date, commit and seconds: the ci run prints its figures
beside every cpu-scale claim. ``--keep DIR`` keeps the executed notebooks (e.g. for a website).
Torch threads: the kernel's default (all cores) in every profile, as benchmarks/notebook_times.py times the
budgets (make test runs two kernels of one thread each, so its cells take longer than these seconds).
The last line is one JSON object: {"profile", "notebooks": {name: {"seconds", "banner_s", "shown",
"not_shown": [texts]}}, "relied_not_shown", "over_banner": [names], "total_s"}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_times import REPO, cap  # noqa: E402

sys.path.insert(0, str(REPO))
from course_lib import claims  # noqa: E402

BANNER = re.compile(r"\[course\] (\S+) \|.*expected ~([\d.]+) min")
_RANK = claims._RANK


def run_notebook(path: Path, profile: str, keep: Path | None) -> dict:
    """Execute PATH in a fresh kernel; return its seconds, banner, error and claims."""
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "COURSE_PROFILE": profile}
    env.pop("CLAIMS_STRICT", None)   # collect every verdict; strictness is this script's to judge
    env.pop("MPLBACKEND", None)      # Jupyter's inline figures, as students see them (and --keep keeps them)
    with tempfile.TemporaryDirectory() as tmp:
        env["COURSE_CLAIMS_LOG"] = log = os.path.join(tmp, "claims.jsonl")
        error, start = None, time.perf_counter()
        try:
            NotebookClient(nb, timeout=-1, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
        except CellExecutionError as err:
            error = str(err).strip().splitlines()[-1][:300]
        seconds = time.perf_counter() - start
        made = [json.loads(line) for line in Path(log).read_text().splitlines()] if os.path.exists(log) else []
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, keep / path.name)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    banner = BANNER.search(text)
    return {"seconds": round(seconds, 1), "banner_s": round(float(banner.group(2)) * 60, 1) if banner else None,
            "error": error, "claims": [{k: c[k] for k in ("text", "holds", "figures", "relied_on", "scale")}
                                       for c in made]}


def summary(profile: str, results: dict[str, dict]) -> dict:
    """The JSON the issue asks for, from the per-notebook results."""
    def counts(c):
        return c["relied_on"] and not c["holds"] and _RANK[profile] >= _RANK[c["scale"]]
    return {"profile": profile,
            "notebooks": {name: {"seconds": r["seconds"], "banner_s": r["banner_s"], "error": r["error"],
                                 "shown": sum(c["holds"] for c in r["claims"]),
                                 "not_shown": [c["text"] for c in r["claims"] if not c["holds"]]}
                          for name, r in results.items()},
            "relied_not_shown": sum(counts(c) for r in results.values() for c in r["claims"]),
            "over_banner": [n for n, r in results.items() if r["banner_s"] is not None and r["seconds"] > r["banner_s"]],
            "errors": [n for n, r in results.items() if r["error"]],
            "total_s": round(sum(r["seconds"] for r in results.values()), 1)}


def print_table(profile: str, results: dict[str, dict]) -> None:
    for name, r in results.items():
        banner = f"{r['banner_s']:.0f}" if r["banner_s"] is not None else "?"
        flags = [f"OVER its {banner}-s banner"] if r["banner_s"] is not None and r["seconds"] > r["banner_s"] else []
        if profile == "ci" and r["seconds"] > cap(REPO / ("solutions" if name in _SOLUTIONS else "notebooks") / name):
            flags.append("OVER the ci cap")
        if r["error"]:
            flags.append(f"ERROR {r['error']}")
        print(f"\n{name}: {r['seconds']:.1f} s of {banner} s  {'  '.join(flags)}")
        for c in r["claims"]:
            mark = ("shown    " if c["holds"] else "NOT shown") + (" relied" if c["relied_on"] else "       ")
            print(f"  {mark} [{c['scale']}] {c['text']}  [{c['figures']}]")


_SOLUTIONS: set[str] = set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--profile", default="cpu", choices=["ci", "cpu", "gpu"])
    parser.add_argument("--write", action="store_true", help="store the run as data/reference/cpu_claims.json")
    parser.add_argument("--keep", type=Path, help="folder for the executed notebooks")
    args = parser.parse_args()
    if args.write and args.profile != "cpu":
        parser.error("--write stores the laptop reference: use it with --profile cpu")
    paths = [p.resolve() for p in args.paths] or sorted([*REPO.glob("notebooks/*.ipynb"), *REPO.glob("solutions/*.ipynb")])
    _SOLUTIONS.update(p.stem for p in paths if p.parent.name == "solutions")
    print(f"course_claims: profile={args.profile}, {len(paths)} notebooks, {os.cpu_count()} cores", flush=True)
    results = {}
    for path in paths:
        results[path.stem] = r = run_notebook(path, args.profile, args.keep)
        print(f"  {path.stem}: {r['seconds']:.1f} s, {len(r['claims'])} claims{', ERROR' if r['error'] else ''}",
              flush=True)
    print_table(args.profile, results)
    out = summary(args.profile, results)
    print(f"\nrelied on and not shown: {out['relied_not_shown']}; over banner: {out['over_banner'] or 'none'}; "
          f"errors: {out['errors'] or 'none'}; total {out['total_s']:.0f} s")
    if args.write:
        write_reference(results)
    print(json.dumps(out))


def write_reference(results: dict[str, dict]) -> None:
    """Merge this cpu run into the reference (notebooks not run keep their earlier entries)."""
    path = claims.REFERENCE
    ref = json.loads(path.read_text()) if path.exists() else {"profile": "cpu", "notebooks": {}}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    ref.update(date=datetime.date.today().isoformat(), commit=commit or None, cores=os.cpu_count())
    for name, r in results.items():
        ref["notebooks"][name] = {**r, "date": ref["date"], "commit": ref["commit"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
