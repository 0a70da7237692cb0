"""Process-tree bookkeeping for the grading worker: find, measure and kill a kernel's processes.

We watch resident memory (RSS) through /proc instead of setting RLIMIT_AS, because an address
space limit breaks importing CUDA builds of torch long before any real memory is used.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable

PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process, so a double fork cannot escape us."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return kids
    for task in tasks:
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except (OSError, ValueError):
            pass
    return kids


def descendants(pid: int) -> list[int]:
    """Every live descendant of pid (children first walked breadth-first), pid excluded."""
    found, todo = [], _children(pid)
    while todo:
        p = todo.pop()
        if p not in found:
            found.append(p)
            todo += _children(p)
    return found


def rss_mb(pids: list[int]) -> float:
    """Total resident memory of the given processes in MiB (vanished ones count 0)."""
    total = 0
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return total * _PAGE / 2**20


def kill_tree(pid: int, include_self: bool = False) -> None:
    """SIGKILL every descendant of pid (and their process groups), repeating until none is left."""
    for _ in range(20):
        victims = descendants(pid)
        if not victims:
            break
        for p in victims:
            for kill in (lambda: os.killpg(p, signal.SIGKILL), lambda: os.kill(p, signal.SIGKILL)):
                try:
                    kill()
                except (OSError, PermissionError):
                    pass
        _reap()
        time.sleep(0.02)
    if include_self:
        os.kill(pid, signal.SIGKILL)


def _reap() -> None:
    """Collect exited children so they stop showing up as processes."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def shared_mb(pids: list[int]) -> float:
    """Memory held through file descriptors on memfd or /dev/shm objects (counted once each);
    RSS misses it when the pages are written but not mapped."""
    seen: dict[tuple[int, int], int] = {}
    for p in pids:
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{p}/fd/{fd}")
                if target.startswith(("/memfd:", "/dev/shm/")):
                    st = os.stat(f"/proc/{p}/fd/{fd}")
                    seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
            except OSError:
                continue
    return sum(seen.values()) / 2**20


class Watchdog:
    """A thread that kills this process's descendants when they exceed memory or time.

    `usage` measures the kernel's memory (a cgroup's counter where there is one); by default the
    RSS of every descendant plus the memfd/shm objects they hold open.
    """

    def __init__(self, memory_mb: float | None, interval: float = 0.05,
                 usage: Callable[[], float] | None = None, shown_mb: float | None = None) -> None:
        self.memory_mb, self.interval, self.shown_mb = memory_mb, interval, shown_mb or memory_mb
        self.usage = usage or (lambda: (lambda ps: rss_mb(ps) + shared_mb(ps))(descendants(os.getpid())))
        self.deadline: float | None = None
        self.expired = False
        self.memory_hit: str | None = None
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def reason(self) -> str | None:
        """Why the watchdog killed the kernel (None if it did not)."""
        return "notebook time limit exceeded" if self.expired else self.memory_hit

    def start(self) -> "Watchdog":
        """Begin watching."""
        self._thread.start()
        return self

    def arm(self, seconds: float) -> None:
        """Start the notebook clock: everything must finish within `seconds` from now."""
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left on the notebook clock (inf before it is armed)."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def stop(self) -> None:
        """Stop watching (does not kill anything)."""
        self._stop.set()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            used = self.usage()
            self.peak_mb = max(self.peak_mb, used)
            if self.memory_mb and used >= self.memory_mb:
                self.memory_hit = f"memory limit exceeded ({used:.0f} MiB used, the limit is {self.shown_mb:.0f} MiB)"
                kill_tree(me)
            elif self.deadline is not None and time.monotonic() > self.deadline:
                self.expired = True
                kill_tree(me)
                return


def kill_marked(marker: str) -> int:
    """SIGKILL every process whose environment holds marker (catches escaped orphans)."""
    needle, killed = marker.encode(), 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, PermissionError):
            pass
    return killed


def no_dumping() -> None:
    """Make this process impossible to ptrace or read through /proc for other uids."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
