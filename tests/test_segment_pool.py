"""segment_pool on every backend against the numpy reference (swagfast.testing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import swagfast
from swagfast.testing import segment_pool_reference, to_backend, to_numpy

RTOL = 1e-5


def random_case(rng, shape, n_seg, dtype=np.float32, gaps=False):
    values = rng.normal(size=shape).astype(dtype)
    labels = rng.integers(0, n_seg, size=shape).astype(np.int32)
    if gaps:  # make every third segment empty
        labels = np.where(labels % 3 == 1, labels - 1, labels).astype(np.int32)
    return values, labels


def check_against_reference(values, labels, reduce, backend, n_segments=None, **kw):
    res = swagfast.segment_pool(
        to_backend(values, backend),
        to_backend(labels, backend),
        reduce,
        n_segments=n_segments,
        backend=backend,
        **kw,
    )
    batched = values.reshape((-1,) + values.shape[-2:]) if values.ndim == 2 else values
    lab_b = labels.reshape(batched.shape)
    n = n_segments if n_segments is not None else int(labels.max()) + 1
    ref = segment_pool_reference(batched, lab_b, reduce, n)
    seg = to_numpy(res.segment_values)
    if values.ndim == 2:
        ref = ref[0]
    assert seg.dtype == values.dtype
    np.testing.assert_allclose(seg, ref, rtol=RTOL, atol=RTOL * max(1.0, np.abs(ref).max()))
    if res.pixel_values is not None:
        pix = to_numpy(res.pixel_values)
        assert pix.shape == values.shape
        expect = np.take_along_axis(ref.reshape(len(lab_b), -1), lab_b.reshape(len(lab_b), -1), 1)
        np.testing.assert_allclose(
            pix.reshape(expect.shape), expect, rtol=RTOL, atol=RTOL * max(1.0, np.abs(ref).max())
        )
    return res


@pytest.mark.parametrize("reduce", swagfast.REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_batch_matches_reference(backend, reduce, dtype, rng):
    values, labels = random_case(rng, (3, 17, 23), 40, dtype)
    check_against_reference(values, labels, reduce, backend)


@pytest.mark.parametrize("reduce", swagfast.REDUCTIONS)
def test_video_batch_and_gaps(backend, reduce, rng):
    values, labels = random_case(rng, (2, 4, 9, 11), 30, gaps=True)
    res = check_against_reference(values, labels, reduce, backend, n_segments=35)
    seg = to_numpy(res.segment_values)
    assert seg.shape == (2, 35)
    empty = ~np.isin(np.arange(35), labels[0])
    assert empty.any() and np.all(seg[0, empty] == (-1.0 if reduce == "argmax" else 0.0))


@pytest.mark.parametrize("reduce", swagfast.REDUCTIONS)
def test_single_segment_unbatched(backend, reduce, rng):
    values = rng.normal(size=(12, 10)).astype(np.float32)
    labels = np.zeros((12, 10), np.int32)
    res = check_against_reference(values, labels, reduce, backend)
    assert to_numpy(res.segment_values).shape == (1,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_takes_the_first_of_tied_maxima_and_the_first_nan(backend, dtype):
    values = np.array([[[3, 1, 3, 2, 7, 7]], [[1, np.nan, 5, np.nan, 2, 2]]], dtype)  # (B, 1, 6)
    labels = np.array([[[0, 0, 0, 1, 1, 1]], [[0, 0, 0, 1, 1, 2]]], np.int32)
    res = check_against_reference(values, labels, "argmax", backend, n_segments=4)
    np.testing.assert_array_equal(to_numpy(res.segment_values), [[0, 4, -1, -1], [1, 3, 5, -1]])


def test_argmax_refuses_float32_items_too_large_for_exact_indices():
    values = torch.zeros(2**24 + 1)[None]
    with pytest.raises(
        ValueError, match=r"argmax' on float32 values .* 2\*\*24 pixels per item, got 16777217"
    ):
        swagfast.segment_pool(values, torch.zeros_like(values, dtype=torch.int32), "argmax", spatial_dims=2)


def test_unbatched_clip_with_spatial_dims(backend, rng):
    values, labels = random_case(rng, (4, 6, 5), 7)
    res = swagfast.segment_pool(
        to_backend(values, backend), to_backend(labels, backend), spatial_dims=3, backend=backend
    )
    ref = segment_pool_reference(values[None], labels[None], "mean", 7)[0]
    np.testing.assert_allclose(to_numpy(res.segment_values), ref, rtol=RTOL)
    # without spatial_dims the same array is a batch of 4 images: different numbers
    per_frame = swagfast.segment_pool(
        to_backend(values, backend), to_backend(labels, backend), backend=backend
    )
    assert to_numpy(per_frame.segment_values).shape == (4, 7)


def test_scatter_false_and_types(backend, rng):
    values, labels = random_case(rng, (2, 8, 8), 5)
    res = swagfast.segment_pool(
        to_backend(values, backend), to_backend(labels, backend), "max", scatter=False, backend=backend
    )
    assert res.pixel_values is None
    assert isinstance(res.segment_values, np.ndarray if backend != "cuda" else torch.Tensor)


def test_nan_propagates_to_its_segment_only(backend):
    values = np.array([[[1.0, np.nan, 3.0, 4.0]]], np.float32)
    labels = np.array([[[0, 0, 1, 1]]], np.int32)
    for reduce in swagfast.REDUCTIONS:
        seg = to_numpy(
            swagfast.segment_pool(
                to_backend(values, backend), to_backend(labels, backend), reduce, backend=backend
            ).segment_values
        )
        if reduce == "argmax":  # a position: the NaN's
            assert seg.tolist() == [[1, 3]]
            continue
        assert np.isnan(seg[0, 0]), reduce
        assert np.isfinite(seg[0, 1]), reduce
    # NaN as the first and as a later member, for min and max
    values = np.array([[[np.nan, 1.0, 2.0, np.nan]]], np.float32)
    labels = np.array([[[0, 0, 1, 1]]], np.int32)
    for reduce in ("min", "max"):
        seg = to_numpy(
            swagfast.segment_pool(
                to_backend(values, backend), to_backend(labels, backend), reduce, backend=backend
            ).segment_values
        )
        assert np.isnan(seg).all(), reduce


def test_torch_input_gives_torch_output_on_cpu():
    v = torch.arange(6, dtype=torch.float32).reshape(1, 2, 3).requires_grad_(True)
    lab = torch.tensor([[[0, 0, 1], [1, 2, 2]]], dtype=torch.int64)
    res = swagfast.segment_pool(v, lab, "sum")
    assert isinstance(res.segment_values, torch.Tensor)
    torch.testing.assert_close(res.segment_values, torch.tensor([[1.0, 5.0, 9.0]]))
    torch.testing.assert_close(res.pixel_values, torch.tensor([[[1.0, 1.0, 5.0], [5.0, 9.0, 9.0]]]))


def test_float16_is_computed_in_float32():
    v = np.array([[[1.0, 2.0, 4.0]]], np.float16)
    res = swagfast.segment_pool(v, np.zeros((1, 1, 3), np.int32))
    assert res.segment_values.dtype == np.float32
    np.testing.assert_allclose(res.segment_values, [[7.0 / 3.0]], rtol=1e-6)


def test_empty_batch(backend):
    values = np.zeros((0, 4, 4), np.float32)
    res = swagfast.segment_pool(
        to_backend(values, backend),
        to_backend(values.astype(np.int32), backend),
        n_segments=3,
        backend=backend,
    )
    assert to_numpy(res.segment_values).shape == (0, 3)


# ---- bad input -------------------------------------------------------------------------------


def test_negative_label_is_an_error(backend):
    labels = np.array([[0, -2, 1, 1]], np.int32)
    with pytest.raises(ValueError, match=r"labels must be >= 0, got a label of -2"):
        swagfast.segment_pool(
            to_backend(np.ones((1, 1, 4), np.float32), backend),
            to_backend(labels[None], backend),
            backend=backend,
        )
    with pytest.raises(ValueError, match=r"labels must be >= 0"):
        swagfast.segment_pool(
            to_backend(np.ones((1, 1, 4), np.float32), backend),
            to_backend(labels[None], backend),
            n_segments=4,
            backend=backend,
        )


def test_label_beyond_n_segments_is_an_error(backend):
    labels = np.array([[[0, 5, 1, 1]]], np.int32)
    with pytest.raises(ValueError, match=r"labels must be < n_segments=3, got a label of 5"):
        swagfast.segment_pool(
            to_backend(np.ones((1, 1, 4), np.float32), backend),
            to_backend(labels, backend),
            n_segments=3,
            backend=backend,
        )


def test_bad_arguments():
    v = np.ones((2, 4, 4), np.float32)
    lab = np.zeros((2, 4, 4), np.int32)
    with pytest.raises(
        ValueError, match=r"labels must have the shape of values \(2, 4, 4\), got \(2, 4, 5\)"
    ):
        swagfast.segment_pool(v, np.zeros((2, 4, 5), np.int32))
    with pytest.raises(ValueError, match="reduce must be one of"):
        swagfast.segment_pool(v, lab, "median")
    with pytest.raises(TypeError, match="values must be a floating-point array"):
        swagfast.segment_pool(v.astype(np.int64), lab)
    with pytest.raises(TypeError, match="labels must be an integer array"):
        swagfast.segment_pool(v, lab.astype(np.float32))
    with pytest.raises(TypeError, match="values must be a numpy.ndarray or torch.Tensor, got list"):
        swagfast.segment_pool([[1.0]], lab)
    with pytest.raises(ValueError, match="values must have shape"):
        swagfast.segment_pool(np.ones(5, np.float32), np.zeros(5, np.int32))
    for n in (0, 10**12):
        with pytest.raises(
            ValueError, match=rf"n_segments must be in \[1, 2\*\*31\] \(labels are int32\), got {n}"
        ):
            swagfast.segment_pool(v, lab, n_segments=n)
    wrapping = lab.astype(np.int64) - 2**32  # the cast to int32 would make these 0
    for be in ("cpu", "numba"):
        with pytest.raises(ValueError, match=f"labels must be >= 0, got a label of {-(2**32)}"):
            swagfast.segment_pool(v, wrapping, backend=be)
        with pytest.raises(ValueError, match=f"labels must fit in int32, got a label of {2**32}"):
            swagfast.segment_pool(v, wrapping + 2**33, backend=be)
    with pytest.raises(TypeError, match="n_segments must be an int"):
        swagfast.segment_pool(v, lab, n_segments=2.0)
    with pytest.raises(ValueError, match="at least one pixel"):
        swagfast.segment_pool(np.ones((2, 0, 4), np.float32), np.zeros((2, 0, 4), np.int32))
    with pytest.raises(ValueError, match="spatial_dims must be 2, 3 or None"):
        swagfast.segment_pool(v, lab, spatial_dims=1)
    with pytest.raises(TypeError, match="spatial_dims must be 2, 3 or None, got str"):
        swagfast.segment_pool(v, lab, spatial_dims="2")
    with pytest.raises(TypeError, match="scatter must be a bool, got str"):
        swagfast.segment_pool(v, lab, scatter="no")
    with pytest.raises(ValueError, match="backend must be one of"):
        swagfast.segment_pool(v, lab, backend="gpu")


def test_unavailable_backend_says_how_to_get_it():
    status = swagfast.backends()["cuda"]
    if status.available:
        pytest.skip("CUDA is available here, so it cannot be refused")
    with pytest.raises(
        swagfast.BackendUnavailableError, match="backend 'cuda' is not available: swagfast._C_cuda"
    ):
        swagfast.segment_pool(np.ones((1, 2, 2), np.float32), np.zeros((1, 2, 2), np.int32), backend="cuda")


@pytest.mark.cuda
def test_host_backend_refuses_cuda_tensors():
    v = torch.ones((1, 2, 2), device="cuda")
    with pytest.raises(ValueError, match="backend='cpu' runs on the host but values is on cuda"):
        swagfast.segment_pool(v, torch.zeros((1, 2, 2), dtype=torch.int32, device="cuda"), backend="cpu")


@pytest.mark.cuda
def test_cuda_result_stays_on_device_and_uses_current_stream(rng):
    values, labels = random_case(rng, (4, 32, 32), 50)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        res = swagfast.segment_pool(
            torch.from_numpy(values).cuda(), torch.from_numpy(labels).cuda(), "var", n_segments=50
        )
    stream.synchronize()
    assert res.segment_values.device.type == "cuda"
    np.testing.assert_allclose(
        res.segment_values.cpu().numpy(),
        segment_pool_reference(values, labels, "var", 50),
        rtol=RTOL,
        atol=1e-6,
    )
