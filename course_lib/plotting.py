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


CAPTION_PT = 8.0  # caption font size in points, at most (shrunk to fit narrow columns)


def _caption_layout(ax: Axes, ncol: int, rows: int, h: int, w: int, pad: int, longest: int) -> tuple[float, int]:
    """Font size (pt) and the height in grid pixels of the caption band under each row of images.

    The grid is drawn with equal aspect, so one grid pixel spans the same inches across and down; the
    band is sized in those pixels from the axes' size in inches, so that a caption never runs into the
    next row, whatever the figure size, and its font shrinks (down to 5 pt) when a column is too narrow.
    """
    fig, box = ax.figure, ax.get_position()
    ax_w, ax_h = box.width * fig.get_figwidth(), box.height * fig.get_figheight()  # inches
    width_px, base_px = ncol * (w + pad) + pad, rows * (h + pad) + pad
    fontsize, band = CAPTION_PT, 0.0
    for _ in range(20):  # fixed point: the band makes the grid taller, which can shrink the scale
        inch_per_px = min(ax_w / width_px, ax_h / (base_px + rows * band))
        column_pt = (w + pad) * inch_per_px * 72
        fontsize = max(5.0, min(CAPTION_PT, column_pt / (0.62 * max(longest, 1))))  # ~0.62 em per character
        band = min(1.6 * fontsize / 72 / inch_per_px, 2.0 * h)  # one line of text and a little air
    return fontsize, int(math.ceil(band))


def show_images(x, labels=None, *, nrow: int = 8, title: str | None = None, ax: Axes | None = None,
                frames=None) -> Axes:
    """Show images (N, 3, H, W) or (N, H, W) with values in [0, 1] as one grid, optionally captioned.

    Captions sit in a white band under their image, sized so that they never cover the next row.
    frames: one matplotlib colour (or None for no frame) per image, drawn as a border around it.
    """
    x = _as_numpy(x)
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W): grey images
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"show_images expects (N, 3, H, W) or (N, H, W) images, got shape {x.shape}")
    n, c, h, w = x.shape
    if labels is not None:
        labels = [str(lab) for lab in labels]
        if len(labels) != n:
            raise ValueError(f"got {n} images but {len(labels)} labels")
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    pad = 2 if frames is None else 4  # frames take the inner half of the padding
    if ax is None:  # about 1.2 inches per image, plus room for the captions and the title
        _, ax = plt.subplots(figsize=(1.2 * ncol, 1.2 * rows * (1.25 if labels is not None else 1.0) + 0.4))
    fontsize, band = (_caption_layout(ax, ncol, rows, h, w, pad, max(map(len, labels)))
                      if labels is not None else (0.0, 0))
    row_h = h + pad + band

    def origin(i: int) -> tuple[int, int]:
        """Top-left pixel of image i in the canvas."""
        r, col = divmod(i, ncol)
        return pad + r * row_h, pad + col * (w + pad)

    # Paste every image into one white canvas: one imshow is much faster than N subplots.
    grid = np.ones((rows * row_h + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    for i in range(n):
        top, left = origin(i)
        grid[top:top + h, left:left + w] = x[i].transpose(1, 2, 0)  # (H, W, C)
    if frames is not None:
        from matplotlib.colors import to_rgb

        frames = list(frames)
        if len(frames) != n:
            raise ValueError(f"got {n} images but {len(frames)} frames")
        for i, colour in enumerate(frames):
            if colour is None:
                continue
            top, left = origin(i)
            rgb = to_rgb(colour) if c == 3 else (np.mean(to_rgb(colour)),)
            b = pad // 2
            inner = grid[top:top + h, left:left + w].copy()
            grid[top - b:top + h + b, left - b:left + w + b] = rgb  # a border pad/2 wide
            grid[top:top + h, left:left + w] = inner
    grid = np.clip(grid, 0.0, 1.0)
    ax.imshow(grid[..., 0] if c == 1 else grid, cmap="gray" if c == 1 else None, vmin=0, vmax=1,
              interpolation="nearest")
    if labels is not None:
        for i, lab in enumerate(labels):
            top, left = origin(i)
            ax.text(left + w / 2, top + h + pad / 2 + band / 2, lab, ha="center", va="center", fontsize=fontsize)
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
    ax.set_xlabel("training step (one batch each)")
    ax.set_ylabel("loss")
    if len(histories) > 0:
        ax.legend()
    if title:
        ax.set_title(title)
    return ax


def place_labels(ax: Axes, xy, labels: list[str], *, fontsize: float = 8.0, color="0.1",
                 iterations: int = 400) -> list:
    """Write labels[i] beside point xy[i] (N, 2, data coordinates) so that labels overlap neither each
    other nor the points; a label pushed away from its point gets a thin grey leader line. color: one
    matplotlib colour for all labels, or a list with one per label.

    A few hundred steps of pushing overlapping boxes apart, in screen pixels: call it once the axes'
    size is final (no tight_layout afterwards), since a later resize moves points but not text sizes.
    Returns the Text objects."""
    xy = _as_numpy(xy).astype(float)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(labels):
        raise ValueError(f"need points (N, 2) and one label per point: got {xy.shape} and {len(labels)} labels")
    ax.autoscale_view()
    ax.set_xlim(ax.get_xlim()); ax.set_ylim(ax.get_ylim())  # freeze the limits: labels must not move them
    renderer = ax.figure.canvas.get_renderer()
    pts = ax.transData.transform(xy)                                    # (N, 2) pixels
    colors = color if isinstance(color, list) else [color] * len(labels)  # a tuple is one RGB colour
    texts = [ax.text(x, y, str(lab), fontsize=fontsize, color=col, ha="left", va="bottom")
             for (x, y), lab, col in zip(xy, labels, colors)]
    size = np.array([[b.width, b.height] for b in (t.get_window_extent(renderer) for t in texts)]) + 2.0
    gap = 0.25 * fontsize * ax.figure.dpi / 72                         # a quarter of a character, in pixels
    pos = pts + gap                                                     # (N, 2) lower-left corners
    dot = 2.5 * gap                                                     # a marker, as a square of this side
    frame = ax.get_window_extent(renderer)
    lo, hi = np.array([frame.x0, frame.y0]), np.array([frame.x1, frame.y1]) - size
    n = len(xy)
    tie = np.sign(np.arange(n)[:, None] - np.arange(n)[None, :])       # breaks exact ties the same way every run
    for _ in range(iterations):
        centre = pos + size / 2
        d = centre[:, None] - centre[None]                                  # (N, N, 2)
        over = (size[:, None] + size[None]) / 2 - np.abs(d)                 # > 0 on both axes: overlap
        hit = (over > 0).all(-1) & ~np.eye(n, dtype=bool)
        dp = centre[:, None] - pts[None]                                    # labels against points
        over_p = (size[:, None] + dot) / 2 - np.abs(dp)
        hit_p = (over_p > 0).all(-1) & ~np.eye(n, dtype=bool)
        if not hit.any() and not hit_p.any():
            break
        push = np.zeros_like(pos)
        # Each overlap is undone along its smaller axis: half by each of two labels, wholly by a label on a dot.
        for o, dd, h, share, tied in ((over, d, hit, 0.5, tie), (over_p, dp, hit_p, 1.0, 1.0)):
            axis = o.argmin(-1)
            for a in (0, 1):
                sign = np.where(dd[..., a] != 0, np.sign(dd[..., a]), tied)
                push[:, a] += ((h & (axis == a)) * sign * (share * o[..., a] + 0.5)).sum(1)
        pos = np.clip(pos + 0.5 * push, lo, hi)
    inverse = ax.transData.inverted()
    for t, p in zip(texts, inverse.transform(pos)):
        t.set_position(p)
    for i in range(n):  # a leader line where a label ended up away from its point
        near = np.clip(pts[i], pos[i], pos[i] + size[i])                    # the box's point nearest the dot
        if np.hypot(*(near - pts[i])) > 2 * gap:
            (x0, y0), (x1, y1) = inverse.transform(np.stack([pts[i], near]))
            ax.plot([x0, x1], [y0, y1], color="0.6", lw=0.6, zorder=1)
    return texts


def scatter_words(z2d, words: list[str], labels, *, class_names: list[str] | None = None,
                  title: str | None = None, ax: Axes | None = None, fontsize: int = 8) -> Axes:
    """scatter_embedding for words: points (N, 2) coloured by group, each labelled with its word,
    with the labels spread out so that none covers another (place_labels)."""
    z2d = _as_numpy(z2d)
    if len(words) != len(z2d):
        raise ValueError(f"need one word per point: {len(words)} words for {len(z2d)} points")
    ax = _new_ax(ax, figsize=(9, 6.5))
    scatter_embedding(z2d, labels, class_names=class_names, title=title, ax=ax)
    place_labels(ax, z2d, list(words), fontsize=fontsize)
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
