"""Gradient-augmented SLIC: against scikit-image, ground-truth blobs, backend agreement, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab
from skimage.segmentation import slic as sk_slic

import swagfast
from swagfast import kernels
from swagfast.data import center_crop_resize, sample_images
from swagfast.testing import connected_segment_count, explained_variation, photo_clip, to_backend, to_numpy

PHOTOS = {name: center_crop_resize(img, 224) for name, img in sample_images().items()}


def check_segmentation(labels: np.ndarray, K: int) -> int:
    n = int(labels.max()) + 1
    assert labels.dtype == np.int32
    assert set(np.unique(labels).tolist()) == set(range(n)), "labels must be 0..n-1"
    assert 0.5 * K <= n <= 1.1 * K, f"{n} segments for K={K}"
    assert connected_segment_count(labels) == n, "every segment must be one connected component"
    return n


# ---- colour conversion ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_lab_matches_skimage_on_every_host_backend(dtype, rng):
    from swagfast import _C

    rgb = rng.integers(0, 256, size=(4000, 3)).astype(np.uint8)
    rgb[:256] = np.arange(256)[:, None]  # every uint8 level, greys included
    inp = rgb if dtype == np.uint8 else (rgb / 255.0).astype(np.float32)
    expected = rgb2lab(rgb[None])[0]
    for impl in (_C, kernels.slic):
        out = np.full((len(rgb), 4), -1.0, np.float32)
        impl.rgb_to_lab(inp, out)
        np.testing.assert_allclose(out[:, :3], expected, atol=2e-3)
        assert np.all(out[:, 3] == -1.0)  # writes only the first 3 channels


def test_srgb_linearisation_equals_pow_and_agrees_across_backends():
    """The linearisation avoids libm's pow (a Newton fifth root, so it vectorises): rounded to
    float it must equal float(pow((c + 0.055) / 1.055, 2.4)) exactly, and the C++ and Numba
    kernels must give the same Lab bits; here on every 997th float32 in [0, 1] and every 41st in
    the pow branch (above 0.04045; all 39.5M floats there were checked once, see lab.h)."""
    import numba

    from swagfast import _C
    from swagfast.kernels.slic import _srgb_to_linear

    @numba.njit
    def linearise(v, out):
        for i in range(v.size):
            out[i] = _srgb_to_linear(v[i])

    one = np.float32(1.0).view(np.int32)
    v = np.concatenate(
        [
            np.arange(0, one + 1, 997, dtype=np.int32).view(np.float32),
            np.arange(np.float32(0.04045).view(np.int32), one + 1, 41, dtype=np.int32).view(np.float32),
            [np.float32(1.0)],
        ]
    ).astype(np.float32)
    got = np.empty_like(v)
    linearise(v, got)
    v64 = v.astype(np.float64)
    want = np.where(v64 > 0.04045, ((v64 + 0.055) / 1.055) ** 2.4, v64 / 12.92).astype(np.float32)
    np.testing.assert_array_equal(got, want)
    grey = np.repeat(v[:, None], 3, axis=1)
    labs = []
    for impl in (_C, kernels.slic):
        out = np.empty((len(grey), 3), np.float32)
        impl.rgb_to_lab(np.ascontiguousarray(grey), out)
        labs.append(out)
    np.testing.assert_array_equal(labs[0], labs[1])


# ---- colour mode against scikit-image ---------------------------------------------------------


@pytest.mark.parametrize("name", list(PHOTOS))
def test_colour_mode_beats_skimage_explained_variation(name):
    img = PHOTOS[name]
    ours = swagfast.slic(img, 300)
    check_segmentation(ours, 300)
    lab = rgb2lab(img)
    ref = sk_slic(img, n_segments=300, compactness=10, start_label=0)
    assert explained_variation(lab, ours) >= explained_variation(lab, ref) - 0.02


def test_supervoxels_on_a_photo_clip_against_skimage():
    clip = photo_clip(16, 112)
    ours = swagfast.supervoxels(clip, 120)
    assert ours.shape == (16, 112, 112)
    check_segmentation(ours, 120)
    lab = rgb2lab(clip)
    ref = sk_slic(clip, n_segments=120, compactness=10, start_label=0, channel_axis=-1)
    assert explained_variation(lab, ours) >= explained_variation(lab, ref) - 0.02


def test_supervoxel_spacing_stretches_segments_in_time():
    clip = photo_clip(16, 112)
    iso = swagfast.supervoxels(clip, 120)
    stretched = swagfast.supervoxels(clip, 120, spacing=(4.0, 1.0, 1.0))

    def frames_per_segment(lab):
        return np.mean([len(np.unique(np.nonzero(lab == s)[0])) for s in range(lab.max() + 1)])

    # a larger time step makes a voxel "further" from its temporal neighbours: shorter tubes
    assert frames_per_segment(stretched) < frames_per_segment(iso)


# ---- gradient modes follow the gradient -------------------------------------------------------


def blob_case(size=96, centre=(41, 53), radius=9.0):
    yy, xx = np.mgrid[:size, :size]
    blob = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2
    grad = np.where(blob, 1.0, 0.05).astype(np.float32)
    flat = np.full((size, size, 3), 128, np.uint8)
    return flat, grad, blob


def best_iou(labels: np.ndarray, mask: np.ndarray) -> float:
    best = 0.0
    for s in np.unique(labels[mask]):
        seg = labels == s
        best = max(best, (seg & mask).sum() / (seg | mask).sum())
    return best


@pytest.mark.parametrize("mode", ["G", "I+G"])
def test_gradient_modes_snap_a_segment_to_the_blob(mode, backend):
    flat, grad, blob = blob_case()
    image = to_backend(flat, backend) if mode == "I+G" else None
    gradient = to_backend(grad, backend)
    labels = swagfast.slic(image, 36, gradient=gradient, mode=mode, backend=backend, channel_axis=-1)
    labels = to_numpy(labels)
    assert best_iou(labels, blob) > 0.8
    # colour alone cannot see the blob on a flat image: the segments stay a grid
    colour_only = swagfast.slic(flat, 36)
    assert best_iou(colour_only, blob) < 0.8


def test_larger_w_g_makes_segments_ignore_the_gradient():
    """Documented direction: larger w_g weakens the gradient term (more grid-like segments)."""
    _, grad, blob = blob_case()
    ious = [
        best_iou(swagfast.slic(None, 36, gradient=grad, mode="G", w_g=w), blob) for w in (5.0, 50.0, 500.0)
    ]
    assert ious[0] >= ious[1] >= ious[2]
    assert ious[0] > 0.8 > ious[2]


def test_gradient_is_rescaled_per_image():
    """G mode depends on the gradient's shape only: affine changes of the map give the same labels."""
    _, grad, _ = blob_case()
    a = swagfast.slic(None, 36, gradient=grad, mode="G")
    b = swagfast.slic(None, 36, gradient=grad * 1e-4 + 3.0, mode="G")
    np.testing.assert_array_equal(a, b)


def test_gradient_rescaling_is_identical_on_every_backend(rng):
    """The C++ and Numba kernels rescale exactly as the torch code the CUDA path runs (whose
    100.0 / span is reciprocal(span) * 100 in float32): same bits, constant items to 0, and
    a non-finite value refused with nothing written."""
    from swagfast import _C
    from swagfast.superpixels.slic import _rescale_gradient_into

    # many items with random ranges: 100 / span and reciprocal(span) * 100 differ for about a
    # quarter of float32 spans, so a kernel that divided directly would fail here
    grad = (rng.standard_normal((64, 8, 9)) * rng.uniform(0.1, 50.0, (64, 1, 1)) + 5.0).astype(np.float32)
    grad[1] = 2.5  # constant item
    ref = torch.full((64, 8, 9, 4), -1.0)
    _rescale_gradient_into(torch.from_numpy(grad), ref[..., -1])
    assert float(ref[0, ..., -1].min()) == 0.0 and float(ref[0, ..., -1].max()) == pytest.approx(100.0)
    assert not ref[1, ..., -1].any()
    for impl in (_C, kernels.slic):
        out = np.full((64, 72, 4), -1.0, np.float32)
        assert impl.rescale_gradient(grad.reshape(64, -1), out)
        np.testing.assert_array_equal(out.reshape(ref.shape), ref.numpy(), err_msg=str(impl))
        np.testing.assert_array_equal(out[..., :3], -1.0)  # only the last channel is written
        bad = grad.reshape(64, -1).copy()
        bad[63, 7] = np.nan
        untouched = np.full((64, 72, 4), -1.0, np.float32)
        assert not impl.rescale_gradient(bad, untouched)
        assert (untouched == -1.0).all()


# ---- backends, batches, types -----------------------------------------------------------------


@pytest.mark.parametrize("mode", swagfast.MODES)
def test_cpu_and_numba_agree(mode):
    img = PHOTOS["coffee"]
    grad = np.abs(np.gradient(img.mean(axis=2).astype(np.float32))[0])
    kw = {"gradient": grad} if mode != "I" else {}
    image = img if mode != "G" else None
    cpu = swagfast.slic(image, 300, mode=mode, backend="cpu", **kw)
    nb = swagfast.slic(image, 300, mode=mode, backend="numba", **kw)
    assert (cpu == nb).mean() >= 0.995


def test_cpu_and_numba_agree_in_3d():
    clip = photo_clip(8, 64)
    cpu = swagfast.supervoxels(clip, 60, backend="cpu")
    nb = swagfast.supervoxels(clip, 60, backend="numba")
    assert (cpu == nb).mean() >= 0.995


@pytest.mark.cuda
@pytest.mark.parametrize("mode", swagfast.MODES)
def test_cuda_agrees_with_cpu(mode):
    img = np.stack([PHOTOS["chelsea"], PHOTOS["coffee"]])
    grad = np.abs(np.gradient(img.mean(axis=3).astype(np.float32), axis=1))
    kw = {"gradient": grad} if mode != "I" else {}
    image = img if mode != "G" else None
    cpu = swagfast.slic(image, 300, mode=mode, backend="cpu", **kw)
    gpu = swagfast.slic(
        to_backend(image, "cuda") if image is not None else None,
        300,
        mode=mode,
        **({"gradient": to_backend(grad, "cuda")} if kw else {}),
        channel_axis=-1,
    )
    assert gpu.device.type == "cuda" and gpu.dtype == torch.int32
    assert (gpu.cpu().numpy() == cpu).mean() >= 0.995


@pytest.mark.cuda
def test_cuda_agrees_with_cpu_in_3d():
    clip = photo_clip(8, 64)
    grad = np.abs(np.gradient(clip.mean(axis=3).astype(np.float32), axis=2))
    cpu = swagfast.supervoxels(clip, 60, gradient=grad, mode="I+G", backend="cpu")
    gpu = swagfast.supervoxels(
        to_backend(clip, "cuda"), 60, gradient=to_backend(grad, "cuda"), mode="I+G", channel_axis=-1
    )
    assert gpu.device.type == "cuda" and gpu.shape == (8, 64, 64)
    assert (gpu.cpu().numpy() == cpu).mean() >= 0.995


def test_batch_equals_items_and_is_deterministic():
    batch = np.stack([PHOTOS["chelsea"], PHOTOS["rocket"]])
    labels = swagfast.slic(batch, 200)
    assert labels.shape == (2, 224, 224)
    for i in range(2):
        np.testing.assert_array_equal(labels[i], swagfast.slic(batch[i], 200))
    np.testing.assert_array_equal(labels, swagfast.slic(batch, 200))


def test_large_item_split_across_threads_gives_the_same_labels(rng):
    """From 2^19 voxels one item is split across threads (row blocks, each thread summing its own
    tables): the labels must not depend on the thread count."""
    if not swagfast._C.has_openmp():
        pytest.skip("swagfast._C was built without OpenMP: one thread only, nothing to compare")
    vol = rng.random((12, 256, 256), dtype=np.float32)  # 786k voxels
    vol[:, 100:180, 60:200] += 2.0  # a block the supervoxels should follow
    before = swagfast.get_num_threads()
    try:
        swagfast.set_num_threads(1)
        one = swagfast.supervoxels(None, 100, gradient=vol, mode="G")
        swagfast.set_num_threads(2)
        two = swagfast.supervoxels(None, 100, gradient=vol, mode="G")
        swagfast.set_num_threads(3)  # a team that does not divide the eight sum tables evenly
        three = swagfast.supervoxels(None, 100, gradient=vol, mode="G")
    finally:
        swagfast.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, three)
    numba = swagfast.supervoxels(None, 100, gradient=vol, mode="G", backend="numba")
    np.testing.assert_array_equal(one, numba)
    assert 50 <= one.max() + 1 <= 169  # 12 frames take one grid cell in time: 1 x 13 x 13 centres


def test_torch_channel_first_and_float_input():
    img = PHOTOS["astronaut"]
    ref = swagfast.slic(img, 150)
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    out = swagfast.slic(t, 150)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.int32 and out.shape == (1, 224, 224)
    np.testing.assert_array_equal(out[0].numpy(), ref)
    np.testing.assert_array_equal(swagfast.slic(img.astype(np.float32) / 255.0, 150), ref)
    np.testing.assert_array_equal(swagfast.slic(np.moveaxis(img, -1, 0), 150, channel_axis=0), ref)


def test_without_connectivity_labels_are_still_renumbered():
    labels = swagfast.slic(PHOTOS["china"], 100, enforce_connectivity=False)
    n = labels.max() + 1
    assert set(np.unique(labels).tolist()) == set(range(n))


# ---- bad input --------------------------------------------------------------------------------


def test_bad_input_messages():
    img = PHOTOS["coffee"]
    grad = np.ones((224, 224), np.float32)
    inf_in_second = np.ones((2, 8, 8), np.float32)
    inf_in_second[1, 3, 4] = np.inf
    cases = [
        (ValueError, "mode must be one of", dict(image=img, mode="RGB")),
        (
            ValueError,
            r"image must have 3 colour channels \(RGB\) on channel_axis=-1, got 4",
            dict(image=np.zeros((8, 8, 4), np.uint8)),
        ),
        (ValueError, "image must have 2 spatial axes", dict(image=np.zeros((8, 3), np.uint8))),
        (ValueError, "mode 'G' needs gradient=", dict(image=None, mode="G")),
        (
            ValueError,
            "mode 'I\\+G' needs the colour image; got image=None",
            dict(image=None, mode="I+G", gradient=grad),
        ),
        (
            ValueError,
            r"gradient must have the image's spatial shape \(224, 224\), got \(10, 10\)",
            dict(image=img, mode="I+G", gradient=np.ones((10, 10), np.float32)),
        ),
        (ValueError, "mode 'I' clusters colour alone", dict(image=img, gradient=grad)),
        (ValueError, "n_segments must be an int >= 1, got 0", dict(image=img, n_segments=0)),
        (
            ValueError,
            r"n_segments must be at most the number of pixels \(64\), got 65",
            dict(image=np.zeros((8, 8, 3), np.uint8), n_segments=65),
        ),
        (ValueError, "w_c must be a positive finite number, got -1", dict(image=img, w_c=-1)),
        (ValueError, "w_g must be a positive finite number, got 0", dict(image=img, w_g=0)),
        (
            ValueError,
            "gradient must hold finite values",
            dict(image=None, mode="G", n_segments=4, gradient=np.full((8, 8), np.nan, np.float32)),
        ),
        (  # one infinity in the second item of a batch
            ValueError,
            "gradient must hold finite values",
            dict(image=None, mode="G", n_segments=4, gradient=inf_in_second),
        ),
        (ValueError, "image must hold finite values", dict(image=np.full((8, 8, 3), np.nan, np.float32))),
        (
            ValueError,
            r"image must hold float values in \[0, 1\], got the range \[0, 255\]",
            dict(image=img.astype(np.float32)),
        ),
        (
            ValueError,
            r"image must not be empty, got spatial shape \(0, 8\)",
            dict(image=np.zeros((0, 8, 3), np.uint8), n_segments=1),
        ),
        (TypeError, "image must be uint8 or float", dict(image=np.zeros((8, 8, 3), np.int16))),
        (TypeError, "n_segments must be an int >= 1, got float", dict(image=img, n_segments=10.0)),
        (TypeError, "image must be a numpy.ndarray or torch.Tensor, got list", dict(image=[[1, 2, 3]])),
        (ValueError, "spacing must have 2 entries", dict(image=img, spacing=(1.0, 1.0, 1.0))),
        (TypeError, "spacing must be a sequence of 2 numbers", dict(image=img, spacing=2.0)),
        (
            TypeError,
            "min_size_factor must be a number, got str",
            dict(image=img, min_size_factor="a"),
        ),
        (
            TypeError,
            "channel_axis must be an int axis of the image, got str",
            dict(image=img, channel_axis="x"),
        ),
        (
            TypeError,
            "enforce_connectivity must be a bool, got str",
            dict(image=img, enforce_connectivity="no"),
        ),
        (
            ValueError,
            "spacing must keep the image's physical size finite",
            dict(image=img, spacing=(1e-200, 1e200)),
        ),
        (ValueError, "backend must be one of", dict(image=img, backend="tpu")),
        (TypeError, "timings must be a dict or None, got list", dict(image=img, timings=[])),
    ]
    for exc, msg, kw in cases:
        image = kw.pop("image")
        with pytest.raises(exc, match=msg):
            swagfast.slic(image, **kw)
    with pytest.raises(ValueError, match=r"clip must have 3 spatial axes"):
        swagfast.supervoxels(img, 10)


def test_negatively_strided_arrays_are_taken():
    img = np.random.default_rng(2).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    flipped = img[::-1, :, ::-1]  # torch cannot view negative strides: swagfast copies
    assert (swagfast.slic(flipped, 20) == swagfast.slic(np.ascontiguousarray(flipped), 20)).all()
    v = np.random.default_rng(3).random((40, 48)).astype(np.float32)[::-1]
    lab = np.zeros((40, 48), np.int32)
    assert swagfast.segment_pool(v, lab).segment_values[0] == pytest.approx(v.mean(), rel=1e-5)


@pytest.mark.parametrize("backend", ["cpu", "numba"])
def test_extreme_spacing_gives_at_most_one_grid_cell_per_voxel(backend):
    # a grid step far below one voxel along an axis used to ask for more cells than voxels (1e30:
    # an allocation that aborted the process); now one cell per voxel at most, as a finite spacing
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for spacing in ((1e30, 1.0), (1e6, 1.0)):
        labels = swagfast.slic(img, 16, spacing=spacing, backend=backend)
        assert labels.shape == (32, 32) and 1 <= labels.max() + 1 <= 32  # a grid of 32 x 1 at most
        assert (labels == swagfast.slic(img, 16, spacing=(1e4, 1.0), backend=backend)).all()
    clip = np.random.default_rng(1).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    assert swagfast.supervoxels(clip, 8, spacing=(1e20, 1.0, 1.0), backend=backend).max() < 4 * 256


@pytest.mark.cuda
def test_cuda_channel_first_uint8_tensor():
    img = np.stack([PHOTOS["rocket"], PHOTOS["china"]])
    cpu = swagfast.slic(img, 200)
    gpu = swagfast.slic(torch.from_numpy(img).permute(0, 3, 1, 2).cuda(), 200)
    assert gpu.device.type == "cuda"
    assert (gpu.cpu().numpy() == cpu).mean() >= 0.995


ISA_SCRIPT = """
import sys
import numpy as np
import swagfast
from swagfast import _C
from swagfast.data import center_crop_resize, sample_images
from swagfast.testing import photo_clip

img = center_crop_resize(sample_images()["coffee"], 224)
grad = np.abs(np.gradient(img.mean(axis=2).astype(np.float32), axis=0))
clip = photo_clip(8, 64)
cgrad = np.abs(np.gradient(clip.mean(axis=3).astype(np.float32), axis=2))
lab = np.empty((224 * 224, 3), np.float32)
_C.rgb_to_lab((img / 255.0).astype(np.float32).reshape(-1, 3), lab)
np.savez(
    sys.argv[1],
    isa=_C.slic_isa(),
    lab=lab,
    i=swagfast.slic(img, 300, backend="cpu"),
    g=swagfast.slic(None, 300, gradient=grad, mode="G", backend="cpu"),
    ig=swagfast.slic(img.astype(np.float32) / 255, 300, gradient=grad, mode="I+G", backend="cpu"),
    v=swagfast.supervoxels(clip, 60, gradient=cgrad, mode="I+G", backend="cpu"),
)
"""


def test_avx2_and_baseline_builds_give_identical_results(tmp_path):
    """The SLIC kernels are compiled for the baseline and for AVX2 (no FMA in either): both must
    give the same Lab values and labels, bit for bit."""
    import os
    import subprocess
    import sys

    from swagfast import _C

    if _C.slic_isa() != "avx2":
        pytest.skip(f"this processor or build runs only the {_C.slic_isa()} SLIC kernels: nothing to compare")
    script = tmp_path / "isa.py"
    script.write_text(ISA_SCRIPT)
    out = {}
    for isa in ("avx2", "baseline"):
        env = {**os.environ, "SWAGFAST_CPU_ISA": isa}
        subprocess.run([sys.executable, str(script), str(tmp_path / f"{isa}.npz")], env=env, check=True)
        out[isa] = np.load(tmp_path / f"{isa}.npz")
    assert str(out["avx2"]["isa"]) == "avx2" and str(out["baseline"]["isa"]) == "baseline"
    for key in ("lab", "i", "g", "ig", "v"):
        np.testing.assert_array_equal(out["avx2"][key], out["baseline"][key], err_msg=key)


def test_supervoxels_and_insertion_share_one_parameter_list():
    """supervoxels takes slic's options and insertion deletion's, from one parameter list each:
    the signature shows them, an unknown keyword is a TypeError naming it."""
    import inspect

    from swagfast.metrics import deletion, insertion

    sv = inspect.signature(swagfast.supervoxels).parameters
    assert list(sv)[:3] == ["clip", "n_segments", "spacing"] and sv["n_segments"].default == 120
    assert [p for p in sv if p not in ("clip", "n_segments", "spacing")] == [
        p for p in inspect.signature(swagfast.slic).parameters if p not in ("image", "n_segments", "spacing")
    ]
    assert inspect.signature(insertion).parameters.keys() == inspect.signature(deletion).parameters.keys()
    clip = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(
        TypeError, match="supervoxels\\(\\) got an unexpected keyword argument 'w_x'; its options"
    ):
        swagfast.supervoxels(clip, 4, w_x=3)
    with pytest.raises(TypeError, match="insertion\\(\\) got an unexpected keyword argument 'step'"):
        insertion(None, None, None, step=3)
    clip = photo_clip(4, 24)
    a = swagfast.supervoxels(clip, 6, mode="I", w_c=5.0)
    b = swagfast.supervoxels(clip, 6, mode="I", w_c=5.0, w_g=10.0, max_num_iter=10, connectivity="raster")
    assert a.shape == (4, 24, 24) and np.array_equal(a, b) and a.max() > 0  # slic's defaults filled in
