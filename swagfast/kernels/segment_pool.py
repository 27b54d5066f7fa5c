"""Numba segment pooling: same contract as ``csrc/cpu/segment_pool_cpu.cpp``."""

from __future__ import annotations

import numba
import numpy as np

from swagfast._native import ACC_SLOTS, REDUCE_CODES

# the accumulator slots and reduction codes of csrc/include/swagfast/segment_pool.h (compile-time
# constants of the kernels below)
COUNT, SUM, ABS, SQ, MIN, MAX, M2, ARG = (
    ACC_SLOTS[k] for k in ("count", "sum", "abs", "sq", "min", "max", "m2", "arg")
)
WIDTH = len(ACC_SLOTS)
MEAN, TOTAL, LOWEST, HIGHEST, L1, L2, VAR, STD, ARGMAX = (
    REDUCE_CODES[k] for k in ("mean", "sum", "min", "max", "l1", "l2", "var", "std", "argmax")
)


@numba.njit(cache=True, nogil=True)
def _pool_one(v, lab, n_seg, code, out, map_out, do_map):
    acc = np.zeros((n_seg, WIDTH))
    acc[:, MIN] = np.inf
    acc[:, MAX] = -np.inf
    acc[:, ARG] = np.inf
    for i in range(v.shape[0]):
        s = lab[i]
        if s < 0 or s >= n_seg:
            return i
        x = np.float64(v[i])
        acc[s, COUNT] += 1.0
        if code == LOWEST:
            if x < acc[s, MIN] or x != x:
                acc[s, MIN] = x
        elif code == HIGHEST or code == ARGMAX:
            if x > acc[s, MAX] or x != x:
                acc[s, MAX] = x
        elif code == L1:
            acc[s, ABS] += abs(x)
        elif code == L2:
            acc[s, SQ] += x * x
        else:
            acc[s, SUM] += x
    if code == VAR or code == STD:
        for i in range(v.shape[0]):
            s = lab[i]
            d = np.float64(v[i]) - acc[s, SUM] / acc[s, COUNT]
            acc[s, M2] += d * d
    if code == ARGMAX:  # the smallest index holding the maximum (NaN: the first NaN)
        for i in range(v.shape[0]):
            s = lab[i]
            x, m = np.float64(v[i]), acc[s, MAX]
            if (x == m or (x != x and m != m)) and i < acc[s, ARG]:
                acc[s, ARG] = i
    for s in range(n_seg):
        n = acc[s, COUNT]
        r = -1.0 if code == ARGMAX else 0.0
        if n > 0:
            if code == MEAN:
                r = acc[s, SUM] / n
            elif code == TOTAL:
                r = acc[s, SUM]
            elif code == LOWEST:
                r = acc[s, MIN]
            elif code == HIGHEST:
                r = acc[s, MAX]
            elif code == L1:
                r = acc[s, ABS]
            elif code == L2:
                r = np.sqrt(acc[s, SQ])
            elif code == VAR:
                r = acc[s, M2] / n
            elif code == ARGMAX:
                r = acc[s, ARG]
            else:
                r = np.sqrt(acc[s, M2] / n)
        out[s] = r
    if do_map:
        for i in range(v.shape[0]):
            map_out[i] = out[lab[i]]
    return -1


@numba.njit(parallel=True, cache=True)
def _pool_batch(values, labels, n_seg, code, seg_out, map_out, do_map):
    B, N = values.shape
    bad = np.full(B, -1, np.int64)
    for b in numba.prange(B):
        row = map_out[b] if do_map else map_out[0]
        i = _pool_one(values[b], labels[b], n_seg, code, seg_out[b], row, do_map)
        if i >= 0:
            bad[b] = b * N + i
    for b in range(B):
        if bad[b] >= 0:
            return bad[b]
    return -1


def segment_pool(
    values: np.ndarray, labels: np.ndarray, n_seg: int, reduce: str, seg_out: np.ndarray, map_out
) -> int:
    """Pool ``values`` [B, N] by ``labels`` [B, N] into ``seg_out`` [B, n_seg] (and ``map_out``).

    Returns -1, or the flat index of the first invalid label (negative or >= ``n_seg``).
    """
    do_map = map_out is not None
    if not do_map:
        map_out = np.empty((1, 0), dtype=values.dtype)
    return int(_pool_batch(values, labels, n_seg, REDUCE_CODES[reduce], seg_out, map_out, do_map))
