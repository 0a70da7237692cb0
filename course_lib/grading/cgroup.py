"""Memory cgroups for kernels: v2 where the machine has a writable memory controller, else v1.

The kernel's memory is what the cgroup charges: anonymous memory and shm/memfd alike, which an
RSS watchdog misses. Names carry the grader's pid, so what a killed grader left can be swept.
"""
from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path


def find_root() -> tuple[str | None, Path | None]:
    """(version, the folder we may create kernel cgroups in) if a memory cgroup is writable."""
    if os.geteuid() != 0:
        return None, None
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        try:
            if "memory" not in (root / "cgroup.controllers").read_text().split():
                continue
            (root / "cgroup.subtree_control").write_text("+memory")
            base = root / "course-grader"
            base.mkdir(exist_ok=True)
            (base / "cgroup.subtree_control").write_text("+memory")
            return "v2", base
        except OSError:
            continue
    try:
        own = next(line.split(":", 2)[2].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                   if line.split(":")[1] == "memory")
        base = Path("/sys/fs/cgroup/memory") / own.lstrip("/") / "course-grader"
        base.mkdir(exist_ok=True)
        if (base / "memory.limit_in_bytes").exists():
            return "v1", base
    except (OSError, StopIteration, IndexError):
        pass
    return None, None


class CgroupView:
    """Reads a kernel cgroup's memory counters (the worker's view; the parent owns the cgroup)."""

    def __init__(self, version: str | None, path: str | Path | None) -> None:
        self.version, self.path = version, Path(path) if path else None

    def _read(self, name: str) -> str:
        try:
            return (self.path / name).read_text() if self.path else ""
        except OSError:
            return ""

    def usage_mb(self) -> float:
        """Memory the kernel holds: anonymous plus shm/memfd (page cache left out: it is reclaimed)."""
        stat = dict(line.split(" ", 1) for line in self._read("memory.stat").splitlines() if " " in line)
        keys = ("anon", "shmem") if self.version == "v2" else ("total_rss", "total_shmem", "total_swap")
        return sum(int(stat.get(k, "0")) for k in keys) / 2**20

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer ended in this cgroup."""
        text = self._read("memory.events" if self.version == "v2" else "memory.oom_control")
        for line in text.splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        fails = self._read("memory.failcnt").strip() if self.version == "v1" else ""
        return 1 if fails.isdigit() and int(fails) > 0 else 0


class Cgroup(CgroupView):
    """One memory cgroup for one submission's kernels (every restart joins the same one)."""

    def __init__(self, version: str | None, root: Path | None, memory_mb: float | None) -> None:
        super().__init__(version, None)
        if not root:
            return
        self.path = root / f"run-{os.getpid()}-{secrets.token_hex(4)}"
        self.path.mkdir()
        limit = str(int(memory_mb * 2**20)) if memory_mb else None
        if self.version == "v2":
            if limit:
                (self.path / "memory.max").write_text(limit)
                _try_write(self.path / "memory.swap.max", "0")
        elif limit:
            (self.path / "memory.limit_in_bytes").write_text(limit)
            _try_write(self.path / "memory.memsw.limit_in_bytes", limit)

    @property
    def procs_file(self) -> str | None:
        """Where the jail writes its pid to join."""
        return str(self.path / "cgroup.procs") if self.path else None

    def kill_and_remove(self) -> None:
        """SIGKILL everything in the cgroup and remove it."""
        if not self.path or not self.path.exists():
            return
        for _ in range(250):
            if self.version == "v2":
                _try_write(self.path / "cgroup.kill", "1")
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                pids = []
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


def _try_write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError:
        pass
