"""Writing into the course data folder: atomic files, permissions per the umask, clear errors.

Every cache file (downloads, generated ``shapes`` arrays, parsed text) is written through
``atomic_write``: bytes go to a temporary file in the same folder and are renamed into place only
when complete. The file gets the permissions a plain ``open()`` would give (0666 minus the umask),
so a data folder shared on a lab server stays readable to the group. An unwritable folder raises
``CacheError`` naming the folder and how to choose another.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

HOW_TO_MOVE = ("choose another folder with the environment variable COURSE_DATA, e.g. "
               "`export COURSE_DATA=$HOME/ssl-data` before starting Jupyter, or "
               "`os.environ['COURSE_DATA'] = '/a/folder/you/can/write'` at the top of the notebook")


class CacheError(OSError):
    """The course data folder cannot be written; the message names it and says what to do."""

    def __init__(self, folder: Path, err: OSError, what: str):
        self.folder = Path(folder)
        self.reason = f"the data folder {self.folder} is not writable ({err.strerror or err})"
        super().__init__(f"Cannot save {what}: {self.reason}. To fix: {HOW_TO_MOVE}.")


class CacheWarning(UserWarning):
    """A generated file could not be cached; it was built in memory and will be rebuilt next time."""


def current_umask() -> int:
    """The process umask (read without changing it where the OS allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(target: Path, what: str) -> Iterator[BinaryIO]:
    """Yield a binary file (``.name`` = temp path) that becomes ``target`` (0666 & ~umask) on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as err:
        raise CacheError(target.parent, err, what) from err
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes 0600: private to this user
            os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
        with open(tmp, "wb") as f:  # opened by name: ``f.name`` is the temporary path
            yield f
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)  # after a success the temp name no longer exists
