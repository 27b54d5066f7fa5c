"""Patch accumulation (Jitter-CAM, thesis chapter 5): sum maps placed at offsets into one grid."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from swagfast._backend import as_tensor, check_fits, empty, kernel, resolve_backend

ArrayLike = np.ndarray | torch.Tensor


def _offsets_int64(off: torch.Tensor) -> torch.Tensor:
    """Integer offsets as int64 (C-contiguous); a uint64 offset of 2**63 or more (which the
    cast would wrap to a negative number) is a ValueError."""
    if off.dtype == torch.uint64:
        wide = off.to(torch.int64)
        if wide.numel() and bool((wide < 0).any()):
            raise ValueError("offsets must fit in int64, got a uint64 offset of 2**63 or more")
        return wide.contiguous()
    return off.to(torch.int64).contiguous()


def accumulate_patches(
    maps: ArrayLike, offsets: ArrayLike, out_shape: tuple[int, ...], *, backend: str = "auto"
) -> tuple[ArrayLike, ArrayLike]:
    """Place P patch maps per item into a larger grid: ``J`` sums them, ``C`` counts them.

    ``J[b, o_p + i] += maps[b, p, i]`` and ``C[b, o_p + i] += 1`` for every patch p at offset
    ``o_p`` (METHODS.md §4); ``J / C`` is the Jitter-CAM before resizing.

    Parameters
    ----------
    maps : (B, P, h, w) or (B, P, t, h, w) float32/float64 array or tensor
    offsets : (P, 2) or (P, 3) integers
        (y, x) or (z, y, x) of each patch's first cell in the output.
    out_shape : (H, W) or (T, H, W)
        Every patch must fit inside it.
    backend : {"auto", "cpu", "cuda", "numba"}

    Returns
    -------
    J, C : (B, H, W) or (B, T, H, W), the type, dtype and device of ``maps``.
        Each output cell is gathered over the patches in increasing p, on every backend.
    """
    is_numpy = isinstance(maps, np.ndarray)
    m = as_tensor(maps, "maps")
    if m.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"maps must be float32 or float64, got dtype {m.dtype}")
    if m.ndim not in (4, 5):
        raise ValueError(f"maps must have shape (B, P, h, w) or (B, P, t, h, w), got {tuple(m.shape)}")
    dims = m.ndim - 2
    off = as_tensor(offsets, "offsets")
    if off.dtype.is_floating_point or off.dtype.is_complex or off.dtype == torch.bool:
        raise TypeError(f"offsets must be integers, got dtype {off.dtype}")
    if tuple(off.shape) != (m.shape[1], dims):
        raise ValueError(
            f"offsets must have shape ({m.shape[1]}, {dims}) (one offset per patch), got {tuple(off.shape)}"
        )
    if (
        isinstance(out_shape, str | bytes)
        or not isinstance(out_shape, Sequence | np.ndarray | torch.Size)
        or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in out_shape)
    ):
        raise TypeError(f"out_shape must be a tuple of {dims} ints, got {out_shape!r}")
    out_shape = tuple(int(v) for v in out_shape)
    if len(out_shape) != dims:
        raise ValueError(
            f"out_shape must have {dims} entries (one per spatial axis of maps), got {out_shape}"
        )
    if min(out_shape) < 1:
        raise ValueError(f"out_shape must hold sizes >= 1, got {out_shape}")
    patch = tuple(m.shape[2:])
    off_host = _offsets_int64(off.detach().cpu())
    if off_host.numel():
        # each patch must start at >= 0 and at most out_shape - patch (no sum that could overflow)
        last = torch.tensor([s - p for s, p in zip(out_shape, patch, strict=True)], dtype=torch.long)
        outside = ((off_host < 0) | (off_host > last)).any(dim=1)
        if bool(outside.any()):
            p = int(outside.nonzero()[0, 0])
            raise ValueError(
                f"offsets must place every patch of shape {patch} inside out_shape {out_shape}: patch {p} "
                f"is at offset {tuple(off_host[p].tolist())}"
            )
    if dims == 2:
        m = m.unsqueeze(2)
        off_host = torch.cat([torch.zeros(len(off_host), 1, dtype=torch.long), off_host], dim=1).contiguous()
    m = m.contiguous()
    B = m.shape[0]
    shape3 = out_shape if dims == 3 else (1, *out_shape)
    what = f"accumulate_patches with out_shape={out_shape}"
    check_fits(2 * B * math.prod(shape3) * m.element_size(), m.device, what)
    J = empty((B, *shape3), m.dtype, m.device, what)
    C = empty((B, *shape3), m.dtype, m.device, what)
    be = resolve_backend(backend, m.device, arg="maps")
    kernel(be, "accumulate_patches", what)(m, off_host.to(m.device), J, C)
    if dims == 2:
        J, C = J[:, 0], C[:, 0]
    return (J.numpy(), C.numpy()) if is_numpy else (J, C)
