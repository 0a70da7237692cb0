"""Files we do not trust: read without following links, remove without recursion.

A submission folder and a kernel's work folder are written by students. The grader may run as
root, so it never follows a symbolic link there (it could point at the solutions or the grader's
key), never opens a FIFO or a device (a read could block the batch forever or never end), and
never reads a file with a second hard link (another student's notebook, or a file of ours).
A work folder can be deeper than `shutil.rmtree` recurses or than a path can be long, so it is
removed one folder at a time through file descriptors.
"""
from __future__ import annotations

import os
import stat
from contextlib import suppress
from pathlib import Path

MAX_BYTES = 64 * 2**20    # a notebook larger than this is refused, not read
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class Refused(OSError):
    """A path the grader will not read; the message says why, for the student's feedback."""


def shown(name: str | bytes) -> str:
    """A file name as readable text: bytes that are not UTF-8 appear escaped (`\\xff`)."""
    raw = name if isinstance(name, bytes) else os.fsencode(name)
    return raw.decode("utf-8", "backslashreplace")


def why_refused(st: os.stat_result) -> str | None:
    """Why an entry of this lstat() result is refused (None for a plain folder or file)."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        return "is a FIFO, socket or device, not a file"
    if st.st_nlink > 1:
        return f"is a hard link ({st.st_nlink} names for one file)"
    return None


def check_tree(top: Path) -> None:
    """Raise Refused naming the first entry under top (top included) that is not a plain folder
    or file; walked with lstat, iteratively: links are never followed, depth never overflows the
    stack (a path too long to name raises OSError)."""
    todo = [Path(top)]
    while todo:
        path = todo.pop()
        st = os.lstat(path)
        why = why_refused(st)
        if why:
            raise Refused(f"{shown(str(path.relative_to(top.parent)))} {why}")
        if stat.S_ISDIR(st.st_mode):
            todo += sorted(path.iterdir())


def read_plain(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file with one link, opened without following a link; else Refused.
    Checked before opening (a device is never opened) and on the open file (a swap is caught)."""
    _vet(path, os.lstat(path), limit)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        _vet(path, os.fstat(fd), limit)
        return f.read(limit)


def _vet(path: Path, st: os.stat_result, limit: int) -> None:
    why = why_refused(st) or ("is a folder" if stat.S_ISDIR(st.st_mode) else None) \
        or (f"is larger than {limit // 2**20} MiB" if st.st_size > limit else None)
    if why:
        raise Refused(f"{shown(path.name)} {why}")


def remove_tree(top: Path) -> None:
    """Delete top and everything under it: depth-first, one open folder at a time, going back up
    through '..' (checked against the folder we came from), links removed and never followed.
    What vanishes meanwhile (another cleanup of the same folder) is not an error."""
    try:
        st = os.lstat(top)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(top)
            return
        fd = os.open(top, _DIR)
    except FileNotFoundError:
        return
    trail, names = [(st.st_dev, st.st_ino)], []   # the folders we are in, and their names
    try:
        while True:
            sub = _clear_files(fd)
            if sub is not None:
                try:
                    inner = _open_dir(sub, fd)
                except FileNotFoundError:
                    continue
                os.close(fd)
                fd = inner
                trail.append(_ident(fd))
                names.append(sub)
                continue
            if not names:
                break
            up = os.open("..", _DIR, dir_fd=fd)
            os.close(fd)
            fd = up
            trail.pop()
            if _ident(fd) != trail[-1]:
                raise OSError(f"{top} changed while it was being removed")
            with suppress(FileNotFoundError):
                os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    with suppress(FileNotFoundError):
        os.rmdir(top)


def _ident(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _clear_files(fd: int) -> str | None:
    """Unlink every non-folder in the open folder; return the name of one sub-folder, if any."""
    sub = None
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                sub = sub or entry.name
            else:
                with suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=fd)
    return sub


def _open_dir(name: str, fd: int) -> int:
    """Open sub-folder name of fd, made ours to empty first if its owner locked it."""
    try:
        inner = os.open(name, _DIR, dir_fd=fd)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=fd)
        inner = os.open(name, _DIR, dir_fd=fd)
    with suppress(OSError):
        os.fchmod(inner, 0o700)   # a folder its owner made read-only cannot be emptied otherwise
    return inner
