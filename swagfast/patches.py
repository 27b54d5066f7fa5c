"""Patch accumulation (Jitter-CAM, thesis chapter 5): sum maps placed at offsets into one grid."""

from __future__ import annotations

import numpy as np
import torch

from swagfast import kernels
from swagfast._backend import as_tensor, cuda_stream, host_view, resolve_backend

ArrayLike = np.ndarray | torch.Tensor


def accumulate_patches(
    maps: ArrayLike, offsets: ArrayLike, out_shape: tuple[int, ...], *, backend: str = "auto"
) -> tuple[ArrayLike, ArrayLike]:
    """Place P patch maps per item into a larger grid: ``J`` sums them, ``C`` counts them.

    ``J[b, o_p + i] += maps[b, p, i]`` and ``C[b, o_p + i] += 1`` for every patch p at offset
    ``o_p`` (SPEC.md section 4); ``J / C`` is the Jitter-CAM before resizing.

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
    if off.dtype.is_floating_point or off.dtype == torch.bool:
        raise TypeError(f"offsets must be integers, got dtype {off.dtype}")
    if tuple(off.shape) != (m.shape[1], dims):
        raise ValueError(
            f"offsets must have shape ({m.shape[1]}, {dims}) (one offset per patch), got {tuple(off.shape)}"
        )
    out_shape = tuple(int(s) for s in out_shape)
    if len(out_shape) != dims:
        raise ValueError(f"out_shape must have {dims} entries, got {out_shape}")
    patch = tuple(m.shape[2:])
    off_host = off.detach().cpu().long().contiguous()
    if off_host.numel():
        lo = off_host.min(dim=0).values
        hi = (off_host + torch.tensor(patch)).max(dim=0).values
        if (lo < 0).any() or any(int(h) > s for h, s in zip(hi, out_shape, strict=True)):
            raise ValueError(f"every patch of shape {patch} must fit in out_shape {out_shape} at its offset")
    if dims == 2:
        m = m.unsqueeze(2)
        off_host = torch.cat([torch.zeros(len(off_host), 1, dtype=torch.long), off_host], dim=1).contiguous()
    m = m.contiguous()
    B = m.shape[0]
    shape3 = out_shape if dims == 3 else (1, *out_shape)
    J = torch.empty((B, *shape3), dtype=m.dtype, device=m.device)
    C = torch.empty_like(J)
    be = resolve_backend(backend, m.device, arg="maps")
    if be == "cuda":
        from swagfast import _C_cuda

        off_dev = off_host.to(m.device)
        with torch.cuda.device(m.device):
            _C_cuda.accumulate_patches(
                m.data_ptr(),
                off_dev.data_ptr(),
                tuple(m.shape),
                shape3,
                str(m.dtype).removeprefix("torch."),
                J.data_ptr(),
                C.data_ptr(),
                cuda_stream(m.device),
            )
    else:
        if be == "cpu":
            from swagfast import _C as impl
        else:
            impl = kernels.patches
        impl.accumulate_patches(host_view(m), host_view(off_host), host_view(J), host_view(C))
    if dims == 2:
        J, C = J[:, 0], C[:, 0]
    return (J.numpy(), C.numpy()) if is_numpy else (J, C)
