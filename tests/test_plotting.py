"""Tests for course_lib.plotting: every figure draws without error on the Agg backend."""
import matplotlib

matplotlib.use("Agg")  # no display in CI

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import plotting, training  # noqa: E402


def teardown_function():
    plt.close("all")


def test_show_images_colour_and_grey():
    ax = plotting.show_images(torch.rand(10, 3, 8, 8), labels=list("abcdefghij"), nrow=4, title="t")
    assert ax.get_title() == "t"
    assert plotting.show_images(torch.rand(3, 8, 8)) is not None
    with pytest.raises(ValueError, match="labels"):
        plotting.show_images(torch.rand(3, 3, 8, 8), labels=[1])


def test_scatter_embedding_legend_uses_class_names():
    ax = plotting.scatter_embedding(torch.randn(30, 2), torch.arange(30) % 3,
                                    class_names=["circle", "square", "star"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["circle", "square", "star"]
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plotting.scatter_embedding(torch.randn(30, 3), torch.zeros(30))


def test_plot_history_accepts_history_and_lists():
    _, ax = plt.subplots()
    h = training.History(losses=[3.0, 2.0, 1.5, 1.0])
    out = plotting.plot_history({"run": h, "list": [2.0, 1.0]}, title="loss", ax=ax)
    assert out is ax and len(ax.get_lines()) == 4


def test_show_images_frames_colour_the_border():
    x = torch.zeros(2, 3, 8, 8)
    ax = plotting.show_images(x, nrow=2, frames=["red", None])
    grid = ax.get_images()[0].get_array()
    assert tuple(grid[3, 3]) == (1.0, 0.0, 0.0)           # inside the pad, around the first image: red
    assert tuple(grid[5, 5]) == (0.0, 0.0, 0.0)           # the image itself is untouched
    with pytest.raises(ValueError, match="frames"):
        plotting.show_images(x, frames=["red"])


def test_show_retrieval_titles_give_the_shared_fraction():
    q, yq = torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
    bank, yb = torch.rand(6, 3, 8, 8), torch.tensor([0, 0, 1, 1, 0, 1])
    axes = plotting.show_retrieval(q, yq, bank, yb, {"random": torch.tensor([[2, 3], [0, 1]]),
                                                     "trained": torch.tensor([[0, 1], [2, 3]])},
                                   class_names=["circle", "square"])
    assert len(axes) == 2
    assert axes[0].get_title().startswith("random: 0%") and axes[1].get_title().startswith("trained: 100%")
    assert {t.get_text() for t in axes[1].texts} == {"circle", "square"}
    with pytest.raises(ValueError, match="shape"):
        plotting.show_retrieval(q, yq, bank, yb, {"bad": torch.tensor([[0, 1]])})


def _boxes(ax, texts):
    renderer = ax.figure.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts]


@pytest.mark.parametrize("figsize", [None, (12, 3.4)])
def test_show_images_captions_stay_below_their_row(figsize):
    """Issue 18: a caption must not run into the next row of images, with a given axes too."""
    ax = None
    if figsize is not None:
        _, axes = plt.subplots(1, 2, figsize=figsize)
        ax = axes[0]
    ax = plotting.show_images(torch.rand(32, 3, 32, 32), labels=["crescent"] * 32, nrow=8, ax=ax)
    ax.figure.canvas.draw()
    pad, rows = 2, 4
    row_h = (ax.get_images()[0].get_array().shape[0] - pad) / rows  # image, caption band and padding
    y_px = lambda y: ax.transData.transform((0, y))[1]  # noqa: E731 (display y grows upwards)
    column_px = ax.transData.transform((32 + pad, 0))[0] - ax.transData.transform((0, 0))[0]
    for i, box in enumerate(_boxes(ax, ax.texts)):
        r = i // 8
        assert box.y1 <= y_px(pad + r * row_h + 32) + 0.5, f"caption {i} covers its own image"
        if r + 1 < rows:
            assert box.y0 >= y_px(pad + (r + 1) * row_h) - 0.5, f"caption {i} runs into the next row"
        assert box.width <= column_px, f"caption {i} is wider than its column"


def test_place_labels_spreads_a_tight_cluster_apart():
    _, ax = plt.subplots(figsize=(6, 4))
    z = torch.cat([0.01 * torch.randn(12, 2, generator=torch.Generator().manual_seed(0)), torch.tensor([[3.0, 3.0]])])
    ax.scatter(z[:, 0], z[:, 1])
    texts = plotting.place_labels(ax, z, [f"month{i}" for i in range(13)])
    ax.figure.canvas.draw()
    boxes = _boxes(ax, texts)
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (texts[i].get_text(), texts[j].get_text())
    assert len(ax.get_lines()) > 0  # leader lines back to the cluster
    with pytest.raises(ValueError, match="one label per point"):
        plotting.place_labels(ax, z, ["a"])


def test_scatter_words_labels_every_point():
    ax = plotting.scatter_words(torch.randn(20, 2), [f"w{i}" for i in range(20)], torch.arange(20) % 4)
    assert {t.get_text() for t in ax.texts} == {f"w{i}" for i in range(20)}
