"""accumulate_patches on every backend against a torch.nn.functional.fold reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import swagfast
from swagfast.testing import to_backend, to_numpy


def fold_reference(maps: torch.Tensor, d: int):
    """Patches on a (d+1) x (d+1) grid at stride 1 cell, summed with F.fold."""
    B, P, h, w = maps.shape
    cols = maps.permute(0, 2, 3, 1).reshape(B, h * w, P)
    out = (h + d, w + d)
    J = F.fold(cols, out, kernel_size=(h, w), stride=1)[:, 0]
    C = F.fold(torch.ones_like(cols), out, kernel_size=(h, w), stride=1)[:, 0]
    return J, C


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_fold(backend, dtype, rng):
    d, h, w = 7, 7, 7
    maps = rng.random((2, (d + 1) ** 2, h, w)).astype(dtype)
    offsets = np.array([(i, j) for i in range(d + 1) for j in range(d + 1)], np.int64)
    J, C = swagfast.accumulate_patches(
        to_backend(maps, backend), to_backend(offsets, backend), (h + d, w + d), backend=backend
    )
    Jr, Cr = fold_reference(torch.from_numpy(maps), d)
    np.testing.assert_allclose(to_numpy(J), Jr.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(to_numpy(C), Cr.numpy())
    assert to_numpy(J).dtype == dtype


def test_3d_and_non_square(backend, rng):
    maps = rng.random((1, 6, 2, 3, 4)).astype(np.float32)
    offsets = np.array([(0, i, j) for i in range(2) for j in range(3)], np.int64)
    J, C = swagfast.accumulate_patches(
        to_backend(maps, backend), to_backend(offsets, backend), (2, 4, 6), backend=backend
    )
    J, C = to_numpy(J), to_numpy(C)
    expect_J = np.zeros((1, 2, 4, 6), np.float32)
    expect_C = np.zeros((1, 2, 4, 6), np.float32)
    for p, (z, y, x) in enumerate(offsets):
        expect_J[0, z : z + 2, y : y + 3, x : x + 4] += maps[0, p]
        expect_C[0, z : z + 2, y : y + 3, x : x + 4] += 1
    np.testing.assert_allclose(J, expect_J, rtol=1e-6)
    np.testing.assert_array_equal(C, expect_C)


def test_cpu_and_numba_sum_in_the_same_order(rng):
    maps = rng.normal(size=(3, 64, 7, 7)).astype(np.float32)
    offsets = np.array([(i, j) for i in range(8) for j in range(8)], np.int64)
    a = swagfast.accumulate_patches(maps, offsets, (14, 14), backend="cpu")[0]
    b = swagfast.accumulate_patches(maps, offsets, (14, 14), backend="numba")[0]
    np.testing.assert_array_equal(a, b)


def test_bad_input():
    maps = np.zeros((1, 4, 3, 3), np.float32)
    off = np.zeros((4, 2), np.int64)
    with pytest.raises(ValueError, match=r"offsets must have shape \(4, 2\)"):
        swagfast.accumulate_patches(maps, np.zeros((3, 2), np.int64), (5, 5))
    with pytest.raises(ValueError, match=r"inside out_shape \(2, 2\): patch 0 is at offset"):
        swagfast.accumulate_patches(maps, off, (2, 2))
    with pytest.raises(ValueError, match=r"patch 0 is at offset \(-1, -1\)"):
        swagfast.accumulate_patches(maps, off - 1, (5, 5))
    with pytest.raises(TypeError, match="maps must be float32 or float64"):
        swagfast.accumulate_patches(maps.astype(np.int32), off, (5, 5))
    with pytest.raises(TypeError, match="offsets must be integers"):
        swagfast.accumulate_patches(maps, off.astype(np.float32), (5, 5))
    with pytest.raises(ValueError, match="out_shape must have 2 entries"):
        swagfast.accumulate_patches(maps, off, (5, 5, 5))
