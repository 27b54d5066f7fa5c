"""Localisation, pointing game, faithfulness and MCS on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from swagfast import baselines, metrics


def box_heatmap(shape, box):
    h = np.zeros(shape, np.float32)
    x0, y0, x1, y1 = box
    h[y0 : y1 + 1, x0 : x1 + 1] = 1.0
    return h


def test_a_heatmap_equal_to_the_box_localises_perfectly():
    box = (10, 20, 40, 35)
    h = box_heatmap((64, 64), box)
    assert metrics.box_iou(metrics.mask_box(h > 0.5), box) == 1.0
    res = metrics.weak_localisation(torch.from_numpy(h)[None], [np.array([box])])
    assert res.error == {"value": 0.0, "mean": 0.0, "energy": 0.0}
    assert res.best_threshold["value"] == 0.05  # 0 boxes the whole image; 0.05 the box


def test_localisation_errors_count_items_and_pick_the_best_threshold():
    good = box_heatmap((32, 32), (2, 2, 9, 9))
    bad = box_heatmap((32, 32), (20, 20, 30, 30))  # far from its ground truth
    res = metrics.weak_localisation(
        np.stack([good, bad]), [[(2, 2, 9, 9)], [(0, 0, 5, 5)]], families=("value",)
    )
    assert res.error["value"] == 50.0
    thresholds, errs = res.errors["value"]
    assert errs[0] == 100.0  # t = 0: both boxes are the whole image
    # the largest component vs all pixels
    two = box_heatmap((32, 32), (0, 0, 9, 9)) + 0.9 * box_heatmap((32, 32), (25, 25, 26, 26))
    assert metrics.mask_box(two > 0.5) == (0, 0, 9, 9)
    assert metrics.mask_box(two > 0.5, component="all") == (0, 0, 26, 26)


def test_video_localisation_uses_the_mean_iou_over_frames():
    h = np.stack([box_heatmap((16, 16), (2, 2, 7, 7)), box_heatmap((16, 16), (8, 8, 13, 13))])
    right = [[(2, 2, 7, 7)], [(8, 8, 13, 13)]]
    half = [[(2, 2, 7, 7)], [(0, 0, 1, 1)]]  # mean IoU 0.5: not > 0.5
    res = metrics.weak_localisation(np.stack([h, h]), [right, half], families=("value",))
    assert res.error["value"] == 50.0


def test_pointing_game_tolerance_and_difficult_split():
    masks = np.zeros((3, 64, 64), bool)
    masks[:, 20:30, 20:30] = True
    heat = np.zeros((3, 64, 64), np.float32)
    heat[0, 25, 25] = 1  # inside
    heat[1, 25, 39] = 1  # 10 px right of the mask: a hit at tolerance 15
    heat[2, 25, 50] = 1  # 21 px away: a miss
    res = metrics.pointing_game(heat, masks, tolerance=15, difficult=[False, True, True])
    assert res.hits.tolist() == [True, True, False]
    assert res.accuracy == pytest.approx(2 / 3) and res.accuracy_difficult == pytest.approx(1 / 2)
    assert metrics.pointing_game(heat, masks, tolerance=5).hits.tolist() == [True, False, False]


class MeanModel(nn.Module):
    """class-1 logit = 6 x mean of channel 0; class 0 = 0."""

    def forward(self, x):
        m = x[:, 0].flatten(1).mean(1)
        return torch.stack([torch.zeros_like(m), 6 * m], 1)


def test_constant_baseline_beats_a_peaked_heatmap_on_average_drop():
    x = torch.ones(2, 3, 16, 16)
    peaked = torch.zeros(2, 16, 16)
    peaked[:, 8, 8] = 1.0
    model = MeanModel()
    const = metrics.faithfulness(model, x, baselines.constant((2, 16, 16)), target=1)
    peak = metrics.faithfulness(model, x, peaked, target=1)
    assert const.average_drop < peak.average_drop
    # exact numbers: Y = sigmoid(6); the constant map keeps (254 * 0.9 + 1) / 256 of the mean
    y = torch.sigmoid(torch.tensor(6.0))
    o = torch.sigmoid(torch.tensor(6.0 * (254 * 0.9 + 1) / 256))
    assert const.average_drop == pytest.approx(float((y - o) / y * 100), rel=1e-5)
    assert const.increase_in_confidence == 0.0 and const.mean_increase == 0.0
    brighter = metrics.faithfulness(model, -x, baselines.constant((2, 16, 16)), target=1)
    assert brighter.increase_in_confidence == 100.0 and brighter.mean_increase > 0


def test_model_contrast_score_exact():
    masks = np.zeros((2, 4, 4), bool)
    masks[:, :2, :2] = True
    obj = np.zeros((2, 4, 4), np.float32)
    obj[:, :2, :2] = 1.0  # all attribution on the object
    scene = np.zeros((2, 4, 4), np.float32)
    scene[:, 2:, 2:] = 1.0  # all on the scene
    assert metrics.model_contrast_score(obj, scene, masks) == pytest.approx(1.0)
    half = obj.copy()
    half[1] = scene[1]
    assert metrics.model_contrast_score(half, scene, masks, correct_obj=[True, True]) == pytest.approx(0.5)
    assert metrics.model_contrast_score(half, scene, masks, correct_obj=[True, False]) == pytest.approx(1.0)


def test_baselines_shapes_and_bad_input():
    c = baselines.constant((2, 5, 5))
    assert c.max() == 1.0 and c.min() == 0.0 and (c == 0.9).sum() == 2 * 23
    assert torch.equal(baselines.noise((1, 4, 4), seed=3), baselines.noise((1, 4, 4), seed=3))
    assert baselines.random_point((2, 8, 8), seed=1).shape == (2, 8, 8)
    assert baselines.centre((1, 3, 5))[0, 1, 2] == 0
    with pytest.raises(ValueError, match="boxes must give the boxes of each of the 2 heatmaps"):
        metrics.weak_localisation(np.zeros((2, 4, 4)), [[(0, 0, 1, 1)]])
    with pytest.raises(ValueError, match="component must be 'largest' or 'all'"):
        metrics.weak_localisation(np.zeros((1, 4, 4)), [[(0, 0, 1, 1)]], component="box")
    for iou in (2, 1.0):
        with pytest.raises(ValueError, match=r"iou must be a finite number in \[0, 1\)"):
            metrics.weak_localisation(np.ones((1, 4, 4)), [[(0, 0, 1, 1)]], iou=iou)
    with pytest.raises(TypeError, match="iou must be a number, got str"):
        metrics.weak_localisation(np.ones((1, 4, 4)), [[(0, 0, 1, 1)]], iou="a")
    for box, msg in (
        ((0, 0, 1), "boxes of 4 numbers"),
        ((3, 3, 1, 1), "x_min <= x_max"),
        (("a", 0, 1, 1), "integer"),
    ):
        with pytest.raises(ValueError, match=msg):
            metrics.weak_localisation(np.ones((1, 4, 4)), [[box]])
    for shape in ((2, 3, 16, 112, 112), (112, 112), (2, 0, 8), (2, 8.0, 8)):  # the input's shape, ...
        for baseline in (baselines.centre, baselines.random_point):
            with pytest.raises(ValueError, match=r"shape must be \(B, H, W\) or \(B, T, H, W\)"):
                baseline(shape)
    with pytest.raises(ValueError, match=r"heatmaps and masks must both be \(B, H, W\)"):
        metrics.pointing_game(np.zeros((1, 4, 4)), np.zeros((1, 5, 5), bool))
    with pytest.raises(ValueError, match=r"heatmap must have shape \(2, 16, 16\)"):
        metrics.faithfulness(MeanModel(), torch.ones(2, 3, 16, 16), torch.zeros(2, 8, 8))


class ChannelNet(nn.Module):
    """x (B, 4, 1, 1) -> layer 'feat' (identity) -> class 1 logit = 4 c0 + 3 c1 - 1, class 0 = 0."""

    def __init__(self):
        super().__init__()
        self.feat = nn.Identity()

    def forward(self, x):
        a = self.feat(x).flatten(1)
        l1 = 4 * a[:, 0] + 3 * a[:, 1] - 1
        return torch.stack([torch.zeros_like(l1), l1], 1)


def test_filter_removal_curves_are_exact():
    x = torch.ones(6, 4, 1, 1)
    y = torch.ones(6, dtype=torch.long)
    loader = [(x[:4], y[:4]), (x[4:], y[4:])]
    model = ChannelNet()
    good = metrics.filter_removal_auc(model, "feat", loader, torch.tensor([4.0, 3.0, 0.0, 0.0]), step=1)
    # removing c0 leaves 3 - 1 > 0 (still right); removing c0 and c1 leaves -1 (wrong)
    np.testing.assert_array_equal(good.mean, [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(good.fractions, [0, 0.25, 0.5, 0.75, 1])
    bad = metrics.filter_removal_auc(model, "feat", loader, torch.tensor([0.0, 0.0, 3.0, 4.0]), step=1)
    # order c3, c2, c0, c1 (ties by index): only removing c1 as well makes it wrong
    np.testing.assert_array_equal(bad.mean, [1, 1, 1, 1, 0])
    assert good.auc < bad.auc
    per_image = metrics.filter_removal_auc(
        model, "feat", loader, lambda xb, yb: torch.tensor([4.0, 3.0, 0.0, 0.0]).expand(len(xb), 4), step=2
    )
    np.testing.assert_array_equal(per_image.mean, [1, 0, 0])
    with pytest.raises(ValueError, match="step must be an int >= 1, got 0"):
        metrics.filter_removal_auc(model, "feat", loader, torch.tensor([4.0, 3.0, 0.0, 0.0]), step=0)
    with pytest.raises(ValueError, match=r"scores must be 4 channel scores .* got shape \(3,\)"):
        metrics.filter_removal_auc(model, "feat", loader, torch.tensor([4.0, 3.0, 0.0]))
    assert all(not m._forward_hooks for m in model.modules())


def test_roar_with_a_perfect_and_a_useless_explanation():
    g = torch.Generator().manual_seed(0)

    def make(n):  # the class is how bright a 4x4 patch at a fixed place is (1.0 or 0.6)
        y = torch.randint(0, 2, (n,), generator=g)
        x = torch.rand(n, 1, 16, 16, generator=g) * 0.1
        x[:, 0, 6:10, 6:10] += (0.6 + 0.4 * y.float()).view(-1, 1, 1)
        return x, y

    train_x, train_y = make(60)
    test_x, test_y = make(40)

    def train_fn(x, y, seed):  # nearest class centroid: deterministic "training"
        cents = torch.stack([x[y == c].mean(0).flatten() for c in (0, 1)])
        return lambda xb: -torch.cdist(xb.flatten(1), cents)

    perfect = lambda x, y: x[:, 0]  # noqa: E731  (the bright patch first)
    useless = lambda x, y: -x[:, 0]  # noqa: E731  (the patch last)
    data = (train_x, train_y, test_x, test_y)
    # zero substrate: the removed patch looks the same in both classes (no shape leak)
    good = metrics.roar(train_fn, data, perfect, (0.0, 0.1, 0.5), repeats=2, substrate="zero")
    bad = metrics.roar(train_fn, data, useless, (0.0, 0.1, 0.5), repeats=2, substrate="zero")
    assert good.mean[0] == bad.mean[0] == 1.0
    assert good.mean[1] <= 0.75 and bad.mean[1] == 1.0  # 10% covers the 16-pixel patch
    assert good.auc < bad.auc and good.accuracy.shape == (2, 3)
    for fractions in ((0.5,), (0.5, 0.0, 0.9), (0.0, 1.5)):
        with pytest.raises(ValueError, match="fractions must be at least two increasing values in"):
            metrics.roar(train_fn, (train_x, train_y, test_x, test_y), perfect, fractions)
    for fraction, exc in (
        (-0.1, ValueError),
        (1.5, ValueError),
        (float("nan"), ValueError),
        ("0.5", TypeError),
    ):
        with pytest.raises(exc, match="fraction must be a (finite )?number"):
            metrics.remove_top_pixels(test_x, test_x[:, 0], fraction, "zero")
    with pytest.raises(ValueError, match=r"heatmaps must have shape \(B, ...\) = \(40, 16, 16\)"):
        metrics.remove_top_pixels(test_x, test_x[:, 0, :8], 0.5)


def test_heatmap_metrics_refuse_nan_empty_and_mismatched_input():
    x = torch.randn(2, 3, 16, 16)
    masks = np.zeros((2, 16, 16), bool)
    masks[:, :4, :4] = True
    boxes = [[(0, 0, 3, 3)]] * 2
    nan = np.full((2, 16, 16), np.nan, np.float32)  # a NaN map used to "point" at pixel (0, 0): a hit
    calls = {
        "pointing_game": lambda h: metrics.pointing_game(h, masks[: len(h)]),
        "weak_localisation": lambda h: metrics.weak_localisation(h, boxes[: len(h)]),
        "deletion": lambda h: metrics.deletion(MeanModel(), x[: len(h)], torch.from_numpy(h)),
        "insertion": lambda h: metrics.insertion(MeanModel(), x[: len(h)], torch.from_numpy(h)),
        "faithfulness": lambda h: metrics.faithfulness(MeanModel(), x[: len(h)], torch.from_numpy(h)),
        "model_contrast_score": lambda h: metrics.model_contrast_score(h, h, masks[: len(h)]),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="heatmaps? must hold finite values, got NaN or infinity"):
            call(nan)
        one_inf = np.zeros((2, 16, 16), np.float32)
        one_inf[1, 3, 3] = np.inf
        with pytest.raises(ValueError, match="must hold finite values"):
            call(one_inf)
        with pytest.raises(ValueError, match="heatmaps? must hold at least one item, got an empty batch"):
            call(nan[:0])
        assert call(np.ones((2, 16, 16), np.float32)) is not None, name
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        metrics.faithfulness(MeanModel(), x.numpy(), torch.ones(2, 16, 16))
    with pytest.raises(
        ValueError, match=r"correct_obj / correct_scene must be \(2,\) bools, got shape \(1,\)"
    ):
        metrics.model_contrast_score(np.ones((2, 16, 16)), np.ones((2, 16, 16)), masks, correct_obj=[True])


def test_blur_substrate_on_images_too_small_to_reflect():
    from swagfast.metrics.deletion import _substrate

    x = torch.rand(1, 3, 8, 40)  # 8 rows: a 10 px reflection does not fit, so rows repeat the edge
    k = torch.exp(-0.5 * ((torch.arange(21.0) - 10) / 5.0) ** 2)
    k = k / k.sum()
    flat = x.reshape(3, 1, 8, 40)
    ref = F.conv2d(F.pad(flat, (10, 10, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    ref = F.conv2d(F.pad(ref, (0, 0, 10, 10), mode="replicate"), k.view(1, 1, -1, 1)).reshape(x.shape)
    torch.testing.assert_close(_substrate(x, "blur"), ref)
    curve = metrics.deletion(MeanModel(), x, torch.rand(1, 8, 40), steps=2, substrate="blur").curves
    assert float(curve[0, -1]) == pytest.approx(float(MeanModel()(ref).softmax(1)[0, 1]), rel=1e-5)


def test_unit_range_scales_each_item_and_keeps_its_dtype():
    from swagfast.baselines import unit_range

    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4, 5))
    a[1] = 2.5  # a constant item
    got = unit_range(torch.from_numpy(a))
    assert got.dtype == torch.float64
    want = np.stack(
        [(v - v.min()) / (v.max() - v.min()) if v.max() > v.min() else np.zeros_like(v) for v in a]
    )
    np.testing.assert_array_equal(got.numpy(), want)
    assert unit_range(torch.arange(6).reshape(2, 3)).dtype == torch.float32
