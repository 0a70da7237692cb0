"""An unwritable COURSE_DATA gives errors that name the folder and the fix; setup() falls back to
the offline set; cache files get the permissions the umask asks for (not mkstemp's 0600)."""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import course_lib
from course_lib import data
from course_lib.data import cache, images, shapes, text

from _local_http import serve


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@pytest.fixture
def readonly_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """COURSE_DATA pointing at a folder this process really cannot write (chmod, or chattr +i as
    root); where neither works (root without CAP_LINUX_IMMUTABLE) creating files there raises EROFS."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    monkeypatch.setenv("COURSE_DATA", str(folder))
    folder.chmod(0o555)
    immutable = False
    if _writable(folder) and shutil.which("chattr"):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    if _writable(folder):  # last resort: the same error a read-only mount gives
        real_mkstemp = tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 (tempfile's name)
            if dir is not None and Path(dir).resolve() == folder.resolve():
                raise OSError(errno.EROFS, "Read-only file system", str(dir))
            return real_mkstemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    try:
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def _says_folder_and_fix(message: str, folder: Path) -> None:
    assert str(folder) in message and "not writable" in message
    assert "COURSE_DATA" in message


def test_shapes_in_an_unwritable_folder_still_load_and_say_how_to_cache(readonly_cache: Path) -> None:
    with pytest.warns(data.CacheWarning) as caught:
        got = data.load_images("shapes", train=True, n=20, seed=3)
    assert got.x.shape == (20, 3, 32, 32)
    _says_folder_and_fix(str(caught[0].message), readonly_cache)
    assert list(readonly_cache.iterdir()) == []


def test_download_into_an_unwritable_folder_names_it(readonly_cache: Path) -> None:
    body = b"archive bytes"
    with serve({"/f.bin": (200, body, None)}) as base:
        with pytest.raises(data.DownloadError) as err:
            data.download(f"{base}/f.bin", "f.bin", sha256="0" * 64, progress=False)
    _says_folder_and_fix(str(err.value), readonly_cache)
    assert str(err.value).startswith(f"Could not download 'f.bin' from {base}/f.bin: Cannot save")
    assert "not writable" in err.value.reason


def test_load_images_of_a_real_set_in_an_unwritable_folder_names_it(
        readonly_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = images.ARCHIVES["cifar10"]
    monkeypatch.setitem(images.ARCHIVES, "cifar10",
                        images.Archive("http://127.0.0.1:9/none.tar.gz", archive.filename,
                                       archive.folder, sha256=archive.sha256))
    with pytest.raises(data.DownloadError) as err:
        data.load_images("cifar10", train=False, n=4)
    _says_folder_and_fix(str(err.value), readonly_cache)


def test_gpu_setup_with_an_unwritable_folder_falls_back_to_shapes(readonly_cache: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    run = course_lib.setup("00_tour", profile="gpu")
    assert run.dataset == "shapes"
    banner = capsys.readouterr().out
    assert "dataset=shapes (offline set)" in banner and str(readonly_cache) in banner
    assert "set COURSE_DATA to a folder you can write" in banner


def test_wiki_sentences_in_an_unwritable_folder_warn_and_work(readonly_cache: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "_parse_wiki", lambda path, min_tokens: [["a", "small", "corpus"]])
    with pytest.warns(data.CacheWarning, match="COURSE_DATA"):
        sentences = text.wiki_sentences()
    assert sentences == [["a", "small", "corpus"]] and list(readonly_cache.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_cache_files_follow_the_umask(umask: int, tmp_cache: Path) -> None:
    old = os.umask(umask)
    try:
        assert cache.current_umask() == umask
        x, _ = shapes.cached_shapes(10, 16, seed=umask)  # generated and cached
        body = b"payload"
        with serve({"/p": (200, body, None)}) as base:
            fetched = data.download(f"{base}/p", "p.bin", sha256=hashlib.sha256(body).hexdigest(),
                                    progress=False)
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for path in (fetched, *tmp_cache.glob("shapes_*.npz")):
        assert stat.S_IMODE(path.stat().st_mode) == expected, f"{path.name}: {oct(path.stat().st_mode)}"
    assert np.array_equal(shapes.cached_shapes(10, 16, seed=umask)[0], x)  # and it reads back


def test_atomic_write_leaves_nothing_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(ValueError):
        with cache.atomic_write(target, "a test file") as f:
            f.write(b"half")
            raise ValueError("stop")
    assert list(tmp_path.iterdir()) == []
