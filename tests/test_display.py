"""display.py: every function returns a closed Figure with the expected axes, never shows."""

import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from nstyle_helpers import display


@pytest.fixture(autouse=True)
def no_show(monkeypatch):
    """Fail on plt.show(), and check that no figure is left open in pyplot afterwards."""
    def forbidden(*args, **kwargs):
        raise AssertionError("display functions must not call plt.show()")

    monkeypatch.setattr(plt, "show", forbidden)
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a display function left a figure open (it would show twice)"


def _images_in(fig: Figure) -> int:
    return sum(len(ax.get_images()) for ax in fig.axes)


def _history(steps=6, n=3):
    total = torch.linspace(10.0, 1.0, steps + 1)[:, None] * torch.arange(1.0, n + 1)
    return {"content": total / 2, "style": total / 2, "total": total}


def test_importing_display_sets_nothing_up():
    # Importing the module must not import pyplot (which picks a backend) or draw anything.
    code = ("import sys, nstyle_helpers.teaching.display, nstyle_helpers.teaching.widgets; "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_show_images_batch_one_axes_per_image():
    fig = display.show_images(torch.rand(3, 3, 8, 10), ["a", "b", "c"])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    assert _images_in(fig) == 3
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]


def test_show_images_grid_removes_unused_cells():
    fig = display.show_images(torch.rand(7, 3, 4, 4), ncols=3)
    assert len(fig.axes) == 7


def test_show_images_accepts_lists_single_images_and_grad_tensors():
    images = [torch.rand(1, 3, 5, 5), torch.rand(3, 5, 5).requires_grad_(), torch.rand(2, 3, 5, 5)]
    fig = display.show_images(images)
    assert len(fig.axes) == 4


def test_show_images_clips_to_unit_range():
    fig = display.show_images(torch.full((1, 3, 2, 2), 3.0))
    shown = fig.axes[0].get_images()[0].get_array()
    assert float(np.max(shown)) == 1.0


@pytest.mark.parametrize("bad", [torch.rand(1, 1, 4, 4), torch.rand(4, 4)])
def test_show_images_rejects_non_rgb(bad):
    with pytest.raises(ValueError, match="3, H, W"):
        display.show_images(bad)


def test_show_images_title_count_must_match():
    with pytest.raises(ValueError, match="titles"):
        display.show_images(torch.rand(2, 3, 4, 4), ["only one"])


def test_pixel_grid_writes_every_value():
    values = np.arange(12).reshape(3, 4)
    fig = display.pixel_grid(values)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the picture and its colour bar
    assert [t.get_text() for t in ax.texts] == [str(v) for v in range(12)]


def test_pixel_grid_rejects_3d():
    with pytest.raises(ValueError, match="2-D"):
        display.pixel_grid(torch.rand(3, 4, 4))


def test_channel_maps_three_or_four_panels():
    image = torch.rand(1, 3, 6, 8)
    assert len(display.channel_maps(image).axes) == 4
    fig = display.channel_maps(image[0], show_image=False)
    assert len(fig.axes) == 3
    # Panel k shows channel k unchanged.
    for k, ax in enumerate(fig.axes):
        np.testing.assert_allclose(ax.get_images()[0].get_array(), image[0, k].numpy(), rtol=1e-6)


def test_feature_maps_count_plus_strip():
    features = torch.rand(1, 16, 4, 5)
    fig = display.feature_maps(features, count=6, layer="relu1_2")
    assert len(fig.axes) == 7
    strip = fig.axes[-1].get_images()[0].get_array()
    # The strip is F^l: row i is map i read row by row.
    np.testing.assert_allclose(strip, features[0, :6].reshape(6, 20).numpy(), rtol=1e-6)
    assert "relu1_2" in fig.axes[0].get_title()


def test_feature_maps_small_example_is_annotated():
    fig = display.feature_maps(torch.arange(24.0).reshape(2, 3, 4), count=2)
    assert len(fig.axes) == 3
    assert len(fig.axes[0].texts) == 12 and len(fig.axes[-1].texts) == 24


def test_feature_maps_indices():
    fig = display.feature_maps(torch.rand(8, 3, 3), indices=[5, 2], annotate=False)
    assert len(fig.axes) == 3
    assert "map 5" in fig.axes[0].get_title()


def test_value_histogram_one_or_several():
    assert len(display.value_histogram(torch.rand(100)).axes) == 1
    fig = display.value_histogram({"a": torch.rand(100), "b": torch.rand(100)})
    assert len(fig.axes) == 1
    assert fig.axes[0].get_legend() is not None


def test_loss_curves_default_terms_and_lines():
    fig = display.loss_curves(_history(), labels=["x", "y", "z"])
    assert [ax.get_title() for ax in fig.axes] == ["total", "content", "style"]
    assert all(len(ax.get_lines()) == 3 for ax in fig.axes)
    line = fig.axes[0].get_lines()[1]
    np.testing.assert_allclose(line.get_ydata(), _history()["total"][:, 1].numpy())
    assert fig.axes[0].get_yscale() == "log"


def test_loss_curves_single_term_linear_and_highlight():
    history = {"total": torch.rand(5, 2) + 0.1, "content": torch.rand(5, 2)}
    fig = display.loss_curves(history, log=False, highlight=1)
    assert len(fig.axes) == 1  # only "total" when there is a single other term
    assert fig.axes[0].get_yscale() == "linear"
    faint, bold = fig.axes[0].get_lines()
    assert bold.get_linewidth() > faint.get_linewidth()


def test_loss_curves_without_total_draws_every_term():
    fig = display.loss_curves({"a": torch.rand(4, 1), "b": torch.rand(4, 1)})
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]


def test_loss_curves_unknown_term():
    with pytest.raises(ValueError, match="no loss term 'style'"):
        display.loss_curves({"total": torch.rand(3, 1)}, ["style"])


def test_snapshot_strip_one_axes_per_snapshot():
    snapshots = [(step, torch.rand(2, 3, 4, 4)) for step in (0, 5, 10)]
    fig = display.snapshot_strip(snapshots, index=1)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 5", "step 10"]


def test_snapshot_movie_is_an_inline_gif_of_the_snapshots():
    from nstyle_helpers.teaching.movie import gif_bytes

    snapshots = [(step, torch.rand(2, 3, 6, 8)) for step in (0, 5, 10)]
    movie = display.snapshot_movie(snapshots, index=1, size=16, width=200)
    data, metadata = movie._repr_mimebundle_()
    assert list(data) == ["image/gif"]
    assert movie.data == gif_bytes(snapshots, 1, size=16)
    assert metadata["image/gif"]["width"] == 200
    with pytest.raises(ValueError, match="snapshot_every"):
        display.snapshot_movie([])


def test_snapshot_strip_needs_snapshots():
    with pytest.raises(ValueError, match="snapshot_every"):
        display.snapshot_strip([])


def test_gram_heatmap():
    fig = display.gram_heatmap(torch.rand(1, 5, 5))
    assert len(fig.axes) == 2  # heat map and colour bar
    assert fig.axes[0].get_images()[0].get_array().shape == (5, 5)
    with pytest.raises(ValueError, match="square"):
        display.gram_heatmap(torch.rand(3, 4))


def test_figures_are_saveable_after_closing(tmp_path):
    fig = display.show_images(torch.rand(1, 3, 4, 4))
    fig.savefig(tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 0


def test_wide_figures_are_capped():
    fig = display.show_images(torch.rand(6, 3, 4, 40), size=3.0)
    assert fig.get_figwidth() <= display.MAX_WIDTH + 1e-6


def test_backend_untouched():
    before = matplotlib.get_backend()
    display.show_images(torch.rand(1, 3, 4, 4))
    assert matplotlib.get_backend() == before
