"""Composites with ground truth: shipped masks, determinism, boxes, and the model still seeing the object."""

from __future__ import annotations

import numpy as np
import pytest

from swagfast import data, models
from swagfast.data.make_masks import chelsea_mask, coffee_mask


def test_shipped_masks_are_what_the_documented_procedure_makes():
    import cv2

    from swagfast.data.composites import MASKS

    for name, make in (("chelsea", chelsea_mask), ("coffee", coffee_mask)):
        shipped = cv2.imread(str(MASKS / f"{name}.png"), cv2.IMREAD_GRAYSCALE) > 0
        assert (shipped == make()).mean() > 0.999, name
    assert 0.3 < coffee_mask().mean() < 0.6  # cup and saucer, not the whole photo


def test_composites_are_deterministic_with_consistent_ground_truth():
    a = data.composites(12, seed=3)
    b = data.composites(12, seed=3)
    assert np.array_equal(a.images, b.images) and a.objects == b.objects
    assert not np.array_equal(a.images, data.composites(12, seed=4).images)
    assert a.images.shape == (12, 224, 224, 3) and a.masks.shape == (12, 224, 224)
    for m, box, lab, obj in zip(a.masks, a.boxes, a.labels, a.objects, strict=True):
        ys, xs = np.nonzero(m)
        assert tuple(box) == (xs.min(), ys.min(), xs.max(), ys.max())
        assert lab == {"cat": 285, "espresso": 967}[obj]
        side = max(box[2] - box[0], box[3] - box[1]) + 1
        assert 0.4 * 224 <= side <= 0.9 * 224
    with pytest.raises(ValueError, match="objects must be among cat, espresso"):
        data.composites(2, objects=("dog",))


def test_the_embedded_model_sees_the_pasted_objects():
    lite = models.load()
    comps = data.composites(16, seed=0)
    kept, dropped = data.keep_predicted(lite.model, lite.preprocess, comps, topk=1)
    assert len(kept) + dropped == 16
    assert len(kept) >= 8, f"only {len(kept)} of 16 composites predicted as their object"
    assert set(kept.labels.tolist()) <= {285, 967}


def test_distractors_add_another_object_without_touching_the_target():
    busy = data.composites(6, seed=3, scale=(0.25, 0.4), distractors=1)
    np.testing.assert_array_equal(
        busy.images, data.composites(6, seed=3, scale=(0.25, 0.4), distractors=1).images
    )
    for seed in range(5):  # the first item draws its target exactly as without distractors
        plain = data.composites(1, seed=seed, scale=(0.25, 0.4))
        one = data.composites(1, seed=seed, scale=(0.25, 0.4), distractors=1)
        assert one.labels.tolist() == plain.labels.tolist()
        np.testing.assert_array_equal(one.masks, plain.masks)
        np.testing.assert_array_equal(one.boxes, plain.boxes)
        m = one.masks[0]
        np.testing.assert_array_equal(one.images[0][m], plain.images[0][m])  # target intact
        x0, y0, x1, y1 = one.boxes[0]
        outside = np.ones(m.shape, bool)
        outside[y0 : y1 + 1, x0 : x1 + 1] = False
        changed = (one.images[0] != plain.images[0]).any(axis=-1)
        assert changed[outside].sum() > 200  # the distractor, outside the target's box
        assert not changed[m].any()
    with pytest.raises(ValueError, match="distractors must be an int >= 0, got -1"):
        data.composites(2, distractors=-1)
    cases = [
        (ValueError, "size must be an int >= 32, got 0", dict(size=0)),
        (TypeError, r"scale must be a \(low, high\) pair, got 0.5", dict(scale=0.5)),
        (TypeError, r"scale must be a \(low, high\) pair", dict(scale=(0.5,))),
        (ValueError, "scale's low end must give objects of 8 px or more", dict(scale=(0.001, 0.001))),
        (TypeError, "objects must be a non-empty sequence of object names, got 'cat'", dict(objects="cat")),
        (TypeError, "objects must be a non-empty sequence", dict(objects=())),
    ]
    for exc, msg, kw in cases:
        with pytest.raises(exc, match=msg):
            data.composites(2, **kw)
