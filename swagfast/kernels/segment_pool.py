"""Numba segment pooling: same contract as ``csrc/cpu/segment_pool_cpu.cpp``."""

from __future__ import annotations

import numba
import numpy as np

# Same order as swagfast::Reduce in csrc/include/swagfast/segment_pool.h.
REDUCE_CODES = {"mean": 0, "sum": 1, "min": 2, "max": 3, "l1": 4, "l2": 5, "var": 6, "std": 7}


@numba.njit(cache=True, nogil=True)
def _pool_one(v, lab, n_seg, code, out, pixel_out, do_map):
    acc = np.zeros((n_seg, 7))  # count, sum, |x|, x^2, min, max, m2
    acc[:, 4] = np.inf
    acc[:, 5] = -np.inf
    for i in range(v.shape[0]):
        s = lab[i]
        if s < 0 or s >= n_seg:
            return i
        x = np.float64(v[i])
        acc[s, 0] += 1.0
        if code == 2:
            if x < acc[s, 4] or x != x:
                acc[s, 4] = x
        elif code == 3:
            if x > acc[s, 5] or x != x:
                acc[s, 5] = x
        elif code == 4:
            acc[s, 2] += abs(x)
        elif code == 5:
            acc[s, 3] += x * x
        else:
            acc[s, 1] += x
    if code == 6 or code == 7:
        for i in range(v.shape[0]):
            s = lab[i]
            d = np.float64(v[i]) - acc[s, 1] / acc[s, 0]
            acc[s, 6] += d * d
    for s in range(n_seg):
        n = acc[s, 0]
        r = 0.0
        if n > 0:
            if code == 0:
                r = acc[s, 1] / n
            elif code == 1:
                r = acc[s, 1]
            elif code == 2:
                r = acc[s, 4]
            elif code == 3:
                r = acc[s, 5]
            elif code == 4:
                r = acc[s, 2]
            elif code == 5:
                r = np.sqrt(acc[s, 3])
            elif code == 6:
                r = acc[s, 6] / n
            else:
                r = np.sqrt(acc[s, 6] / n)
        out[s] = r
    if do_map:
        for i in range(v.shape[0]):
            pixel_out[i] = out[lab[i]]
    return -1


@numba.njit(parallel=True, cache=True)
def _pool_batch(values, labels, n_seg, code, seg_out, pixel_out, do_map):
    B, N = values.shape
    bad = np.full(B, -1, np.int64)
    for b in numba.prange(B):
        row = pixel_out[b] if do_map else pixel_out[0]
        i = _pool_one(values[b], labels[b], n_seg, code, seg_out[b], row, do_map)
        if i >= 0:
            bad[b] = b * N + i
    for b in range(B):
        if bad[b] >= 0:
            return bad[b]
    return -1


def segment_pool(
    values: np.ndarray, labels: np.ndarray, n_seg: int, reduce: str, seg_out: np.ndarray, pixel_out
) -> int:
    """Pool ``values`` [B, N] by ``labels`` [B, N] into ``seg_out`` [B, n_seg] (and ``pixel_out``).

    Returns -1, or the flat index of the first invalid label (negative or >= ``n_seg``).
    """
    do_map = pixel_out is not None
    if not do_map:
        pixel_out = np.empty((1, 0), dtype=values.dtype)
    return int(_pool_batch(values, labels, n_seg, REDUCE_CODES[reduce], seg_out, pixel_out, do_map))
