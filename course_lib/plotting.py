"""Figures every notebook draws: image grids, 2-D embedding scatters and training curves."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes


def _as_numpy(a) -> np.ndarray:
    """Turn a tensor or array-like into a NumPy array on the CPU."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().float().numpy() if a.is_floating_point() else a.detach().cpu().numpy()
    return np.asarray(a)


def _new_ax(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """Return ax, or the axes of a new figure when ax is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def show_images(x, labels=None, *, nrow: int = 8, title: str | None = None, ax: Axes | None = None) -> Axes:
    """Show images (N, 3, H, W) or (N, H, W) with values in [0, 1] as one grid, optionally captioned."""
    x = _as_numpy(x)
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W): grey images
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"show_images expects (N, 3, H, W) or (N, H, W) images, got shape {x.shape}")
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    pad = 2
    # Paste every image into one white canvas: one imshow is much faster than N subplots.
    grid = np.ones((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = x[i].transpose(1, 2, 0)  # (H, W, C)
    grid = np.clip(grid, 0.0, 1.0)
    ax = _new_ax(ax, figsize=(1.2 * ncol, 1.2 * rows + (0.3 if labels is not None else 0)))
    ax.imshow(grid[..., 0] if c == 1 else grid, cmap="gray" if c == 1 else None, vmin=0, vmax=1,
              interpolation="nearest")
    if labels is not None:
        labels = list(labels)
        if len(labels) != n:
            raise ValueError(f"got {n} images but {len(labels)} labels")
        for i, lab in enumerate(labels):
            r, col = divmod(i, ncol)
            ax.text(pad + col * (w + pad) + w / 2, r * (h + pad) + pad + h, str(lab),
                    ha="center", va="top", fontsize=7)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def scatter_embedding(z2d, labels, *, class_names: list[str] | None = None, title: str | None = None,
                      ax: Axes | None = None) -> Axes:
    """Scatter 2-D points (N, 2) coloured by integer label, with a legend naming each class."""
    z2d, labels = _as_numpy(z2d), _as_numpy(labels).astype(int)
    if z2d.ndim != 2 or z2d.shape[1] != 2:
        raise ValueError(f"scatter_embedding expects points of shape (N, 2), got {z2d.shape}; "
                         "reduce them first, e.g. with evaluation.tsne(z)")
    if labels.shape != (len(z2d),):
        raise ValueError(f"labels must have shape ({len(z2d)},), got {labels.shape}")
    ax = _new_ax(ax, figsize=(6, 5))
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
        pts = z2d[labels == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.7, color=cmap(i % cmap.N), label=name)
    ax.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over `window` steps (shorter at the start, so no step is dropped)."""
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def plot_history(histories: dict, *, title: str | None = None, ax: Axes | None = None) -> Axes:
    """Plot the per-step loss of each run (name -> History or list of floats), lightly smoothed."""
    if not isinstance(histories, dict):
        histories = {"loss": histories}  # a single History or list is fine too
    ax = _new_ax(ax, figsize=(6, 4))
    for name, h in histories.items():
        losses = np.asarray(getattr(h, "losses", h), dtype=float)
        if losses.size == 0:
            continue
        window = max(1, len(losses) // 50)  # about 50 independent points along the curve
        line, = ax.plot(losses, alpha=0.25)
        ax.plot(_smooth(losses, window), color=line.get_color(), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if len(histories) > 0:
        ax.legend()
    if title:
        ax.set_title(title)
    return ax


def scatter_words(z2d, words: list[str], labels, *, class_names: list[str] | None = None,
                  title: str | None = None, ax: Axes | None = None, fontsize: int = 7) -> Axes:
    """scatter_embedding for words: points (N, 2) coloured by group, each labelled with its word."""
    ax = scatter_embedding(z2d, labels, class_names=class_names, title=title, ax=ax)
    z2d = _as_numpy(z2d)
    if len(words) != len(z2d):
        raise ValueError(f"need one word per point: {len(words)} words for {len(z2d)} points")
    for (x, y), word in zip(z2d, words):
        ax.annotate(word, (x, y), fontsize=fontsize, alpha=0.8, xytext=(2, 2), textcoords="offset points")
    return ax
