"""Small, obviously-right numpy references that the tests compare every backend with."""

from __future__ import annotations

import numpy as np
import torch


def segment_pool_reference(values: np.ndarray, labels: np.ndarray, reduce: str, n_segments: int) -> np.ndarray:
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


def device_of(backend: str) -> torch.device:
    return torch.device("cuda" if backend == "cuda" else "cpu")


def to_backend(a: np.ndarray, backend: str):
    """numpy for host backends (also exercising the numpy path), a CUDA tensor for cuda."""
    if backend == "cuda":
        return torch.from_numpy(np.ascontiguousarray(a)).to("cuda")
    return a


def to_numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
