"""Data layer: cached, checksummed downloads; image sets (real and offline); text corpora."""
from .cache import CacheError, CacheWarning
from .downloads import DownloadError, cache_dir, download
from .images import IMAGE_DATASETS, ImageData, load_images, resolve_dataset
from .text import analogy_path, load_text8, wiki_sentences, wordsim_path

__all__ = ["CacheError", "CacheWarning", "DownloadError", "cache_dir", "download",
           "IMAGE_DATASETS", "ImageData", "load_images", "resolve_dataset",
           "analogy_path", "load_text8", "wiki_sentences", "wordsim_path"]
