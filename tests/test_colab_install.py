"""The Colab install cell (.ci/colab_repo.py) never replaces Colab's torch or Jupyter stack, and when
pip fails it shows pip's last lines before its one sentence of advice.

The network test runs the cell's own pip command with --dry-run in a fresh virtual environment that
holds Colab's versions (tests/colab_pins.txt) and this environment's torch build, and fails if pip
would change any of them: nothing is installed and no torch is downloaded.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest

from _tools import load_tool
from conftest import REPO

colab_repo = load_tool("colab_repo")
PINS_FILE = REPO / "tests" / "colab_pins.txt"
URL = "https://github.com/ssl-course/ssl-course"
INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/")


def _norm(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_pins() -> dict[str, str]:
    """tests/colab_pins.txt as {name: version}."""
    lines = [line.strip() for line in PINS_FILE.read_text().splitlines()]
    pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {_norm(name): version for name, version in pairs}


def torch_builds() -> dict[str, str]:
    """torch and torchvision as this environment has them: they stand in for Colab's builds."""
    return {name: metadata.version(name) for name in ("torch", "torchvision")}


class _Pip:
    """Stands in for subprocess.run inside the cell: records the command and the constraints file."""

    def __init__(self, returncode: int = 0, output: str = "") -> None:
        self.returncode, self.output = returncode, output
        self.argv: list[str] = []
        self.constraints = ""
        self.kwargs: dict = {}

    def __call__(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        self.argv, self.kwargs = list(argv), kwargs
        self.constraints = Path(argv[argv.index("-c") + 1]).read_text()
        return subprocess.CompletedProcess(argv, self.returncode, self.output, None)


def run_cell(monkeypatch: pytest.MonkeyPatch, pip: _Pip, versions: dict[str, str] | None = None) -> None:
    """Execute the install cell as Colab would, with ``pip`` instead of a real pip run; ``versions``
    (when given) are the installed packages the cell sees."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", pip)
    if versions is not None:
        def version(name: str) -> str:
            if _norm(name) not in versions:
                raise metadata.PackageNotFoundError(name)
            return versions[_norm(name)]
        monkeypatch.setattr(metadata, "version", version)
    exec(colab_repo.install_cell(URL, "main"), {})  # noqa: S102 (our own generated cell)


def test_pins_file_covers_what_the_cell_keeps() -> None:
    assert set(colab_pins()) | set(torch_builds()) == {_norm(n) for n in colab_repo.COLAB_KEEP}


def test_install_cell_keeps_installed_builds_and_shows_pip_tail(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    """On failure: pip's last 20 lines, then the one-sentence RuntimeError; torch & co. constrained."""
    output = "\n".join(f"pip line {i}" for i in range(30)) + "\n"
    pip = _Pip(returncode=1, output=output)
    with pytest.raises(RuntimeError) as err:
        run_cell(monkeypatch, pip)
    assert capsys.readouterr().out == "\n".join(f"pip line {i}" for i in range(10, 30)) + "\n"
    message = str(err.value)
    assert message.startswith(f"Could not install the course from {URL} (branch main): ")
    assert "make colab REPO=owner/name" in message and "\n" not in message
    assert pip.argv[:4] == [sys.executable, "-m", "pip", "install"]
    assert pip.argv[-1] == f"ssl-course @ git+{URL}@main" and "--no-deps" not in pip.argv
    assert pip.kwargs["stderr"] == subprocess.STDOUT  # pip's errors are in the tail, in order
    kept = dict(line.split("==") for line in pip.constraints.splitlines())
    assert kept["torch"] == metadata.version("torch") and kept["torchvision"] == metadata.version("torchvision")
    assert set(kept) <= set(colab_repo.COLAB_KEEP)
    assert not Path(pip.argv[pip.argv.index("-c") + 1]).exists()  # the cell removes its constraints file


def test_install_cell_is_quiet_when_pip_succeeds(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    run_cell(monkeypatch, _Pip(returncode=0, output="Successfully installed ssl-course-0.1.0\n"),
             versions={"torch": "2.8.0+cu126"})
    assert capsys.readouterr().out == ""


def _index_reachable() -> str | None:
    """None when the package index answers, else why not."""
    try:
        with urllib.request.urlopen(INDEX.rstrip("/") + "/pip/", timeout=15):
            return None
    except (urllib.error.URLError, OSError) as err:
        return f"{INDEX} cannot be reached ({err}): this check resolves Colab's versions there"


def _fresh_venv_holding(path: Path, builds: dict[str, str]) -> Path:
    """A fresh venv (no pip: the test's pip works on it through --python) in which ``builds`` are
    installed as metadata-only stand-ins, so pip sees them and never downloads them."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    for name, version in builds.items():
        info = Path(site) / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "INSTALLER").write_text("colab\n")
        (info / "RECORD").write_text("")
    return python


@pytest.mark.slow
def test_installing_the_course_on_colab_changes_none_of_its_pins(tmp_path: Path) -> None:
    """The cell's own pip command, resolved (--dry-run) against Colab's versions; about 30 s."""
    why = _index_reachable()
    if why:
        pytest.skip(why)
    pins, builds = colab_pins(), torch_builds()
    pip = _Pip()
    with pytest.MonkeyPatch.context() as colab:  # the real subprocess.run and metadata after it
        run_cell(colab, pip, versions={**pins, **builds})
    assert dict(line.split("==") for line in pip.constraints.splitlines()) == {**pins, **builds}

    project = tmp_path / "ssl-course"  # the course as pip would fetch it from GitHub
    shutil.copytree(REPO / "course_lib", project / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, project / name)
    python = _fresh_venv_holding(tmp_path / "colab", builds)
    constraints = tmp_path / "colab-keep.txt"
    constraints.write_text(pip.constraints)
    held = tmp_path / "colab-holds.txt"  # what Colab has installed: their own requirements must still hold
    held.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    report = tmp_path / "report.json"
    argv = list(pip.argv)
    argv[argv.index("-c") + 1] = str(constraints)
    argv[-1] = f"ssl-course @ {project.as_uri()}"
    argv[argv.index("pip") + 1:argv.index("pip") + 1] = ["--python", str(python)]
    argv += ["-r", str(held), "--dry-run", "--report", str(report)]
    start = time.monotonic()
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
                              env={**os.environ, "PIP_NO_INPUT": "1"})
    except subprocess.TimeoutExpired as err:  # e.g. jupyterlab>=4: pip backtracks through every release
        out = err.output.decode(errors="replace") if isinstance(err.output, bytes) else err.output or ""
        pytest.fail("pip was still backtracking after 300 s, i.e. the course's requirements conflict with "
                    "Colab's versions:\n" + "\n".join(out.splitlines()[-colab_repo.PIP_TAIL:]))
    tail = "\n".join(done.stdout.splitlines()[-colab_repo.PIP_TAIL:])
    assert done.returncode == 0, f"pip cannot install the course next to Colab's versions:\n{tail}"
    would = {_norm(item["metadata"]["name"]): item["metadata"]["version"]
             for item in json.loads(report.read_text())["install"]}
    assert "ssl-course" in would
    changed = {name: f"{version} -> {would[name]}" for name, version in {**pins, **builds}.items()
               if name in would and would[name] != version}
    replaced = sorted(name for name in builds if name in would)
    assert not changed and not replaced, f"pip would change Colab's {changed or replaced}:\n{tail}"
    print(f"resolved {len(would)} packages against Colab's versions in {time.monotonic() - start:.0f} s")
