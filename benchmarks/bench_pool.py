"""Segment pooling: swagfast (native C++, Numba, CUDA) beside torch scatter_reduce and numpy bincount.

B=64 images of 224x224, 300 segments (a 15x20 block layout, as compact as SLIC's), mean pooling
with the per-pixel map. Run: ``python benchmarks/bench_pool.py [--device cuda] [--repeats N]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import median_ms, report

import swagfast


def make_inputs(B: int, H: int, W: int, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    values = torch.rand((B, H, W), generator=g)
    rows = torch.arange(H) * 15 // H
    cols = torch.arange(W) * 20 // W
    labels = (rows[:, None] * 20 + cols[None, :]).to(torch.int32).expand(B, H, W).contiguous()
    return values.to(device), labels.to(device), 300


def torch_pool(values, labels, n):
    """What users write today: one scatter_reduce over offset labels, then a gather."""
    B = values.shape[0]
    idx = (labels.long() + torch.arange(B, device=values.device).view(-1, 1, 1) * n).reshape(-1)
    seg = torch.zeros(B * n, device=values.device).scatter_reduce_(
        0, idx, values.reshape(-1), "mean", include_self=False
    )
    return seg.view(B, n), seg[idx].view_as(values)


def numpy_pool(values, labels, n):
    B = values.shape[0]
    idx = (labels.astype(np.int64) + np.arange(B).reshape(-1, 1, 1) * n).ravel()
    sums = np.bincount(idx, weights=values.ravel(), minlength=B * n)
    counts = np.bincount(idx, minlength=B * n)
    seg = sums / np.maximum(counts, 1)
    return seg.reshape(B, n), seg[idx].reshape(values.shape)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    v, lab, n = make_inputs(args.batch, 224, 224, args.device)
    # the numbers agree before anything is timed
    ours = swagfast.segment_pool(v, lab, n_segments=n)
    peer = torch_pool(v, lab, n)
    torch.testing.assert_close(ours.segment_values, peer[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.pixel_values, peer[1], rtol=1e-5, atol=1e-6)
    sync = args.device.startswith("cuda")
    shape = f"{args.batch}x224x224, K=300"
    rows = []

    def add(method, backend, fn, threads):
        rows.append(
            {
                "method": method,
                "backend": backend,
                "size": shape,
                "threads": threads,
                "median_ms": median_ms(fn, args.repeats, sync=sync),
            }
        )

    threads = torch.get_num_threads()
    if sync:
        add("torch scatter_reduce", "cuda", lambda: torch_pool(v, lab, n), "-")
        add("swagfast", "cuda", lambda: swagfast.segment_pool(v, lab, n_segments=n, backend="cuda"), "-")
    else:
        vn, ln = v.numpy(), lab.numpy()
        add("torch scatter_reduce", "torch", lambda: torch_pool(v, lab, n), threads)
        add("numpy bincount", "numpy", lambda: numpy_pool(vn, ln, n), 1)
        add("swagfast", "cpu", lambda: swagfast.segment_pool(v, lab, n_segments=n, backend="cpu"), threads)
        add(
            "swagfast", "numba", lambda: swagfast.segment_pool(v, lab, n_segments=n, backend="numba"), threads
        )
        before = swagfast.get_num_threads()
        swagfast.set_num_threads(1)
        add("swagfast", "cpu", lambda: swagfast.segment_pool(v, lab, n_segments=n, backend="cpu"), 1)
        swagfast.set_num_threads(before)
    report(f"bench_pool_{args.device.split(':')[0]}", rows, reference="torch scatter_reduce")


if __name__ == "__main__":
    main()
