"""The order-free connectivity rule (``connectivity="parallel"``): every backend against an
independent scipy implementation of the rule, exactly; its segments connected; on cuda, the
device pass against the CPU's on the same labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

import swagfast
from swagfast import kernels
from swagfast.data import center_crop_resize, sample_images
from swagfast.testing import (
    connected_segment_count,
    explained_variation,
    photo_clip,
    to_backend,
    unconnected_labels,
)

PHOTOS = {name: center_crop_resize(sample_images()[name], 224) for name in ("chelsea", "coffee", "rocket")}

HOST_IMPLS = ["cpu", "numba"]
KINDS = ["image", "clip", "noise", "noise3d"]


def host_impl(name: str):
    if name == "cpu":
        from swagfast import _C

        return _C
    return kernels.slic


def oracle(labels: np.ndarray, n_centres: int, min_size_factor: float) -> tuple[np.ndarray, int]:
    """The rule of csrc/include/swagfast/connectivity.h written another way: scipy finds the
    components, which are visited by first voxel in raster order; a small one (not the first)
    takes the segment of the voxel before its first voxel (left, else above, else the frame
    before), which an earlier component already holds."""
    Z, Y, X = labels.shape
    N = labels.size
    min_size = int(min(min_size_factor * N / max(n_centres, 1), N + 1))
    structure = ndimage.generate_binary_structure(3, 1)
    comp = np.zeros(labels.shape, np.int64)
    n = 0
    for v in np.unique(labels):
        part, k = ndimage.label(labels == v, structure=structure)
        comp[part > 0] = part[part > 0] + n
        n += k
    comp = comp.ravel() - 1
    first = np.full(n, N, np.int64)
    np.minimum.at(first, comp, np.arange(N))
    size = np.bincount(comp, minlength=n)
    segment = np.empty(n, np.int64)
    segments = 0
    for c in np.argsort(first):
        r = int(first[c])
        if r > 0 and size[c] < min_size:
            x, y = r % X, (r // X) % Y
            segment[c] = segment[comp[r - 1 if x > 0 else (r - X if y > 0 else r - X * Y)]]
        else:
            segment[c] = segments
            segments += 1
    return segment[comp].reshape(labels.shape).astype(np.int32), segments


@pytest.mark.parametrize("impl", HOST_IMPLS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("factor", [0.0, 0.25, 2.0])
def test_host_backends_follow_the_rule_exactly(impl, kind, factor, rng):
    raw, n_centres = unconnected_labels(kind, rng)
    labels = raw.copy()
    counts = np.zeros(len(raw), np.int32)
    host_impl(impl).relabel_parallel(labels, n_centres, factor, counts)
    for b in range(len(raw)):
        expected, n = oracle(raw[b], n_centres, factor)
        np.testing.assert_array_equal(labels[b], expected)
        assert counts[b] == n
        assert connected_segment_count(labels[b] if labels.shape[1] > 1 else labels[b, 0]) == n


def test_a_component_bigger_than_the_item_merges_everything_into_the_first_segment(rng):
    raw = rng.integers(0, 4, size=(1, 1, 30, 30)).astype(np.int32)
    for impl in HOST_IMPLS:
        labels, counts = raw.copy(), np.zeros(1, np.int32)
        host_impl(impl).relabel_parallel(labels, 1, 1e12, counts)
        assert counts[0] == 1 and np.all(labels == 0)


def test_a_merge_chain_ends_in_the_earliest_large_segment():
    """Each small component takes the segment of the voxel before its first voxel, even when
    that voxel's component is itself small and merged (the chain is followed to its end)."""
    raw = np.array([[[[0, 0, 0, 0, 1, 2, 3, 3, 3, 3]]]], np.int32)  # sizes 4, 1, 1, 4
    labels, counts = raw.copy(), np.zeros(1, np.int32)
    swagfast._C.relabel_parallel(labels, 3, 1.0, counts)  # min_size = int(10 / 3) = 3
    np.testing.assert_array_equal(labels[0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    assert counts[0] == 2


@pytest.mark.parametrize("backend", HOST_IMPLS)
@pytest.mark.parametrize("name", ["chelsea", "coffee", "rocket"])
def test_slic_with_the_parallel_rule_segments_as_well_as_the_raster_rule(backend, name):
    """The rules differ in which neighbour a small component joins: the segments are as many,
    connected, and explain the colour as well (measured on the nine sample photos: explained
    variation within 0.008 either way)."""
    img = PHOTOS[name]
    labels = swagfast.slic(img, 300, connectivity="parallel", backend=backend)
    n = int(labels.max()) + 1
    assert set(np.unique(labels).tolist()) == set(range(n))
    assert connected_segment_count(labels) == n
    raster = swagfast.slic(img, 300, backend=backend)
    assert abs(n - (int(raster.max()) + 1)) <= 0.02 * n
    assert abs(explained_variation(img, labels) - explained_variation(img, raster)) < 0.01


def test_parallel_rule_is_the_same_on_cpu_and_numba_end_to_end():
    clip = photo_clip(8, 64)
    grad = np.abs(np.gradient(clip.mean(axis=3).astype(np.float32), axis=2))
    kw = dict(gradient=grad, mode="I+G", connectivity="parallel")
    cpu = swagfast.supervoxels(clip, 60, backend="cpu", **kw)
    nb = swagfast.supervoxels(clip, 60, backend="numba", **kw)
    assert (cpu == nb).mean() >= 0.995


def test_bad_connectivity_rule_is_named():
    with pytest.raises(ValueError, match="connectivity must be one of 'raster', 'parallel'; got 'bfs'"):
        swagfast.slic(PHOTOS["rocket"], 100, connectivity="bfs")


@pytest.mark.cuda
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_device_pass_equals_the_cpu_one(kind, rng):
    from swagfast import _C, _C_cuda
    from swagfast._backend import cuda_stream

    raw, n_centres = unconnected_labels(kind, rng)
    expected, counts = raw.copy(), np.zeros(len(raw), np.int32)
    _C.relabel_parallel(expected, n_centres, 0.25, counts)
    labels = torch.from_numpy(raw).cuda()
    ws = torch.full((_C_cuda.relabel_workspace(*raw.shape),), -7, dtype=torch.int32, device="cuda")
    got = torch.full((len(raw),), -7, dtype=torch.int32, device="cuda")
    _C_cuda.relabel_parallel(labels, n_centres, 0.25, got, ws, cuda_stream(labels.device))
    np.testing.assert_array_equal(labels.cpu().numpy(), expected)
    np.testing.assert_array_equal(got.cpu().numpy(), counts)


@pytest.mark.cuda
def test_cuda_parallel_rule_agrees_with_cpu_end_to_end():
    clip = photo_clip(8, 64)
    grad = np.abs(np.gradient(clip.mean(axis=3).astype(np.float32), axis=2))
    kw = dict(mode="I+G", connectivity="parallel")
    cpu = swagfast.supervoxels(clip, 60, gradient=grad, backend="cpu", **kw)
    gpu = swagfast.supervoxels(
        to_backend(clip, "cuda"), 60, gradient=to_backend(grad, "cuda"), channel_axis=-1, **kw
    )
    assert gpu.device.type == "cuda" and gpu.dtype == torch.int32
    assert (gpu.cpu().numpy() == cpu).mean() >= 0.995
    timings = {}
    swagfast.supervoxels(
        to_backend(clip, "cuda"), 60, channel_axis=-1, connectivity="parallel", timings=timings
    )
    assert set(timings) == {"features", "clustering", "connectivity"}
