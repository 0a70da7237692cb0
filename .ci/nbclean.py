#!/usr/bin/env python3
"""Strip what running a notebook adds (outputs, counts, run metadata): the course's git filter.

    git config filter.nbclean.clean "python3 .ci/nbclean.py"   # what `make env` sets up
    python3 .ci/nbclean.py --inplace notebooks/*.ipynb          # clean files in place

As a git "clean" filter it reads a notebook on stdin and writes the cleaned notebook on stdout, so
git stores (and diffs) notebooks without outputs however often they were run in JupyterLab; the
working copy keeps its outputs. Standard library only: git runs it with the system python3, with or
without the course's virtual environment. Input that is not a notebook passes through unchanged
(a filter must never lose data), and a clean notebook comes out byte for byte identical, so a fresh
clone never looks modified. Written by hand rather than adding nbstripout: the few rules below are
the whole job, and nbstripout's defaults would also rewrite metadata the exercises rely on.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

# Per-cell metadata that records a run or a view, not content (JupyterLab, classic Notebook).
RUN_CELL_KEYS = ("execution", "ExecuteTime", "collapsed", "scrolled", "trusted")
CANONICAL_KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def dumps(nb: dict) -> str:
    """Serialise a notebook exactly as Jupyter and nbformat write it (so diffs stay minimal)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def clean(nb: dict) -> dict:
    """Return ``nb`` without outputs, execution counts, run metadata and saved widget state."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in RUN_CELL_KEYS:
            meta.pop(key, None)
    meta = nb.get("metadata", {})
    meta.pop("widgets", None)  # ipywidgets state saved by Lab: megabytes, changes every run
    if isinstance(meta.get("language_info"), dict):  # Lab adds version, mimetype... on save
        meta["language_info"] = {"name": meta["language_info"].get("name", "python")}
    if isinstance(meta.get("kernelspec"), dict) and meta["kernelspec"].get("name") == "python3":
        meta["kernelspec"] = dict(CANONICAL_KERNEL)  # "Python 3 (ipykernel)" -> "Python 3"
    return nb


def clean_text(text: str) -> str:
    """Clean a notebook given as JSON text; anything that is not a notebook is returned as is."""
    try:
        nb = json.loads(text)
    except ValueError:
        return text
    if not (isinstance(nb, dict) and isinstance(nb.get("cells"), list)):
        return text
    return dumps(clean(nb))


def main(argv: list[str]) -> int:
    """Filter stdin to stdout, or clean the files named after ``--inplace``."""
    if argv[:1] == ["--inplace"]:
        for name in argv[1:]:
            path = Path(name)
            text = path.read_text(encoding="utf-8")
            cleaned = clean_text(text)
            if cleaned != text:
                path.write_text(cleaned, encoding="utf-8")
                print(f"cleaned {path}")
        return 0
    if argv:
        print("usage: python3 .ci/nbclean.py < in.ipynb > out.ipynb  |  "
              "python3 .ci/nbclean.py --inplace FILE...", file=sys.stderr)
        return 2
    data = sys.stdin.buffer.read()
    try:
        out = clean_text(data.decode("utf-8")).encode("utf-8")
    except UnicodeDecodeError:
        out = data  # not text: not a notebook, pass it through
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
