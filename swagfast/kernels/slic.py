"""Numba SLIC: the same formulation as ``csrc/include/swagfast/slic.h`` and ``csrc/cpu/slic_cpu.cpp``."""

from __future__ import annotations

import math

import numba
import numpy as np

_F32 = np.float32


@numba.njit(cache=True, inline="always")
def _srgb_to_linear(c):
    """As swagfast::srgb_to_linear (csrc/include/swagfast/lab.h): t^2.4 with a Newton fifth root."""
    v = np.float64(c)
    t = (v + 0.055) / 1.055
    r = (-0.33609221 * t + 0.73817885) * t + 0.585563
    for _ in range(4):
        r2 = r * r
        r = (4.0 * r + t / (r2 * r2)) / 5.0
    return np.float32((t * t) * (r * r) if v > 0.04045 else v / 12.92)


@numba.njit(cache=True, inline="always")
def _cbrt_halley(t):
    y = np.sqrt(np.sqrt(t))
    for _ in range(3):
        y3 = y * y * y
        y = y * (y3 + _F32(2.0) * t) / (_F32(2.0) * y3 + t)
    return y


@numba.njit(cache=True, inline="always")
def _lab_f(t):
    if t > _F32(0.008856):
        return _cbrt_halley(t)
    return _F32(7.787) * t + _F32(16.0) / _F32(116.0)


@numba.njit(cache=True, inline="always")
def _linear_to_lab(r, g, b, out, i):
    """float32 throughout, in the order of swagfast::linear_rgb_to_lab (csrc/include/swagfast/lab.h)."""
    x = (_F32(0.412453) * r + _F32(0.357580) * g + _F32(0.180423) * b) / _F32(0.95047)
    y = _F32(0.212671) * r + _F32(0.715160) * g + _F32(0.072169) * b
    z = (_F32(0.019334) * r + _F32(0.119193) * g + _F32(0.950227) * b) / _F32(1.08883)
    fx, fy, fz = _lab_f(x), _lab_f(y), _lab_f(z)
    out[i, 0] = _F32(116.0) * fy - _F32(16.0)
    out[i, 1] = _F32(500.0) * (fx - fy)
    out[i, 2] = _F32(200.0) * (fy - fz)


@numba.njit(parallel=True, cache=True)
def _rgb_to_lab_float(rgb, out):
    for i in numba.prange(rgb.shape[0]):
        _linear_to_lab(
            _srgb_to_linear(rgb[i, 0]), _srgb_to_linear(rgb[i, 1]), _srgb_to_linear(rgb[i, 2]), out, i
        )


@numba.njit(cache=True)
def _u8_table():
    t = np.empty(256, np.float32)
    for v in range(256):
        t[v] = _srgb_to_linear(np.float32(v) / np.float32(255.0))
    return t


@numba.njit(parallel=True, cache=True)
def _rgb_to_lab_u8(rgb, out, table):
    for i in numba.prange(rgb.shape[0]):
        _linear_to_lab(table[rgb[i, 0]], table[rgb[i, 1]], table[rgb[i, 2]], out, i)


def rgb_to_lab(rgb, out) -> None:
    """rgb (n, 3) float32 in [0, 1] or uint8 -> Lab into out[:, :3] (out is (n, C), C >= 3)."""
    if rgb.dtype == np.uint8:
        _rgb_to_lab_u8(rgb, out, _u8_table())
    else:
        _rgb_to_lab_float(rgb, out)


@numba.njit(cache=True)
def rescale_gradient(gradient, out):
    """Same contract as ``swagfast._C.rescale_gradient``: gradient (B, n) -> each item min-max
    rescaled to [0, 100] into out[:, :, -1] (out is (B, n, C)) as (g - lo) * (1 / span * 100) in
    float32, which is torch's (g - lo) * (100.0 / span); False, nothing written, if not finite."""
    B, n = gradient.shape
    lo = np.empty(B, np.float32)
    hi = np.empty(B, np.float32)
    for b in range(B):
        mn, mx = np.float32(np.inf), np.float32(-np.inf)
        for i in range(n):
            v = gradient[b, i]
            if not np.isfinite(v):
                return False
            mn = min(mn, v)
            mx = max(mx, v)
        lo[b], hi[b] = mn, mx
    c = out.shape[2] - 1
    for b in range(B):
        span = hi[b] - lo[b]
        scale = np.float32(1.0) / span * np.float32(100.0) if span > 0 else np.float32(0.0)
        for i in range(n):
            out[b, i, c] = (gradient[b, i] - lo[b]) * scale
    return True


_cbrt = getattr(math, "cbrt", lambda v: float(np.cbrt(v)))  # math.cbrt: Python 3.11+


def make_grid(Z: int, Y: int, X: int, K: int, spacing: tuple[float, float, float]):
    """(gz, gy, gx, S) exactly as swagfast::make_grid."""
    sz, sy, sx = spacing
    vol = Z > 1
    volume = (Z * sz if vol else 1.0) * Y * sy * X * sx
    # math.cbrt is the C library's cbrt, as in the C++ (np.cbrt can differ in the last bit, which
    # moves the 2S windows' edges)
    S = _cbrt(volume / K) if vol else math.sqrt(volume / K)

    def cells(n, s):  # at least one, at most one per voxel (clamped before the cast)
        return int(min(max(math.floor(n * s / S + 0.5), 1.0), n))

    return (cells(Z, sz) if vol else 1), cells(Y, sy), cells(X, sx), float(S)


@numba.njit(cache=True, inline="always")
def _cell_of(p, extent, cells):
    c = p * cells // extent
    return c if c < cells else cells - 1


@numba.njit(cache=True, inline="always")
def _cell_start(j, extent, cells):
    return (j * extent + cells - 1) // cells


@numba.njit(cache=True, inline="always")
def _clamp(v, n):
    return 0 if v < 0 else (n - 1 if v >= n else v)


@numba.njit(cache=True)
def _feature_gradient(feat, w, z, y, x):
    Z, Y, X, F = feat.shape
    total = 0.0
    for f in range(F):
        dx = np.float64(feat[z, y, _clamp(x + 1, X), f]) - np.float64(feat[z, y, _clamp(x - 1, X), f])
        dy = np.float64(feat[z, _clamp(y + 1, Y), x, f]) - np.float64(feat[z, _clamp(y - 1, Y), x, f])
        dz = 0.0
        if Z > 1:
            dz = np.float64(feat[_clamp(z + 1, Z), y, x, f]) - np.float64(feat[_clamp(z - 1, Z), y, x, f])
        total += w[f] * (dx * dx + dy * dy + dz * dz)
    return total


@numba.njit(cache=True, inline="always")
def _axis_window(cell, extent, cells, s, c, S):
    """[a, b): cell `cell` and its neighbours along an axis, narrowed to |s (p - c)| <= S."""
    a = _cell_start(max(cell - 1, 0), extent, cells)
    b = _cell_start(min(cell + 2, cells), extent, cells)
    while a < b and abs(s * (a - c)) > S:
        a += 1
    while b > a and abs(s * (b - 1 - c)) > S:
        b -= 1
    return a, b


# One row against centre k: D^2 = (spatial) + w_0 diff_0^2 + w_1 diff_1^2 + ..., in that order
# and in float32 as csrc/cpu/slic_cpu.cpp, fused into one loop that vectorises. Two and three
# features go through the four-feature loop with zero planes of weight 0, which add exactly 0.
# `row` is (x0, cx, pzy, sx, inv_S2, k): the row's first x, the centre's x, the (z, y) part of
# the spatial term, the x spacing, 1 / S^2 and the centre's index.
@numba.njit(cache=True, inline="always")
def _spatial(row, i):
    x0, cxf, pzy, sxf, inv_S2f, _ = row
    px = sxf * (np.float32(x0 + i) - cxf)
    return (pzy + px * px) * inv_S2f


@numba.njit(cache=True, inline="always")
def _keep_min(drz, lrz, i, d, k):
    """The lexicographic minimum of (distance, centre) at voxel i."""
    old, old_k = drz[i], lrz[i]
    better = (d < old) | ((d == old) & (k < old_k))
    drz[i] = d if better else old
    lrz[i] = k if better else old_k


@numba.njit(cache=True, inline="always")
def _scan_row4(feats, c, w, drz, lrz, row):
    r0, r1, r2, r3 = feats[0], feats[1], feats[2], feats[3]
    c0, c1, c2, c3 = c[0], c[1], c[2], c[3]
    w0, w1, w2, w3 = w[0], w[1], w[2], w[3]
    for i in range(drz.size):
        d = _spatial(row, i)
        diff = r0[i] - c0
        d += w0 * diff * diff
        diff = r1[i] - c1
        d += w1 * diff * diff
        diff = r2[i] - c2
        d += w2 * diff * diff
        diff = r3[i] - c3
        d += w3 * diff * diff
        _keep_min(drz, lrz, i, d, row[5])


@numba.njit(cache=True, inline="always")
def _scan_row1(r0, c, w, drz, lrz, row):
    c0, w0 = c[0], w[0]
    for i in range(drz.size):
        d = _spatial(row, i)
        diff = r0[i] - c0
        d += w0 * diff * diff
        _keep_min(drz, lrz, i, d, row[5])


@numba.njit(cache=True)
def _seed_centres(feat, w, grid):
    """(K, F + 3) centres: features then (z, y, x) of each grid cell's centre voxel, moved to the
    lowest feature gradient in its 3x3(x3) neighbourhood."""
    Z, Y, X, F = feat.shape
    gz, gy, gx, _ = grid
    K = gz * gy * gx
    centres = np.empty((K, F + 3))
    rz = 1 if Z > 1 else 0
    for k in range(K):
        ix = k % gx
        iy = (k // gx) % gy
        iz = k // (gx * gy)
        z0 = (2 * iz + 1) * Z // (2 * gz)
        y0 = (2 * iy + 1) * Y // (2 * gy)
        x0 = (2 * ix + 1) * X // (2 * gx)
        bz, by, bx = z0, y0, x0
        best = _feature_gradient(feat, w, z0, y0, x0)
        for dz in range(-rz, rz + 1):
            for dy in range(-1, 2):
                for dx in range(-1, 2):
                    z, y, x = z0 + dz, y0 + dy, x0 + dx
                    if z < 0 or z >= Z or y < 0 or y >= Y or x < 0 or x >= X:
                        continue
                    grad = _feature_gradient(feat, w, z, y, x)
                    if grad < best:
                        best, bz, by, bx = grad, z, y, x
        for f in range(F):
            centres[k, f] = feat[bz, by, bx, f]
        centres[k, F] = bz
        centres[k, F + 1] = by
        centres[k, F + 2] = bx
    return centres


@numba.njit(cache=True)
def _windows(centres, shape, grid, spacing, win, cpos):
    """Per centre: its 2S window [z0, z1), [y0, y1), [x0, x1) into win (K, 6), and its
    position as float32 (F features zero-padded to 4, then z, y, x) into cpos (K, 7)."""
    Z, Y, X = shape
    gz, gy, gx, S = grid
    sz, sy, sx = spacing
    F = centres.shape[1] - 3
    for k in range(centres.shape[0]):
        ix = k % gx
        iy = (k // gx) % gy
        iz = k // (gx * gy)
        win[k, 0], win[k, 1] = _axis_window(iz, Z, gz, sz, centres[k, F], S)
        win[k, 2], win[k, 3] = _axis_window(iy, Y, gy, sy, centres[k, F + 1], S)
        win[k, 4], win[k, 5] = _axis_window(ix, X, gx, sx, centres[k, F + 2], S)
        for f in range(F):
            cpos[k, f] = np.float32(centres[k, f])
        for c in range(3):
            cpos[k, 4 + c] = np.float32(centres[k, F + c])


@numba.njit(cache=True)
def _assign(planes, cpos, win, w4, grid, scale, dist, labels):
    """One assignment round. Row blocks as csrc/cpu/slic_cpu.cpp: the same (voxel, centre) pairs
    and float32 expression, the winner the minimum of (distance, k) whatever order centres come
    in. planes: (1 or 4, Z, Y, X) features; w4 the float32 weights zero-padded to 4; scale the
    float32 (sz, sy, sx, 1 / S^2)."""
    _, Z, Y, X = planes.shape
    gz, gy, gx, _ = grid
    szf, syf, sxf, inv_S2f = scale
    for z in range(Z):
        cz = _cell_of(z, Z, gz)
        for yb in range(0, Y, 8):
            ye = min(yb + 8, Y)
            dist[z, yb:ye] = np.inf
            iy_lo = max(_cell_of(yb, Y, gy) - 1, 0)
            iy_hi = min(_cell_of(ye - 1, Y, gy) + 1, gy - 1)
            for iz in range(max(cz - 1, 0), min(cz + 1, gz - 1) + 1):
                for iy in range(iy_lo, iy_hi + 1):
                    for ix in range(gx):
                        k = (iz * gy + iy) * gx + ix
                        if z < win[k, 0] or z >= win[k, 1]:
                            continue
                        x0, x1 = win[k, 4], win[k, 5]
                        pz = szf * (np.float32(z) - cpos[k, 4])
                        cxf = cpos[k, 6]
                        for y in range(max(yb, win[k, 2]), min(ye, win[k, 3])):
                            py = syf * (np.float32(y) - cpos[k, 5])
                            drz, lrz = dist[z, y, x0:x1], labels[z, y, x0:x1]
                            feats = planes[:, z, y, x0:x1]
                            row = (x0, cxf, pz * pz + py * py, sxf, inv_S2f, k)
                            if planes.shape[0] == 1:
                                _scan_row1(feats[0], cpos[k], w4, drz, lrz, row)
                            else:
                                _scan_row4(feats, cpos[k], w4, drz, lrz, row)


@numba.njit(cache=True)
def _update(feat, labels, tables, centres):
    """Centres moved to the mean of their voxels. Voxel by voxel into eight tables by x mod 8,
    added in order (T0 + T1) + ... + T7: the order of csrc/cpu/slic_cpu.cpp, so both round
    alike."""
    Z, Y, X, F = feat.shape
    K = centres.shape[0]
    sums = np.zeros((K, F + 4))
    tables[:] = 0.0
    for z in range(Z):
        for y in range(Y):
            for x in range(X):
                t = tables[x & 7, labels[z, y, x]]
                for f in range(F):
                    t[f] += feat[z, y, x, f]
                t[4] += z
                t[5] += y
                t[6] += x
                t[7] += 1.0
    for k in range(K):
        for c in range(8):
            if F <= c < 4:
                continue
            v = tables[0, k, c]
            for t in range(1, 8):
                v += tables[t, k, c]
            sums[k, c if c < 4 else F + c - 4] = v
    for k in range(K):
        n = sums[k, F + 3]
        if n > 0:
            for c in range(F + 3):
                centres[k, c] = sums[k, c] / n


@numba.njit(cache=True)
def _slic_one(feat, w, grid, spacing, max_iter, labels):
    Z, Y, X, F = feat.shape
    gz, gy, gx, S = grid
    centres = _seed_centres(feat, w, grid)
    K = centres.shape[0]
    for z in range(Z):
        for y in range(Y):
            for x in range(X):
                labels[z, y, x] = (_cell_of(z, Z, gz) * gy + _cell_of(y, Y, gy)) * gx + _cell_of(x, X, gx)
    sz, sy, sx = spacing
    scale = (np.float32(sz), np.float32(sy), np.float32(sx), np.float32(1.0 / (S * S)))
    tables = np.zeros((8, K, 8))
    dist = np.empty((Z, Y, X), np.float32)
    win = np.empty((K, 6), np.int64)
    cpos = np.zeros((K, 7), np.float32)
    # features as planes (four but for mode G, the unused ones zero): the row loops vectorise
    planes = np.zeros((1 if F == 1 else 4, Z, Y, X), np.float32)
    for f in range(F):
        planes[f] = feat[:, :, :, f]
    w4 = np.zeros(4, np.float32)
    w4[:F] = w.astype(np.float32)
    for _ in range(max_iter):
        _windows(centres, (Z, Y, X), grid, spacing, win, cpos)
        _assign(planes, cpos, win, w4, grid, scale, dist, labels)
        _update(feat, labels, tables, centres)


@numba.njit(parallel=True, cache=True)
def _slic_batch(feat, w, grid, spacing, max_iter, labels):
    for b in numba.prange(feat.shape[0]):
        _slic_one(feat[b], w, grid, spacing, max_iter, labels[b])


def slic_iterate(features, weights, n_segments, spacing, max_iter, labels) -> int:
    """Same contract as ``swagfast._C.slic_iterate``: returns the grid centres per item."""
    _, Z, Y, X, _ = features.shape
    gz, gy, gx, S = make_grid(Z, Y, X, n_segments, spacing)
    w = np.asarray(weights, dtype=np.float64)
    grid = (int(gz), int(gy), int(gx), float(S))
    spacing3 = (float(spacing[0]), float(spacing[1]), float(spacing[2]))
    _slic_batch(features, w, grid, spacing3, max_iter, labels)
    return gz * gy * gx


@numba.njit(cache=True, inline="always")
def _neighbour(i, n, offs, Z, Y, X):
    """Flat index of neighbour n (of offs) of voxel i, or -1 outside the volume."""
    x = i % X
    y = (i // X) % Y
    z = i // (X * Y)
    zz, yy, xx = z + offs[n, 0], y + offs[n, 1], x + offs[n, 2]
    if zz < 0 or zz >= Z or yy < 0 or yy >= Y or xx < 0 or xx >= X:
        return -1
    return (zz * Y + yy) * X + xx


@numba.njit(cache=True, inline="always")
def _renumber(labels, dst, n):
    """dst[i] = labels[i] renumbered 0, 1, ... in order of first appearance (labels < n); returns
    the count. dst may be labels."""
    mapping = np.full(n, -1, np.int32)
    k = 0
    for i in range(labels.size):
        if mapping[labels[i]] < 0:
            mapping[labels[i]] = k
            k += 1
        dst[i] = mapping[labels[i]]
    return k


@numba.njit(cache=True)
def _relabel_one(labels, min_size, max_size, connect):
    Z, Y, X = labels.shape
    flat = labels.reshape(-1)
    N = flat.size
    out = np.full(N, -1, np.int32)
    nxt = 0
    if not connect:
        return _renumber(flat, flat, flat.max() + 1)
    # the queue holds (index, z, y, x), so no division per visited voxel (as the C++ kernel)
    queue = np.empty((min(N, max_size) + 1, 4), np.int64)
    offs = np.array([[0, 0, -1], [0, 0, 1], [0, -1, 0], [0, 1, 0], [-1, 0, 0], [1, 0, 0]])
    n_nb = 6 if Z > 1 else 4
    first_size = 0
    XY = X * Y
    for start in range(N):
        if out[start] >= 0:
            continue
        label = flat[start]
        adjacent = -1
        size = 1
        head = 0
        queue[0, 0] = start
        queue[0, 1] = start // XY
        queue[0, 2] = (start // X) % Y
        queue[0, 3] = start % X
        out[start] = nxt
        # neighbours in the order x-1, x+1, y-1, y+1, z-1, z+1: `adjacent` is the last
        # differently labelled one seen, so the order is part of the result
        while head < size and size < max_size:
            i, z, y, x = queue[head, 0], queue[head, 1], queue[head, 2], queue[head, 3]
            head += 1
            for n in range(n_nb):
                zz, yy, xx = z + offs[n, 0], y + offs[n, 1], x + offs[n, 2]
                if zz < 0 or zz >= Z or yy < 0 or yy >= Y or xx < 0 or xx >= X:
                    continue
                j = i + (offs[n, 0] * Y + offs[n, 1]) * X + offs[n, 2]
                o = out[j]
                if o < 0 and flat[j] == label:
                    out[j] = nxt
                    queue[size, 0] = j
                    queue[size, 1] = zz
                    queue[size, 2] = yy
                    queue[size, 3] = xx
                    size += 1
                    if size >= max_size:
                        break
                elif o >= 0 and o != nxt:
                    adjacent = o
        if size < min_size and adjacent >= 0:
            for q in range(size):
                out[queue[q, 0]] = adjacent
        else:
            if nxt == 0:
                first_size = size
            nxt += 1
    if first_size < min_size and nxt > 1:
        adjacent = -1
        for i in range(N):
            if adjacent >= 0:
                break
            if out[i] != 0:
                continue
            for n in range(n_nb):
                j = _neighbour(i, n, offs, Z, Y, X)
                if j < 0:
                    continue
                o = out[j]
                if o != 0:
                    adjacent = o
                    break
        if adjacent > 0:
            for i in range(N):
                out[i] = adjacent - 1 if out[i] == 0 else out[i] - 1
            nxt -= 1
    return _renumber(out, flat, nxt)


@numba.njit(parallel=True, cache=True)
def _relabel_batch(labels, min_size, max_size, connect, counts):
    for b in numba.prange(labels.shape[0]):
        counts[b] = _relabel_one(labels[b], min_size, max_size, connect)


def _min_size(n_voxels: int, n_centres: int, min_size_factor: float) -> int:
    """Components under this many voxels merge (as ``connectivity::min_size`` in C++)."""
    return int(min(min_size_factor * (n_voxels / max(n_centres, 1)), n_voxels + 1))


def relabel(labels, n_centres, min_size_factor, max_size_factor, connect, counts) -> None:
    """Same contract as ``swagfast._C.relabel``."""
    _, Z, Y, X = labels.shape
    segment_size = Z * Y * X / max(n_centres, 1)
    max_size = max(int(max_size_factor * segment_size), 1)
    _relabel_batch(labels, _min_size(Z * Y * X, n_centres, min_size_factor), max_size, connect, counts)


# The order-free rule of csrc/include/swagfast/connectivity.h, step by step as the C++ loops.


@numba.njit(cache=True, inline="always")
def _find(parent, i):
    while parent[i] != i:
        i = parent[i]
    return i


@numba.njit(cache=True, inline="always")
def _unite(parent, a, b):
    while True:
        a, b = _find(parent, a), _find(parent, b)
        if a == b:
            return
        if a < b:
            a, b = b, a
        old = parent[a]
        parent[a] = min(old, b)
        if old == a:
            return
        a = old


@numba.njit(cache=True)
def _relabel_parallel_one(labels, min_size):
    Z, Y, X = labels.shape
    flat = labels.reshape(-1)
    N = flat.size
    parent = np.arange(N, dtype=np.int32)
    for i in range(N):
        x, y, z = i % X, (i // X) % Y, i // (X * Y)
        lab = flat[i]
        if x > 0 and flat[i - 1] == lab:
            _unite(parent, i, i - 1)
        if y > 0 and flat[i - X] == lab:
            _unite(parent, i, i - X)
        if z > 0 and flat[i - X * Y] == lab:
            _unite(parent, i, i - X * Y)
    for i in range(N):
        parent[i] = _find(parent, i)
    size = np.zeros(N, np.int32)
    for i in range(N):
        size[parent[i]] += 1
    target = np.empty(N, np.int32)
    for r in range(N):
        if parent[r] != r:
            continue
        target[r] = r
        if r > 0 and size[r] < min_size:
            x, y = r % X, (r // X) % Y
            target[r] = parent[r - 1 if x > 0 else (r - X if y > 0 else r - X * Y)]
    rank = np.full(N, -1, np.int32)
    segments = 0
    for r in range(N):
        if parent[r] == r and target[r] == r:
            rank[r] = segments
            segments += 1
    for i in range(N):
        r = parent[i]
        while target[r] != r:
            r = target[r]
        flat[i] = rank[r]
    return segments


@numba.njit(parallel=True, cache=True)
def _relabel_parallel_batch(labels, min_size, counts):
    for b in numba.prange(labels.shape[0]):
        counts[b] = _relabel_parallel_one(labels[b], min_size)


def relabel_parallel(labels, n_centres, min_size_factor, counts) -> None:
    """Same contract as ``swagfast._C.relabel_parallel``."""
    _, Z, Y, X = labels.shape
    _relabel_parallel_batch(labels, _min_size(Z * Y * X, n_centres, min_size_factor), counts)
