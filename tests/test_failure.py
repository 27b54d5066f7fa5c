"""swagfast.failure: filter scores, training distributions, surprise/expectation, fixing."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tracemalloc
from unittest import mock

import numpy as np
import pytest
import torch

from swagfast import GradCAMPlusPlus
from swagfast.failure import (
    METHODS,
    FilterStats,
    analyze,
    beta_report,
    filter_gradient,
    filter_scores,
    grad_amap,
    masked_activation,
    suppress_surprise,
    surprise_region,
)
from swagfast.metrics import filter_removal_auc
from swagfast.testing import PLANTED_HEAD, planted_pattern_images, planted_pattern_model

Z = 32 * 32
W = torch.tensor(PLANTED_HEAD)


@pytest.fixture(scope="module")
def model():
    return planted_pattern_model()


@pytest.fixture(scope="module")
def train():
    x, y, _ = planted_pattern_images([0, 1] * 40, seed=3)
    return x, y


def batches(x, y, size=8):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


@pytest.fixture(scope="module")
def stats(model, train):
    return FilterStats.fit(model, "block", batches(*train), num_classes=2, progress=False)


def brute_scores(model, x, y, method="grad-amap"):
    return torch.cat([filter_scores(model, "block", xb, yb, method=method) for xb, yb in batches(x, y)])


# -- filter scores ---------------------------------------------------------------------------------


def test_filter_scores_match_closed_forms(model, train):
    x, y = train[0][:6], train[1][:6]
    with torch.no_grad():
        A = model.block(x)
    meanA = A.mean(dim=(2, 3))
    w = W[y]  # (B, K) head weights of the differentiated class
    torch.testing.assert_close(grad_amap(model, "block", x, y), w * meanA / Z, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(
        filter_scores(model, "block", x, y, method="grad-cam"), w / Z, rtol=1e-5, atol=1e-9
    )
    xg = torch.where(A.sum(dim=(2, 3)) > 0, w / Z, torch.zeros(()))
    torch.testing.assert_close(
        filter_scores(model, "block", x, y, method="xgrad-cam"), xg, rtol=1e-5, atol=1e-9
    )
    torch.testing.assert_close(filter_scores(model, "block", x, y, method="l1-norm"), meanA)
    torch.testing.assert_close(
        filter_scores(model, "block", x, y, method="taylor-class"),
        (w * meanA / Z).abs(),
        rtol=1e-5,
        atol=1e-9,
    )
    # Taylor: dL/dA_kij = sum_c (p_c - 1[c = y]) W_ck / Z for the cross-entropy loss
    with torch.no_grad():
        p = model(x).softmax(dim=1)
    dl = (p - torch.nn.functional.one_hot(y, 2).float()) @ W / Z
    torch.testing.assert_close(
        filter_scores(model, "block", x, y, method="taylor"), (dl * meanA).abs(), rtol=1e-5, atol=1e-9
    )
    cam = GradCAMPlusPlus(model, "block")
    Aa, G, _, t = cam.activations(x, y)
    torch.testing.assert_close(
        filter_scores(model, "block", x, y, method="grad-cam++"), cam.weights(Aa, G, x, t, None)
    )
    r0 = filter_scores(model, "block", x, method="random", seed=5)
    assert torch.equal(r0, filter_scores(model, "block", x, method="random", seed=5))
    assert not torch.equal(r0, filter_scores(model, "block", x, method="random", seed=6))
    assert r0.shape == (6, 3) and float(r0.min()) >= 0 and float(r0.max()) < 1


def test_filter_scores_bad_input(model, train):
    with pytest.raises(ValueError, match="method must be one of"):
        filter_scores(model, "block", train[0][:2], method="gradcam")
    with pytest.raises(ValueError, match="layer 'nope' is not a submodule"):
        filter_scores(model, "nope", train[0][:2])
    with pytest.raises(ValueError, match="the layer's output must be"):
        filter_scores(model, "head", train[0][:2])


def test_grad_amap_ranks_filters_better_than_random(model):
    """Table 6.1's experiment on the planted model: removing Grad-AMap's top filter first breaks
    the classifier sooner than a random order does."""
    x, y, _ = planted_pattern_images([0, 1] * 12, seed=11, green_noise=False)
    data = batches(x, y)
    amap = filter_removal_auc(model, "block", data, lambda xb, yb: grad_amap(model, "block", xb, yb), step=1)
    rand = filter_removal_auc(
        model,
        "block",
        data,
        lambda xb, yb: filter_scores(model, "block", xb, method="random", seed=1),
        step=1,
    )
    assert amap.accuracy[0, 0] == 1.0
    # Grad-AMap removes each image's own colour filter first: accuracy drops to chance at once
    np.testing.assert_allclose(amap.mean, [1.0, 0.5, 0.5, 0.5])
    assert amap.auc < rand.auc


# -- FilterStats -----------------------------------------------------------------------------------


def test_fit_statistics_are_exact(model, train, stats):
    x, y = train
    s = brute_scores(model, x, y).numpy()
    assert stats.count.tolist() == [40, 40]
    assert (stats.num_classes, stats.num_filters, stats.method, stats.layer) == (2, 3, "grad-amap", "block")
    for c in range(2):
        sc = s[y.numpy() == c].astype(np.float64)
        np.testing.assert_array_equal(stats.mean[c], sc.mean(axis=0))
        np.testing.assert_array_equal(stats.percentile(0.1)[c], np.percentile(sc, 0.1, axis=0))
        np.testing.assert_array_equal(stats.percentile(99.9)[c], np.percentile(sc, 99.9, axis=0))
        np.testing.assert_array_equal(stats.percentile(37.5)[c], np.percentile(sc, 37.5, axis=0))
        idx, rows = stats.class_scores(c)
        np.testing.assert_array_equal(idx, np.nonzero(y.numpy() == c)[0])
        np.testing.assert_array_equal(rows, s[y.numpy() == c])
    # top images per filter by mean activation, ties to the lower index
    with torch.no_grad():
        act = model.block(x).mean(dim=(2, 3)).numpy()
    for n in range(3):
        order = np.lexsort((np.arange(len(x)), -act[:, n]))[:9]
        np.testing.assert_array_equal(stats.top_index[n], order)
        np.testing.assert_array_equal(stats.top_values[n], act[order, n])
    # the 3 class-0 images scoring highest on filter 0 are its largest red discs
    top = stats.top_scoring(0, 0, m=3)
    assert set(top.tolist()) <= set(np.nonzero(y.numpy() == 0)[0].tolist())
    assert np.all(s[top, 0] >= np.sort(s[y.numpy() == 0, 0])[-3])


def test_merge_is_exact_and_order_independent(model, train, stats):
    data = batches(*train)
    a = FilterStats.fit(model, "block", data[:4], num_classes=2, progress=False)
    b = FilterStats.fit(model, "block", data[4:], num_classes=2, progress=False, index_offset=32)
    for merged in (a.merge(b), b.merge(a)):
        np.testing.assert_array_equal(merged.count, stats.count)
        np.testing.assert_array_equal(merged.mean, stats.mean)
        for q in (0.1, 99.9, 50.0):
            np.testing.assert_array_equal(merged.percentile(q), stats.percentile(q))
        np.testing.assert_array_equal(merged.top_index, stats.top_index)
        np.testing.assert_array_equal(merged.top_values, stats.top_values)
        for c in range(2):
            for u, v in zip(merged.class_scores(c), stats.class_scores(c), strict=True):
                np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="occurs twice"):
        a.merge(a)
    c = FilterStats.fit(model, "block", data[:2], num_classes=2, progress=False, method="l1-norm")
    with pytest.raises(ValueError, match="different method"):
        a.merge(c)


def test_save_load_roundtrip_and_atomicity(model, train, stats, tmp_path):
    path = stats.save(tmp_path / "stats")
    loaded = FilterStats.load(path)
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.percentile(99.9), stats.percentile(99.9))
    np.testing.assert_array_equal(loaded.class_scores(1)[1], stats.class_scores(1)[1])
    assert loaded.layer == "block" and loaded.quantiles == (0.1, 99.9)
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        stats.save(path)
    stats.save(path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats"]
    umask = os.umask(0o022)  # the saved folder has a plain mkdir's mode, not mkdtemp's 0700
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o777 & ~umask
    with pytest.raises(ValueError, match="not a FilterStats folder"):
        FilterStats.load(tmp_path)

    # a fit that fails half-way leaves its named directory as it found it: absent, or empty
    def broken():
        yield from batches(*train)[:3]
        raise RuntimeError("disk on fire")

    target = tmp_path / "partial"
    for existed in (False, True):
        if existed:
            target.mkdir()
        with pytest.raises(RuntimeError, match="disk on fire"):
            FilterStats.fit(
                model, "block", broken(), num_classes=2, progress=False, directory=target, buffer_rows=4
            )
        assert target.exists() == existed and (not existed or list(target.iterdir()) == [])
    with pytest.raises(ValueError, match="cannot merge stores with different method"):
        stats.merge(
            FilterStats.fit(
                model, "block", batches(*train)[:1], num_classes=2, progress=False, method="l1-norm"
            )
        )
    target.rmdir()
    with pytest.raises(ValueError, match="occurs twice"):  # the same samples twice
        stats.merge(stats, directory=target)
    assert not target.exists()  # the merge's folder went with it
    with pytest.raises(ValueError, match="must be empty or absent"):
        FilterStats.fit(model, "block", batches(*train), num_classes=2, progress=False, directory=path)


def test_damaged_stores_are_refused_on_load(model, train, tmp_path):
    stats = FilterStats.fit(model, "block", batches(*train)[:2], num_classes=2, progress=False)
    good = stats.save(tmp_path / "good")

    def damaged(name, edit):
        path = tmp_path / name
        shutil.copytree(good, path)
        edit(path)
        return path

    meta = json.loads((good / "meta.json").read_text())
    cases = {
        "no scores": (lambda p: shutil.rmtree(p / "scores"), r"scores/c00000.i64 holds 0 bytes, \d+ samples"),
        "truncated": (
            lambda p: (p / "scores" / "c00001.f32").write_bytes(
                (p / "scores" / "c00001.f32").read_bytes()[:-4]
            ),
            "scores/c00001.f32 holds",
        ),
        "bad json": (lambda p: (p / "meta.json").write_text("{"), "meta.json: Expecting"),
        "json list": (lambda p: (p / "meta.json").write_text("[]"), "is not a FilterStats store"),
        "no key": (
            lambda p: (p / "meta.json").write_text(
                json.dumps({k: v for k, v in meta.items() if k != "count"})
            ),
            "meta.json lacks count",
        ),
        "short count": (
            lambda p: (p / "meta.json").write_text(json.dumps(dict(meta, count=[1]))),
            "count must list 2 classes",
        ),
        "no mean": (lambda p: (p / "mean.npy").unlink(), "mean.npy: "),
        "wrong mean": (lambda p: np.save(p / "mean.npy", np.zeros((3, 3))), r"mean.npy has shape \(3, 3\)"),
        "garbage npy": (lambda p: (p / "top_values.npy").write_bytes(b"junk"), "top_values.npy: "),
    }
    for name, (edit, msg) in cases.items():
        with pytest.raises(ValueError, match=msg):
            FilterStats.load(damaged(name.replace(" ", "_"), edit))
    # an interrupted overwrite puts the old store back
    real = os.replace
    calls = []

    def flaky(a, b):
        calls.append(b)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(a, b)

    other = FilterStats.fit(model, "block", batches(*train)[:1], num_classes=2, progress=False)
    with mock.patch("os.replace", flaky), pytest.raises(KeyboardInterrupt):
        other.save(good, overwrite=True)
    np.testing.assert_array_equal(FilterStats.load(good).mean, stats.mean)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".good.")]


def test_temporary_store_is_removed_with_the_object(model, train):
    s = FilterStats.fit(model, "block", batches(*train)[:2], num_classes=2, progress=False)
    root = s.root
    assert root.exists()
    del s
    import gc

    gc.collect()
    assert not root.exists()


def test_fit_bad_input(model, train):
    x, y = train
    with pytest.raises(ValueError, match=r"labels must lie in \[0, num_classes=2\)"):
        FilterStats.fit(model, "block", [(x[:4], y[:4] + 5)], num_classes=2, progress=False)
    with pytest.raises(ValueError, match="labels must have one entry per image"):
        FilterStats.fit(model, "block", [(x[:4], y[:3])], num_classes=2, progress=False)
    with pytest.raises(TypeError, match="labels must be integer class indices, got dtype torch.float"):
        FilterStats.fit(
            model, "block", [(x[:4], y[:4] + 0.7)], num_classes=2, progress=False
        )  # was truncated
    with pytest.raises(ValueError, match="method='random' has no training distribution"):
        FilterStats.fit(model, "block", [(x[:4], y[:4])], num_classes=2, method="random", progress=False)
    with pytest.raises(ValueError, match="at least one batch"):
        FilterStats.fit(model, "block", [], num_classes=2, progress=False)
    with pytest.raises(ValueError, match="quantiles must be percentages"):
        FilterStats.fit(model, "block", [(x[:4], y[:4])], num_classes=2, quantiles=(101,), progress=False)
    with pytest.raises(ValueError, match="num_classes must be an int >= 1"):
        FilterStats.fit(model, "block", [(x[:4], y[:4])], num_classes=0, progress=False)
    with pytest.raises(TypeError, match="data must yield"):
        FilterStats.fit(model, "block", [x[:4]], num_classes=2, progress=False)


def test_fit_memory_does_not_grow_with_the_dataset():
    """Score rows go to disk every ``buffer_rows`` and statistics are made one class at a time
    (exact percentiles need one class's (n_c, K) scores in memory). 8x the images (2048 x 64
    float32 scores = 512 KiB) must not raise the Python/numpy peak by more than 96 KiB."""
    torch.manual_seed(0)  # the test's own model; no library code draws from the global RNG
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 64),
    ).eval()
    x = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(1))

    def peak(repeats):
        data = ((x, torch.arange(64), torch.arange(i * 64, (i + 1) * 64)) for i in range(repeats))
        tracemalloc.start()
        s = FilterStats.fit(net, "1", data, num_classes=64, progress=False, buffer_rows=128)
        s.percentile(50.0)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert int(s.count.sum()) == 64 * repeats
        return top

    peak(1)  # lazy imports and numpy's caches
    # tracemalloc also counts other threads' allocations (earlier tests leave tqdm's monitor
    # threads running; a full CI run once saw 7.7 MB more in one measurement): the least of a few
    # tries, which real growth would raise in every one
    small = min(peak(4) for _ in range(2))
    large = min(peak(32) for _ in range(3))
    assert large - small < 96 * 1024, (small, large)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray Data's own deprecations
def test_ray_fit_equals_loop_fit(model, train, stats, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="ray[data] is in the test extra; install swagfast[test]")
    import ray
    import ray.data

    x, y = train
    # Ray's workers start in the driver's folder and import from it: away from the source tree,
    # they import the installed swagfast (with its compiled modules), as the test process does
    monkeypatch.chdir(tmp_path)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ds = ray.data.from_items(
            [{"image": x[i].numpy(), "label": int(y[i])} for i in range(len(x))], override_num_blocks=2
        )
        r = FilterStats.fit_ray(
            ds, model, "block", num_classes=2, batch_size=8, concurrency=2, progress=False
        )
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(r.count, stats.count)
    np.testing.assert_array_equal(r.mean, stats.mean)
    np.testing.assert_array_equal(r.percentile(99.9), stats.percentile(99.9))
    np.testing.assert_array_equal(r.percentile(0.1), stats.percentile(0.1))
    np.testing.assert_array_equal(r.top_index, stats.top_index)
    for c in range(2):
        np.testing.assert_array_equal(r.class_scores(c)[1], stats.class_scores(c)[1])


# -- surprise, expectation, beta -----------------------------------------------------------------


def test_planted_pattern_is_surprising_on_exactly_that_filter(model, stats):
    x, y, _ = planted_pattern_images([0] * 4, seed=21, patch=True, radius=6)
    a = analyze(model, "block", stats, x, y)
    assert a.misclassified.all()
    assert [s.tolist() for s in a.surprising] == [[2]] * 4
    assert [e.tolist() for e in a.expected] == [[]] * 4
    assert a.most_surprising().tolist() == [2] * 4
    torch.testing.assert_close(a.beta, (a.alpha - torch.as_tensor(stats.mean[0]).float()).mean(dim=1))
    # without the patch the same images are typical: nothing flagged, correctly classified
    clean, _, _ = planted_pattern_images([0] * 4, seed=21, radius=6)
    b = analyze(model, "block", stats, clean, y)
    assert not b.misclassified.any()
    assert [s.tolist() for s in b.surprising] == [[]] * 4


def test_expectation_needs_a_filter_that_matters(model, stats):
    """A disc smaller than any in training leaves filter 0 below P(0.1): expected. Filter 1 also
    drops below P(0.1) (no green noise) but its mean is below the class's mean filter score, so
    the mean-importance rule keeps it out."""
    x, y, _ = planted_pattern_images([0] * 3, seed=5, radius=2, green_noise=False)
    a = analyze(model, "block", stats, x, y)
    lo = torch.as_tensor(stats.percentile(0.1)[0]).float()
    assert (a.alpha[:, 1] < lo[1]).all()
    assert stats.mean[0, 1] < stats.mean[0].mean() < stats.mean[0, 0]
    assert [e.tolist() for e in a.expected] == [[0]] * 3


def test_analyze_bad_input(model, stats, train):
    x, y = train
    with pytest.raises(TypeError, match="stats must be a FilterStats"):
        analyze(model, "block", object(), x[:2], y[:2])
    with pytest.raises(ValueError, match="layer must be the layer the stats were fitted on"):
        analyze(model, "block.0", stats, x[:2], y[:2])
    with pytest.raises(ValueError, match=r"target classes must be in \[0, 2\)"):
        analyze(model, "block", stats, x[:2], torch.tensor([0, 3]))


def test_beta_report_follows_the_logit(model, stats):
    """For a global-average-pool + linear head, sum_n alpha_n = (y_c - b_c) / Z, so beta is an
    increasing affine function of the true class's logit: Spearman 1 in every class."""
    x, y, _ = planted_pattern_images([0, 1] * 10, seed=9)
    xp, yp, _ = planted_pattern_images([0] * 4, seed=10, patch=True, radius=6)
    data = batches(torch.cat([x, xp]), torch.cat([y, yp]))
    rep = beta_report(model, "block", stats, data, progress=False)
    assert rep.spearman_logit == pytest.approx({0: 1.0, 1: 1.0})
    assert rep.mean_spearman_logit == pytest.approx(1.0)
    np.testing.assert_allclose(
        rep.beta, (rep.logit / Z) / 3 - np.asarray(stats.mean)[rep.true].mean(axis=1), rtol=1e-4, atol=1e-9
    )
    s = rep.summary()
    assert s["images"] == 24 and s["accuracy"] == pytest.approx(20 / 24)
    assert s["with_surprise"] == pytest.approx(4 / 24)
    # radius-6 discs are smaller than the class's average (radii 4..9), and the patch's class-0
    # weight (0.5) does not make up for it: every misclassified image has a negative beta
    assert rep.negative_beta_misclassified == 1.0
    assert 0.0 < rep.negative_beta_correct < 1.0


# -- regions and fixing ----------------------------------------------------------------------------


def test_filter_gradient_goes_through_one_filter(model):
    x, y, mask = planted_pattern_images([0, 0], seed=12, patch=True, radius=6)
    g, t = filter_gradient(model, "block", x, torch.tensor([2, 0]), target=torch.tensor([1, 1]))
    on = (x > 0.5).float()
    expected = torch.zeros_like(x)
    expected[0, 2] = W[1, 2] / Z * on[0, 2]
    expected[1, 0] = W[1, 0] / Z * on[1, 0]
    torch.testing.assert_close(g, expected)
    full, _ = filter_gradient(model, "block", x, None, target=1)
    torch.testing.assert_close(full, W[1].view(1, 3, 1, 1) / Z * on)
    assert t.tolist() == [1, 1]
    with pytest.raises(ValueError, match="one channel per image"):
        filter_gradient(model, "block", x, [0, 1, 2])


def test_surprise_region_outlines_the_patch(model, stats):
    x, y, mask = planted_pattern_images([0] * 3, seed=13, patch=True, radius=6)
    a = analyze(model, "block", stats, x, y)
    reg = surprise_region(model, "block", x, a.most_surprising(), image=x)
    assert reg.target.tolist() == a.predicted.tolist()
    for b in range(3):
        inside = (reg.mask[b] & mask[b]).sum() / reg.mask[b].sum()
        assert inside > 0.75  # one of the three straddles the patch edge (0.79)
    shown = masked_activation(model, "block", x, 2, image=x)
    assert shown.shape == x.shape
    assert torch.equal(masked_activation(model, "block", x, [2, 2, 2], image=x), shown)
    for filters in (-1, 3, [0, 1]):  # -1 used to pick the last channel, 3 an IndexError
        with pytest.raises(
            ValueError, match=r"filters must be one channel index in \[0, 3\) or one per image \(3\)"
        ):
            masked_activation(model, "block", x, filters, image=x)
    with pytest.raises(TypeError, match="filters must be channel indices"):
        masked_activation(model, "block", x, 1.0, image=x)
    assert (shown.sum(dim=1)[~mask] == 0).float().mean() > 0.95
    assert (shown.sum(dim=1)[mask] > 0).all()


def test_suppressing_the_surprise_fixes_the_prediction(model, stats):
    xp, yp, mp = planted_pattern_images([0] * 4, seed=14, patch=True, radius=6)
    xc, yc, mc = planted_pattern_images([1] * 2, seed=15)
    x, y, masks = torch.cat([xp, xc]), torch.cat([yp, yc]), torch.cat([mp, mc])
    res = suppress_surprise(
        model, "block", stats, x, y, segments=(32, 64, 100), removals=(1, 2, 3, 4, 5, 10), image=x
    )
    sw = res.surprise
    assert res.filter.tolist()[:4] == [2] * 4 and res.filter.tolist()[4:] == [-1, -1]
    assert sw.eligible.tolist() == [True] * 4 + [False] * 2
    assert sw.any_fixed.tolist() == [True] * 4 + [False] * 2 and sw.count == 4
    for b in range(4):
        d = sw.deleted[b]
        # the smallest fixing deletion covers the patch and not much more (superpixels straddle it)
        assert (d & masks[b]).sum() >= 0.8 * masks[b].sum() and d.sum() <= 2.5 * masks[b].sum()
        with torch.no_grad():
            assert int(model((x[b] * ~d).unsqueeze(0)).argmax()) == 0
        assert sw.setting[b, 0].item() in (32, 64, 100) and sw.setting[b, 1].item() in (1, 2, 3, 4, 5, 10)
    assert res.vanilla is not None and res.vanilla.eligible.tolist() == [True] * 4 + [False] * 2
    assert sw.fixed.shape == (6, 3, 6)
    with pytest.raises(ValueError, match="removals must be a non-empty sequence"):
        suppress_surprise(model, "block", stats, x, y, removals=())


def test_methods_listed():
    assert METHODS == (
        "grad-amap",
        "grad-cam",
        "grad-cam++",
        "xgrad-cam",
        "taylor",
        "taylor-class",
        "l1-norm",
        "random",
    )


@pytest.mark.cuda
def test_failure_analysis_stays_on_cuda_and_matches_cpu(model, stats):
    xp, yp, _ = planted_pattern_images([0] * 3, seed=14, patch=True, radius=6)
    dev = torch.device("cuda")
    gpu = planted_pattern_model().to(dev)
    a_cpu = analyze(model, "block", stats, xp, yp)
    a_gpu = analyze(gpu, "block", stats, xp.to(dev), yp.to(dev))
    assert a_gpu.alpha.device.type == "cuda" and a_gpu.beta.device.type == "cuda"
    torch.testing.assert_close(a_gpu.alpha.cpu(), a_cpu.alpha, rtol=1e-4, atol=1e-9)
    assert [s.tolist() for s in a_gpu.surprising] == [s.tolist() for s in a_cpu.surprising]
    res = suppress_surprise(
        gpu, "block", stats, xp.to(dev), yp.to(dev), segments=(32, 64), removals=(1, 2, 5)
    )
    assert res.surprise.deleted.device.type == "cuda" and res.surprise.count == 3
