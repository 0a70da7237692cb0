#!/usr/bin/env python3
"""Point every Colab badge and Colab install cell (and pyproject.toml) at one GitHub repository.

    python3 .ci/colab_repo.py set OWNER/NAME [--branch BRANCH]   # what `make colab` runs
    python3 .ci/colab_repo.py check                              # exit 1 if anything disagrees

The repository lives in pyproject.toml ([tool.ssl-course] repository/branch, and the Homepage URL);
`set` writes it there and rewrites, in every notebook under notebooks/, solutions/ and exercises/,
the badge URL (which opens that very file on that branch) and the whole first code cell that
installs the course on Colab. Standard library only, so it runs before the environment exists.
"""
from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("notebooks", "solutions", "exercises")
COLAB_GUARD = 'if "google.colab" in sys.modules:'
_BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"']+")
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_BRANCH = re.compile(r"^[A-Za-z0-9_./-]+$")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbclean import dumps  # noqa: E402  (same on-disk layout as Jupyter and the git filter)


def badge_url(repository: str, branch: str, rel: str) -> str:
    """The Colab URL that opens ``rel`` (a repo-relative path) from GitHub."""
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/{rel}"


# Colab's own builds, which pip may never replace: a torch reinstall is a multi-GB download of the
# wrong build, a newer ipykernel or jupyter-client than Colab's breaks the runtime itself, and a
# replaced numpy needs a restart. The install cell pins each one present at its installed version
# (a pip constraints file), so pip adds only what is missing, or fails and shows why.
# tests/test_colab_install.py resolves the course against Colab's versions (tests/colab_pins.txt).
COLAB_KEEP = ("torch", "torchvision", "numpy", "ipykernel", "ipython", "jupyter-client", "notebook",
              "tornado", "ipywidgets")
PIP_TAIL = 20  # lines of pip's output shown when the install fails


def _keep_tuple() -> str:
    """COLAB_KEEP as the cell writes it: a double-quoted tuple, wrapped under the cell's `for`."""
    return textwrap.fill("(" + ", ".join(f'"{name}"' for name in COLAB_KEEP) + ")", width=100,
                         initial_indent=" " * 16, subsequent_indent=" " * 17, break_on_hyphens=False,
                         break_long_words=False).strip()


def install_cell(url: str, branch: str) -> str:
    """The first code cell of every notebook: installs the course on Colab without touching Colab's own
    torch and Jupyter stack; on failure shows pip's last lines, then one sentence of advice."""
    return f'''import sys
{COLAB_GUARD}  # only on Colab: install the course library from GitHub
    import os, subprocess, tempfile
    from importlib import metadata
    url, branch = "{url}", "{branch}"  # set by `make colab REPO=owner/name BRANCH=...`
    keep = []  # Colab's builds stay as they are: pip may add packages, never replace these
    for name in {_keep_tuple()}:
        try:
            keep.append(f"{{name}}=={{metadata.version(name)}}\\n")
        except metadata.PackageNotFoundError:
            pass
    with tempfile.NamedTemporaryFile("w", suffix="-colab-keep.txt", delete=False) as pins:
        pins.writelines(keep)
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--progress-bar", "off", "-c", pins.name,
                          f"ssl-course @ git+{{url}}@{{branch}}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env={{**os.environ, "GIT_TERMINAL_PROMPT": "0"}})
    os.unlink(pins.name)
    if pip.returncode:
        print(*pip.stdout.splitlines()[-{PIP_TAIL}:], sep="\\n")
        raise RuntimeError(f"Could not install the course from {{url}} (branch {{branch}}): open that address in "
                           "your browser; if it does not exist, open this notebook from your course's own "
                           "Colab link (instructors: run `make colab REPO=owner/name` in your fork).")'''


def read_config(root: Path = REPO) -> tuple[str, str]:
    """(repository, branch) from pyproject.toml's [tool.ssl-course] table."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("[tool.ssl-course]", 1)[-1]
    found = {k: re.search(rf'^{k}\s*=\s*"([^"]*)"', table, re.M) for k in ("repository", "branch")}
    if "[tool.ssl-course]" not in text or not all(found.values()):
        raise ValueError("pyproject.toml needs a [tool.ssl-course] table with repository = "
                         '"owner/name" and branch = "main"')
    return found["repository"].group(1), found["branch"].group(1)


def notebooks(root: Path = REPO) -> list[Path]:
    """Every notebook the course ships (lectures, solutions, generated exercises)."""
    return sorted(p for folder in FOLDERS for p in (root / folder).glob("*.ipynb"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True) if isinstance(cell.get("source"), list) else text


def _install_cell_index(cells: list[dict]) -> int | None:
    code = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    return code[0] if code and COLAB_GUARD in _source(cells[code[0]]) else None


def problems_in(nb: dict, rel: str, repository: str, branch: str) -> list[str]:
    """What in one notebook disagrees with (repository, branch); [] when all agree."""
    cells, found = nb.get("cells", []), []
    badges = _BADGE.findall(_source(cells[0])) if cells and cells[0].get("cell_type") == "markdown" else []
    want = badge_url(repository, branch, rel)
    if not badges:
        found.append(f"{rel}: no Colab badge link in the first (markdown) cell")
    found += [f"{rel}: badge opens {b}, expected {want}" for b in badges if b != want]
    i = _install_cell_index(cells)
    if i is None:
        found.append(f"{rel}: the first code cell is not the Colab install cell ({COLAB_GUARD})")
    elif _source(cells[i]) != install_cell(f"https://github.com/{repository}", branch):
        found.append(f"{rel}: the Colab install cell differs from .ci/colab_repo.py's (run `make colab`)")
    return found


def check(root: Path = REPO) -> list[str]:
    """Every disagreement between pyproject.toml, badges and install cells ([] when consistent)."""
    repository, branch = read_config(root)
    found = []
    homepage = re.search(r'^Homepage\s*=\s*"([^"]*)"', (root / "pyproject.toml").read_text(), re.M)
    if not homepage or homepage.group(1) != f"https://github.com/{repository}":
        found.append(f"pyproject.toml: Homepage should be https://github.com/{repository}")
    for path in notebooks(root):
        rel = path.relative_to(root).as_posix()
        found += problems_in(json.loads(path.read_text(encoding="utf-8")), rel, repository, branch)
    return found


def set_repository(repository: str, branch: str = "main", root: Path = REPO) -> list[Path]:
    """Write (repository, branch) into pyproject.toml and every notebook; return files changed."""
    if not _REPO_NAME.match(repository):
        raise ValueError(f"REPO must look like owner/name (as in github.com/owner/name), got {repository!r}")
    if not _BRANCH.match(branch):
        raise ValueError(f"BRANCH {branch!r} is not a plain git branch name")
    changed = []
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    new = re.sub(r'^(Homepage\s*=\s*)"[^"]*"', rf'\1"https://github.com/{repository}"', text, flags=re.M)
    head, sep, table = new.partition("[tool.ssl-course]")
    table = re.sub(r'^(repository\s*=\s*)"[^"]*"', rf'\1"{repository}"', table, count=1, flags=re.M)
    table = re.sub(r'^(branch\s*=\s*)"[^"]*"', rf'\1"{branch}"', table, count=1, flags=re.M)
    new = head + sep + table
    if new != text:
        pyproject.write_text(new, encoding="utf-8")
        changed.append(pyproject)
    read_config(root)  # the table must exist (clear error otherwise)
    cell_text = install_cell(f"https://github.com/{repository}", branch)
    for path in notebooks(root):
        rel = path.relative_to(root).as_posix()
        raw = path.read_text(encoding="utf-8")
        nb = json.loads(raw)
        cells = nb["cells"]
        if cells and cells[0].get("cell_type") == "markdown":
            _set_source(cells[0], _BADGE.sub(badge_url(repository, branch, rel), _source(cells[0])))
        i = _install_cell_index(cells)
        if i is not None:
            _set_source(cells[i], cell_text)
        out = dumps(nb)
        if out != raw:
            path.write_text(out, encoding="utf-8")
            changed.append(path)
        for problem in problems_in(nb, rel, repository, branch):
            print(f"warning: {problem}", file=sys.stderr)
    return changed


def main(argv: list[str]) -> int:
    """CLI: set OWNER/NAME [--branch B] | check."""
    if argv[:1] == ["check"]:
        found = check()
        print("\n".join(found) if found else "every badge, install cell and pyproject.toml agree")
        return 1 if found else 0
    if argv[:1] == ["set"] and len(argv) in (2, 4) and (len(argv) == 2 or argv[2] == "--branch"):
        try:
            changed = set_repository(argv[1], argv[3] if len(argv) == 4 else read_config()[1])
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        repository, branch = read_config()
        print(f"Colab now opens github.com/{repository} (branch {branch}); {len(changed)} file(s) changed")
        for path in changed:
            print(f"  {path.relative_to(REPO)}")
        return 0
    print("usage: make colab REPO=owner/name [BRANCH=main]   (python3 .ci/colab_repo.py "
          "set owner/name [--branch main] | check)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
