"""The offline 'shapes' set: fast, deterministic, balanced, upright, cached."""
from __future__ import annotations


import numpy as np

from course_lib.data import shapes


def test_balanced_and_deterministic():
    # No wall-clock assertion here: on a loaded CI machine it fails for reasons that are not bugs.
    x, y = shapes.make_shapes(3000, 32, seed=0)
    assert x.shape == (3000, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == [300] * 10
    x2, y2 = shapes.make_shapes(300, 32, seed=0)  # same seed: same images, any n
    x3, y3 = shapes.make_shapes(300, 32, seed=0)
    assert np.array_equal(x2, x3) and np.array_equal(y2, y3)
    assert not np.array_equal(x2, shapes.make_shapes(300, 32, seed=1)[0])


def test_background_gives_no_upright():
    # Rotation prediction must need the shape: the background is lighter at the top only by chance.
    x, _ = shapes.make_shapes(1000, 32, seed=3)
    grey = x.astype(np.float32).mean(axis=3)  # (N, H, W)
    top, bottom = grey[:, :4].mean(axis=(1, 2)), grey[:, -4:].mean(axis=(1, 2))
    assert 0.4 < (top > bottom).mean() < 0.6


def test_classes_differ():
    x, y = shapes.make_shapes(200, 32, seed=0)
    # Mean image per class differs between classes (the shapes are not all the same blob).
    means = np.stack([x[y == c].astype(np.float32).mean(0) for c in range(10)])
    gaps = [np.abs(means[a] - means[b]).mean() for a in range(10) for b in range(a + 1, 10)]
    assert min(gaps) > 1.0


def test_other_sizes_and_odd_counts():
    x, y = shapes.make_shapes(13, 64, seed=0)
    assert x.shape == (13, 64, 64, 3) and np.bincount(y).max() - np.bincount(y).min() <= 1


def test_cache_written_atomically_and_reused(tmp_cache):
    x, y = shapes.cached_shapes(50, 32, seed=5)
    files = [p.name for p in tmp_cache.iterdir()]
    assert files == [f"shapes_v{shapes.VERSION}_n50_s32_seed5.npz"]
    x2, y2 = shapes.cached_shapes(50, 32, seed=5)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    (tmp_cache / files[0]).write_bytes(b"garbage")  # a broken cache file is regenerated
    x3, _ = shapes.cached_shapes(50, 32, seed=5)
    assert np.array_equal(x, x3)


def test_factors_match_the_rendered_set():
    # shape_factors replays make_shapes' draws without rendering: same labels, and the shape's colour is
    # the colour of the pixel at the shape's centre for the filled classes.
    from course_lib import data

    x, y = shapes.make_shapes(60, 32, seed=4)
    f = shapes.shape_factors(60, seed=4)
    assert np.array_equal(f["y"], y) and f["centre"].shape == (60, 2) and f["colour"].shape == (60, 3)
    assert ((0 <= f["hue"]) & (f["hue"] < 1)).all() and ((0 <= f["bg_angle"]) & (f["bg_angle"] < 2 * np.pi)).all()
    filled = np.isin(y, [shapes.CLASSES.index(c) for c in ("circle", "square", "hexagon")])
    col = np.clip(np.rint((f["centre"][:, 0] + 1) / 2 * 32 - 0.5), 0, 31).astype(int)
    row = np.clip(np.rint((1 - f["centre"][:, 1]) / 2 * 32 - 0.5), 0, 31).astype(int)
    centre_pixel = x[np.arange(60), row, col] / 255.0
    assert np.abs(centre_pixel[filled] - f["colour"][filled]).max() < 0.02
    test = data.load_images("shapes", train=False, n=40, seed=3, size=32)
    assert np.array_equal(shapes.split_factors(40, 3, train=False)["y"], test.y.numpy())


def test_plain_shapes_share_one_colour_on_grey_and_keep_every_other_factor():
    import pytest
    import torch

    from course_lib import data

    x, y = shapes.make_shapes(40, 32, seed=5, colours="plain")
    x_col, y_col = shapes.make_shapes(40, 32, seed=5)
    assert np.array_equal(y, y_col)                                      # the same draws: same classes
    grey = (x.max(axis=-1).astype(int) - x.min(axis=-1)) <= 1           # (N, S, S): pixels with R = G = B
    centre = x[:, 16, 16].astype(float) / 255                           # most shapes cover the centre
    shape_px = np.abs(centre - shapes.PLAIN_COLOUR).max(axis=1) < 0.02
    assert grey.mean() > 0.5 and shape_px.mean() > 0.5                  # grey background, the one yellow
    assert (x != x_col).any(axis=-1).mean() > 0.5                       # the colourful set differs
    ds = data.load_images("shapes_plain", train=True, n=20, size=16)
    assert ds.name == "shapes_plain" and ds.x.shape == (20, 3, 16, 16) and torch.equal(
        ds.y, data.load_images("shapes", train=True, n=20, size=16).y)
    with pytest.raises(ValueError, match="colours must be one of"):
        shapes.make_shapes(4, 16, colours="pastel")
