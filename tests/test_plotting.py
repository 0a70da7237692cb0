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
