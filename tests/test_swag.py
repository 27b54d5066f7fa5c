"""SWAG on a model with a known answer, Explanation helpers, LIME/Captum plumbing, bad input."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import swagfast
from swagfast import SWAG, baselines, metrics

MEAN = STD = (0.5, 0.5, 0.5)
DEFAULT_THREADS = swagfast.get_num_threads()
SQUARE = (slice(20, 80), slice(30, 90))  # 60 x 60, off-centre


class RedDetector(nn.Module):
    """Responds only to red: 1x1 conv (R - G - B - 0.5 on the normalised input), ReLU, global mean,
    class 1 = +20 x mean activation, class 0 = -20 x it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1))
            self.conv.bias.fill_(-0.5)
        self.relu = nn.ReLU()

    def forward(self, x):
        a = self.relu(self.conv(x)).mean(dim=(2, 3))
        return torch.cat([-20 * a, 20 * a], dim=1)


def red_square_batch(B: int = 2, size: int = 224):
    img = torch.full((B, 3, size, size), 0.5)
    img[:, 0, SQUARE[0], SQUARE[1]] = 1.0
    img[:, 1:, SQUARE[0], SQUARE[1]] = 0.0
    return (img - 0.5) / 0.5, img


@pytest.mark.parametrize("variant", swagfast.MODES)
def test_top_five_percent_lies_in_the_red_square(variant):
    x, _ = red_square_batch()
    exp = SWAG(RedDetector().eval(), variant, mean=MEAN, std=STD)(x)
    assert exp.target.tolist() == [1, 1]
    inside = torch.zeros(224, 224, dtype=torch.bool)
    inside[SQUARE] = True
    for heat in exp.heatmap:
        top = heat.flatten().argsort(descending=True, stable=True)[: int(0.05 * heat.numel())]
        assert inside.flatten()[top].float().mean() >= 0.99, variant


def test_deletion_of_swag_order_beats_the_centre_baseline():
    x, _ = red_square_batch()
    model = RedDetector().eval()
    exp = SWAG(model, "G", mean=MEAN, std=STD)(x)
    ours = metrics.deletion(model, x, exp.heatmap)
    centre = metrics.deletion(model, x, baselines.centre((2, 224, 224)))
    assert (ours.auc < centre.auc - 0.2).all()


def test_explanation_contents_and_helpers():
    x, img = red_square_batch()
    exp = SWAG(RedDetector().eval(), "I", n_segments=100, mean=MEAN, std=STD)(x)
    assert exp.method == "SWAG_I"
    assert exp.heatmap.shape == exp.segments.shape == exp.pixel_map.shape == (2, 224, 224)
    assert exp.segments.dtype == torch.int32
    # the heatmap is the per-segment mean of the pixel map, scattered back
    seg, M = exp.segments[0], exp.pixel_map[0]
    for s in seg.unique()[:10]:
        torch.testing.assert_close(exp.heatmap[0][seg == s], M[seg == s].mean().expand(int((seg == s).sum())))
        torch.testing.assert_close(exp.segment_scores[0, s], M[seg == s].mean())
    assert set(exp.timings) == {"attribution", "superpixels", "pooling", "total"}
    as_np = exp.numpy()
    assert isinstance(as_np.heatmap, np.ndarray) and isinstance(exp.heatmap, torch.Tensor)
    over = exp.overlay(img)
    assert over.shape == (2, 224, 224, 3) and over.dtype == np.uint8
    borders = exp.borders(img)
    assert (borders[0] == (255, 255, 0)).all(axis=-1).sum() > 500  # the square's outline at least
    hwc = img.permute(0, 2, 3, 1).numpy()  # the same images channel-last, in [0, 1], and as uint8
    assert np.array_equal(exp.overlay(hwc), over)
    assert np.array_equal(exp.overlay((hwc * 255).round().astype(np.uint8)), over)
    with pytest.raises(
        ValueError, match=r"images must be uint8 or float in \[0, 1\], got float values in \[0, 255\]"
    ):
        exp.overlay(hwc * 255)  # was clipped to a white picture
    with pytest.raises(TypeError, match="images must be uint8 or float in .0, 1., got dtype int64"):
        exp.borders((hwc * 255).astype(np.int64))


def test_explicit_image_equals_recovered_image_and_batch_equals_items():
    x, img = red_square_batch()
    swag = SWAG(RedDetector().eval(), "I+G", n_segments=120, mean=MEAN, std=STD)
    a = swag(x)
    b = swag(x, image=(img.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
    torch.testing.assert_close(a.heatmap, b.heatmap)
    one = swag(x[1:])
    torch.testing.assert_close(a.heatmap[1:], one.heatmap)


def test_sanity_baselines_and_random_target():
    x, _ = red_square_batch(1)
    model = RedDetector().eval()
    noise = SWAG(model, "I", attribution="noise", mean=MEAN, std=STD)(x)
    sobel = SWAG(model, "I", attribution="sobel", mean=MEAN, std=STD)(x)
    guided = SWAG(model, "I", mean=MEAN, std=STD)(x)
    assert noise.method == "SWAG_I[noise]"
    assert not torch.allclose(noise.heatmap, guided.heatmap)
    assert not torch.allclose(sobel.heatmap, guided.heatmap)
    random_class = swagfast.attribution.random_target(model(x), seed=3)
    assert random_class.tolist() == [0]  # the only class that is not the prediction (1)
    with pytest.warns(UserWarning, match=r"SWAG_G: the heatmap of item\(s\) 0 is constant"):
        other = SWAG(model, "G", mean=MEAN, std=STD)(x, target=random_class)  # no evidence for class 0
    assert other.target.tolist() == [0]
    logits = torch.randn(50, 10, generator=torch.Generator().manual_seed(0))
    drawn = swagfast.attribution.random_target(logits, seed=1)
    assert (drawn != logits.argmax(1)).all() and len(drawn.unique()) > 3


def test_bad_arguments():
    model = RedDetector()
    with pytest.raises(ValueError, match="mode must be one of 'G', 'I', 'I\\+G'; got 'X'"):
        SWAG(model, "X")
    with pytest.raises(ValueError, match="attribution must be one of"):
        SWAG(model, attribution="lrp")
    with pytest.raises(ValueError, match="reduce must be one of"):
        SWAG(model, reduce="median")
    with pytest.raises(ValueError, match="reduce must be one of .*std; got 'argmax'"):
        SWAG(model, reduce="argmax")  # a position, not a value of the map
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        SWAG(lambda x: x)
    with pytest.raises(ValueError, match="std must be positive"):
        SWAG(model, std=(0.5, 0.0, 0.5))
    for kw in (dict(std="abc"), dict(mean=None), dict(mean=(0.5, 0.5)), dict(std=(0.5, "a", 0.5))):
        with pytest.raises(TypeError, match="(mean|std) must be 3 numbers"):
            SWAG(model, **kw)
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        SWAG(model, attribution="noise", seed="a")
    with pytest.raises(TypeError, match="seed must be an int, got float"):
        swagfast.RISE(model, seed=1.5)
    with pytest.raises(TypeError, match="p must be a number, got str"):
        swagfast.RISE(model, p="0.5")
    SWAG(
        model, mean=np.array(MEAN), std=torch.tensor(STD), seed=np.int64(3)
    )  # arrays and numpy ints are fine
    x, _ = red_square_batch(1)
    with pytest.raises(
        ValueError, match=r"image must be the un-normalised RGB input of shape \(1, 3, 224, 224\)"
    ):
        SWAG(model, "I", mean=MEAN, std=STD)(x, image=torch.zeros(1, 3, 10, 10))
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\)"):
        SWAG(model)(x[0])
    with pytest.raises(
        ValueError, match=r"spacing is the voxel spacing of clips .* got images \(1, 3, 224, 224\)"
    ):
        SWAG(model, spacing=(2.0, 1.0, 1.0))(x)  # it used to be ignored


def test_lime_package_uses_our_superpixels():
    lime_image = pytest.importorskip(
        "lime.lime_image", reason="lime is a test dependency (pip install .[test])"
    )
    model = RedDetector().eval()
    _, img = red_square_batch(1, size=96)
    image = (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    seg_fn = swagfast.lime_segmenter(model, "G", n_segments=30, mean=MEAN, std=STD)
    expected = seg_fn(image)

    def classifier(batch):  # logits: the softmax of this model saturates, LIME regresses any score
        t = (torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5
        with torch.no_grad():
            return model(t).numpy()

    explainer = lime_image.LimeImageExplainer(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = explainer.explain_instance(
            image,
            classifier,
            labels=(1,),
            top_labels=None,
            hide_color=128,
            num_samples=40,
            segmentation_fn=seg_fn,
            random_seed=0,
        )
    np.testing.assert_array_equal(exp.segments, expected)
    # the most important LIME feature is a superpixel inside the red square
    best = max(exp.local_exp[1], key=lambda kv: kv[1])[0]
    assert (image[expected == best] == (255, 0, 0)).all(axis=-1).mean() > 0.9


def test_lime_adapter_finds_the_red_square_and_is_seeded():
    pytest.importorskip("lime.lime_image", reason="lime is a test dependency (pip install .[test])")
    from swagfast.explainers import LIME

    x, img = red_square_batch(1, size=96)
    model = RedDetector().eval()
    seg = swagfast.lime_segmenter(model, "G", n_segments=30, mean=MEAN, std=STD)
    lime = LIME(model, mean=MEAN, std=STD, num_samples=60, segmentation_fn=seg, score="logit", seed=0)
    exp = lime(x, target=1)
    heat = exp.heatmap[0]
    assert exp.heatmap.shape == (1, 96, 96) and exp.method == "LIME" and exp.target.tolist() == [1]
    red = (img[0, 0] == 1) & (img[0, 1] == 0)
    best = heat == heat.max()  # the superpixel LIME weighs most for the class
    assert red[best].float().mean() > 0.9
    torch.testing.assert_close(lime(x, target=1).heatmap, exp.heatmap)  # seeded
    with pytest.raises(ValueError, match="num_samples must be an int >= 1, got 0"):
        LIME(model, num_samples=0)
    with pytest.raises(ValueError, match=r"LIME explains a non-empty batch of RGB images \(B, 3, H, W\)"):
        lime(x[:, :1])
    with pytest.raises(ValueError, match=r"got \(0, 3, 96, 96\)"):
        lime(x[:0])
    with pytest.raises(TypeError, match="mean must be 3 numbers"):
        LIME(model, mean=(0.5, 0.5))
    with pytest.raises(ValueError, match="std must be positive and finite"):
        LIME(model, std=(0, 0, 0))
    from swagfast.explainers import XRAI

    for kw, msg in (
        (dict(steps=0), "steps must be an int >= 1, got 0"),
        (dict(batch_size=0), "batch_size must"),
    ):
        with pytest.raises(ValueError, match=msg):
            XRAI(model, **kw)
    with pytest.raises(ValueError, match=r"image must be .* \(1, 96, 96, 3\)\), got \(96, 96, 3\)"):
        SWAG(model, "I", 30, mean=MEAN, std=STD)(x, image=np.zeros((96, 96, 3), np.uint8))


def test_captum_lime_with_our_feature_mask():
    captum_attr = pytest.importorskip(
        "captum.attr", reason="captum is a test dependency (pip install .[test])"
    )
    model = RedDetector().eval()
    x, _ = red_square_batch(1, size=64)
    mask = swagfast.captum_feature_mask(model, x, "I", n_segments=20, mean=MEAN, std=STD)
    assert mask.shape == (1, 1, 64, 64) and mask.dtype == torch.int64
    n = int(mask.max()) + 1
    assert set(mask.unique().tolist()) == set(range(n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attr = captum_attr.Lime(model).attribute(x, target=1, feature_mask=mask, n_samples=30)
    assert attr.shape == x.shape


@pytest.mark.cuda
def test_swag_on_cuda_stays_on_device_and_finds_the_square():
    x, _ = red_square_batch()
    model = RedDetector().eval().cuda()
    exp = SWAG(model, "I+G", mean=MEAN, std=STD, profile=True)(x.cuda())
    assert exp.heatmap.device.type == exp.segments.device.type == "cuda"
    inside = torch.zeros(224, 224, dtype=torch.bool, device="cuda")
    inside[SQUARE] = True
    for heat in exp.heatmap:
        top = heat.flatten().argsort(descending=True, stable=True)[: int(0.05 * heat.numel())]
        assert inside.flatten()[top].float().mean() >= 0.99


@pytest.mark.parametrize("backend", ["cpu", "numba"])
def test_overlapped_colour_superpixels_equal_the_sequential_ones(backend):
    # variant I's superpixels can run beside the attribution (a worker thread); same result
    x, _ = red_square_batch(3, size=96)
    model = RedDetector().eval()
    beside = SWAG(model, "I", n_segments=60, mean=MEAN, std=STD, backend=backend, overlap=True)(x)
    alone = SWAG(model, "I", n_segments=60, mean=MEAN, std=STD, backend=backend)(x)  # cpu: no overlap
    assert torch.equal(beside.segments, alone.segments)
    assert torch.equal(beside.heatmap, alone.heatmap)
    assert set(beside.timings) == {"attribution", "superpixels", "pooling", "total"}


def test_the_default_connectivity_rule_is_raster_on_the_host():
    swag = SWAG(RedDetector().eval(), "I")
    assert swag.connectivity is None and swag.connectivity_for(torch.zeros(1, 3, 8, 8)) == "raster"
    chosen = SWAG(RedDetector(), "I", connectivity="parallel")
    assert chosen.connectivity_for(torch.zeros(1, 3, 8, 8)) == "parallel"


@pytest.mark.parametrize("backend", ["cpu", "numba"])
def test_connectivity_rule_reaches_the_superpixels(backend):
    x, _ = red_square_batch(2, size=96)
    swag = SWAG(
        RedDetector().eval(), "I", n_segments=60, mean=MEAN, std=STD, backend=backend, connectivity="parallel"
    )
    exp = swag(x)
    image = swag.colour_image(x)
    expected = swagfast.slic(image, 60, mode="I", w_c=swag.w_c, connectivity="parallel", backend=backend)
    assert torch.equal(exp.segments, expected)
    with pytest.raises(ValueError, match="connectivity must be one of 'raster', 'parallel'; got 'fast'"):
        SWAG(RedDetector(), "I", connectivity="fast")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through Linux's /proc")
def test_the_worker_thread_opens_no_openmp_pool_and_leaves_the_caller_settings_alone():
    # A second thread opening OpenMP regions gets a pool of its own; with more pool threads than
    # cores libgomp shortens its spin-waits for the whole process, and later torch ops on the
    # CPU ran 2x slower. The worker runs torch, swagfast and Numba on one thread.
    from swagfast import _C
    from swagfast._overlap import start_overlapped

    start_overlapped(lambda: None, torch.device("cpu")).result()  # the worker exists
    before = len(os.listdir("/proc/self/task"))
    swagfast.set_num_threads(2)
    try:
        big = torch.rand(1, 3, 256, 256)

        def stage():  # swagfast's OpenMP regions, then a torch op large enough for torch's
            swagfast.slic(big, 100)
            torch.aminmax(big.expand(8, 3, 256, 256).contiguous())
            return _C.num_threads()

        seen = start_overlapped(stage, torch.device("cpu")).result()
        assert seen == 1
        assert swagfast.get_num_threads() == 2  # the caller's count is untouched
    finally:
        swagfast.set_num_threads(DEFAULT_THREADS)
    assert len(os.listdir("/proc/self/task")) <= before  # (<=: an idle helper, e.g. tqdm's, may end)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_the_worker_works_in_a_forked_child():
    # a child forked after the parent used the worker has no worker thread: it must start its own
    import multiprocessing

    from swagfast._overlap import start_overlapped

    assert start_overlapped(lambda: 1, torch.device("cpu")).result() == 1
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork() in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        with ctx.Pool(1) as pool:
            assert pool.apply_async(_overlapped_in_child).get(timeout=60) == 2


def _overlapped_in_child():
    from swagfast._overlap import start_overlapped

    return start_overlapped(lambda: 2, torch.device("cpu")).result()


def test_overlapped_stage_errors_reach_the_caller_and_attribution_errors_wait_for_it(monkeypatch):
    from swagfast.explainers import swag as swag_module

    started, original = [], swag_module.start_overlapped

    def recording(*args, **kwargs):
        started.append(original(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(swag_module, "start_overlapped", recording)
    x, _ = red_square_batch(1, size=64)
    swag = SWAG(RedDetector().eval(), "I", n_segments=20, mean=MEAN, std=STD, overlap=True)
    with pytest.raises(ValueError, match=r"image must hold float values in \[0, 1\]"):  # raised in the worker
        swag(x, image=torch.full((1, 3, 64, 64), 2.0))
    with pytest.raises(ValueError, match="target must give one class per batch item"):
        swag(x, target=[0, 1, 2])  # the attribution fails: the call still waits for its worker
    assert len(started) == 2 and all(b._future.done() for b in started)


def test_profile_times_each_stage_alone():
    x, _ = red_square_batch(1, size=96)
    for variant in swagfast.MODES:
        exp = SWAG(RedDetector().eval(), variant, n_segments=40, mean=MEAN, std=STD, profile=True)(x)
        stages = ("features", "clustering", "connectivity")
        assert set(exp.timings) == {"attribution", "superpixels", "pooling", "total"} | {
            f"superpixels.{s}" for s in stages
        }
        parts = sum(exp.timings[f"superpixels.{s}"] for s in stages)
        assert 0 < parts <= exp.timings["superpixels"]
        main = exp.timings["attribution"] + exp.timings["superpixels"] + exp.timings["pooling"]
        assert exp.timings["total"] == pytest.approx(main)
    with pytest.raises(TypeError, match="overlap must be a bool or None, got str"):
        SWAG(RedDetector(), "I", overlap="yes")
    one = torch.zeros(1, 3, 32, 32)
    assert not SWAG(RedDetector(), "I").uses_overlap(one)  # the CPU's default: no worker
    assert SWAG(RedDetector(), "I", overlap=True).uses_overlap(one)
    assert not SWAG(RedDetector(), "G", overlap=True).uses_overlap(one)  # G needs the attribution
    assert not SWAG(RedDetector(), "I", overlap=True, profile=True).uses_overlap(one)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        SWAG(RedDetector(), "I").uses_overlap(one.numpy())
    with pytest.raises(TypeError, match="profile must be a bool, got int"):
        SWAG(RedDetector(), "I", profile=1)


@pytest.mark.cuda
def test_overlapped_colour_superpixels_on_cuda_equal_the_sequential_ones():
    x, _ = red_square_batch(4)
    model = RedDetector().eval().cuda()
    beside = SWAG(model, "I", mean=MEAN, std=STD, overlap=True)(x.cuda())  # side stream, worker
    alone = SWAG(model, "I", mean=MEAN, std=STD, overlap=False)(x.cuda())
    assert beside.segments.device.type == "cuda"
    assert torch.equal(beside.segments, alone.segments)
    assert torch.equal(beside.heatmap, alone.heatmap)
    profiled = SWAG(model, "I", mean=MEAN, std=STD, profile=True)(x.cuda())
    assert torch.equal(profiled.segments, alone.segments)
    assert profiled.timings["superpixels.clustering"] > 0


@pytest.mark.cuda
def test_overlap_by_default_only_for_one_cuda_clip_under_the_raster_rule():
    model = RedDetector().eval().cuda()
    clip, clips = torch.zeros(1, 3, 2, 32, 32, device="cuda"), torch.zeros(4, 3, 2, 32, 32, device="cuda")
    raster = SWAG(model, "I", connectivity="raster")
    assert raster.uses_overlap(clip)
    assert not raster.uses_overlap(clips)
    assert not raster.uses_overlap(clip[:, :, 0])  # one photo
    assert not SWAG(model, "I").uses_overlap(clip)  # on CUDA the default rule is "parallel"
    assert SWAG(model, "I").connectivity_for(clip) == "parallel"
    assert not swagfast.SWAGV(model, "I").uses_overlap(clip)  # SWAG-V's rule is "parallel"
    assert SWAG(model, "I", overlap=True).uses_overlap(clips)
    assert not SWAG(model, "I+G").uses_overlap(clip)


@pytest.mark.cuda
def test_parallel_connectivity_on_cuda_stays_on_device_and_agrees_with_cpu():
    x, _ = red_square_batch(4)
    model = RedDetector().eval()
    kw = dict(mean=MEAN, std=STD, connectivity="parallel")
    cpu = SWAG(model, "I+G", **kw)(x)
    gpu = SWAG(model.cuda(), "I+G", **kw)(x.cuda())
    assert gpu.segments.device.type == "cuda"
    assert (gpu.segments.cpu() == cpu.segments).float().mean() >= 0.995


def test_rise_finds_the_red_square_and_is_seeded():
    x, _ = red_square_batch(1, size=64)
    x = x.clone()
    model = RedDetector().eval()
    rise = swagfast.RISE(model, n_masks=400, s=4, batch_size=50, seed=1, score="logit")  # softmax saturates
    exp = rise(x, target=1)
    heat = exp.heatmap[0]
    inside = torch.zeros(64, 64, dtype=torch.bool)
    inside[20:64, 30:64] = True  # the part of SQUARE inside the 64 x 64 image
    # RISE is an expectation (the mean score when a pixel is kept): an offset plus the contrast
    top = heat.flatten().argsort(descending=True)[: int(0.1 * heat.numel())]
    assert inside.flatten()[top].float().mean() > 0.95
    assert heat[inside].mean() - heat[~inside].mean() > 0.1 * heat.mean()
    same = swagfast.RISE(model, n_masks=400, s=4, batch_size=7, seed=1, score="logit")(x, 1)
    torch.testing.assert_close(same.heatmap, exp.heatmap)  # the batch size does not change the masks
    other = swagfast.RISE(model, n_masks=400, s=4, seed=2, score="logit")(x, 1)
    assert not torch.allclose(other.heatmap, exp.heatmap)
    m = rise.masks((64, 64), *(d[:10] for d in rise.draws((64, 64), torch.device("cpu"))))
    assert m.shape == (10, 64, 64) and 0 <= float(m.min()) and float(m.max()) <= 1
    assert 0.3 < float(m.mean()) < 0.7  # p = 0.5
    with pytest.raises(ValueError, match=r"p must be a finite number in \(0, 1\)"):
        swagfast.RISE(model, p=1.5)


def test_xrai_adapter_through_the_saliency_package():
    pytest.importorskip("saliency.core", reason="saliency (PAIR) is a test dependency (pip install .[test])")
    from swagfast.explainers import XRAI

    x, _ = red_square_batch(1, size=64)
    exp = XRAI(RedDetector().eval(), steps=5)(x, target=1)
    assert exp.heatmap.shape == (1, 64, 64) and exp.method == "XRAI"
    heat = exp.heatmap[0]
    inside = torch.zeros(64, 64, dtype=torch.bool)
    inside[20:64, 30:64] = True
    assert heat[inside].mean() > heat[~inside].mean()


def test_non_finite_input_and_the_explanation_object():
    model = RedDetector().eval()
    x, _ = red_square_batch(2)
    bad = x.clone()
    bad[1, 0, 0, 0] = float("nan")  # NaN logits used to give a plausible explanation of class 0
    for explain in (SWAG(model, "G", mean=MEAN, std=STD), swagfast.GradCAM(model, "conv")):
        with pytest.raises(ValueError, match=r"the model's output holds NaN or infinity for items \[1\]"):
            explain(bad)
    exp = SWAG(model, "G", mean=MEAN, std=STD)(x)
    text = repr(exp)
    assert len(text) < 400 and "heatmap=Tensor(2, 224, 224) float32, cpu" in text
    as_np = exp.numpy()
    as_np.timings["extra"] = 1.0  # a copy, not the same dict
    assert "extra" not in exp.timings and "numpy" in repr(as_np)
    assert exp == exp and exp != SWAG(model, "G", mean=MEAN, std=STD)(x)  # identity, no tensor ==
    half = swagfast.Explanation(heatmap=exp.heatmap.bfloat16(), target=exp.target, method="m")
    assert half.numpy().heatmap.dtype == np.float32  # bfloat16 has no numpy dtype


def test_the_old_keyword_names_still_work_with_a_deprecation_warning():
    model = RedDetector().eval()
    x, _ = red_square_batch(1)
    want = SWAG(model, "I", reduce="max", mean=MEAN, std=STD)(x).heatmap
    with pytest.warns(DeprecationWarning) as caught:
        old = SWAG(model, variant="I", pooling="max", mean=MEAN, std=STD)
    assert sorted(str(w.message).split("=")[0] for w in caught) == ["SWAG's pooling", "SWAG's variant"]
    assert "use mode=" in str(caught[0].message) and "use reduce=" in str(caught[1].message)
    assert old.mode == "I" and old.reduce == "max"
    torch.testing.assert_close(old(x).heatmap, want)
    with pytest.warns(DeprecationWarning, match="SWAG.pooling is deprecated"):
        assert old.pooling == "max"
