"""Shared test settings: every test runs offline-style, on the ci profile, with a private data cache."""
from __future__ import annotations

import os
import queue
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
    _tolerate_a_lost_idle_status()


def _tolerate_a_lost_idle_status() -> None:
    """Let nbval treat a cell whose kernel replied "ok" as finished when the closing "status: idle"
    never arrives on IOPub, as nbclient does (its raise_on_iopub_timeout is False by default).

    nbval reads a cell's outputs only after the kernel's reply and stops at the idle status; without it,
    nbval waits output_timeout seconds and fails the cell. The project's CI once failed that way after
    notebook 09's 230-s training cell had replied "ok" (on a loaded 2-core machine; not reproduced here,
    where the same cell under the same load lost nothing). A cell that raised still fails: its reply says
    "error", and nbval still reports every output that did arrive.
    """
    try:
        from nbval import kernel as nbval_kernel
    except ImportError:  # nbval is a dev dependency; plain pytest runs without it
        return
    read = nbval_kernel.RunningKernel.get_message
    if getattr(read, "tolerates_lost_idle", False):
        return

    def get_message(self, stream, timeout=None):
        try:
            msg = read(self, stream, timeout=timeout)
        except queue.Empty:
            replied = getattr(self, "_ok_replies", set())
            parent = getattr(self, "_last_request", None)
            if stream != "iopub" or parent not in replied:
                raise
            replied.discard(parent)
            print(f"[conftest] no idle status within {timeout} s after an ok reply to {parent}; "
                  "treating the cell as finished", flush=True)
            return {"msg_type": "status", "parent_header": {"msg_id": parent},
                    "header": {"msg_type": "status"}, "metadata": {}, "content": {"execution_state": "idle"}}
        if stream == "shell" and msg.get("msg_type") == "execute_reply":
            self._last_request = msg["parent_header"].get("msg_id")
            if msg["content"].get("status") == "ok":
                self.__dict__.setdefault("_ok_replies", set()).add(self._last_request)
        elif stream == "iopub" and msg.get("msg_type") == "status" \
                and msg["content"].get("execution_state") == "idle":
            getattr(self, "_ok_replies", set()).discard(msg["parent_header"].get("msg_id"))
        return msg

    get_message.tolerates_lost_idle = True
    nbval_kernel.RunningKernel.get_message = get_message


# Rough seconds of the slowest test files on 2 cores (make test starts them first); the rest count 1.
SLOW_FILES = {"test_grading.py": 300, "test_gpu_smoke.py": 250, "test_grading_faults.py": 90, "test_ssl.py": 80,
              "test_text_bert.py": 55, "test_colab_install.py": 40, "test_distributed.py": 35}


def _expected_seconds(path: Path) -> float:
    """A rough cost of one test file or notebook, to start the slowest first: a notebook's ci row's
    expected minutes, or SLOW_FILES."""
    if path.suffix == ".ipynb":
        from course_lib import profiles
        try:
            return 60.0 * profiles.budget(path.stem, "ci").get("expected_min", 1.0)
        except (KeyError, ValueError):
            return 60.0
    return SLOW_FILES.get(path.name, 1.0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files in order of their expected cost, slowest first, so that `pytest -n 2 --dist loadfile
    --no-loadscope-reorder` (make test) keeps both workers busy to the end; within a file the order is
    unchanged (a notebook's cells run in order in one kernel, on one worker).

    Also give nbval 60 s, not its hard-coded 5 s, to collect a cell's outputs once the cell has finished.
    On a busy 2-core machine the kernel's last messages can lag: in a fresh-clone CI run notebook 09's
    training cell (70 s) finished and then failed with "Timeout of 5 seconds exceeded waiting for
    output" (nbval issues #136, #231). The cell's own time limit is unchanged.
    """
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60
    cost = {path: _expected_seconds(Path(path)) for path in {str(item.fspath) for item in items}}
    items.sort(key=lambda item: (-cost[str(item.fspath)], str(item.fspath)))   # each file stays in order
