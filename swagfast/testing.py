"""Small, obviously-right numpy references that the tests compare every backend with."""

from __future__ import annotations

import numpy as np
import torch


def segment_pool_reference(
    values: np.ndarray, labels: np.ndarray, reduce: str, n_segments: int
) -> np.ndarray:
    """Per-segment reduction of ``values`` (B, ...) by ``labels`` (B, ...), in float64.

    Empty segments give 0; NaNs propagate (numpy's min/max/mean do).
    """
    values = np.asarray(values, dtype=np.float64)
    B = values.shape[0]
    out = np.zeros((B, n_segments))
    ops = {
        "mean": np.mean,
        "sum": np.sum,
        "min": np.min,
        "max": np.max,
        "l1": lambda x: np.sum(np.abs(x)),
        "l2": lambda x: np.sqrt(np.sum(x * x)),
        "var": np.var,
        "std": np.std,
    }
    op = ops[reduce]
    for b in range(B):
        for s in range(n_segments):
            members = values[b][labels[b] == s]
            if members.size:
                out[b, s] = op(members)
    return out


# ---- helpers shared by the tests -------------------------------------------------------------


def to_backend(a: np.ndarray, backend: str):
    """numpy for host backends (also exercising the numpy path), a CUDA tensor for cuda."""
    if backend == "cuda":
        return torch.from_numpy(np.ascontiguousarray(a)).to("cuda")
    return a


def to_numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def explained_variation(features: np.ndarray, labels: np.ndarray) -> float:
    """sum_S |S| (mean_S - mean)^2 / sum (x - mean)^2 over all channels of (..., C) ``features``."""
    x = features.reshape(-1, features.shape[-1]).astype(np.float64)
    lab = labels.ravel()
    mu = x.mean(axis=0)
    n = np.bincount(lab)
    means = (
        np.stack([np.bincount(lab, weights=x[:, c]) for c in range(x.shape[1])], 1)
        / np.maximum(n, 1)[:, None]
    )
    return float((n[:, None] * (means - mu) ** 2).sum() / ((x - mu) ** 2).sum())


def connected_segment_count(labels: np.ndarray) -> int:
    """Number of 4-connected (2-D) / 6-connected (3-D) components of equal labels."""
    from skimage.measure import label

    return int(label(labels, connectivity=1, background=-1).max())


def photo_clip(frames: int = 16, size: int = 112) -> np.ndarray:
    """(frames, size, size, 3) uint8 clip: a window panning across scikit-image's chelsea photo."""
    import cv2
    import skimage.data

    img = skimage.data.chelsea()
    h = img.shape[0]
    out = []
    for t in range(frames):
        crop = img[:, 4 * t : 4 * t + h]
        out.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(out)
