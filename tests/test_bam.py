"""The BAM-style synthetic set and its trainer: deterministic, masks that match the objects."""

from __future__ import annotations

import pytest
import torch

from swagfast.data import bam_set, train_small_cnn


def test_bam_set_is_deterministic_with_true_masks():
    a, b = bam_set(40, seed=2), bam_set(40, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.objects, b.objects)
    assert a.images.shape == (40, 3, 64, 64) and a.masks.shape == (40, 64, 64)
    assert set(a.objects.tolist()) <= set(range(10)) and set(a.scenes.tolist()) <= set(range(10))
    for img, m in zip(a.images, a.masks, strict=True):
        assert m.sum() > 20
        inside = img[:, m]
        assert torch.allclose(inside, inside[:, :1].expand_as(inside))  # one grey level: the object
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        bam_set(0)
    with pytest.raises(TypeError, match="size must be an int >= 16, got float"):
        bam_set(2, size=16.0)
    with pytest.raises(ValueError, match="size must be an int >= 16, got 0"):
        bam_set(2, size=0)


def test_trainer_is_seeded_and_learns_the_scene():
    data = bam_set(800, seed=0)
    m1 = train_small_cnn(data.images, data.scenes, epochs=4, seed=3)
    m2 = train_small_cnn(data.images, data.scenes, epochs=4, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    test = bam_set(100, seed=1)
    with torch.no_grad():
        acc = (m1(test.images).argmax(1) == test.scenes).float().mean()
    assert acc > 0.5  # scenes are easy: well above the 10% of chance after four short epochs
    with pytest.raises(ValueError, match="x and y must be on one device; got x on cpu and y on meta"):
        train_small_cnn(data.images, data.scenes.to("meta"))
