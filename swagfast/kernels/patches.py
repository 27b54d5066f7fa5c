"""Numba accumulate_patches: same gather as ``csrc/include/swagfast/patches.h``."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def _accumulate(maps, offsets, J, C):
    B, P, t, h, w = maps.shape
    _, T, H, W = J.shape
    for r in numba.prange(B * T * H):
        b = r // (T * H)
        z = (r // H) % T
        y = r % H
        for x in range(W):
            s = maps.dtype.type(0)
            c = maps.dtype.type(0)
            for p in range(P):
                dz = z - offsets[p, 0]
                dy = y - offsets[p, 1]
                dx = x - offsets[p, 2]
                if dz < 0 or dz >= t or dy < 0 or dy >= h or dx < 0 or dx >= w:
                    continue
                s += maps[b, p, dz, dy, dx]
                c += 1
            J[b, z, y, x] = s
            C[b, z, y, x] = c


def accumulate_patches(maps: np.ndarray, offsets: np.ndarray, J: np.ndarray, C: np.ndarray) -> None:
    """Same contract as ``swagfast._C.accumulate_patches``."""
    _accumulate(maps, offsets, J, C)
