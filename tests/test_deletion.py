"""Deletion / insertion against curves known in closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from swagfast import baselines, metrics


class RegionMean(nn.Module):
    """Class-1 logit = 8 x mean of channel 0 over a fixed 8x8 region (rows/cols 4..11); class 0 = 0."""

    def forward(self, x):
        m = x[:, 0, 4:12, 4:12].mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(m), 8 * m], dim=1)


def test_deletion_curve_is_exact_for_the_true_ordering():
    x = torch.zeros(1, 3, 16, 16)
    x[:, 0, 4:12, 4:12] = 1.0
    heat = torch.zeros(1, 16, 16)
    heat[0, 4:12, 4:12] = 1.0  # the 64 region pixels first (then the rest, in index order)
    res = metrics.deletion(RegionMean(), x, heat, steps=4, batch_size=3)
    # 256 pixels, 4 steps of 64: step 1 removes the whole region
    expected = torch.sigmoid(torch.tensor([8.0, 0.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(res.curves[0], expected)
    torch.testing.assert_close(res.auc[0], (expected[1:] + expected[:-1]).sum() / 8)
    ins = metrics.insertion(RegionMean(), x, heat, steps=4)
    torch.testing.assert_close(ins.curves[0], torch.sigmoid(torch.tensor([0.0, 8.0, 8.0, 8.0, 8.0])))


def test_auc_of_a_constant_curve_is_the_constant():
    torch.testing.assert_close(metrics.auc(torch.full((2, 29), 0.37)), torch.full((2,), 0.37))


def test_ties_are_broken_by_pixel_index():
    x = torch.zeros(1, 3, 16, 16)
    x[:, 0, 4:12, 4:12] = 1.0
    flat = metrics.deletion(RegionMean(), x, torch.zeros(1, 16, 16), steps=16).curves
    # rows 0..3 go first (no region pixel), so the score stays put for 4 steps
    assert torch.allclose(flat[0, :5], flat[0, 0].expand(5))
    assert flat[0, 5] < flat[0, 4]


def test_substrates_and_bad_input():
    x = torch.randn(2, 3, 16, 16)
    heat = baselines.centre((2, 16, 16))
    for s in ("zero", "blur", "mean"):
        assert metrics.deletion(RegionMean(), x, heat, steps=4, substrate=s).curves.shape == (2, 5)
    with pytest.raises(ValueError, match=r"heatmap must have shape \(2, 16, 16\)"):
        metrics.deletion(RegionMean(), x, torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="substrate must be one of zero, blur, mean; got 'noise'"):
        metrics.deletion(RegionMean(), x, heat, substrate="noise")
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        metrics.deletion(RegionMean(), x, heat, steps=0)


def test_float64_heatmaps_rank_in_their_own_precision():
    # values 1e-12 apart are equal in float32: a cast left their order to the tie rule (index)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)).double()
    nn.init.normal_(model[1].weight, generator=torch.Generator().manual_seed(0))
    order = torch.randperm(256, generator=torch.Generator().manual_seed(5)).double().view(1, 16, 16)
    close = 1.0 + order * 1e-12  # the same ranking as `order`
    for fn in (metrics.deletion, metrics.insertion):
        torch.testing.assert_close(fn(model, x, close, steps=8).curves, fn(model, x, order, steps=8).curves)
    kept = metrics.remove_top_pixels(x, close, 0.25, "zero")
    torch.testing.assert_close(kept, metrics.remove_top_pixels(x, order, 0.25, "zero"))
