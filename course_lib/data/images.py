"""Image datasets behind one call: ``load_images(name, train=..., n=..., size=...)``.

Offline sets ("shapes", "digits") always work; the real sets ("cifar10", "stl10") are the
official archives, fetched once through ``download`` (checksummed, atomic) and read with
torchvision. ``resolve_dataset("auto")`` picks CIFAR-10 when it can and says why when it cannot.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .cache import CacheError
from .downloads import DownloadError, cache_dir, download
from .shapes import CLASSES as SHAPE_CLASSES, cached_shapes

# The offline shapes sets, by how their shapes are coloured (shapes.make_shapes): shapes_colour has each class in
# its own tenth of the colour wheel (notebook 10's colorization); shapes_plain every shape in one colour on a grey
# background, so that colour cannot tell two images apart (notebooks 07-09 and 11: issue 20's finding).
SHAPE_SETS = {"shapes": "random", "shapes_colour": "by_class", "shapes_plain": "plain"}
IMAGE_DATASETS = ("auto", *SHAPE_SETS, "digits", "cifar10", "stl10")
SPLITS = ("train", "test", "unlabeled")
_SHAPES_DEFAULT_N = {"train": 5000, "test": 1000}


@dataclass(frozen=True)
class Archive:
    """One official dataset archive: where it lives and how to recognise the right bytes."""

    url: str
    filename: str
    folder: str  # what the archive unpacks to; torchvision's ``base_folder``
    sha256: str | None = None
    md5: str | None = None


# Checksums: see data/README.md for where each comes from. STL-10 has no published sha256.
ARCHIVES = {
    "cifar10": Archive("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                       "cifar-10-python.tar.gz", "cifar-10-batches-py",
                       sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                       md5="c58f30108f718f92721af3b95e74349a"),
    "stl10": Archive("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
                     "stl10_binary.tar.gz", "stl10_binary", md5="91f7769df0f17e558f3565bffb0c7dfb"),
}


@dataclass
class ImageData:
    """A labelled image set: x (N, 3, H, W) float in [0, 1], y (N,) long (-1 = unlabelled)."""

    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    name: str

    def __len__(self) -> int:
        return len(self.y)


def _root(name: str) -> Path:
    """The folder a real dataset is extracted into (``<cache>/<name>``)."""
    return cache_dir() / name


def is_cached(name: str) -> bool:
    """True if a real dataset's archive or extracted folder is already in the cache."""
    archive = ARCHIVES[name]
    return (_root(name) / archive.folder).is_dir() or (cache_dir() / archive.filename).exists()


def fetch(name: str, *, timeout: float = 30.0, progress: bool = True) -> Path:
    """Download (if needed) and extract a real dataset; return the root torchvision reads."""
    archive, root = ARCHIVES[name], _root(name)
    if (root / archive.folder).is_dir():
        return root  # only ever created by the atomic rename below, from a verified archive
    path = download(archive.url, archive.filename, sha256=archive.sha256, md5=archive.md5,
                    timeout=timeout, progress=progress)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    except OSError as err:
        raise CacheError(root, err, f"the extracted {name} images") from err
    try:  # unpack beside the final folder, then rename: never a half-extracted dataset
        with tarfile.open(path) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")  # refuses absolute paths and links out
            else:
                tar.extractall(tmp)
        os.replace(tmp / archive.folder, root / archive.folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def resolve_dataset(requested: str, *, timeout: float = 10.0) -> tuple[str, str]:
    """Map a requested name to a usable one: (name, note); "auto" -> cifar10 else shapes."""
    if requested not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {requested!r}; choose one of {IMAGE_DATASETS}")
    if requested != "auto":
        return requested, ""
    if is_cached("cifar10"):
        return "cifar10", ""
    try:
        fetch("cifar10", timeout=timeout)
    except (DownloadError, CacheError) as err:  # offline, or a data folder we cannot write
        unwritable = isinstance(err, CacheError) or isinstance(err.__cause__, CacheError)
        fix = "set COURSE_DATA to a folder you can write" if unwritable else "see data/README.md to fetch it"
        return "shapes", (f"dataset=shapes (offline set): CIFAR-10 is not cached and could not be "
                          f"downloaded ({err.reason}); {fix}")
    return "cifar10", "dataset=cifar10: downloaded CIFAR-10 into the course cache"


def subsample(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` items drawn without replacement, as class-balanced as possible."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    # Rank of each item within its class in the shuffled order; taking the lowest ranks first
    # gives every class its turn before any class gets a second item (round robin).
    rank = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = order[y[order] == c]
        rank[members] = np.arange(len(members))
    chosen = order[np.argsort(rank[order], kind="stable")[:n]]
    return np.sort(chosen)


def _to_float(x_uint8: torch.Tensor, size: int | None) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float in [0, 1], resized (bilinear, antialiased) if ``size`` differs."""
    x = x_uint8.float().div_(255.0)
    if size is not None and x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True).clamp_(0.0, 1.0)
    return x


def _split(train: bool | None, split: str | None) -> str:
    split = split if split is not None else ("train" if train or train is None else "test")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def _limit(total: int, n: int | None, name: str, split: str) -> int | None:
    if n is None or n >= total:
        if n is not None and n > total:
            warnings.warn(f"{name} {split} has only {total} images; using all of them, not {n}",
                          stacklevel=3)
        return None
    return n


def _shapes(split: str, n: int | None, seed: int, size: int | None, name: str = "shapes") -> ImageData:
    # Train and test come from different random streams (2*seed, 2*seed+1), so never overlap.
    n = _SHAPES_DEFAULT_N[split] if n is None else n
    x, y = cached_shapes(n, size or 32, 2 * seed + (split == "test"), colours=SHAPE_SETS[name])
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)  # (N, S, S, 3) -> (N, 3, S, S)
    return ImageData(x, torch.from_numpy(y), list(SHAPE_CLASSES), name)


def _digits(split: str, n: int | None, seed: int, size: int | None) -> ImageData:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    idx_train, idx_test = train_test_split(np.arange(len(bunch.target)), test_size=500,
                                           stratify=bunch.target, random_state=0)  # fixed split
    idx = idx_train if split == "train" else idx_test
    keep = _limit(len(idx), n, "digits", split)
    if keep is not None:
        idx = idx[subsample(bunch.target[idx], keep, seed)]
    x = torch.from_numpy(bunch.images[idx] / 16.0).float()[:, None]  # (N, 1, 8, 8) in [0, 1]
    x = F.interpolate(x, size=(size or 32,) * 2, mode="bilinear", align_corners=False)
    x = x.clamp_(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()  # grey -> 3 equal channels
    return ImageData(x, torch.from_numpy(bunch.target[idx]).long(), [str(d) for d in range(10)],
                     "digits")


def _real(name: str, split: str, n: int | None, seed: int, size: int | None) -> ImageData:
    root = fetch(name)
    from torchvision import datasets  # after fetch: an offline error should not wait for it

    try:
        return _read_real(datasets, root, name, split, n, seed, size)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
        raise RuntimeError(f"{name} in {root} is incomplete or corrupted ({err}); delete "
                           f"{root} and run again to extract it afresh") from err


def _read_real(datasets, root: Path, name: str, split: str, n: int | None, seed: int,
               size: int | None) -> ImageData:
    """Read an extracted real dataset with torchvision; subsample before converting to float."""
    if name == "cifar10":
        ds = datasets.CIFAR10(root, train=split == "train", download=False)
        data = torch.from_numpy(ds.data).permute(0, 3, 1, 2)  # (N, 32, 32, 3) -> (N, 3, 32, 32)
        labels = np.asarray(ds.targets, dtype=np.int64)
    else:
        ds = datasets.STL10(root, split=split, download=False)
        data, labels = torch.from_numpy(ds.data), np.asarray(ds.labels, dtype=np.int64)
    keep = _limit(len(labels), n, name, split)
    if keep is not None:  # select before converting to float: STL-10 unlabeled is 2.8 GB as uint8
        idx = torch.from_numpy(subsample(labels, keep, seed))
        data, labels = data[idx], labels[idx.numpy()]
    return ImageData(_to_float(data, size), torch.from_numpy(labels), list(ds.classes), name)


def load_images(name: str, *, train: bool | None = True, split: str | None = None,
                n: int | None = None, seed: int = 0, size: int | None = None) -> ImageData:
    """Load an image set as float tensors in [0, 1]; ``split`` overrides ``train``."""
    if name == "auto":
        name, _ = resolve_dataset(name)
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; choose one of {IMAGE_DATASETS}")
    split = _split(train, split)
    if split == "unlabeled" and name != "stl10":
        raise ValueError(f"only stl10 has an 'unlabeled' split, not {name!r}")
    if name in SHAPE_SETS:
        return _shapes(split, n, seed, size, name)
    if name == "digits":
        return _digits(split, n, seed, size)
    return _real(name, split, n, seed, size)
