"""Fetch files into the course cache: checksum-verified, written atomically, clear errors.

A download either leaves the complete, verified file under its final name or nothing at all:
bytes go to a temporary file in the same folder (``cache.atomic_write``), are checked (length,
then checksum), and only then renamed with ``os.replace`` (atomic on one filesystem).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from tqdm.auto import tqdm

from .cache import CacheError, atomic_write

_CHUNK = 1 << 20  # 1 MiB per read: few Python calls, small memory


class DownloadError(RuntimeError):
    """A download failed; the message names the file, the URL, what happened and the fix."""

    def __init__(self, message: str, *, reason: str = "", url: str = "", path: Path | None = None):
        super().__init__(message)
        self.reason = reason  # short "what happened", e.g. for a one-line banner note
        self.url = url
        self.path = path


def cache_dir() -> Path:
    """The course's data folder: $COURSE_DATA if set, else ~/.cache/ssl-course (created if it can be)."""
    root = os.environ.get("COURSE_DATA", "").strip()
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "ssl-course"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # a read-only folder can still serve cached files; writers raise CacheError
    return path


def file_hashes(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file for each named hashlib algorithm, in one pass."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            for h in hashers.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashers.items()}


def checksum_problem(path: Path, *, sha256: str | None = None, md5: str | None = None) -> str | None:
    """None if the file matches every given checksum, else 'expected ... got ...'."""
    expected = {k: v.lower() for k, v in (("sha256", sha256), ("md5", md5)) if v}
    got = file_hashes(path, tuple(expected))
    for name, want in expected.items():
        if got[name] != want:
            return f"expected {name} {want}, got {got[name]}"
    return None


def _explain(filename: str, url: str, target: Path, what: str) -> str:
    """The full error text: which file, from where, what happened, and the ways out."""
    return (f"Could not download {filename!r} from {url}: {what}.\n"
            f"To fix: check your internet connection and run this again; or download the file "
            f"yourself (e.g. in a browser) and place it at\n    {target}\n"
            f"or set the environment variable COURSE_DATA to a folder that already holds "
            f"{filename!r}.")


def _stream(url: str, out, *, timeout: float, progress: bool, desc: str) -> tuple[int, int | None]:
    """Copy the response body of ``url`` into ``out``; return (bytes received, Content-Length)."""
    request = urllib.request.Request(url, headers={"User-Agent": "ssl-course/0.1"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with tqdm(total=expected, unit="B", unit_scale=True, desc=desc, disable=not progress,
                  leave=False) as bar:
            try:
                while block := response.read(_CHUNK):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
            except http.client.IncompleteRead as err:  # server closed early; count what came
                out.write(err.partial)
                received += len(err.partial)
    return received, expected


def _failure(err: BaseException, timeout: float) -> str:
    """Turn a network exception into a short human reason."""
    if isinstance(err, urllib.error.HTTPError):
        return f"the server answered HTTP {err.code} ({err.reason})"
    if isinstance(err, urllib.error.URLError):
        if isinstance(err.reason, TimeoutError):
            return f"no network: timed out after {timeout:g} s"
        return f"no network: could not connect ({err.reason})"
    if isinstance(err, TimeoutError):
        return f"no network: timed out after {timeout:g} s"
    return f"the connection failed ({type(err).__name__}: {err})"


def download(url: str, filename: str, *, sha256: str | None = None, md5: str | None = None,
             cache_dir: str | Path | None = None, timeout: float = 30.0,
             progress: bool = True) -> Path:
    """Return the verified cached path of ``filename``, downloading it from ``url`` if needed."""
    if not (sha256 or md5):
        raise ValueError(f"download({filename!r}) needs a checksum: pass sha256= (preferred) or "
                         "md5= (only where the publisher gives no sha256)")
    folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    target = folder / filename
    if target.exists():
        problem = checksum_problem(target, sha256=sha256, md5=md5)
        if problem is None:
            return target  # cached and verified: no network needed
        # A wrong file under the final name must never be used; remove it and fetch again.
        warnings.warn(f"{target} does not match its checksum ({problem}); deleting it and "
                      "downloading again", stacklevel=2)
        try:
            target.unlink()
        except OSError as err:  # e.g. a read-only shared data folder
            problem = CacheError(folder, err, f"a fresh copy of {filename!r}")
            raise DownloadError(f"{target} is corrupt and cannot be replaced: {problem}",
                                reason=problem.reason, url=url, path=target) from err

    try:
        with atomic_write(target, f"the download of {filename!r}") as out:
            try:
                received, expected = _stream(url, out, timeout=timeout, progress=progress,
                                             desc=filename)
            except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
                what = _failure(err, timeout)
                raise DownloadError(_explain(filename, url, target, what), reason=what, url=url,
                                    path=target) from err
            out.flush()
            if expected is not None and received != expected:
                what = f"truncated: got {received} of {expected} bytes"
                raise DownloadError(_explain(filename, url, target, what), reason=what, url=url,
                                    path=target)
            problem = checksum_problem(Path(out.name), sha256=sha256, md5=md5)
            if problem is not None:
                what = f"checksum mismatch: {problem} (the file is corrupt or has changed upstream)"
                raise DownloadError(_explain(filename, url, target, what),
                                    reason="checksum mismatch", url=url, path=target)
    except CacheError as err:  # nothing was fetched: say where it could not go and what to do
        raise DownloadError(f"Could not download {filename!r} from {url}: {err}",
                            reason=err.reason, url=url, path=target) from err
    return target


_default_cache_dir = cache_dir  # ``download``'s ``cache_dir`` argument shadows the function name
