"""Argument checks and the ranking the heatmap metrics share."""

from __future__ import annotations

import numpy as np
import torch


def heatmaps_of(heatmaps):
    """``heatmaps`` as given, or an :class:`~swagfast.Explanation`'s ``heatmap``: every metric
    takes either."""
    from swagfast.explainers.explanation import Explanation

    return heatmaps.heatmap if isinstance(heatmaps, Explanation) else heatmaps


def check_heatmaps(heatmaps: torch.Tensor | np.ndarray, name: str = "heatmaps") -> None:
    """A metric's heatmaps: at least one item, real numbers, every value finite (a NaN would
    otherwise rank, threshold or point somewhere arbitrary and score as if it meant something)."""
    if heatmaps.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one item, got an empty batch {tuple(heatmaps.shape)}")
    if isinstance(heatmaps, torch.Tensor):
        if heatmaps.dtype == torch.bool or heatmaps.dtype.is_complex:
            raise TypeError(f"{name} must hold real numbers, got dtype {heatmaps.dtype}")
        finite = bool(torch.isfinite(heatmaps).all())
    else:
        if heatmaps.dtype.kind not in "uif":
            raise TypeError(f"{name} must hold real numbers, got dtype {heatmaps.dtype}")
        finite = bool(np.isfinite(heatmaps).all())
    if not finite:
        raise ValueError(f"{name} must hold finite values, got NaN or infinity")


def descending_order(values: torch.Tensor) -> torch.Tensor:
    """Indices sorting each row of (B, N) ``values`` from highest to lowest, ties by index. The
    values keep their precision (float64 stays float64: a cast would merge values that differ
    and leave their order to the tie rule); others are compared as float64, exact for every
    integer type and half precision."""
    if values.dtype not in (torch.float32, torch.float64):
        values = values.double()
    return torch.sort(-values, dim=1, stable=True).indices
