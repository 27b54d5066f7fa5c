"""Baseline heatmaps every metric is reported with (METHODS.md §6)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from swagfast._validate import check_seed


def _check_shape(shape) -> tuple[int, ...]:
    """A heatmap batch shape, (B, H, W) or (B, T, H, W) of positive ints (not the input's
    (B, C, ...) shape: a channel axis would be taken for time)."""
    if (
        isinstance(shape, str)
        or not hasattr(shape, "__len__")
        or len(shape) not in (3, 4)
        or any(isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1 for n in shape)
    ):
        raise ValueError(f"shape must be (B, H, W) or (B, T, H, W) of positive ints, got {shape!r}")
    return tuple(int(n) for n in shape)


def centre(shape: tuple[int, ...], device: str | torch.device = "cpu") -> torch.Tensor:
    """Negative distance to the centre of the spatial grid: (B, H, W) or (B, T, H, W) from ``shape``
    = (B, H, W) / (B, T, H, W). For clips the distance is spatial (every frame the same)."""
    shape = _check_shape(shape)
    B, H, W = shape[0], shape[-2], shape[-1]
    yy = torch.arange(H, device=device, dtype=torch.float32) - (H - 1) / 2
    xx = torch.arange(W, device=device, dtype=torch.float32) - (W - 1) / 2
    d = -(yy[:, None] ** 2 + xx[None, :] ** 2).sqrt()
    return d.expand(*shape).clone() if len(shape) == 3 else d.expand(B, shape[1], H, W).clone()


def random_point(shape: tuple[int, ...], seed: int = 0, device: str | torch.device = "cpu") -> torch.Tensor:
    """Negative distance to one uniformly drawn pixel per item (seeded), shaped like :func:`centre`.
    The draws are for the whole batch: item i's pixel is the i-th draw, so the same image can
    get another pixel in another batch (a baseline for evaluations, not for serving)."""
    shape = _check_shape(shape)
    check_seed(seed)
    B, H, W = shape[0], shape[-2], shape[-1]
    g = torch.Generator().manual_seed(seed)
    py = torch.randint(0, H, (B,), generator=g).float().to(device)
    px = torch.randint(0, W, (B,), generator=g).float().to(device)
    yy = torch.arange(H, device=device, dtype=torch.float32)
    xx = torch.arange(W, device=device, dtype=torch.float32)
    d = -((yy[None, :, None] - py[:, None, None]) ** 2 + (xx[None, None, :] - px[:, None, None]) ** 2).sqrt()
    return d if len(shape) == 3 else d[:, None].expand(B, shape[1], H, W).clone()


def constant(shape: tuple[int, ...], device: str | torch.device = "cpu") -> torch.Tensor:
    """The faithfulness baseline of thesis 5.4.2: 0.9 everywhere, one pixel 1 and one pixel 0
    (so it is a valid heatmap with a maximum and a minimum), shaped ``shape``."""
    h = torch.full(shape, 0.9, device=device)
    flat = h.view(shape[0], -1)
    flat[:, 0] = 1.0
    flat[:, -1] = 0.0
    return h


def noise(shape: tuple[int, ...], seed: int = 0, device: str | torch.device = "cpu") -> torch.Tensor:
    """Uniform random heatmaps in [0, 1), drawn on ``device`` from a generator seeded with ``seed``,
    for the whole batch at once (as :func:`random_point`: an item's map depends on its place)."""
    g = torch.Generator(device=device).manual_seed(seed)
    return torch.rand(shape, generator=g, device=device)


def unit_range(t: torch.Tensor) -> torch.Tensor:
    """Each item (along the first axis) min-max scaled to [0, 1], in its own floating dtype; an
    item that is the same everywhere becomes 0. The one such scaling the metrics and Score-CAM's
    masks share."""
    if not t.dtype.is_floating_point:
        t = t.float()
    flat = t.reshape(t.shape[0], -1)
    lo = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - lo
    return torch.where(span > 0, (flat - lo) / torch.where(span > 0, span, 1.0), 0.0).reshape(t.shape)


def sobel_map(image: torch.Tensor) -> torch.Tensor:
    """Sanity baseline: Sobel edge magnitude of (B, 3, H, W) images (channel mean), (B, H, W);
    clips (B, 3, T, H, W) frame by frame, (B, T, H, W)."""
    grey = image.float().mean(dim=1)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=image.device)
    k = torch.stack([kx, kx.T]).unsqueeze(1)
    frames = grey.reshape(-1, 1, *grey.shape[-2:])
    g = F.conv2d(F.pad(frames, (1, 1, 1, 1), mode="replicate"), k)
    return g.pow(2).sum(dim=1).sqrt().reshape(grey.shape)


def sobel(images: torch.Tensor) -> torch.Tensor:
    """Sobel edge magnitude of (B, 3, H, W) images: (B, H, W) (:func:`sobel_map`)."""
    return sobel_map(images)
