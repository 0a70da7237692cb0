"""Data layer: cached, checksummed downloads; image sets (real and offline); text corpora."""
from .downloads import DownloadError, cache_dir, download

__all__ = ["DownloadError", "cache_dir", "download"]
