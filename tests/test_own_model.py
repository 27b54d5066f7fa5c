"""A user's own model: factory specs, overrides, the default layer found from a forward pass."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from swagfast import models
from swagfast.attribution.layers import feature_layers, find_layer

USER_MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn
    import torch.nn.functional as F

    from helper import WIDTH  # a neighbour of this file: its folder is importable


    class Net(nn.Module):
        def __init__(self, classes=5):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, WIDTH, 3, padding=1), nn.BatchNorm2d(WIDTH), nn.ReLU(),
            )
            self.head = nn.Linear(WIDTH, classes)

        def forward(self, x):
            return self.head(self.features(x).mean((2, 3)))


    class Func(nn.Module):  # activations as functions: no activation module to find
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 4, 3, padding=1)
            self.c2 = nn.Conv2d(4, 6, 3, padding=1)
            self.fc = nn.Linear(6, 3)

        def forward(self, x):
            return self.fc(F.relu(self.c2(F.relu(self.c1(x)))).mean((2, 3)))


    def make():
        torch.manual_seed(0)
        return Net()


    def make_dict():
        torch.manual_seed(0)
        return {"model": Net(3), "size": 64, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
                "class_names": ["cat", "dog", "espresso"]}


    def broken():
        raise RuntimeError("no weights here")


    instance = Net(4)
    not_a_model = 3
    """
)


@pytest.fixture
def user_file(tmp_path):
    (tmp_path / "helper.py").write_text("WIDTH = 16\n")
    path = tmp_path / "mynet.py"
    path.write_text(USER_MODEL)
    return path


def test_factory_file_assumptions_and_found_layer(user_file):
    got = models.load(f"{user_file}:make")
    assert isinstance(got.model, nn.Module) and not got.model.training
    assert got.preprocess == models.Preprocess(224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert got.class_names == tuple(f"class {i}" for i in range(5))
    assert got.layer == "features"  # the block ending in the last ReLU, not the ReLU inside it
    assert any("224x224" in a for a in got.assumed) and any("mean" in a for a in got.assumed)
    assert any("class names" in a for a in got.assumed)


def test_factory_dict_and_overrides(user_file, tmp_path):
    got = models.load(f"{user_file}:make_dict")
    assert got.preprocess.size == 64 and got.preprocess.std == (0.25, 0.25, 0.25)
    assert got.class_names == ("cat", "dog", "espresso") and got.assumed == ()
    got = models.load(
        f"{user_file}:make_dict", size=32, mean=[0.1, 0.2, 0.3], fit="resize", layer="features.3"
    )
    assert got.preprocess == models.Preprocess(32, (0.1, 0.2, 0.3), (0.25, 0.25, 0.25), "resize")
    assert got.layer == "features.3"
    # an nn.Module instance is taken as it is; weights load strictly
    weights = tmp_path / "w.pt"
    ref = models.load(f"{user_file}:make").model
    torch.save({"state_dict": ref.state_dict()}, weights)
    got = models.load(f"{user_file}:instance", weights=None)
    assert got.model.head.out_features == 4
    loaded = models.load(f"{user_file}:Net", weights=str(weights)).model
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v, rtol=0, atol=0)


def test_module_spec_from_the_working_directory(user_file, monkeypatch):
    monkeypatch.chdir(user_file.parent)
    got = models.load("mynet:make_dict")
    assert got.class_names[2] == "espresso"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{f}:nothing", "has no 'nothing'; it defines Func, Net, broken, instance, make, make_dict"),
        ("{f}:broken", "calling broken() raised RuntimeError: no weights here"),
        ("{f}:not_a_model", "must be a function, a class or an nn.Module, got int"),
        ("{d}/missing.py:make", "no such file"),
        ("no_such_module_here:make", "cannot import 'no_such_module_here'"),
    ],
)
def test_factory_errors_name_the_spec(user_file, spec, message):
    spec = spec.format(f=user_file, d=user_file.parent)
    with pytest.raises(ValueError, match="model ") as err:
        models.load(spec)
    assert message in str(err.value) and spec in str(err.value)


def test_bad_overrides_and_weights(user_file, tmp_path):
    with pytest.raises(ValueError, match="3 class names were given"):
        models.load(f"{user_file}:make", class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="fit must be one of crop, resize"):
        models.load(f"{user_file}:make", fit="stretch")
    with pytest.raises(ValueError, match="size must be >= 8"):
        models.load(f"{user_file}:make", size=4)
    with pytest.raises(ValueError, match="std"):
        models.load(f"{user_file}:make", std=[0.1, 0.0, 0.1])
    with pytest.raises(ValueError, match="no module named 'nope'|nope"):
        models.load(f"{user_file}:make", layer="nope")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a torch state-dict file"):
        models.load(f"{user_file}:make", weights=str(bad))
    torch.save({"head.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="do not fit the model"):
        models.load(f"{user_file}:make", weights=str(tmp_path / "other.pt"))
    with pytest.raises(ValueError, match="the embedded model brings its own"):
        models.load("efficientnet-lite0", weights=str(bad))


def test_find_layer_without_activation_modules(user_file):
    from importlib import util

    spec = util.spec_from_file_location("mynet_direct", user_file)
    mod = util.module_from_spec(spec)
    import sys

    sys.path.insert(0, str(user_file.parent))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(user_file.parent))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    # no activation module and no non-negative map: the last convolution
    assert find_layer(mod.Func(), x) == "c2"
    net = mod.Net()
    names = [n for n, _, _ in feature_layers(net, x)]
    assert names == [
        "features.0",
        "features.1",
        "features.2",
        "features.3",
        "features.4",
        "features.5",
        "features",
    ]
    flags = {n: act for n, _, act in feature_layers(net, x)}
    assert flags["features.5"] and flags["features"] and not flags["features.4"]
    with pytest.raises(ValueError, match="no layer with a feature map"):
        find_layer(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2)), x)


def test_embedded_default_layer_is_post_activation():
    lite = models.load()
    assert lite.layer == "_relu_head"
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    assert find_layer(lite.model, x) == "_relu_head"
    from swagfast.attribution.layers import capture, resolve_layer

    with torch.no_grad(), capture(resolve_layer(lite.model, lite.layer)) as cap:
        lite.model(x)
    assert cap.output.min() >= 0 and cap.output.max() <= 6  # ReLU6 output, 1280 x 7 x 7
    assert tuple(cap.output.shape) == (1, 1280, 7, 7)


def test_fit_resize_keeps_the_whole_photo():
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, :50] = 255  # the left quarter, cut off by a centre crop
    crop = models.Preprocess(32, (0.5,) * 3, (0.5,) * 3).picture(img)
    whole = models.Preprocess(32, (0.5,) * 3, (0.5,) * 3, "resize").picture(img)
    assert crop.shape == whole.shape == (32, 32, 3)
    assert crop[:, :4].max() == 0 and whole[:, :7].min() == 255 and whole[:, 9:].max() == 0


def test_class_names_file(tmp_path):
    from swagfast.models.own import read_class_names

    (tmp_path / "a.json").write_text(json.dumps(["x", "y"]))
    (tmp_path / "b.txt").write_text("x\n\ny\n")
    assert read_class_names(tmp_path / "a.json") == read_class_names(tmp_path / "b.txt") == ("x", "y")
    (tmp_path / "c.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON list of strings"):
        read_class_names(tmp_path / "c.json")
