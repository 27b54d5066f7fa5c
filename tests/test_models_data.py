from __future__ import annotations

import numpy as np
import pytest
import torch

from swagfast import data, models


@pytest.fixture(scope="module")
def lite0():
    return models.load("efficientnet-lite0")


def test_sample_images_are_real_rgb_photos():
    photos = data.sample_images()
    assert len(photos) >= 8
    for name, img in photos.items():
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        assert min(img.shape[:2]) >= 200, name
        assert img.std() > 10, name  # a real picture, not a flat array
    assert {"chelsea", "coffee", "china", "flower"} <= set(photos)


def test_embedded_model_predicts_cat_and_espresso(lite0):
    photos = data.sample_images()
    x = lite0.preprocess([photos["chelsea"], photos["coffee"]])
    assert x.shape == (2, 3, 224, 224)
    with torch.no_grad():
        pred = lite0.model(x).argmax(1).tolist()
    assert pred == [285, 967]
    assert lite0.class_names[285] == "Egyptian cat"
    assert lite0.class_names[967] == "espresso"
    assert len(lite0.class_names) == 1000


def test_model_uses_relu6_and_is_in_eval_mode(lite0):
    assert not lite0.model.training
    assert any(isinstance(m, torch.nn.ReLU6) for m in lite0.model.modules())


def test_unknown_model_name():
    with pytest.raises(
        ValueError,
        match="name must be one of efficientnet-lite0, action-demo, 'torchvision:NAME', 'FILE.py:FACTORY' "
        "or 'package.module:FACTORY'; got 'resnet'",
    ):
        models.load("resnet")
    with pytest.raises(ValueError, match="weights= is for torchvision and factory models"):
        models.load("efficientnet-lite0", weights="x.pt")


def test_center_crop_resize_bad_input():
    with pytest.raises(ValueError, match=r"image must be an \(H, W, 3\) numpy array, got \(4, 4\)"):
        data.center_crop_resize(np.zeros((4, 4), np.uint8), 2)


def test_preprocess_takes_float_photos_and_clips_as_they_are(lite0):
    photo = data.sample_images()["chelsea"]
    ref = lite0.preprocess(photo)
    as_float = lite0.preprocess(photo.astype(np.float32) / 255)  # float in [0, 1]: not divided again
    assert (as_float - ref).abs().max() < 0.02  # the resize rounds to uint8 in one, not the other
    assert torch.equal(lite0.preprocess(photo[None]), ref)  # a (B, H, W, 3) batch
    clip = np.repeat(photo[None, :128, :128], 4, axis=0)
    demo = models.load("action-demo")
    clip_ref = demo.preprocess(clip)
    assert (demo.preprocess(clip.astype(np.float64) / 255) - clip_ref).abs().max() < 0.02
    cases = [
        (
            ValueError,
            r"images must be one \(H, W, 3\) array, a batch of them .* shape \(45, 45\)",
            np.zeros((45, 45), np.uint8),
        ),
        (
            ValueError,
            r"images must be uint8 or float in \[0, 1\], got float values in \[0.5152, 211.809\]",
            1.0 * photo,
        ),
        (TypeError, "images must be uint8 or float in .0, 1., got dtype int64", photo.astype(np.int64)),
        (TypeError, "images must be a numpy array or a sequence of arrays, got str", "cat.png"),
        (ValueError, "images must hold at least one item", []),
    ]
    for exc, msg, images in cases:
        with pytest.raises(exc, match=msg):
            lite0.preprocess(images)
    with pytest.raises(ValueError, match=r"clips must be one \(T, H, W, 3\) array"):
        demo.preprocess(clip[..., 0])
