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


def show_images(x, labels=None, *, nrow: int = 8, title: str | None = None, ax: Axes | None = None,
                frames=None) -> Axes:
    """Show images (N, 3, H, W) or (N, H, W) with values in [0, 1] as one grid, optionally captioned.

    frames: one matplotlib colour (or None for no frame) per image, drawn as a border around it.
    """
    x = _as_numpy(x)
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W): grey images
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"show_images expects (N, 3, H, W) or (N, H, W) images, got shape {x.shape}")
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    pad = 2 if frames is None else 4  # frames take the inner half of the padding
    # Paste every image into one white canvas: one imshow is much faster than N subplots.
    grid = np.ones((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = x[i].transpose(1, 2, 0)  # (H, W, C)
    if frames is not None:
        from matplotlib.colors import to_rgb

        frames = list(frames)
        if len(frames) != n:
            raise ValueError(f"got {n} images but {len(frames)} frames")
        for i, colour in enumerate(frames):
            if colour is None:
                continue
            r, col = divmod(i, ncol)
            top, left = pad + r * (h + pad), pad + col * (w + pad)
            rgb = to_rgb(colour) if c == 3 else (np.mean(to_rgb(colour)),)
            b = pad // 2
            inner = grid[top:top + h, left:left + w].copy()
            grid[top - b:top + h + b, left - b:left + w + b] = rgb  # a border pad/2 wide
            grid[top:top + h, left:left + w] = inner
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


def show_retrieval(queries, query_labels, bank, bank_labels, neighbours: dict, *,
                   class_names: list[str] | None = None, same: str = "tab:green", other: str = "tab:red",
                   axes=None) -> np.ndarray:
    """Retrieval figure: each query image (first column) followed by its nearest neighbours, one panel per encoder.

    queries (Q, C, H, W) with labels (Q,); bank (N, C, H, W) with labels (N,), the images searched;
    neighbours maps a name (e.g. "random init") to (Q, k) indices into bank, nearest first, as
    evaluation.nearest_neighbours returns them. Each neighbour is framed in `same` colour when its
    class is the query's and in `other` colour when not, and captioned with its class; each panel's
    title gives the fraction of the shown neighbours that share their query's class. Returns the axes.
    """
    queries, bank = _as_numpy(queries), _as_numpy(bank)
    query_labels, bank_labels = _as_numpy(query_labels).astype(int), _as_numpy(bank_labels).astype(int)
    if len(queries) != len(query_labels) or len(bank) != len(bank_labels):
        raise ValueError(f"need one label per image: {len(queries)} queries with {len(query_labels)} labels, "
                         f"{len(bank)} bank images with {len(bank_labels)} labels")
    if not neighbours:
        raise ValueError("neighbours is empty: pass {name: (Q, k) indices}, e.g. from evaluation.nearest_neighbours")
    name_of = (lambda c: class_names[c]) if class_names is not None else str
    if axes is None:
        k = max(_as_numpy(v).shape[1] for v in neighbours.values())
        _, axes = plt.subplots(1, len(neighbours), figsize=(0.75 * (k + 1) * len(neighbours) + 0.5,
                                                           0.95 * len(queries) + 0.6), squeeze=False)
    axes = np.asarray(axes).ravel()
    if len(axes) != len(neighbours):
        raise ValueError(f"got {len(axes)} axes for {len(neighbours)} encoders")
    for ax, (name, idx) in zip(axes, neighbours.items()):
        idx = _as_numpy(idx).astype(int)
        if idx.ndim != 2 or len(idx) != len(queries):
            raise ValueError(f"neighbours[{name!r}] must have shape ({len(queries)}, k), got {idx.shape}")
        k = idx.shape[1]
        images, labels, frames = [], [], []
        for q in range(len(queries)):
            images.append(queries[q]); labels.append(name_of(query_labels[q])); frames.append("black")
            for j in idx[q]:
                images.append(bank[j]); labels.append(name_of(bank_labels[j]))
                frames.append(same if bank_labels[j] == query_labels[q] else other)
        shared = float((bank_labels[idx] == query_labels[:, None]).mean())
        show_images(np.stack(images), nrow=k + 1, frames=frames, ax=ax)
        h, w, pad = queries.shape[-2], queries.shape[-1], 4  # show_images' layout with frames
        for i, lab in enumerate(labels):  # each class name inside the bottom of its image
            r, col = divmod(i, k + 1)
            ax.text(pad + col * (w + pad) + w / 2, pad + r * (h + pad) + h - 1, lab, ha="center", va="bottom",
                    fontsize=5, bbox={"facecolor": "white", "alpha": 0.7, "pad": 0.5, "linewidth": 0})
        ax.set_title(f"{name}: {shared:.0%} of neighbours share\nthe query's class (query: first column)",
                     fontsize=9)
    return axes
