"""Segment pooling: per-pixel values reduced over each segment (SWAG's pooling, METHODS.md §3).

Numpy arrays or torch tensors in, the same type out, on the same device; batches and single
items both work.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
import torch

from swagfast._backend import as_tensor, check_fits, empty, kernel, resolve_backend
from swagfast._native import ACC_SLOTS, REDUCTIONS  # from the C++ enumerations
from swagfast._validate import check_bool, check_choice

ArrayLike = np.ndarray | torch.Tensor

# the reductions whose result is a value of the map (what SWAG may pool with): argmax is a position
POOLINGS: tuple[str, ...] = tuple(r for r in REDUCTIONS if r != "argmax")


class SegmentPool(NamedTuple):
    """Result of :func:`segment_pool`.

    segment_values : (B, n) or (n,)
        One value per segment (0 for segments with no pixels; -1 for ``argmax``).
    pixel_values : same shape as the input values, or None
        Each pixel set to its segment's value (None when ``scatter=False``).
    """

    segment_values: ArrayLike
    pixel_values: ArrayLike | None


def _layout(shape: tuple[int, ...], spatial_dims: int | None) -> tuple[bool, int]:
    """(batched, spatial_dims) for values of ``shape``."""
    ndim = len(shape)
    if spatial_dims is None:
        if ndim == 2:
            return False, 2
        if ndim in (3, 4):
            return True, ndim - 1
        raise ValueError(
            "values must have shape (H, W), (B, H, W) or (B, T, H, W); "
            f"got {ndim} dimensions {tuple(shape)} (pass spatial_dims=3 for a single (T, H, W) clip)"
        )
    if isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int | np.integer):
        raise TypeError(f"spatial_dims must be 2, 3 or None, got {type(spatial_dims).__name__}")
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2, 3 or None, got {spatial_dims!r}")
    if ndim == spatial_dims:
        return False, spatial_dims
    if ndim == spatial_dims + 1:
        return True, spatial_dims
    raise ValueError(
        f"values with spatial_dims={spatial_dims} must have {spatial_dims} or {spatial_dims + 1} "
        f"dimensions, got shape {tuple(shape)}"
    )


def _values_tensor(values: ArrayLike) -> torch.Tensor:
    v = as_tensor(values, "values")
    if v.dtype in (torch.float32, torch.float64):
        return v
    if v.dtype in (torch.float16, torch.bfloat16):
        return v.float()
    raise TypeError(f"values must be a floating-point array (float32 or float64), got dtype {v.dtype}")


def _labels_tensor(labels: ArrayLike) -> torch.Tensor:
    lab = as_tensor(labels, "labels")
    if lab.dtype == torch.bool or lab.dtype.is_floating_point or lab.dtype.is_complex:
        raise TypeError(f"labels must be an integer array (int32), got dtype {lab.dtype}")
    if lab.dtype != torch.int32:
        # torch has no min/max for uint16/32/64: checked as int64, where a uint64 label of 2**63
        # or more wraps to a negative number
        unsigned = lab.dtype in (torch.uint16, torch.uint32, torch.uint64)
        wide = lab.to(torch.int64) if unsigned else lab
        if wide.numel():  # checked before the cast, which would wrap
            lo, hi = (int(t) for t in torch.aminmax(wide))
            if unsigned and lo < 0:
                raise ValueError(f"labels must fit in int32, got a {lab.dtype} label of 2**63 or more")
            if lo < 0:
                raise ValueError(f"labels must be >= 0, got a label of {lo}")
            if hi > np.iinfo(np.int32).max:
                raise ValueError(f"labels must fit in int32, got a label of {hi}")
        lab = wide.to(torch.int32)
    return lab


def segment_pool(
    values: ArrayLike,
    labels: ArrayLike,
    reduce: str = "mean",
    *,
    n_segments: int | None = None,
    scatter: bool = True,
    spatial_dims: int | None = None,
    backend: str = "auto",
) -> SegmentPool:
    """Reduce per-pixel values over each segment (the SWAG pooling, thesis section 3.3, Table 3.6).

    Parameters
    ----------
    values : (H, W), (B, H, W) or (B, T, H, W) float32/float64 array or tensor
        Per-pixel (or per-voxel) scores. float16/bfloat16 are computed (and returned) as float32.
    labels : integer array or tensor, same shape as ``values``
        Segment of each pixel, ``>= 0``. Gaps in the numbering are legal (empty segments).
        Converted to int32 if given in another integer type.
    reduce : {"mean", "sum", "min", "max", "l1", "l2", "var", "std", "argmax"}, default "mean"
        ``l1`` is the sum of absolute values, ``l2`` the Euclidean norm, ``var``/``std`` the
        population (ddof=0) statistics, computed two-pass in double precision. ``argmax`` is the
        position of the segment's largest value: its flat index within the item (the first one
        on ties and, as for ``max``, the first NaN if there is one), in the values' dtype (exact:
        float32 values are limited to 2**24 pixels per item for it).
    n_segments : int, optional
        Number of segments per item. Default: largest label in the batch + 1. Labels
        ``>= n_segments`` are an error. Passing it saves a pass over the labels (and, on CUDA,
        nothing else needs a device-to-host sync except the label check).
    scatter : bool, default True
        Also return the map with each pixel set to its segment's value.
    spatial_dims : {2, 3}, optional
        How many trailing dimensions are spatial. Default: inferred (2-D input is one image,
        3-D a batch of images, 4-D a batch of clips); pass 3 for one unbatched (T, H, W) clip.
    backend : {"auto", "cpu", "cuda", "numba"}, default "auto"

    Returns
    -------
    SegmentPool
        ``(segment_values (B, n), pixel_values (B, ...) or None)``; unbatched input gives
        ``(n,)`` and ``(H, W)``. Same type (numpy or torch) and device as ``values``.

    Raises
    ------
    TypeError
        Non-array inputs, non-float values, non-integer labels.
    ValueError
        Shapes that differ or have the wrong rank, empty images, unknown ``reduce``, negative
        labels, labels ``>= n_segments``, ``n_segments < 1``, a backend on the wrong device.
    swagfast.BackendUnavailableError
        ``backend`` names a backend this installation cannot run (the message says how to get it).

    Notes
    -----
    Empty segments (numbers absent from ``labels``) get the value 0 for every reduction, -1 for
    ``argmax``.
    NaN values propagate: a segment containing a NaN pools to NaN for every reduction
    (``min``/``max`` included, like ``torch.amin``); other segments are unaffected.

    Examples
    --------
    >>> import numpy as np, swagfast
    >>> v = np.array([[1.0, 2.0], [3.0, 5.0]], dtype=np.float32)
    >>> lab = np.array([[0, 0], [1, 1]], dtype=np.int32)
    >>> swagfast.segment_pool(v, lab).segment_values
    array([1.5, 4. ], dtype=float32)
    """
    check_choice(reduce, "reduce", REDUCTIONS)
    check_bool(scatter, "scatter")
    is_numpy = isinstance(values, np.ndarray)
    v = _values_tensor(values)
    lab = _labels_tensor(labels)
    if tuple(v.shape) != tuple(lab.shape):
        raise ValueError(f"labels must have the shape of values {tuple(v.shape)}, got {tuple(lab.shape)}")
    if v.device != lab.device:
        raise ValueError(f"labels must be on the device of values ({v.device}), got {lab.device}")
    batched, _ = _layout(tuple(v.shape), spatial_dims)
    if not batched:
        v, lab = v.unsqueeze(0), lab.unsqueeze(0)
    B = v.shape[0]
    N = math.prod(v.shape[1:])
    if N == 0:
        raise ValueError(f"values must have at least one pixel per item, got shape {tuple(values.shape)}")
    if reduce == "argmax" and v.dtype == torch.float32 and N > 2**24:
        raise ValueError(
            f"reduce='argmax' on float32 values holds indices exactly up to 2**24 pixels per item, got {N}; "
            "pass float64 values"
        )
    be = resolve_backend(backend, v.device)
    v2, l2 = v.reshape(B, N).contiguous(), lab.reshape(B, N).contiguous()
    n = _segment_count(l2, n_segments, be)
    seg, pix = _pool(v2, l2, n, reduce, scatter, be, n_segments is None)
    if pix is not None:
        pix = pix.reshape(v.shape)
    if not batched:
        seg = seg[0]
        pix = pix[0] if pix is not None else None
    if is_numpy:
        return SegmentPool(seg.numpy(), pix.numpy() if pix is not None else None)
    return SegmentPool(seg, pix)


def _segment_count(labels: torch.Tensor, n_segments, backend: str) -> int:
    """The checked ``n_segments``, or the largest label + 1. On the host the kernels check the
    labels as they go; on cuda (and to infer the count) one ``aminmax`` does, the only host
    synchronisation of :func:`segment_pool`."""
    n = None
    if n_segments is not None:
        if isinstance(n_segments, bool) or not isinstance(n_segments, int | np.integer):
            raise TypeError(f"n_segments must be an int or None, got {type(n_segments).__name__}")
        if not 1 <= n_segments <= 2**31:
            raise ValueError(f"n_segments must be in [1, 2**31] (labels are int32), got {n_segments}")
        n = int(n_segments)
    if (n is None or backend == "cuda") and labels.shape[0] > 0:
        lo, hi = (int(t) for t in torch.aminmax(labels))
        if lo < 0:
            raise ValueError(f"labels must be >= 0, got a label of {lo}")
        if n is None:
            return hi + 1
        if hi >= n:
            raise ValueError(f"labels must be < n_segments={n}, got a label of {hi}")
    return 0 if n is None else n


def _pool(v2, l2, n: int, reduce: str, scatter: bool, backend: str, inferred: bool):
    """(segment values (B, n), pixel values (B, N) or None) of checked (B, N) inputs."""
    B, N = v2.shape
    what = f"segment_pool with n_segments={n}" + (" (the largest label + 1)" if inferred else "")
    # the (B, n) output, and the accumulator doubles per segment of each item in flight: on the host one
    # item per thread, on cuda the whole batch
    in_flight = B if backend == "cuda" else min(B, os.cpu_count() or 1)
    check_fits(B * n * v2.element_size() + in_flight * n * len(ACC_SLOTS) * 8, v2.device, what)
    seg = empty((B, n), v2.dtype, v2.device, what)
    pix = torch.empty_like(v2) if scatter else None
    if B == 0:
        return seg, pix
    # the accumulators: on cuda a workspace the kernel is given, on the host per-thread tables
    ws = {}
    if backend == "cuda":
        ws = {"workspace": empty((B, n, len(ACC_SLOTS)), torch.float64, v2.device, what)}
    bad = kernel(backend, "segment_pool", what)(v2, l2, n, reduce, seg, pix, **ws)
    if bad >= 0:
        label = int(l2.reshape(-1)[bad])
        if label < 0:
            raise ValueError(f"labels must be >= 0, got a label of {label}")
        raise ValueError(f"labels must be < n_segments={n}, got a label of {label}")
    return seg, pix
