"""weights.py: torchvision's download and cache (offline), local files, random weights.

The "imagenet" path runs for real, through torchvision's own cache: TORCH_HOME points at a
temporary folder holding a (random) state dict under torchvision's file name, and the
download function is replaced by one that fails, so no test can reach the internet.
"""

from __future__ import annotations

import os
import pickle
import urllib.error
import warnings

import pytest
import torch
from torch import nn

from helpers import (clean_weight_caches, link_or_copy, vgg19_files,  # noqa: F401 (fixtures)
                     write_bad_weight_files)
from nstyle_helpers.core import weights
from nstyle_helpers.base.errors import NstyleError, WeightsError
from nstyle_helpers.core.features import VGG19Features
from nstyle_helpers.core.weights import RandomWeightsWarning, resolve_weights_source

IMAGENET_FILE = "vgg19-dcbb9e9d.pth"


@pytest.fixture
def offline_torch_home(tmp_path, monkeypatch, clean_weight_caches):
    """TORCH_HOME in tmp_path, and a torch.hub download that always fails (no network)."""
    calls = []

    def no_download(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return tmp_path / "torch" / "hub" / "checkpoints", calls


def test_imagenet_weights_come_from_torchvisions_cache(offline_torch_home, vgg19_files):
    """weights="imagenet" loads exactly the file in $TORCH_HOME/hub/checkpoints, no download."""
    checkpoints, calls = offline_torch_home
    link_or_copy(vgg19_files.full, checkpoints / IMAGENET_FILE)
    vgg = VGG19Features(["relu3_1", "conv1_2"], weights="imagenet", progress=False)
    assert vgg.weights_source == "imagenet" and not vgg.uses_random_weights
    reference = vgg19_files.features
    convs = [i for i, m in enumerate(vgg.body) if isinstance(m, nn.Conv2d)]
    assert convs == [0, 2, 5, 7, 10]
    for i in convs:
        assert torch.equal(vgg.body[i].weight, reference[i].weight)
        assert torch.equal(vgg.body[i].bias, reference[i].bias)
    assert calls == []


def test_failed_download_says_how_to_work_offline(offline_torch_home):
    """With nothing cached and no network, WeightsError names NSTYLE_WEIGHTS=random,
    --weights PATH and the cache folder; nothing falls back to random weights."""
    checkpoints, calls = offline_torch_home
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomWeightsWarning)  # no silent fallback
        with pytest.raises(WeightsError) as info:
            VGG19Features(["relu1_1"], weights="imagenet", progress=False)
    message = str(info.value)
    assert calls == ["https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"]
    assert "Could not download" in message and "name resolution" in message
    assert "NSTYLE_WEIGHTS=random" in message
    assert "--weights PATH" in message
    assert str(checkpoints) in message
    assert "\n" not in message


@pytest.mark.parametrize("content", [b"", b"<html>captive portal</html>\n", "half",
                                     pickle.dumps({"0.weight": 1})])
def test_damaged_cached_file_raises_weights_error(offline_torch_home, vgg19_files, content):
    """An empty, non-PyTorch, half-written or raw-pickle file in torchvision's cache raises a
    one-line WeightsError that says to delete it (not a raw unpickling error), and nothing
    else is printed (torch warns about raw pickles)."""
    checkpoints, _ = offline_torch_home
    checkpoints.mkdir(parents=True)
    if content == "half":
        data = vgg19_files.features_only.read_bytes()
        content = data[: len(data) // 2]
    (checkpoints / IMAGENET_FILE).write_bytes(content)
    with warnings.catch_warnings(record=True) as caught, \
            pytest.raises(WeightsError, match="could not be loaded") as info:
        warnings.simplefilter("always")
        VGG19Features(["relu1_1"], weights="imagenet", progress=False)
    assert caught == []
    assert "delete the file" in str(info.value)
    assert "\n" not in str(info.value)


def test_random_weights_warn_and_repeat():
    """weights="random" warns RandomWeightsWarning and two extractors get identical weights."""
    with pytest.warns(RandomWeightsWarning, match="RANDOM"):
        a = VGG19Features(["relu2_1"], weights="random")
    with pytest.warns(RandomWeightsWarning):
        b = VGG19Features(["relu2_1"], weights="random")
    assert a.uses_random_weights
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    assert a.body[0].weight.std() > 0  # really initialised, not zeros


def test_file_weights_do_not_warn(vgg19_files, clean_weight_caches):
    """A weights file is not random: no RandomWeightsWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomWeightsWarning)
        vgg = VGG19Features(["relu1_1"], weights=vgg19_files.features_only, progress=False)
    assert not vgg.uses_random_weights


def test_weights_source_precedence(monkeypatch, tmp_path):
    """The argument beats $NSTYLE_WEIGHTS, which beats the default "imagenet"."""
    monkeypatch.delenv("NSTYLE_WEIGHTS", raising=False)
    assert resolve_weights_source(None) == "imagenet"
    assert resolve_weights_source("random") == "random"
    assert resolve_weights_source(" ImageNet ") == "imagenet"
    monkeypatch.setenv("NSTYLE_WEIGHTS", "")
    assert resolve_weights_source(None) == "imagenet"  # empty means unset
    monkeypatch.setenv("NSTYLE_WEIGHTS", "random")
    assert resolve_weights_source(None) == "random"
    assert resolve_weights_source("imagenet") == "imagenet"
    assert resolve_weights_source(tmp_path / "w.pth") == tmp_path / "w.pth"
    monkeypatch.setenv("NSTYLE_WEIGHTS", str(tmp_path / "w.pth"))
    assert resolve_weights_source(None) == tmp_path / "w.pth"
    assert resolve_weights_source("random") == "random"


def test_env_weights_file_is_used_and_argument_overrides_it(monkeypatch, vgg19_files,
                                                             clean_weight_caches):
    """NSTYLE_WEIGHTS=PATH loads that file; weights="random" overrides it (and warns)."""
    monkeypatch.setenv("NSTYLE_WEIGHTS", str(vgg19_files.features_only))
    from_env = VGG19Features(["relu1_1"], progress=False)
    assert torch.equal(from_env.body[0].weight, vgg19_files.features[0].weight)
    with pytest.warns(RandomWeightsWarning):
        random = VGG19Features(["relu1_1"], weights="random")
    assert not torch.equal(random.body[0].weight, vgg19_files.features[0].weight)


@pytest.fixture(scope="module")
def bad_weight_files(tmp_path_factory):
    return write_bad_weight_files(tmp_path_factory.mktemp("bad_weights"))


@pytest.mark.parametrize("kind", ["text", "random tensors", "wrong shape", "vgg16",
                                  "pickled object"])
def test_file_that_is_not_a_vgg19_state_dict(bad_weight_files, clean_weight_caches, kind):
    """Each non-VGG19 file raises a one-line WeightsError naming the file and the problem."""
    path, fragment = bad_weight_files[kind]
    with pytest.raises(WeightsError) as info:
        VGG19Features(["relu1_1", "relu5_1"], weights=path, progress=False)
    message = str(info.value)
    assert str(path) in message and fragment in message
    assert "\n" not in message
    assert isinstance(info.value, NstyleError)


def test_pickled_object_is_never_unpickled(bad_weight_files, clean_weight_caches):
    """weights_only=True refuses the pickle, so the code it carries never runs."""
    path, _ = bad_weight_files["pickled object"]
    marker = path.parent / "unpickled-marker"
    with pytest.raises(WeightsError, match="loaded safely"):
        VGG19Features(["relu1_1"], weights=path, progress=False)
    assert not marker.exists()


def test_missing_weights_file_and_folder(tmp_path, clean_weight_caches):
    """A missing path or a folder raises WeightsError saying so."""
    with pytest.raises(WeightsError, match="No such weights file"):
        VGG19Features(["relu1_1"], weights=tmp_path / "nope.pth", progress=False)
    with pytest.raises(WeightsError, match="is a folder"):
        VGG19Features(["relu1_1"], weights=tmp_path, progress=False)


def test_shallow_layers_need_only_their_own_convolutions(tmp_path, vgg19_files,
                                                         clean_weight_caches):
    """A file holding only conv1_1 is enough for relu1_1 (only needed keys are read)."""
    state = {k: v for k, v in vgg19_files.features.state_dict().items() if k.startswith("0.")}
    torch.save(state, tmp_path / "first.pth")
    vgg = VGG19Features(["relu1_1"], weights=tmp_path / "first.pth", progress=False)
    assert torch.equal(vgg.body[0].weight, vgg19_files.features[0].weight)
    with pytest.raises(WeightsError, match="'2.weight'"):
        VGG19Features(["relu1_2"], weights=tmp_path / "first.pth", progress=False)


def test_edited_weights_file_is_read_again(tmp_path, vgg19_files, clean_weight_caches):
    """The file cache is keyed on the modification time: a rewritten file is reloaded."""
    path = tmp_path / "w.pth"
    state = {k: v.clone() for k, v in vgg19_files.features.state_dict().items()
             if k.startswith("0.")}
    torch.save(state, path)
    first = VGG19Features(["conv1_1"], weights=path, progress=False).body[0].weight.clone()
    state["0.weight"] += 1
    torch.save(state, path)
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later mtime for sure
    second = VGG19Features(["conv1_1"], weights=path, progress=False).body[0].weight
    torch.testing.assert_close(second, first + 1)


def test_clear_cache_makes_the_next_extractor_read_the_file_again(tmp_path, clean_weight_caches):
    path = tmp_path / "vgg.pth"
    state = VGG19Features(["conv1_1"], weights="random").body.state_dict()
    torch.save(state, path)
    first = VGG19Features(["conv1_1"], weights=path, progress=False).body[0].weight.clone()
    stat = os.stat(path)
    state["0.weight"] += 1
    torch.save(state, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same mtime: still cached
    cached = VGG19Features(["conv1_1"], weights=path, progress=False).body[0].weight
    torch.testing.assert_close(cached, first)
    weights.clear_cache()
    again = VGG19Features(["conv1_1"], weights=path, progress=False).body[0].weight
    torch.testing.assert_close(again, first + 1)
