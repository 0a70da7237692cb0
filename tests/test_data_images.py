"""load_images / resolve_dataset: offline sets, offline errors, and the real-archive path."""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch

from course_lib import data
from course_lib.data import images

import fake_datasets
from _local_http import closed_port_url, serve


def _check(d: data.ImageData, n: int, size: int) -> None:
    assert d.x.shape == (n, 3, size, size) and d.x.dtype == torch.float32
    assert d.y.shape == (n,) and d.y.dtype == torch.int64
    assert 0.0 <= d.x.min() and d.x.max() <= 1.0


def test_shapes_train_test_and_size(tmp_cache):
    train = data.load_images("shapes", n=200, seed=0)
    test = data.load_images("shapes", train=False, n=200, seed=0)
    _check(train, 200, 32)
    assert train.classes[0] == "circle" and len(train.classes) == 10 and train.name == "shapes"
    assert not torch.equal(train.x, test.x)  # different streams for train and test
    assert torch.equal(train.x, data.load_images("shapes", n=200, seed=0).x)
    _check(data.load_images("shapes", split="test", n=20, size=48), 20, 48)


def test_digits(tmp_cache):
    train, test = data.load_images("digits"), data.load_images("digits", train=False)
    _check(train, 1297, 32)
    _check(test, 500, 32)
    assert torch.equal(train.x[:, 0], train.x[:, 2])  # grey: three equal channels
    assert train.x.max() > 0.9 and train.classes == [str(i) for i in range(10)]
    small = data.load_images("digits", n=100, size=16, seed=1)
    _check(small, 100, 16)
    assert np.bincount(small.y.numpy(), minlength=10).tolist() == [10] * 10  # stratified
    with pytest.warns(UserWarning, match="only 500"):
        assert len(data.load_images("digits", train=False, n=9999)) == 500


def test_subsample_is_balanced_and_deterministic():
    y = np.repeat(np.arange(4), [100, 50, 30, 12])
    idx = images.subsample(y, 40, seed=0)
    assert np.bincount(y[idx]).tolist() == [10, 10, 10, 10]
    assert np.array_equal(idx, images.subsample(y, 40, seed=0)) and len(set(idx)) == 40
    assert np.bincount(y[images.subsample(y, 100, seed=0)]).tolist() == [30, 29, 29, 12]


def test_names_and_splits_are_checked():
    with pytest.raises(ValueError, match="'shapes'"):
        data.load_images("imagenet")
    with pytest.raises(ValueError, match="unlabeled"):
        data.load_images("shapes", split="unlabeled")
    assert data.resolve_dataset("digits") == ("digits", "")
    with pytest.raises(ValueError, match="cifar10"):
        data.resolve_dataset("mnist")
    assert set(data.IMAGE_DATASETS) >= {"auto", "shapes", "digits", "cifar10", "stl10"}


@pytest.fixture
def offline_cifar(tmp_cache, monkeypatch):
    """Point the CIFAR-10 URL at a closed local port: exactly what 'no network' looks like."""
    archive = dataclasses.replace(images.ARCHIVES["cifar10"], url=closed_port_url("/cifar.tgz"))
    monkeypatch.setitem(images.ARCHIVES, "cifar10", archive)
    return archive


def test_cifar10_offline_raises_clear_error(offline_cifar, tmp_cache):
    with pytest.raises(data.DownloadError) as info:
        data.load_images("cifar10")
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and offline_cifar.url in message
    assert str(tmp_cache / "cifar-10-python.tar.gz") in message and "COURSE_DATA" in message
    assert list(tmp_cache.iterdir()) == []


def test_auto_falls_back_to_shapes_with_a_reason(offline_cifar):
    name, note = data.resolve_dataset("auto")
    assert name == "shapes" and "CIFAR-10" in note and "no network" in note


def test_cifar10_download_extract_and_read(tmp_cache, monkeypatch):
    blob = fake_datasets.cifar10_archive()
    # Our fake batches cannot match torchvision's per-file md5s; skip only that check.
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)
    with serve({"/cifar.tgz": (200, blob, None)}) as base:
        archive = dataclasses.replace(images.ARCHIVES["cifar10"], url=f"{base}/cifar.tgz",
                                      sha256=hashlib.sha256(blob).hexdigest(), md5=None)
        monkeypatch.setitem(images.ARCHIVES, "cifar10", archive)
        assert data.resolve_dataset("auto")[0] == "cifar10"  # downloads and extracts
    # The server is gone now: everything below reads from the cache.
    train = data.load_images("cifar10")
    _check(train, 20, 32)
    assert train.classes[3] == "class3" and train.name == "cifar10"
    _check(data.load_images("cifar10", train=False, n=3, size=16), 3, 16)
    assert data.resolve_dataset("auto") == ("cifar10", "")
    leftovers = [p.name for p in (tmp_cache / "cifar10").iterdir()]
    assert leftovers == ["cifar-10-batches-py"]  # no temporary extraction folder left
