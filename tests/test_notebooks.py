"""Every committed notebook is clean, opens with a Colab badge and a Colab-only install cell, and
calls course_lib.setup with its own name. (Executing them is nbval's job: `pytest --nbval-lax`.)"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from conftest import REPO
from course_lib import profiles

FOLDERS = ("notebooks", "solutions", "exercises")
NOTEBOOKS = sorted(p for folder in FOLDERS for p in (REPO / folder).glob("*.ipynb"))
IDS = [str(p.relative_to(REPO)) for p in NOTEBOOKS]


def _read(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def test_there_are_notebooks() -> None:
    assert (REPO / "notebooks" / "00_tour.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path: Path) -> None:
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} cell {i} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_opens_with_badge_install_and_setup(path: Path) -> None:
    cells = _read(path).cells
    rel = path.relative_to(REPO).as_posix()
    assert cells[0].cell_type == "markdown" and "colab-badge.svg" in cells[0].source
    assert re.search(rf"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/main/{re.escape(rel)}\)",
                     cells[0].source), f"{rel}: the badge must open this very file"
    code = [c.source for c in cells if c.cell_type == "code"]
    install = code[0]
    assert 'if "google.colab" in sys.modules:' in install, f"{rel}: first code cell is the Colab install"
    body = install.split('if "google.colab" in sys.modules:', 1)[1]
    assert all(line.startswith("    ") or not line.strip() for line in body.splitlines()[1:]), \
        f"{rel}: everything after the guard acts only on Colab"
    assert "%pip install" in body and "sys.path" not in install and "drive.mount" not in install
    setup = re.search(r'course_lib\.setup\("([\w]+)"', "\n".join(code[1:3]))
    assert setup and setup.group(1) == path.stem, f"{rel}: call course_lib.setup({path.stem!r}) right after"
    assert path.stem in profiles.BUDGETS
