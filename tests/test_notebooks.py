"""Every committed notebook is clean, opens with a Colab badge and a Colab-only install cell, and
calls course_lib.setup with its own name. (Executing them is nbval's job: `pytest --nbval-lax`.)

"Clean" is checked on what git stores (the index, i.e. a fresh clone's files), not on the working
copy: running a notebook in JupyterLab saves its outputs there, and that must not fail the tests.
The git filter in .ci/nbclean.py keeps those outputs out of commits."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from _tools import load_tool
from conftest import REPO
from course_lib import profiles

nbclean = load_tool("nbclean")
colab_repo = load_tool("colab_repo")

FOLDERS = ("notebooks", "solutions", "exercises")
NOTEBOOKS = sorted(p for folder in FOLDERS for p in (REPO / folder).glob("*.ipynb"))
IDS = [str(p.relative_to(REPO)) for p in NOTEBOOKS]


def _read(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def test_there_are_notebooks() -> None:
    assert (REPO / "notebooks" / "00_tour.ipynb") in NOTEBOOKS


def committed_text(path: Path, root: Path = REPO) -> str:
    """The notebook as git stores it (index blob = HEAD on a fresh clone); the file if untracked."""
    rel = path.relative_to(root).as_posix()
    try:
        blob = subprocess.run(["git", "-C", str(root), "show", f":{rel}"], capture_output=True,
                              check=True, timeout=60).stdout
        return blob.decode("utf-8")
    except (OSError, subprocess.CalledProcessError):  # no git, not a checkout, or not yet added
        return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path: Path) -> None:
    text = committed_text(path)
    nb = nbformat.reads(text, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, \
                f"{path.name} cell {i} is committed with outputs: run `make env` (installs the git " \
                f"filter), then `git add --renormalize {path.relative_to(REPO)}`"
    assert nbclean.clean_text(text) == text, \
        f"{path.name} is committed with run metadata (or not in Jupyter's layout): run " \
        f"`python3 .ci/nbclean.py --inplace {path.relative_to(REPO)}` and commit it, so a fresh clone " \
        "with the git filter installed is not shown as modified"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_opens_with_badge_install_and_setup(path: Path) -> None:
    cells = _read(path).cells
    rel = path.relative_to(REPO).as_posix()
    assert cells[0].cell_type == "markdown" and "colab-badge.svg" in cells[0].source
    code = [c.source for c in cells if c.cell_type == "code"]
    install = code[0]
    assert colab_repo.COLAB_GUARD in install, f"{rel}: first code cell is the Colab install"
    body = install.split(colab_repo.COLAB_GUARD, 1)[1]
    assert all(line.startswith("    ") or not line.strip() for line in body.splitlines()[1:]), \
        f"{rel}: everything after the guard acts only on Colab"
    repository, branch = colab_repo.read_config(REPO)
    assert colab_repo.problems_in(json.loads(path.read_text(encoding="utf-8")), rel, repository, branch) == [], \
        f"{rel}: badge/install cell disagree with pyproject.toml: run `make colab REPO={repository} BRANCH={branch}`"
    setup = re.search(r'course_lib\.setup\("([\w]+)"', "\n".join(code[1:3]))
    assert setup and setup.group(1) == path.stem, f"{rel}: call course_lib.setup({path.stem!r}) right after"
    assert path.stem in profiles.BUDGETS


# --- the git filter (.ci/nbclean.py) and the Colab repository command (.ci/colab_repo.py) ---

def _lab_run(nb: dict) -> dict:
    """What JupyterLab saves after running ``nb``: outputs, counts, timings, widgets, kernel info."""
    ran = json.loads(json.dumps(nb))
    for n, cell in enumerate(c for c in ran["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["hello\n"]}]
        cell["metadata"]["execution"] = {"iopub.status.busy": "2025-01-01T00:00:00.0Z"}
        cell["metadata"]["scrolled"] = True
    ran["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    ran["metadata"]["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
    ran["metadata"]["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
    return ran


def test_nbclean_undoes_a_lab_run_and_keeps_content() -> None:
    text = committed_text(REPO / "notebooks" / "00_tour.ipynb")  # the working copy may have run
    assert nbclean.clean_text(text) == text  # a clean notebook comes out byte for byte
    assert nbclean.clean_text(nbclean.dumps(_lab_run(json.loads(text)))) == text
    solution = committed_text(REPO / "solutions" / "00_pretext_warmup.ipynb")
    assert nbclean.clean_text(solution) == solution  # nbgrader metadata survives
    assert nbclean.clean_text("<<<<<<< HEAD\nnot json") == "<<<<<<< HEAD\nnot json"  # passes through


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def _filter_command() -> str:
    """The clean-filter command exactly as `make git-filter` installs it."""
    makefile = (REPO / "Makefile").read_text()
    command = re.search(r"^NBCLEAN := (.+)$", makefile, re.M).group(1)
    return command.replace("$(PYTHON)", "python3")


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("python3") is None,
                    reason="needs git and python3")
def test_git_filter_keeps_lab_outputs_out_of_commits(tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    (repo / ".ci").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    shutil.copy(REPO / ".ci" / "nbclean.py", repo / ".ci")
    shutil.copy(REPO / ".gitattributes", repo)
    clean = committed_text(REPO / "notebooks" / "00_tour.ipynb")
    nb_path = repo / "notebooks" / "00_tour.ipynb"
    nb_path.write_text(clean, encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clean")
    ran = nbclean.dumps(_lab_run(json.loads(clean)))
    # Without the filter (a user who never ran make): git works as usual and sees the outputs.
    nb_path.write_text(ran, encoding="utf-8")
    assert _git(repo, "status", "--porcelain").strip() == "M notebooks/00_tour.ipynb"
    assert "hello" in _git(repo, "diff")
    # With it: no diff, and adding the run notebook stages nothing (git status may list it as
    # modified until then: git trusts a changed file size without filtering, as with nbstripout).
    _git(repo, "config", "filter.nbclean.clean", _filter_command())
    assert _git(repo, "diff") == ""
    _git(repo, "add", "notebooks/00_tour.ipynb")
    assert _git(repo, "status", "--porcelain") == "" and _git(repo, "diff", "--cached") == ""
    assert nb_path.read_text(encoding="utf-8") == ran  # the working copy keeps its outputs
    assert committed_text(nb_path, repo) == clean
    # A checkout without .ci/nbclean.py (an older branch) passes notebooks through unchanged.
    (repo / ".ci" / "nbclean.py").unlink()
    assert _git(repo, "hash-object", "--path=notebooks/x.ipynb",
                str(nb_path)).strip() == _git(repo, "hash-object", "--no-filters", str(nb_path)).strip()


def test_committed_text_reads_the_index_not_the_working_copy(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    path = repo / "a.ipynb"
    path.write_text("committed\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "a.ipynb")
    path.write_text("run in Lab\n")
    assert committed_text(path, repo) == "committed\n"
    untracked = repo / "b.ipynb"
    untracked.write_text("new\n")
    assert committed_text(untracked, repo) == "new\n"


def _copy_course(tmp_path: Path) -> Path:
    """The course's notebooks as committed (the working copies may hold outputs) and pyproject."""
    root = tmp_path / "course"
    for path in NOTEBOOKS:
        copy = root / path.relative_to(REPO)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(committed_text(path), encoding="utf-8")
    shutil.copy(REPO / "pyproject.toml", root)
    return root


def test_colab_set_rewrites_every_badge_install_cell_and_pyproject(tmp_path: Path) -> None:
    root = _copy_course(tmp_path)
    assert colab_repo.check(root) == []
    changed = colab_repo.set_repository("my-uni/ssl-2026", "spring", root)
    assert len(changed) == 1 + len(colab_repo.notebooks(root))
    assert colab_repo.read_config(root) == ("my-uni/ssl-2026", "spring")
    assert colab_repo.check(root) == []
    text = (root / "notebooks" / "00_tour.ipynb").read_text()
    assert "ssl-course/ssl-course" not in text and "ssl-course/ssl-course" not in (root / "pyproject.toml").read_text()
    assert "colab.research.google.com/github/my-uni/ssl-2026/blob/spring/notebooks/00_tour.ipynb)" in text
    assert 'Homepage = "https://github.com/my-uni/ssl-2026"' in (root / "pyproject.toml").read_text()
    assert nbclean.clean_text(text) == text  # still Jupyter's layout, still clean
    assert colab_repo.set_repository("my-uni/ssl-2026", "spring", root) == []  # idempotent
    # A hand edit to one badge is caught.
    path = root / "solutions" / "00_pretext_warmup.ipynb"
    path.write_text(path.read_text().replace("blob/spring/", "blob/main/"))
    assert any("badge opens" in p for p in colab_repo.check(root))
    with pytest.raises(ValueError, match="owner/name"):
        colab_repo.set_repository("https://github.com/x/y", "main", root)


def test_colab_install_cell_fails_in_one_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run the install cell as Colab would, against a repository that does not exist."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setenv("PIP_DRY_RUN", "1")  # belt and braces: never install into this environment
    url = (tmp_path / "no-such-repo").as_uri()
    with pytest.raises(RuntimeError) as err:
        exec(colab_repo.install_cell(url, "main"), {})  # noqa: S102 (our own generated cell)
    message = str(err.value)
    assert message.startswith(f"Could not install the course from {url} (branch main): ")
    assert "make colab REPO=owner/name" in message and "\n" not in message


LECTURES = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", LECTURES, ids=[p.stem for p in LECTURES])
def test_lectures_print_their_verdicts_with_claims(path: Path) -> None:
    """Every lecture states at least one lesson through course_lib.claims with relied_on=True, so that
    make test (CLAIMS_STRICT=1) fails when its ci run stops showing it (issue 18)."""
    code = "\n".join(c.source for c in _read(path).cells if c.cell_type == "code")
    assert re.search(r"from course_lib\.claims import claim|from course_lib import .*\bclaims\b", code), path.name
    assert "relied_on=True" in code, f"{path.name}: no claim the text relies on"
