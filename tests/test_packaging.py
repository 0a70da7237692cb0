"""environment.yml mirrors pyproject.toml, and the pinned torch satisfies the declared range."""
from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement

from conftest import REPO


def _pyproject_deps() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


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
    assert _conda_pip_deps() == _pyproject_deps()


def test_makefile_torch_pin_is_inside_the_range() -> None:
    pins = re.search(r"^TORCH \?= (.+)$", (REPO / "Makefile").read_text(), re.M).group(1).split()
    ranges = {Requirement(d).name: Requirement(d).specifier for d in _pyproject_deps()}
    for pin in pins:
        name, version = pin.split("==")
        assert version in ranges[name], f"{pin} is outside pyproject's {name}{ranges[name]}"
