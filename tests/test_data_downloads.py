"""download(): real HTTP against a local server; errors are clear and the cache stays clean."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from course_lib.data import DownloadError, cache_dir, download

from _local_http import closed_port_url, serve

GOOD = b"self-supervised " * 5000  # 80 kB, several reads
SHA = hashlib.sha256(GOOD).hexdigest()
MD5 = hashlib.md5(GOOD).hexdigest()

ROUTES = {
    "/good.bin": (200, GOOD, None),
    "/short.bin": (200, GOOD[:1000], len(GOOD)),  # promises 80 kB, sends 1 kB, closes
    "/wrong.bin": (200, b"not what you wanted" * 100, None),
}


@pytest.fixture(scope="module")
def base_url():
    with serve(ROUTES) as url:
        yield url


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "x" / "y"))
    assert cache_dir() == tmp_path / "x" / "y" and cache_dir().is_dir()


def test_good_download_then_cached_reuse_without_network(base_url, tmp_path):
    path = download(f"{base_url}/good.bin", "good.bin", sha256=SHA, cache_dir=tmp_path,
                    progress=False)
    assert path == tmp_path / "good.bin" and path.read_bytes() == GOOD
    assert _files(tmp_path) == ["good.bin"]
    # Second call: the URL is unreachable, but the verified cached file is returned.
    again = download(closed_port_url(), "good.bin", sha256=SHA, cache_dir=tmp_path,
                     progress=False)
    assert again == path


def test_md5_accepted_and_default_cache_dir(base_url, tmp_cache):
    path = download(f"{base_url}/good.bin", "good.bin", md5=MD5, progress=False)
    assert path == tmp_cache / "good.bin"


def test_checksum_required(base_url, tmp_path):
    with pytest.raises(ValueError, match="checksum"):
        download(f"{base_url}/good.bin", "good.bin", cache_dir=tmp_path)


@pytest.mark.parametrize("route, needle", [
    ("/short.bin", f"truncated: got 1000 of {len(GOOD)} bytes"),
    ("/wrong.bin", f"checksum mismatch: expected sha256 {SHA}"),
    ("/missing.bin", "HTTP 404"),
])
def test_failures_are_clear_and_leave_nothing(base_url, tmp_path, route, needle):
    url = f"{base_url}{route}"
    with pytest.raises(DownloadError) as info:
        download(url, "data.bin", sha256=SHA, cache_dir=tmp_path, timeout=5, progress=False)
    message = str(info.value)
    for part in (needle, "'data.bin'", url, str(tmp_path / "data.bin"), "COURSE_DATA"):
        assert part in message
    assert _files(tmp_path) == []  # no partial file, no temp file


def test_no_network_is_clear(tmp_path):
    url = closed_port_url("/data.bin")
    with pytest.raises(DownloadError) as info:
        download(url, "data.bin", sha256=SHA, cache_dir=tmp_path, timeout=5, progress=False)
    assert "no network" in str(info.value) and url in str(info.value)
    assert "internet connection" in str(info.value)
    assert info.value.reason.startswith("no network")
    assert _files(tmp_path) == []


def test_corrupt_cached_file_is_replaced(base_url, tmp_path):
    (tmp_path / "good.bin").write_bytes(b"half a file")
    with pytest.warns(UserWarning, match="does not match its checksum"):
        path = download(f"{base_url}/good.bin", "good.bin", sha256=SHA, cache_dir=tmp_path,
                        progress=False)
    assert path.read_bytes() == GOOD and _files(tmp_path) == ["good.bin"]


def test_corrupt_cached_file_offline_is_removed(tmp_path):
    (tmp_path / "good.bin").write_bytes(b"half a file")
    with pytest.warns(UserWarning), pytest.raises(DownloadError):
        download(closed_port_url(), "good.bin", sha256=SHA, cache_dir=tmp_path, progress=False)
    assert _files(tmp_path) == []  # the wrong file is not left under the final name
