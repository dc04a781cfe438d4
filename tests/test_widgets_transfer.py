"""Tests of the widgets of notebooks 03 and 04 (style reconstruction and style transfer), and of
the figures those notebooks add to :mod:`nstyle_helpers.teaching.display`.

The widgets run real (tiny) optimisations with random weights: images of 16-24 pixels and two
or three steps, so the whole module takes seconds. Clicking is ``button.click()``, which runs
the on-click handlers exactly as a browser would; setting ``.value`` runs the observers.
"""

from __future__ import annotations

import ipywidgets
import pytest
import torch

import nstyle_helpers as nh
from nstyle_helpers import display, widgets
from helpers import write_big_bilevel_png
from nstyle_helpers.transfer import build_extractor
from test_upload import jpeg_with_orientation, upload_value

RANDOM = nh.RunConfig(weights="random")
# The tutorial balance, whose α/β depends on the size and the layer (what these tests move);
# random weights alone would take the relative balance (see the last test of this section).
RANDOM_TRANSFER = nh.TransferConfig(weights="random", balance="tutorial")


def _image(seed: int, height: int, width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, height, width, generator=generator)


@pytest.fixture(scope="module")
def style() -> torch.Tensor:
    return _image(1, 16, 20)


@pytest.fixture(scope="module")
def content() -> torch.Tensor:
    return _image(2, 16, 24)


@pytest.fixture(scope="module")
def style_extractor():
    return build_extractor(nh.STYLE_LAYERS, RANDOM, torch.device("cpu"), progress=False)


@pytest.fixture(scope="module")
def transfer_extractor():
    layers = (*widgets.TRANSFER_CONTENT_LAYERS, *nh.STYLE_LAYERS, *widgets.CONV_STYLE_LAYERS)
    return build_extractor(layers, RANDOM_TRANSFER, torch.device("cpu"), progress=False)


class ValueLog:
    """Records every new value of a widget trait, and whether the Run button was disabled
    (i.e. a run was in progress) when it arrived."""

    def __init__(self, widget, button: ipywidgets.Button, name: str = "value"):
        self.values: list = []
        self.during_run: list[bool] = []
        self._button = button
        widget.observe(self._record, names=name)

    def _record(self, change) -> None:
        self.values.append(change["new"])
        self.during_run.append(self._button.disabled)


# --------------------------------------------------------------------------------------------
# PNG round trip and small helpers


def test_png_image_inverts_image_png():
    image = _image(3, 5, 7)
    back = widgets.png_image(widgets.image_png(image))
    assert back.shape == (1, 3, 5, 7) and back.dtype == torch.float32
    assert torch.allclose(back, image, atol=0.5 / 255 + 1e-6)  # 8-bit rounding only


def test_layer_set_label_names_ours_and_the_papers():
    assert widgets.layer_set_label(("relu1_1",)) == "relu1_1 (paper: conv1_1)"
    assert widgets.layer_set_label(nh.STYLE_LAYERS) == "relu1_1 … relu5_1 (paper: conv1_1 … conv5_1)"
    assert widgets.layer_set_label(("conv4_2",)) == "conv4_2"


def test_weight_presets_sum_to_one_and_follow_inverse_square_maps():
    presets = widgets.style_layer_weight_presets(nh.STYLE_LAYERS)
    for weights in presets.values():
        assert sum(weights.values()) == pytest.approx(1.0)
    inverse_square = presets["1/N_l²"]
    assert inverse_square["relu1_1"] / inverse_square["relu5_1"] == pytest.approx(64.0)  # (512/64)²
    assert list(presets["equal"].values()) == pytest.approx([0.2] * 5)


def test_transfer_loss_weights_are_what_style_transfer_uses():
    weights = widgets.transfer_loss_weights(256, 384)
    assert weights.content_weight == pytest.approx(2.0 / (512 * 32 * 48))
    assert weights.ratio == pytest.approx(1.94e-9, rel=0.01)  # the figure in defaults.py
    # A deeper content layer has fewer positions M_c, so a larger default α.
    assert widgets.transfer_loss_weights(256, 384, "relu5_2").content_weight > \
        weights.content_weight


# --------------------------------------------------------------------------------------------
# Render functions: pure


def test_render_style_reconstruction_is_pure(style, style_extractor):
    before = style.clone()
    kwargs = dict(steps=2, config=RANDOM, extractor=style_extractor)
    first = widgets.render_style_reconstruction(style, ("relu1_1", "relu2_1"), **kwargs)
    again = widgets.render_style_reconstruction(style, ("relu1_1", "relu2_1"), **kwargs)
    assert first[:4] == b"\x89PNG" and first == again
    assert torch.equal(style, before)  # the input is not modified
    other_layers = widgets.render_style_reconstruction(style, ("relu1_1",), **kwargs)
    other_weights = widgets.render_style_reconstruction(
        style, ("relu1_1", "relu2_1"), {"relu1_1": 0.01, "relu2_1": 1.0}, **kwargs)
    assert len({first, other_layers, other_weights}) == 3


def test_render_style_reconstruction_builds_its_own_extractor(style, style_extractor):
    # Without an extractor the render function builds one; the result is the same.
    own = widgets.render_style_reconstruction(style, ("relu1_1",), steps=2, config=RANDOM)
    shared = widgets.render_style_reconstruction(style, ("relu1_1",), steps=2, config=RANDOM,
                                                 extractor=style_extractor)
    assert own == shared


def test_render_style_reconstruction_previews_while_it_runs(style, style_extractor):
    seen = []
    final = widgets.render_style_reconstruction(
        style, ("relu1_1",), steps=4, config=RANDOM, extractor=style_extractor,
        preview=lambda png, progress: seen.append((progress.step, png)), preview_every=2)
    assert [step for step, _ in seen] == [2, 4]
    assert all(png[:4] == b"\x89PNG" for _, png in seen)
    assert widgets.png_image(final).shape == style.shape


def test_render_style_transfer_is_pure(content, style, transfer_extractor):
    before = (content.clone(), style.clone())
    kwargs = dict(steps=2, config=RANDOM_TRANSFER, extractor=transfer_extractor)
    first = widgets.render_style_transfer(content, style, ratio=1e-6, **kwargs)
    assert first == widgets.render_style_transfer(content, style, ratio=1e-6, **kwargs)
    assert torch.equal(content, before[0]) and torch.equal(style, before[1])
    results = {first}
    for changes in (dict(ratio=1e2), dict(ratio=1e-6, content_layer="conv4_2"),
                    dict(ratio=1e-6, style_layers=widgets.CONV_STYLE_LAYERS),
                    dict(ratio=1e-6, init="noise")):
        results.add(widgets.render_style_transfer(content, style, **changes, **kwargs))
    assert len(results) == 5  # every control changes the picture


def test_render_style_transfer_default_ratio_is_style_transfers_default(content, style,
                                                                        transfer_extractor):
    png = widgets.render_style_transfer(content, style, steps=2, config=RANDOM_TRANSFER,
                                        extractor=transfer_extractor)
    result = nh.style_transfer(content, style, RANDOM_TRANSFER.replace(steps=2),
                               extractor=transfer_extractor, progress=False)
    assert png == widgets.image_png(result.image[0])


# --------------------------------------------------------------------------------------------
# The style reconstruction explorer (notebook 03)


def test_style_explorer_controls(style, style_extractor):
    explorer = widgets.style_reconstruction_explorer(style, steps=2, config=RANDOM,
                                                     extractor=style_extractor)
    assert isinstance(explorer, ipywidgets.VBox)
    assert explorer.layer_set.value == nh.STYLE_LAYERS  # all five layers first
    assert explorer.preset.value == "equal"  # the paper's w_l, as in reconstruct_style
    assert all(isinstance(s, ipywidgets.FloatLogSlider)
               for s in explorer.weight_sliders.values())
    explorer.layer_set.value = ("relu1_1", "relu2_1")
    assert [s.disabled for s in explorer.weight_sliders.values()] == [False, False, True,
                                                                      True, True]
    assert explorer.values()["layers"] == ("relu1_1", "relu2_1")
    assert sum(explorer.values()["layer_weights"].values()) == pytest.approx(1.0, abs=1e-3)
    assert explorer.values()["layer_weights"] == {"relu1_1": 0.5, "relu2_1": 0.5}
    explorer.preset.value = "1/N_l²"
    weights = explorer.values()["layer_weights"]
    assert weights["relu1_1"] / weights["relu2_1"] == pytest.approx(4.0, rel=1e-3)
    explorer.weight_sliders["relu2_1"].value = 0.01
    assert explorer.values()["layer_weights"]["relu2_1"] == pytest.approx(0.01)


def test_style_explorer_run_button_changes_the_image(style, style_extractor):
    explorer = widgets.style_reconstruction_explorer(style, steps=2, config=RANDOM,
                                                     extractor=style_extractor)
    assert explorer.image.value == b""
    explorer.run_button.click()
    full_set = explorer.image.value
    assert full_set[:4] == b"\x89PNG"
    assert explorer.status.value.startswith("done") and explorer.progress.value == 2
    assert not explorer.run_button.disabled
    explorer.layer_set.value = ("relu1_1",)
    explorer.run_button.click()
    assert explorer.image.value not in (b"", full_set)
    # The static figure of the notebook comes from the same render function.
    assert explorer.image.value == explorer.render() == widgets.render_style_reconstruction(
        style, **explorer.values(), steps=2, config=RANDOM)


def test_style_explorer_previews_during_the_run_and_ends_with_the_final_image(
        style, style_extractor):
    explorer = widgets.style_reconstruction_explorer(style, steps=4, preview_every=1,
                                                     config=RANDOM, extractor=style_extractor)
    log = ValueLog(explorer.image, explorer.run_button)
    progress = ValueLog(explorer.progress, explorer.run_button)
    explorer.run_button.click()
    assert sum(log.during_run) >= 2  # the picture changed while the optimiser was running
    assert log.values[-1] == explorer.image.value == explorer.render()
    assert [v for v, running in zip(progress.values, progress.during_run) if running][-1] == 4


# --------------------------------------------------------------------------------------------
# The style transfer explorer (notebook 04)


def test_transfer_explorer_has_a_logarithmic_ratio_slider(content, style, transfer_extractor):
    explorer = widgets.style_transfer_explorer(content, style, steps=2, decades=4,
                                               config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor)
    assert isinstance(explorer.ratio, ipywidgets.FloatLogSlider)
    height, width = content.shape[-2:]
    default = widgets.transfer_loss_weights(height, width).ratio
    assert explorer.ratio.value == pytest.approx(default)
    assert explorer.ratio.max - explorer.ratio.min == 8  # four decades either side
    assert f"{default:.1e}" in explorer.hint.value
    explorer.content_layer.value = "relu2_2"  # the hint follows the layer
    assert f"{widgets.transfer_loss_weights(height, width, 'relu2_2').ratio:.1e}" in \
        explorer.hint.value
    assert explorer.values() == {"ratio": pytest.approx(default), "content_layer": "relu2_2",
                                 "style_layers": nh.STYLE_LAYERS, "init": "content"}


def test_transfer_explorer_centres_on_the_balance_of_its_network(content, style,
                                                                  transfer_extractor):
    # Random weights are not torchvision's: the relative balance, α/β = 1/5 at any size.
    explorer = widgets.style_transfer_explorer(content, style, steps=2,
                                               config=nh.TransferConfig(weights="random"),
                                               extractor=transfer_extractor)
    assert explorer.ratio.value == pytest.approx(0.2)
    assert "2.0e-01" in explorer.hint.value


def test_transfer_explorer_run_button_changes_the_image(content, style, transfer_extractor):
    explorer = widgets.style_transfer_explorer(content, style, steps=2,
                                               config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor)
    explorer.run_button.click()
    first = explorer.image.value
    assert first[:4] == b"\x89PNG"
    explorer.ratio.value = explorer.ratio.value * 1e4
    explorer.run_button.click()
    second = explorer.image.value
    assert second != first
    explorer.style_layers.value = widgets.CONV_STYLE_LAYERS
    explorer.init.value = "noise"
    explorer.run_button.click()
    assert explorer.image.value not in (first, second)
    assert explorer.image.value == explorer.render() == widgets.render_style_transfer(
        content, style, **explorer.values(), steps=2, config=RANDOM_TRANSFER)


def test_transfer_explorer_previews_during_the_run_and_ends_with_the_final_image(
        content, style, transfer_extractor):
    explorer = widgets.style_transfer_explorer(content, style, steps=4, preview_every=2,
                                               config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor)
    explorer.init.value = "noise"  # from noise every step changes the picture
    log = ValueLog(explorer.image, explorer.run_button)
    status = ValueLog(explorer.status, explorer.run_button)
    explorer.run_button.click()
    assert sum(log.during_run) == 2  # previews after steps 2 and 4
    assert log.values[-1] == explorer.image.value == explorer.render()
    assert any(text.startswith("step 2/4") for text in status.values)
    assert explorer.status.value.startswith("done")


def test_transfer_explorer_reports_errors_and_stays_usable(style, transfer_extractor):
    tiny = _image(4, 8, 8)  # too small for relu5_1
    explorer = widgets.style_transfer_explorer(tiny, style, steps=2, config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor)
    explorer.run_button.click()
    assert explorer.status.value.startswith("error:") and "too small" in explorer.status.value
    assert not explorer.run_button.disabled and explorer.run_button.description == "Run"
    with pytest.raises(nh.ImageTooSmallError):
        explorer.run()  # what the button ran, raising as plain code does


def test_explorers_build_an_extractor_when_none_is_given(content, style):
    explorer = widgets.style_transfer_explorer(content, style, steps=1,
                                               config=RANDOM_TRANSFER)
    explorer.run_button.click()
    assert explorer.status.value.startswith("done")


# --------------------------------------------------------------------------------------------
# Your own pictures: the explorer's upload buttons and its save button


def _png_bytes(seed: int, height: int, width: int) -> bytes:
    return widgets.image_png(_image(seed, height, width))


def _upload(explorer, role: str, name: str, data: bytes) -> None:
    """Set the upload widget's value as a browser upload does (ipywidgets 8's format)."""
    explorer.uploads[role].value = upload_value(name, data)


def test_uploaded_content_and_style_feed_the_run(content, style, transfer_extractor):
    explorer = widgets.style_transfer_explorer(content, style, steps=2, config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor)
    assert explorer.size == 24  # the notebook's size: the content's longer side
    explorer.run_button.click()
    first = explorer.image.value
    _upload(explorer, "content", "my photo.png", _png_bytes(7, 32, 48))
    assert explorer.status.value == "content: my photo.png, 24×16 px; press Run"
    assert explorer.content.shape == (1, 3, 16, 24)  # resized to the notebook's size
    assert explorer.thumbnails["content"].value == widgets.image_png(explorer.content)
    assert explorer.save_button.disabled  # the last result belongs to the old content
    _upload(explorer, "style", "paint.png", _png_bytes(8, 40, 40))
    assert explorer.style.shape == (1, 3, 24, 24)
    explorer.run_button.click()
    assert explorer.status.value.startswith("done")
    assert explorer.image.value != first
    assert explorer.image.value == widgets.render_style_transfer(
        explorer.content, explorer.style, **explorer.values(), steps=2, config=RANDOM_TRANSFER)


def test_uploaded_jpeg_is_turned_upright(content, style, transfer_extractor):
    explorer = widgets.style_transfer_explorer(content, style, steps=2, config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor, size=40)
    _upload(explorer, "content", "phone.jpg", jpeg_with_orientation(6))
    assert explorer.content.shape == (1, 3, 40, 20)  # stored 20 × 10 landscape, shown portrait
    assert explorer.status.value.startswith("content: phone.jpg, 20×40 px")


@pytest.mark.parametrize("name, data, message", [
    ("notes.jpg", b"shopping list: eggs, milk", "notes.jpg is not an image that Pillow can read"),
    ("tiny.png", None, "tiny.png: The image is 8×8 pixels, too small for layer relu5_2"),
])
def test_bad_uploads_are_reported_in_the_status_line(content, style, transfer_extractor,
                                                     name, data, message):
    explorer = widgets.style_transfer_explorer(content, style, steps=2, config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor, size=8)
    _upload(explorer, "content", name, _png_bytes(9, 8, 8) if data is None else data)
    assert explorer.status.value.startswith(f"error: {message}"), explorer.status.value
    assert torch.equal(explorer.content, content)  # the old image stays in use


def test_oversized_upload_is_reported_in_the_status_line(tmp_path, content, style,
                                                         transfer_extractor):
    explorer = widgets.style_transfer_explorer(content, style, steps=2, config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor)
    big = write_big_bilevel_png(tmp_path / "huge.png").read_bytes()
    _upload(explorer, "style", "huge.png", big)
    assert explorer.status.value.startswith("error: huge.png is too large: 9000×8000 pixels")
    assert torch.equal(explorer.style, style)


def test_save_writes_new_files_and_never_overwrites(tmp_path, content, style,
                                                    transfer_extractor):
    out = tmp_path / "outputs"
    explorer = widgets.style_transfer_explorer(content, style, steps=2, config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor, output_dir=out,
                                               names=("city", "wave"))
    assert explorer.save_button.disabled
    with pytest.raises(nh.OutputError, match="press Run first"):
        explorer.save()
    explorer.run_button.click()
    assert not explorer.save_button.disabled
    explorer.save_button.click()
    assert explorer.status.value == f"saved {out / 'city_wave.png'}"
    saved = nh.load_image(out / "city_wave.png")
    assert torch.equal(saved, widgets.png_image(explorer.image.value))
    _upload(explorer, "content", "Été à Paris!.png", _png_bytes(7, 16, 24))
    explorer.run_button.click()
    explorer.save_button.click()
    explorer.save_button.click()
    assert sorted(p.name for p in out.iterdir()) == [
        "city_wave.png", "Été_à_Paris_wave-2.png", "Été_à_Paris_wave.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def test_save_failure_is_reported_in_the_status_line(tmp_path, content, style,
                                                     transfer_extractor):
    (tmp_path / "outputs").write_text("a file in the way")
    explorer = widgets.style_transfer_explorer(content, style, steps=2, config=RANDOM_TRANSFER,
                                               extractor=transfer_extractor,
                                               output_dir=tmp_path / "outputs")
    explorer.run_button.click()
    explorer.save_button.click()
    assert explorer.status.value.startswith("error: Cannot create the folder")


# --------------------------------------------------------------------------------------------
# The figures notebooks 03 and 04 add to display


def test_image_grid_labels_rows_and_columns():
    fig = display.image_grid(torch.rand(6, 3, 8, 10), ["relu2_2", "relu4_2"],
                             ["1e-9", "1e-7", "1e-5"], row_title="content layer")
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["1e-9", "1e-7", "1e-5"]
    assert [fig.axes[k].get_ylabel() for k in (0, 3)] == ["relu2_2", "relu4_2"]
    with pytest.raises(ValueError, match="5 images for a grid of 2 rows"):
        display.image_grid(torch.rand(5, 3, 8, 8), ["a", "b"], ["1", "2", "3"])


def test_compare_runs_draws_steps_and_seconds():
    def run(scale: float, seconds: float) -> nh.OptimizationResult:
        history = {"total": torch.tensor([[4.0], [2.0], [1.0]]) * scale}
        return nh.OptimizationResult(image=torch.rand(1, 3, 4, 4), history=history, steps=2,
                                     seconds=seconds)

    fig = display.compare_runs({"L-BFGS": run(1.0, 2.0), "Adam": run(3.0, 1.0)})
    by_step, by_time = fig.axes
    assert list(by_step.lines[0].get_xdata()) == [0, 1, 2]
    assert list(by_time.lines[0].get_xdata()) == pytest.approx([0.0, 1.0, 2.0])
    assert list(by_time.lines[1].get_xdata()) == pytest.approx([0.0, 0.5, 1.0])
    assert by_step.get_yscale() == "log"
    with pytest.raises(ValueError, match="no loss term 'style'"):
        display.compare_runs({"a": run(1.0, 1.0)}, term="style")


def test_gram_table_writes_every_entry():
    gram = nh.gram_matrix(torch.tensor([[[[1.0, 0.0]], [[2.0, 1.0]]]]))  # [[1, 2], [2, 5]]
    fig = display.gram_table(gram, ["a", "b"])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["1", "2", "2", "5"]
    with pytest.raises(ValueError, match="square"):
        display.gram_table(torch.zeros(2, 3))
