"""A synthetic action dataset whose classes are defined by motion alone (for SWAG-V).

Every clip shows one bar (random length, width, colour and starting orientation) on a textured
background that drifts like a panning camera. The class is *how the bar moves* — sliding in one
of four directions, rotating either way, or hopping left or right — so appearance carries no
class information and an explanation is right only if it finds the moving object. Per-frame
masks and boxes of the bar are the ground truth for localisation. Deterministic given the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from swagfast._validate import check_int

ACTIONS = (
    "slide right",
    "slide left",
    "slide down",
    "slide up",
    "rotate clockwise",
    "rotate anticlockwise",
    "hop right",
    "hop left",
)


@dataclass
class ActionSet:
    """``clips`` (n, T, H, W, 3) uint8 (channel-last, like :func:`read_clip`), ``labels`` (n,)
    int64 indices into :data:`ACTIONS`, ``masks`` (n, T, H, W) bool (the bar), ``boxes``
    (n, T, 4) int64 inclusive (x_min, y_min, x_max, y_max) per frame."""

    clips: np.ndarray
    labels: torch.Tensor
    masks: torch.Tensor
    boxes: torch.Tensor

    def __len__(self) -> int:
        return len(self.clips)

    def inputs(self, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), index=slice(None)) -> torch.Tensor:
        """Clips ``index`` as the normalised (B, 3, T, H, W) float32 model input."""
        x = torch.from_numpy(np.ascontiguousarray(self.clips[index])).float().div_(255.0)
        x = x.permute(0, 4, 1, 2, 3)
        m = torch.tensor(mean).view(1, 3, 1, 1, 1)
        s = torch.tensor(std).view(1, 3, 1, 1, 1)
        return (x - m) / s


def _background(rng: np.random.Generator, frames: int, size: int) -> np.ndarray:
    """(T, size, size, 3) float32: two coloured gratings plus noise on a larger canvas, cropped
    along a random drift of up to 1.5 px per frame."""
    pad = int(np.ceil(1.5 * frames)) + 2
    big = size + 2 * pad
    yy, xx = np.mgrid[:big, :big].astype(np.float32)
    canvas = np.zeros((big, big, 3), np.float32)
    for _ in range(2):
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(6, 20)
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
        canvas += wave[..., None] * rng.uniform(0.1, 0.45, size=3)
    canvas += rng.normal(0, 0.04, size=canvas.shape)
    v = rng.uniform(-1.5, 1.5, size=2)
    out = np.empty((frames, size, size, 3), np.float32)
    for t in range(frames):
        oy, ox = (np.round(pad + v * t)).astype(int)
        out[t] = canvas[oy : oy + size, ox : ox + size]
    return out


def _trajectory(rng: np.random.Generator, label: int, frames: int, size: int, reach: float):
    """Centres (T, 2) as (y, x) and angles (T,) for one clip of class ``label``."""
    t = np.arange(frames, dtype=np.float64)
    theta0 = rng.uniform(0, np.pi)
    lo, hi = reach + 2, size - reach - 3
    if label in (0, 1, 2, 3, 6, 7):  # translations
        # as fast as 2.5-4 px a frame, but never so fast that the bar leaves the frame (long clips)
        speed = min(rng.uniform(2.5, 4.0), (hi - lo) / (frames - 1))
        travel = speed * (frames - 1)
        start_along = rng.uniform(lo, max(lo, hi - travel))  # max: rounding at the fastest fit
        across = rng.uniform(lo, hi)
        along = start_along + speed * t
        if label in (1, 3, 7):
            along = size - 1 - along
        if label in (0, 1):
            cy, cx = np.full(frames, across), along
        elif label in (2, 3):
            cy, cx = along, np.full(frames, across)
        else:  # hop: a bouncing arc above a baseline
            amp, period = rng.uniform(12, 20), rng.uniform(6, 9)
            base = rng.uniform(lo + amp, hi)
            cy, cx = base - amp * np.abs(np.sin(np.pi * t / period)), along
        theta = np.full(frames, theta0)
    else:  # rotations in place
        omega = np.deg2rad(rng.uniform(10, 16)) * (1 if label == 4 else -1)
        cy, cx = np.full(frames, rng.uniform(lo, hi)), np.full(frames, rng.uniform(lo, hi))
        theta = theta0 + omega * t
    return np.stack([cy, cx], axis=1), theta


def action_set(n: int = 800, *, frames: int = 16, size: int = 112, seed: int = 0) -> ActionSet:
    """``n`` clips with balanced classes (``i % 8``), deterministic given ``seed``."""
    n, frames, size = check_int(n, "n"), check_int(frames, "frames", 4), check_int(size, "size", 48)
    rng = np.random.default_rng(seed)
    clips = np.empty((n, frames, size, size, 3), np.uint8)
    masks = np.zeros((n, frames, size, size), bool)
    boxes = np.empty((n, frames, 4), np.int64)
    labels = np.arange(n, dtype=np.int64) % len(ACTIONS)
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    for i in range(n):
        bg = _background(rng, frames, size)
        length, width = rng.uniform(30, 44) * size / 112, rng.uniform(10, 15) * size / 112
        colour = rng.uniform(0.35, 1.0, size=3)
        colour[rng.integers(3)] = rng.uniform(0.0, 0.25)  # saturated, so it stands out
        centres, theta = _trajectory(rng, int(labels[i]), frames, size, reach=length / 2)
        for t in range(frames):
            dy, dx = yy - centres[t, 0], xx - centres[t, 1]
            u = dx * np.cos(theta[t]) + dy * np.sin(theta[t])
            v = -dx * np.sin(theta[t]) + dy * np.cos(theta[t])
            m = (np.abs(u) <= length / 2) & (np.abs(v) <= width / 2)
            frame = bg[t]
            frame[m] = colour
            clips[i, t] = np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)
            masks[i, t] = m
            ys, xs = np.nonzero(m)
            boxes[i, t] = (xs.min(), ys.min(), xs.max(), ys.max())
    return ActionSet(clips, torch.from_numpy(labels), torch.from_numpy(masks), torch.from_numpy(boxes))
