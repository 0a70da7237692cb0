"""The runtime dependencies are what the course imports (no Jupyter front end or test tool: those are
the dev extra that `make` installs), environment.yml mirrors pyproject.toml, the pinned torch
satisfies the declared range, and the set-up picks PyTorch's CPU-only index only when it should."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from _local_http import serve
from _tools import load_tool
from conftest import REPO


def _pyproject_deps() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def _dev_extra() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]


def _conda_pip_deps() -> list[str]:
    lines = (REPO / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    deps = []
    for line in lines[start + 1:]:
        if not line.startswith("      - "):
            break
        deps.append(line.strip()[2:])
    return [d for d in deps if d != "-e ."]


def test_environment_yml_matches_pyproject() -> None:
    """Students' conda environment: the runtime dependencies, then the dev extra (JupyterLab)."""
    assert _conda_pip_deps() == _pyproject_deps() + _dev_extra()


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def test_jupyter_front_end_and_test_tools_are_the_dev_extra_that_make_installs() -> None:
    """On Colab the runtime list is installed next to Colab's own Jupyter: jupyterlab there once
    upgraded ipykernel/jupyter-client past Colab's pins (tests/test_colab_install.py checks those)."""
    tools = {"jupyterlab", "notebook", "nbval", "pytest", "ipykernel", "jupyter-client", "jupyter-server"}
    assert not _names(_pyproject_deps()) & tools
    assert {"jupyterlab", "nbval", "pytest", "pytest-xdist"} <= _names(_dev_extra())
    makefile = (REPO / "Makefile").read_text()
    assert '$(BIN)/python -m pip install --no-compile -e ".[dev]"' in makefile


def _imported_modules() -> set[str]:
    """Top-level modules imported by course_lib and by the code cells of notebooks/ and solutions/."""
    sources = [p.read_text(encoding="utf-8") for p in (REPO / "course_lib").rglob("*.py")]
    for path in [*(REPO / "notebooks").glob("*.ipynb"), *(REPO / "solutions").glob("*.ipynb")]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        sources += ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    found = set()
    for source in sources:
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("!", "%"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def test_every_runtime_dependency_is_imported_by_the_course() -> None:
    """Nothing in the runtime list that no notebook or course_lib module imports."""
    provided = metadata.packages_distributions()
    imported = {dist.lower() for module in _imported_modules() for dist in provided.get(module, [])}
    unused = sorted(_names(_pyproject_deps()) - imported)
    assert not unused, f"runtime dependencies nothing imports: {unused} (move them to an extra)"


def test_makefile_torch_pin_is_inside_the_range() -> None:
    pins = re.search(r"^TORCH \?= (.+)$", (REPO / "Makefile").read_text(), re.M).group(1).split()
    ranges = {Requirement(d).name: Requirement(d).specifier for d in _pyproject_deps()}
    for pin in pins:
        name, version = pin.split("==")
        assert version in ranges[name], f"{pin} is outside pyproject's {name}{ranges[name]}"


# --- which index torch comes from (.ci/torch_index.py, run by the Makefile before pip) ---

torch_index = load_tool("torch_index")
CPU = "https://download.pytorch.org/whl/cpu"


def _choose(reachable: bool, nvidia: bool = False, request: str = "auto", system: str = "Linux"):
    probed = []

    def probe(url: str) -> bool:
        probed.append(url)
        return reachable

    args, why = torch_index.choose(request, system=system, nvidia=lambda: nvidia, probe=probe)
    return args, why, probed


def test_no_nvidia_and_cpu_index_reachable_installs_the_cpu_build() -> None:
    args, why, probed = _choose(reachable=True)
    assert args == ["--index-url", CPU] and probed == [CPU]
    assert "CPU-only" in why and "TORCH_INDEX" in why


def test_no_nvidia_and_cpu_index_unreachable_falls_back_to_the_default_index() -> None:
    args, why, probed = _choose(reachable=False)
    assert args == [] and probed == [CPU]
    assert "cannot be reached" in why and "default index" in why


def test_nvidia_macos_and_overrides_never_probe() -> None:
    assert _choose(reachable=True, nvidia=True)[0::2] == ([], [])
    assert _choose(reachable=True, system="Darwin")[0::2] == ([], [])
    assert _choose(reachable=False, request="cpu")[0::2] == (["--index-url", CPU], [])
    assert _choose(reachable=True, request="default")[0::2] == ([], [])
    url = "https://download.pytorch.org/whl/cu126"
    assert _choose(reachable=False, request=url)[0] == ["--index-url", url]
    with pytest.raises(ValueError, match="TORCH_INDEX='gpu'"):
        _choose(reachable=True, request="gpu")


@pytest.mark.skipif(torch_index.has_nvidia_driver(), reason="this machine has an NVIDIA driver")
def test_makefile_line_prints_the_choice_against_a_real_local_index() -> None:
    """The CLI the Makefile calls, probing a local index that answers and a port that does not."""
    script = [sys.executable, str(REPO / ".ci" / "torch_index.py"), "auto", "--cpu-index"]
    with serve({"/simple/torch/": (200, b"<html></html>", None)}) as base:
        up = subprocess.run(script + [f"{base}/simple"], capture_output=True, text=True, timeout=60)
    assert up.returncode == 0 and up.stdout.split() == ["--index-url", f"{base}/simple"]
    assert "[torch] installing PyTorch: no NVIDIA driver: CPU-only build" in up.stderr
    down = subprocess.run(script + [f"{base}/simple"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 0 and down.stdout.strip() == ""  # server gone: default index
    assert "cannot be reached: default index" in down.stderr
    makefile = (REPO / "Makefile").read_text()
    assert ".ci/torch_index.py $(TORCH_INDEX) --cpu-index $(TORCH_CPU_INDEX)" in makefile


def test_ui_check_says_how_to_install_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    ui_check = load_tool("ui_check")
    monkeypatch.setattr(ui_check.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="apt-get install chromium chromium-driver"):
        ui_check.find_tools(install=False)
