"""Superpixel operations: segment pooling (and, later, SLIC superpixels and supervoxels).

Every function takes numpy arrays or torch tensors and returns the same type, on the same
device; batches and single items both work.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from swagfast import kernels
from swagfast._backend import as_tensor, cuda_stream, host_view, resolve_backend

REDUCTIONS = ("mean", "sum", "min", "max", "l1", "l2", "var", "std")

ArrayLike = np.ndarray | torch.Tensor


class SegmentPool(NamedTuple):
    """Result of :func:`segment_pool`.

    segment_values : (B, n) or (n,)
        One value per segment (0 for segments with no pixels).
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
        if lab.numel() and (int(lab.max()) > np.iinfo(np.int32).max):
            raise ValueError(f"labels must fit in int32, got a label of {int(lab.max())}")
        lab = lab.to(torch.int32)
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
    reduce : {"mean", "sum", "min", "max", "l1", "l2", "var", "std"}, default "mean"
        ``l1`` is the sum of absolute values, ``l2`` the Euclidean norm, ``var``/``std`` the
        population (ddof=0) statistics, computed two-pass in double precision.
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
    Empty segments (numbers absent from ``labels``) get the value 0 for every reduction.
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
    if not isinstance(reduce, str) or reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {', '.join(REDUCTIONS)}; got {reduce!r}")
    is_numpy = isinstance(values, np.ndarray)
    v = _values_tensor(values)
    lab = _labels_tensor(labels)
    if tuple(v.shape) != tuple(lab.shape):
        raise ValueError(
            f"labels must have the shape of values {tuple(v.shape)}, got {tuple(lab.shape)}"
        )
    if v.device != lab.device:
        raise ValueError(f"labels must be on the device of values ({v.device}), got {lab.device}")
    batched, _ = _layout(tuple(v.shape), spatial_dims)
    if not batched:
        v, lab = v.unsqueeze(0), lab.unsqueeze(0)
    B = v.shape[0]
    N = int(np.prod(v.shape[1:]))
    if N == 0:
        raise ValueError(f"values must have at least one pixel per item, got shape {tuple(values.shape)}")
    be = resolve_backend(backend, v.device)
    if n_segments is not None:
        if isinstance(n_segments, bool) or not isinstance(n_segments, int | np.integer):
            raise TypeError(f"n_segments must be an int or None, got {type(n_segments).__name__}")
        if n_segments < 1:
            raise ValueError(f"n_segments must be >= 1, got {n_segments}")
        n = int(n_segments)
    v2 = v.reshape(B, N).contiguous()
    l2 = lab.reshape(B, N).contiguous()
    if (n_segments is None or be == "cuda") and B > 0:
        lo, hi = (int(t) for t in torch.aminmax(l2))
        if lo < 0:
            raise ValueError(f"labels must be >= 0, got a label of {lo}")
        if n_segments is None:
            n = hi + 1
        elif hi >= n:
            raise ValueError(f"labels must be < n_segments={n}, got a label of {hi}")
    elif n_segments is None:
        n = 0
    seg = torch.empty((B, n), dtype=v2.dtype, device=v2.device)
    pix = torch.empty_like(v2) if scatter else None
    if B > 0:
        if be == "cuda":
            from swagfast import _C_cuda

            with torch.cuda.device(v2.device):
                ws = torch.empty((B, n, 7), dtype=torch.float64, device=v2.device)
                _C_cuda.segment_pool(
                    v2.data_ptr(), l2.data_ptr(), B, N, n, reduce, str(v2.dtype).removeprefix("torch."),
                    seg.data_ptr(), pix.data_ptr() if pix is not None else 0, ws.data_ptr(),
                    cuda_stream(v2.device),
                )
        else:
            if be == "cpu":
                from swagfast import _C

                pool = _C.segment_pool
            else:
                pool = kernels.segment_pool
            bad = pool(
                host_view(v2), host_view(l2), n, reduce, host_view(seg),
                host_view(pix) if pix is not None else None,
            )
            if bad >= 0:
                label = int(l2.reshape(-1)[bad])
                if label < 0:
                    raise ValueError(f"labels must be >= 0, got a label of {label}")
                raise ValueError(f"labels must be < n_segments={n}, got a label of {label}")
    if pix is not None:
        pix = pix.reshape(v.shape)
    if not batched:
        seg = seg[0]
        pix = pix[0] if pix is not None else None
    if is_numpy:
        return SegmentPool(seg.numpy(), pix.numpy() if pix is not None else None)
    return SegmentPool(seg, pix)
