"""Small fake copies of the real datasets, byte for byte in their published on-disk formats.

CIFAR-10's python pickles in a .tar.gz, STL-10's raw binaries in a .tar.gz, and text8 as a zip
holding one line of lower-case words. Served over loopback (tests/_local_http.py), they let the
real download, checksum, extraction and torchvision-reading code run offline. Only torchvision's
own per-file md5 check cannot pass on fake bytes; tests switch that one check off.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zipfile

import numpy as np


def _tar(files: dict[str, bytes]) -> bytes:
    """A .tar.gz holding files {path: bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, payload in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def cifar10_archive(per_batch: int = 4, n_test: int = 6, seed: int = 0) -> bytes:
    """cifar-10-python.tar.gz: 5 training batches of per_batch images and a test batch of n_test (labels cycle 0-9)."""
    rng = np.random.default_rng(seed)
    files = {}
    for name, count in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        start = int(name[-1]) * per_batch if name[-1].isdigit() else 0
        files[f"cifar-10-batches-py/{name}"] = pickle.dumps(
            {"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),      # rows of R, G, B planes
             "labels": [(start + i) % 10 for i in range(count)]})
    files["cifar-10-batches-py/batches.meta"] = pickle.dumps({"label_names": [f"class{i}" for i in range(10)]})
    return _tar(files)


def stl10_archive(n_train: int = 20, n_test: int = 20, n_unlabeled: int = 10, seed: int = 0) -> bytes:
    """stl10_binary.tar.gz: uint8 images (N, 3, 96, 96) stored column-major as STL-10 does, labels 1-10."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, count in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        files[f"stl10_binary/{split}_X.bin"] = rng.integers(0, 256, (count, 3, 96, 96), dtype=np.uint8).tobytes()
        if split != "unlabeled":
            files[f"stl10_binary/{split}_y.bin"] = np.array([1 + i % 10 for i in range(count)], np.uint8).tobytes()
    files["stl10_binary/class_names.txt"] = "\n".join(f"class{i}" for i in range(10)).encode()
    files["stl10_binary/fold_indices.txt"] = "\n".join(
        " ".join(str(j) for j in range(k, n_train, 10)) for k in range(10)).encode()
    return _tar(files)


def text8_archive(words: list[str]) -> bytes:
    """text8.zip: one member 'text8', the words joined by single spaces on one line (leading space, as text8)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("text8", " " + " ".join(words))
    return buf.getvalue()


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()
