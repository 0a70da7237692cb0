"""Data layer: cached, checksummed downloads; image sets (real and offline); text corpora."""
from .downloads import DownloadError, cache_dir, download
from .images import IMAGE_DATASETS, ImageData, load_images, resolve_dataset

__all__ = ["DownloadError", "cache_dir", "download",
           "IMAGE_DATASETS", "ImageData", "load_images", "resolve_dataset"]
