"""Shared test settings: every test runs offline-style, on the ci profile, with a private data cache."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _ci_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never depend on the caller's profile."""
    monkeypatch.setenv("COURSE_PROFILE", "ci")


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty COURSE_DATA cache for tests that download or generate data."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("COURSE_DATA", str(cache))
    return cache


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give nbval 60 s, not its hard-coded 5 s, to collect a cell's outputs once the cell has finished.

    On a busy 2-core machine the kernel's last messages can lag: in a fresh-clone CI run notebook 09's
    training cell (70 s) finished and then failed with "Timeout of 5 seconds exceeded waiting for
    output" (nbval issues #136, #231). The cell's own time limit is unchanged.
    """
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60
