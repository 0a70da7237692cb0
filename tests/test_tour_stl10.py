"""The setup appendix (linked from notebook 00) loads STL-10 (a 2.6 GB archive) only where the profile uses it or it is cached; anywhere
else it prints one line that says it skipped it and why. The cell runs here against a stand-in data
layer that records what is loaded."""
from __future__ import annotations

import types

import nbformat
import pytest

from conftest import REPO


def _datasets_cell() -> str:
    cells = nbformat.read(REPO / "notebooks" / "appendix_setup.ipynb", as_version=4).cells
    found = [c.source for c in cells if c.cell_type == "code" and '("cifar10", "stl10")' in c.source]
    assert len(found) == 1, "the setup appendix has one cell that tries the real image sets"
    return found[0]


class _Data:
    """course_lib.data as the cell uses it: nothing downloads, every load is recorded."""

    class DownloadError(Exception):
        pass

    def __init__(self, cached: set[str]) -> None:
        self.loaded: list[str] = []
        self.images = types.SimpleNamespace(is_cached=lambda name: name in cached)

    def load_images(self, name: str, **kwargs) -> types.SimpleNamespace:
        self.loaded.append(name)
        if name == "cifar10":
            raise self.DownloadError("cifar-10-python.tar.gz could not be downloaded\nmore")
        return types.SimpleNamespace(classes=list("abcdefghij"), x=types.SimpleNamespace(shape=(16, 3, 96, 96)))


@pytest.mark.parametrize(("dataset", "cached", "loads_stl10"), [
    ("shapes", set(), False),
    ("cifar10", set(), False),
    ("shapes", {"stl10"}, True),
    ("stl10", set(), True),
])
def test_stl10_only_where_the_profile_already_has_it(dataset: str, cached: set[str], loads_stl10: bool,
                                                     capsys: pytest.CaptureFixture) -> None:
    data = _Data(cached)
    exec(_datasets_cell(), {"data": data, "run": types.SimpleNamespace(dataset=dataset, seed=0)})  # noqa: S102
    lines = capsys.readouterr().out.splitlines()
    assert data.loaded == (["cifar10", "stl10"] if loads_stl10 else ["cifar10"])
    assert lines[0] == "cifar10: not available here -> cifar-10-python.tar.gz could not be downloaded"
    stl10 = [line for line in lines if line.startswith("stl10:")]
    assert len(stl10) == 1
    if loads_stl10:
        assert stl10[0] == "stl10: available, 10 classes, images (3, 96, 96)"
    else:
        assert stl10[0].startswith("stl10: skipped: not in the cache and this profile does not use it")
        assert "2.6 GB" in stl10[0]
