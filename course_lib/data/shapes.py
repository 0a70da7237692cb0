"""``shapes``: a procedurally generated, offline image set with 10 classes.

Each image is one coloured shape (random colour, position, scale and a *small* tilt) on a
textured two-colour gradient background. The tilt stays within about +-25 degrees, so the shapes
have an "upright" as objects in photos do (an arrow points up, a heart's tip points down): that is
what makes rotation prediction a real task. The background's gradient and stripes run in a random
direction in every image, so the background alone says nothing about which way is up: a network
can only predict a rotation by looking at the shape (no shortcut).
Rendering is vectorised numpy: each class is an inside-test on a per-image coordinate grid,
drawn at 2x resolution and averaged down (anti-aliasing).
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

from .cache import CacheError, CacheWarning, atomic_write
from .downloads import cache_dir

VERSION = 2  # bump when rendering changes, so cached arrays are regenerated
CLASSES = ["circle", "square", "triangle", "cross", "ring",
           "star", "heart", "hexagon", "crescent", "arrow"]
MAX_TILT_DEG = 25.0
COLOURS = ("random", "by_class", "plain")   # how make_shapes colours its shapes (and, for "plain", its backgrounds)
PLAIN_COLOUR = np.array([0.95, 0.9, 0.2])    # the one shape colour of "plain" (a yellow)
_SUPERSAMPLE = 2


def _regular(k: int, radius: float, start_deg: float = 90.0) -> np.ndarray:
    """Vertices (k, 2) of a regular k-gon; the first vertex points up by default."""
    a = np.deg2rad(start_deg + 360.0 * np.arange(k) / k)
    return radius * np.stack([np.cos(a), np.sin(a)], axis=1)


def _star(points: int = 5, outer: float = 1.0, inner: float = 0.42) -> np.ndarray:
    """Vertices of a star alternating outer and inner radii, one tip pointing up."""
    radii = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    a = np.deg2rad(90.0 + 180.0 * np.arange(2 * points) / points)
    return np.stack([radii * np.cos(a), radii * np.sin(a)], axis=1)


_ARROW = np.array([[0.0, 1.0], [0.75, 0.15], [0.25, 0.15], [0.25, -0.95],
                   [-0.25, -0.95], [-0.25, 0.15], [-0.75, 0.15]])  # points up
_POLYGONS = {"triangle": _regular(3, 1.05) + [0.0, -0.15], "star": _star(),
             "hexagon": _regular(6, 0.95, start_deg=0.0), "arrow": _ARROW}


def _inside_polygon(x: np.ndarray, y: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd rule: a point is inside if a ray to the right crosses an odd number of edges."""
    inside = np.zeros(x.shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(vertices, np.roll(vertices, -1, axis=0)):
        if y1 == y2:
            continue  # a horizontal edge is never crossed by a horizontal ray
        straddles = (y1 > y) != (y2 > y)
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= straddles & (x < x_cross)
    return inside


def _inside(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of shape ``name`` in local coordinates (shape roughly fills [-1, 1]^2)."""
    r2 = x * x + y * y
    if name == "circle":
        return r2 <= 0.9
    if name == "square":
        return np.maximum(np.abs(x), np.abs(y)) <= 0.8
    if name == "cross":
        return ((np.abs(x) <= 0.28) & (np.abs(y) <= 0.95)) | ((np.abs(y) <= 0.28) & (np.abs(x) <= 0.95))
    if name == "ring":
        return (r2 <= 1.0) & (r2 >= 0.36)
    if name == "heart":  # the classic implicit heart curve, shifted to sit centred
        hx, hy = 1.25 * x, 1.25 * y + 0.2
        return (hx * hx + hy * hy - 1.0) ** 3 - hx * hx * hy ** 3 <= 0.0
    if name == "crescent":  # a disc minus an offset disc: horns point up-right
        return (r2 <= 1.0) & ((x - 0.45) ** 2 + (y - 0.3) ** 2 >= 0.7)
    return _inside_polygon(x, y, _POLYGONS[name])


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB for arrays of shape (N,); returns (N, 3) in [0, 1]."""
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6.0) % 6.0  # (N, 3)
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _backgrounds(rng: np.random.Generator, n: int, size: int, fixed_sky: bool = False, grey: bool = False) -> np.ndarray:
    """(N, S, S, 3) two-colour gradients with faint stripes and pixel noise, each in a random direction
    (grey: each pixel the average of its three channels, from the same random draws)."""
    g = np.linspace(-1.0, 1.0, size)
    angle = rng.uniform(0.0, 2 * np.pi, (n, 1, 1))  # random direction: no global "up" in the background
    if fixed_sky:  # version 1's shortcut, kept to demonstrate it: light always on top, dark below
        angle = np.full_like(angle, np.pi / 2)
    u = np.cos(angle) * g[None, None, :] + np.sin(angle) * g[None, :, None]  # (N, S, S) in [-1.42, 1.42]
    t = ((u / np.sqrt(2.0) + 1.0) / 2.0)[..., None]  # (N, S, S, 1) in [0, 1]
    light = _hsv_to_rgb(rng.uniform(0.5, 0.7, n), rng.uniform(0.1, 0.35, n), rng.uniform(0.75, 0.95, n))
    dark = _hsv_to_rgb(rng.uniform(0.05, 0.35, n), rng.uniform(0.2, 0.5, n), rng.uniform(0.15, 0.35, n))
    bg = light[:, None, None, :] * (1 - t) + dark[:, None, None, :] * t  # (N, S, S, 3)
    freq = rng.uniform(3.0, 8.0, (n, 1, 1, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (n, 1, 1, 1))
    bg = bg + 0.04 * np.sin(2 * np.pi * freq * t + phase)  # stripes across the gradient
    bg = bg + rng.normal(0.0, 0.03, (n, size, size, 1))
    return bg.mean(axis=-1, keepdims=True).repeat(3, axis=-1) if grey else bg


def _draw(rng: np.random.Generator, n: int, colours: str = "random") -> dict[str, np.ndarray]:
    """The per-image factors of a set, in the order make_shapes draws them (the background's follow).

    colours (COLOURS): "random", any hue; "by_class", class c's hue in [c/10, (c+1)/10) of the colour wheel
    (a set whose colour says the class); "plain", every shape PLAIN_COLOUR. The random draws are the same
    in all three, so every other factor is unchanged."""
    if colours not in COLOURS:
        raise ValueError(f"colours must be one of {COLOURS}, got {colours!r}")
    y = rng.permutation(np.arange(n) % len(CLASSES))  # balanced: counts differ by at most 1
    scale = rng.uniform(0.4, 0.62, n)  # shape radius as a fraction of the half-width
    centre = rng.uniform(-1.0, 1.0, (n, 2)) * (0.92 - scale)[:, None]  # stays in frame
    tilt = np.deg2rad(rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG, n))
    hsv = rng.uniform(0, 1, n), rng.uniform(0.75, 1.0, n), rng.uniform(0.8, 1.0, n)
    if colours == "by_class":
        hsv = ((y + hsv[0]) / len(CLASSES), *hsv[1:])
    colour = np.tile(PLAIN_COLOUR, (n, 1)) if colours == "plain" else _hsv_to_rgb(*hsv)
    return {"y": y, "scale": scale, "centre": centre, "tilt": tilt, "hue": hsv[0], "colour": colour}


def shape_factors(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """What make_shapes(n, size, seed) draws per image, without rendering: class "y", "scale",
    "centre" (N, 2), "tilt" (radians), the shape's "hue" (a fraction of a turn) and "colour" (N, 3 RGB),
    and the background's "bg_angle" (gradient direction, radians) and "bg_hue" (its light colour's hue).

    For measuring what a representation encodes besides the class (notebook 07, benchmarks/ssl_cpu.py).
    """
    rng = np.random.default_rng(seed)
    f = _draw(rng, n)
    f["bg_angle"] = rng.uniform(0.0, 2 * np.pi, n)  # the first draws of _backgrounds, in its order
    f["bg_hue"] = rng.uniform(0.5, 0.7, n)
    return f


def split_factors(n: int, seed: int = 0, *, train: bool = True) -> dict[str, np.ndarray]:
    """shape_factors of the split that data.load_images("shapes", train=train, n=n, seed=seed) returns
    (the loader renders seed 2 * seed for the training split and 2 * seed + 1 for the test split)."""
    return shape_factors(n, 2 * seed + (not train))


def factor_bins(factors: dict[str, np.ndarray], bins: int = 10) -> dict[str, np.ndarray]:
    """Each factor of shape_factors cut into `bins` equal bins of its drawn range: integer labels (N,)
    that evaluation.neighbour_agreement can score like classes. Keys: "hue" (the shape's colour),
    "bg_angle" (the background's direction), "bg_hue", "hue_vs_bg" (the shape's hue relative to the
    background's, which a hue turn of the whole image keeps), "scale", and "position" (3 x 3 cells)."""
    def cut(v: np.ndarray, lo: float, hi: float, n: int = bins) -> np.ndarray:
        return np.clip(((v - lo) / (hi - lo) * n).astype(np.int64), 0, n - 1)

    f = factors
    return {"hue": cut(f["hue"], 0.0, 1.0), "bg_angle": cut(f["bg_angle"], 0.0, 2 * np.pi),
            "bg_hue": cut(f["bg_hue"], 0.5, 0.7), "hue_vs_bg": cut((f["hue"] - f["bg_hue"]) % 1.0, 0.0, 1.0),
            "scale": cut(f["scale"], 0.4, 0.62),
            "position": cut(f["centre"][:, 0], -0.5, 0.5, 3) * 3 + cut(f["centre"][:, 1], -0.5, 0.5, 3)}


def coverage(factors: dict[str, np.ndarray], size: int) -> np.ndarray:
    """How much of each output pixel the image's shape covers, from its drawn factors: (N, S, S) in [0, 1].

    The object's soft mask (``>= 0.5`` for a hard one): ``coverage(split_factors(n, seed, train=...), size)``
    belongs to the images ``load_images("shapes" | "shapes_plain" | "shapes_colour", ...)`` returns."""
    y, scale, centre, tilt = factors["y"], factors["scale"], factors["centre"], factors["tilt"]
    hi = size * _SUPERSAMPLE
    g = (np.arange(hi) + 0.5) / hi * 2.0 - 1.0  # pixel centres in [-1, 1]
    gx, gy = g[None, None, :], -g[None, :, None]  # image y grows downwards; shapes' y points up
    out = np.zeros((len(y), size, size), dtype=np.float32)
    for c, name in enumerate(CLASSES):
        idx = np.flatnonzero(y == c)
        if idx.size == 0:
            continue
        cos, sin = np.cos(tilt[idx])[:, None, None], np.sin(tilt[idx])[:, None, None]
        dx = (gx - centre[idx, 0, None, None]) / scale[idx, None, None]  # (n_c, hi, hi)
        dy = (gy - centre[idx, 1, None, None]) / scale[idx, None, None]
        lx, ly = cos * dx + sin * dy, -sin * dx + cos * dy  # rotate the grid by -tilt
        mask = _inside(name, lx, ly).astype(np.float32)
        out[idx] = mask.reshape(idx.size, size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(2, 4))
    return out


def make_shapes(n: int, size: int = 32, seed: int = 0, *, fixed_sky: bool = False,
                colours: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` images: (N, S, S, 3) uint8 and balanced labels (N,) int64; deterministic.

    ``fixed_sky=True`` draws every background light at the top and dark at the bottom, as the
    first version of the set did: a shortcut for rotation prediction (notebook 05 shows it).
    ``colours="by_class"`` gives each class its own tenth of the colour wheel (notebook 10's colorization);
    ``colours="plain"`` draws every shape in one colour on a grey background (notebooks 07-09 and 11: only the
    shape, its pose and the background's light and direction tell two images apart).
    """
    if n < 0 or size < 8:
        raise ValueError(f"make_shapes needs n >= 0 and size >= 8, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    f = _draw(rng, n, colours)
    y, colour = f["y"], f["colour"]
    images = _backgrounds(rng, n, size, fixed_sky, grey=colours == "plain")  # (N, S, S, 3)

    alpha = coverage(f, size)[..., None]  # (N, S, S, 1) coverage of each output pixel
    images = images * (1 - alpha) + colour[:, None, None, :] * alpha
    x = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
    return x, y.astype(np.int64)


def cached_shapes(n: int, size: int = 32, seed: int = 0, *, colours: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """``make_shapes`` with an .npz cache in ``cache_dir()`` keyed by (n, size, seed, colours, VERSION)."""
    tag = {"random": "", "by_class": "_colour", "plain": "_plain"}[colours]
    path = cache_dir() / f"shapes{tag}_v{VERSION}_n{n}_s{size}_seed{seed}.npz"
    if path.exists():
        try:
            with np.load(path) as f:
                return f["x"], f["y"]
        except (OSError, ValueError, KeyError):
            with contextlib.suppress(OSError):  # a read-only folder keeps it; we regenerate
                path.unlink(missing_ok=True)  # unreadable cache: regenerate below
    x, y = make_shapes(n, size, seed, colours=colours)
    try:
        with atomic_write(path, f"the generated shapes set ({path.name})") as f:
            np.savez(f, x=x, y=y)  # uncompressed: loading is faster than regenerating
    except CacheError as err:  # the images are made: use them, and say how to keep them next time
        warnings.warn(f"{err} Using the images without caching them (rebuilt on every load).",
                      CacheWarning, stacklevel=2)
    return x, y
