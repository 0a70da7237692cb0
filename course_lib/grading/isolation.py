"""How a kernel is isolated from the grader, decided once per batch (see jail.py for the mechanics).

Modes, strongest first:
- "user": the grader runs as root. Each kernel runs as its own unprivileged uid (a slot no other
  grader on the machine holds: a lock file per uid), in new mount, PID, network and IPC namespaces
  and a memory cgroup, with a cap on its processes and on the size of its run folder (a tmpfs); no
  read access to the grader's folders, no write access outside its own folder, no network but its
  own loopback, cannot see, signal or ptrace the grader or the worker.
- "userns": not root, or the course folder is not reachable by another uid. Same namespaces
  inside an unprivileged user namespace, all capabilities dropped: the grader's folders are
  covered and every mount is read-only, but the kernel keeps the grader's uid (and no cgroup
  unless one is writable, no process cap, no size cap on its folder).
- "none": no namespaces available; the kernel runs as the grader's user (the old behaviour).
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .cgroup import Cgroup, find_root
from .files import remove_tree

JAIL = Path(__file__).resolve().with_name("jail.py")
REPO = Path(__file__).resolve().parents[2]
UID_BASE = 64_200            # kernels run as uid UID_BASE + slot (no passwd entry needed)
UID_SLOTS = 4096
PIDS = 512                   # processes and threads one kernel's uid may have ("user" mode)
DISK_MB = 1024               # size of a kernel's run folder (a tmpfs, "user" mode; its pages count as its memory)
MNT_DETACH = 2
_SPECIAL = ("/proc", "/sys", "/dev")


@dataclass
class Isolation:
    """What this machine lets the grader do, and what it says about it at start-up."""
    mode: str                                  # user | userns | none
    cgroup: str | None                         # v2 | v1 | None
    cgroup_root: Path | None = None
    missing: list[str] = field(default_factory=list)
    net: bool = True                           # network and IPC namespaces too

    def describe(self) -> str:
        """One paragraph for the grader's start-up line: what is isolated, and what is NOT."""
        ns = "mount, PID, network and IPC" if self.net else "mount and PID"
        what = {"user": f"each kernel runs as its own unprivileged user in its own {ns} namespaces, at most "
                        f"{PIDS} processes, a {DISK_MB} MiB run folder",
                "userns": f"each kernel runs in its own user, {ns} namespaces without capabilities",
                "none": "kernels run as your user"}[self.mode]
        mem = {"v2": "cgroup v2 memory limit", "v1": "cgroup v1 memory limit",
               None: "memory watchdog (RSS + memfd/shm)"}[self.cgroup]
        text = f"[grader] isolation: {self.mode}: {what}; {mem}."
        if self.missing:
            text += (" NOT isolated: " + "; ".join(self.missing) + ". For full isolation run the "
                     "grader as root (e.g. in the container recipe of solutions/README.md).")
        return text


def _ns_works(flags: list[str]) -> bool:
    try:
        return subprocess.run(["unshare", *flags, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def needed_dirs() -> list[Path]:
    """Folders the kernel must read: the course, the venv, the interpreter."""
    out: list[Path] = []
    for p in (REPO, Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent):
        p = p.resolve()
        if p not in out:
            out.append(p)
    return out


def blocked_ancestor(path: Path) -> Path | None:
    """The top-most ancestor of path that other users cannot traverse (None if all can)."""
    for p in reversed([path, *path.parents]):
        try:
            if not os.stat(p).st_mode & 0o001:
                return p
        except OSError:
            return p
    return None


SYSTEM = {"usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "run",
          "var", "boot", "nix", "snap"}


def exposures() -> dict[str, list[str]]:
    """{folder to cover: [needed folders under it]} for the jail to bind in: folders other users
    cannot enter, and every top-level folder that is not the system's (/work, /home, /root, /opt,
    /srv, ...), so that a kernel sees the course it runs and nothing else there (not another
    checkout's solutions/)."""
    out: dict[str, list[str]] = {}
    needed = needed_dirs()

    def expose(cover: Path, p: Path | None) -> None:
        have = out.setdefault(str(cover), [])
        if p is not None and not any(Path(h) in [p, *p.parents] for h in have):
            have[:] = [h for h in have if p not in Path(h).parents] + [str(p)]

    for p in needed:
        b = blocked_ancestor(p)
        if b is not None and b != p:
            expose(b, p)
    for top in Path("/").iterdir():
        if top.name in SYSTEM or top.is_symlink() or not top.is_dir() or top in needed:
            continue
        under = [p for p in needed if top in p.parents]
        if any(Path(b) in top.parents for b in out):   # already inside a covered folder
            continue
        expose(top, None)
        for p in under:
            expose(top, p)
    for b in [b for b in out if any(Path(o) in Path(b).parents for o in out)]:
        del out[b]   # nested in a top-level one, whose needed folders include its own
    return out


@lru_cache(maxsize=1)
def probe() -> Isolation:
    """Find the strongest isolation this machine allows (once per process), by trying it."""
    if os.environ.get("COURSE_GRADER_ISOLATION") == "none" or not sys.platform.startswith("linux"):
        return Isolation("none", None, None, ["no namespaces (COURSE_GRADER_ISOLATION=none or not Linux)",
                                              "student code can read and write what you can"])
    cg, cg_root = find_root()
    sweep_stale(cg_root)
    blocked = [p for p in needed_dirs() if blocked_ancestor(p) in (p, Path("/"))]
    missing = []
    if os.environ.get("COURSE_GRADER_ISOLATION") == "userns":
        missing.append("COURSE_GRADER_ISOLATION=userns: no separate user")
    elif os.geteuid() == 0 and not blocked:
        iso = Isolation("user", cg, cg_root, [] if cg else ["no writable memory cgroup (watchdog only)"])
        why = _with_net(iso)
        if why is None:
            return iso
        missing.append(f"no separate user: the jail failed ({why})")
    elif os.geteuid() == 0:
        missing.append(f"{[str(p) for p in blocked]} cannot be read by another user, so kernels keep uid 0 "
                       "without capabilities (make them o+rx)")
    else:
        missing.append("kernels keep your uid (run as root for a separate user)")
    if not cg:
        missing.append("no memory cgroup (watchdog only)")
    missing += ["no cap on the kernel's processes", "no size cap on its run folder"]
    iso = Isolation("userns", cg, cg_root, missing)
    why = _with_net(iso) if _ns_works(["--user", "--map-root-user", "--mount", "--pid", "--fork"]) else "no userns"
    if why is None:
        return iso
    # Without the jail nothing puts the kernel into a cgroup, so the watchdog must keep the memory limit.
    return Isolation("none", None, None, [f"no namespaces ({why}): kernels run as your user, can read and "
                                          "write what you can, and signal the grader",
                                          "kernels share the network (the host's 127.0.0.1, other kernels' "
                                          "ports) and SysV/POSIX IPC", "no cap on processes or disk"])


def _with_net(iso: Isolation) -> str | None:
    """Self-test with network and IPC namespaces, else without them (and say so); None if one works."""
    why = self_test(iso)
    if why is None:
        return None
    iso.net = False
    if self_test(iso) is None:
        iso.missing.append(f"no network or IPC namespace ({why}): kernels share the host's network and "
                           "SysV/POSIX IPC")
        return None
    return why


def self_test(iso: Isolation) -> str | None:
    """Start a trivial program in the jail; None if it ran as PID 1 of its namespace."""
    import tempfile
    base, uid, cgroup = Path(tempfile.mkdtemp(prefix=f"grade-{os.getpid()}-")), None, None
    try:
        uid = take_uid() if iso.mode == "user" else None
        cgroup = Cgroup(iso.cgroup, iso.cgroup_root, 256)
        home = make_home(iso, base, uid, None, 16)
        conn = home / ".runtime" / "probe.json"
        conn.write_text("{}")
        check = "import os, sys; sys.exit(0 if os.getpid() == 1 and open(sys.argv[1]).read() == '{}' else 3)"
        argv = prepare(iso, base, uid, [], 256, [sys.executable, "-I", "-S", "-c", check, "{connection_file}"],
                       {"PATH": "/usr/bin:/bin"}, cgroup)
        argv = [a.replace("{connection_file}", str(conn)) for a in argv]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=home)
        return None if r.returncode == 0 else (r.stderr.strip()[-200:] or f"exit {r.returncode}")
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)[:200]
    finally:
        if cgroup is not None:
            cgroup.kill_and_remove()
        if uid is not None:
            give_uid(uid)
        with suppress(OSError):
            remove(base)


def sweep_stale(cg_root: Path | None, own: bool = False) -> None:
    """Kill and remove what a grader that was itself killed left behind (its pid is in the names),
    or with own=True what this grader made (when it is stopped by a signal)."""
    import tempfile

    def gone(name: str) -> bool:
        pid = name.split("-")[1]
        return pid == str(os.getpid()) if own else not _alive(pid)

    stale = [p for p in Path(tempfile.gettempdir()).glob("grade-*-*") if gone(p.name)]
    if cg_root:
        for d in cg_root.glob("run-*-*"):
            if gone(d.name):
                c = Cgroup("v2" if (d / "cgroup.kill").exists() else "v1", None, None)
                c.path = d
                c.kill_and_remove()
    for base in stale:
        for entry in Path("/proc").iterdir():   # the dead grader's worker still working in it
            try:
                if entry.name.isdigit() and str(base) in os.readlink(entry / "cwd"):
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass
        with suppress(OSError):   # what will not go is tried again at the next start-up
            remove(base)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True   # someone else's, or not a name we made: leave it alone


_slots: dict[int, int] = {}     # uid -> the fd of its lock file, held while a kernel runs as it
_slots_lock = threading.Lock()
USED: set[int] = set()          # every uid this process's kernels ran as (for tests)


def _lock_dir() -> Path:
    for d in (Path("/run/course-grader"), Path("/tmp/course-grader-uids")):
        try:
            d.mkdir(mode=0o700, exist_ok=True)
            if d.stat().st_uid == os.geteuid() and not d.is_symlink():
                return d
        except OSError:
            continue
    raise OSError("no folder for the uid slot locks (/run/course-grader, /tmp/course-grader-uids)")


def take_uid() -> int:
    """A uid no account and no running kernel of any grader on this machine uses: the slot is held
    by an flock on its lock file, which the system releases when this grader dies."""
    with _slots_lock:
        folder = _lock_dir()
        for uid in range(UID_BASE, UID_BASE + UID_SLOTS):
            if uid in _slots or _has_account(uid):
                continue
            fd = os.open(folder / f"uid-{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            _slots[uid] = fd
            USED.add(uid)
            return uid
        raise OSError(f"all {UID_SLOTS} kernel uids from {UID_BASE} are taken")


def give_uid(uid: int) -> None:
    """Return a uid to the pool (after its processes are gone)."""
    with _slots_lock:
        fd = _slots.pop(uid, None)
        if fd is not None:
            os.close(fd)


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def _mounts() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if not any(point == s or point.startswith(s + "/") for s in _SPECIAL):
            points.append(point)
    return points


def _covers(path: Path, keep: list[Path]) -> bool:
    """True if hiding path would not hide anything the kernel needs."""
    path = path.resolve()
    return not any(k == path or path in k.parents for k in keep) and path != Path("/")


def hidden_paths(extra: list[Path]) -> list[str]:
    """The grader's folders the kernel must not see: solutions, tests, git, HOME and `extra`."""
    keep = [REPO, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
            Path(sys.executable).resolve().parent, Path("/tmp")]
    cands = [*extra, REPO / "solutions", REPO / "tests", REPO / ".git", Path.home(), Path.cwd()]
    git = REPO / ".git"
    if git.is_file():   # a worktree: hide the repository it points to as well
        text = git.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            common = Path(text.split(":", 1)[1].strip()).resolve()
            cands.append(common.parents[1] if common.parent.name == "worktrees" else common)
    out: list[str] = []
    for c in cands:
        c = Path(c).resolve()
        if c.exists() and _covers(c, keep) and str(c) not in out:
            out.append(str(c))
    return out


def under_tmp() -> list[str]:
    """What the kernel needs that lies under /tmp (a clone or venv there), which the jail's own /tmp would hide."""
    need = {REPO, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent}
    tmp = [p for p in need if Path("/tmp") in p.parents]
    return sorted(str(p) for p in tmp if not any(q in p.parents for q in tmp))


def prepare(iso: Isolation, base: Path, uid: int | None, hide: list[str], memory_mb: float | None,
            kernel_argv: list[str], env: dict[str, str], cgroup: Cgroup) -> list[str]:
    """Write the jail's config into base (root-only) and return the kernelspec argv."""
    home = base / "home"
    cfg = {"uid": uid, "gid": uid, "home": str(home), "hide": hide, "readonly": _mounts(), "net": iso.net,
           "nproc": PIDS if uid is not None else None,
           "expose": exposures(), "stage": str(base / "stage"),
           "must_be_readonly": ["/"], "keep_tmp": under_tmp(), "shm_mb": max(16, int(memory_mb or 1024)),
           "cgroup_procs": cgroup.procs_file, "userns": iso.mode == "userns", "argv": kernel_argv,
           "env": env}
    path = base / "jail.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(cfg, f)
    return [sys.executable, "-I", "-S", str(JAIL), str(path), "{connection_file}"]


_libc = ctypes.CDLL(None, use_errno=True)


def make_home(iso: Isolation, base: Path, uid: int | None, data_cache: Path | None, disk_mb: int = DISK_MB) -> Path:
    """The kernel's own folder (its HOME, cwd and /tmp), owned by its uid; base stays root's. In
    "user" mode it is a tmpfs of disk_mb (whose pages the kernel's memory cgroup counts)."""
    home = base / "home"
    home.mkdir()
    if iso.mode == "user":
        opts = f"size={int(disk_mb)}m,mode=700,nr_inodes=100000".encode()
        if _libc.mount(b"tmpfs", str(home).encode(), b"tmpfs", ctypes.c_ulong(2 | 4), opts) != 0:   # nosuid, nodev
            err = ctypes.get_errno()
            raise OSError(err, f"cannot mount the run folder's tmpfs: {os.strerror(err)}")
    (home / ".runtime").mkdir(parents=True)
    cache = home / ".cache" / "ssl-course"
    cache.mkdir(parents=True)
    if data_cache and data_cache.is_dir():   # datasets the grader already has: linked, read-only
        for entry in data_cache.iterdir():
            if not entry.name.startswith("."):
                (cache / entry.name).symlink_to(entry)
    if iso.mode == "user" and uid is not None:
        os.chmod(base, 0o711)
        for p in [home, *home.rglob("*")]:
            os.lchown(p, uid, uid)
        os.chmod(home, 0o700)
    return home


def unmount_under(base: Path) -> None:
    """Detach every mount at or below base (a run folder's tmpfs), deepest first."""
    prefix = str(base).rstrip("/") + "/"
    try:
        points = [line.split()[4].replace("\\040", " ") for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    except OSError:
        return
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        _libc.umount2(point.encode(), MNT_DETACH)


def remove(base: Path) -> None:
    """Delete a run's folder, whatever the kernel left in it (links, locked or very deep folders, its
    tmpfs); OSError if that fails."""
    unmount_under(base)
    remove_tree(base)
