"""A BAM-style synthetic set (Yang & Kim; thesis 5.4): 10 scene textures x 10 object shapes with
known object masks, and a small CNN trainer, for the model contrast score and ROAR."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from swagfast._validate import check_int

SHAPES = ("disc", "square", "triangle", "cross", "ring", "diamond", "bar", "plus", "ellipse", "corner")


@dataclass
class BAMSet:
    """``images`` (n, 3, S, S) float32 in [0, 1], ``masks`` (n, S, S) bool (the object),
    ``objects`` and ``scenes`` (n,) int64 class labels."""

    images: torch.Tensor
    masks: torch.Tensor
    objects: torch.Tensor
    scenes: torch.Tensor


def _scene(k: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Texture k: stripes at angle 18k degrees with a class-specific pair of colours and period."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    angle = np.deg2rad(18 * k)
    period = 6 + (k % 4) * 3
    phase = rng.uniform(0, 2 * np.pi)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + phase)
    c1 = np.array([(k * 37 % 10) / 10, (k * 53 % 10) / 10, (k * 71 % 10) / 10], np.float32) * 0.6 + 0.2
    c2 = 1.0 - c1
    return wave[..., None] * c1 + (1 - wave[..., None]) * c2


def _shape_mask(k: int, size: int, r: int, cy: int, cx: int) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    if k == 0:
        cv2.circle(m, (cx, cy), r, 1, -1)
    elif k == 1:
        cv2.rectangle(m, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
    elif k == 2:
        cv2.fillPoly(m, [np.array([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], np.int32)], 1)
    elif k == 3:
        cv2.line(m, (cx - r, cy - r), (cx + r, cy + r), 1, max(2, r // 3))
        cv2.line(m, (cx - r, cy + r), (cx + r, cy - r), 1, max(2, r // 3))
    elif k == 4:
        cv2.circle(m, (cx, cy), r, 1, max(2, r // 3))
    elif k == 5:
        cv2.fillPoly(m, [np.array([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], np.int32)], 1)
    elif k == 6:
        cv2.rectangle(m, (cx - r, cy - r // 3), (cx + r, cy + r // 3), 1, -1)
    elif k == 7:
        cv2.rectangle(m, (cx - r, cy - r // 4), (cx + r, cy + r // 4), 1, -1)
        cv2.rectangle(m, (cx - r // 4, cy - r), (cx + r // 4, cy + r), 1, -1)
    elif k == 8:
        cv2.ellipse(m, (cx, cy), (r, r // 2), 30, 0, 360, 1, -1)
    else:
        cv2.rectangle(m, (cx - r, cy - r), (cx - r // 3, cy + r), 1, -1)
        cv2.rectangle(m, (cx - r, cy + r // 3), (cx + r, cy + r), 1, -1)
    return m.astype(bool)


def bam_set(n: int = 2000, *, size: int = 64, seed: int = 0) -> BAMSet:
    """``n`` images: a random scene texture with a random object shape (random grey level, radius
    size/8..size/5, anywhere fully inside), deterministic given ``seed``."""
    n, size = check_int(n, "n"), check_int(size, "size", 16)
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.float32)
    masks = np.empty((n, size, size), bool)
    objects = rng.integers(0, 10, n)
    scenes = rng.integers(0, 10, n)
    for i in range(n):
        img = _scene(int(scenes[i]), size, rng)
        r = int(rng.integers(size // 8, size // 5 + 1))
        cy, cx = (int(v) for v in rng.integers(r + 1, size - r - 1, 2))
        m = _shape_mask(int(objects[i]), size, r, cy, cx)
        img[m] = rng.uniform(0.0, 1.0)
        images[i], masks[i] = img, m
    return BAMSet(
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(masks),
        torch.from_numpy(objects),
        torch.from_numpy(scenes),
    )


class SmallCNN(nn.Module):
    """conv(3->16) ReLU pool, conv(16->32) ReLU pool, conv(32->64) ReLU ('features'), GAP, linear."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        return self.fc(self.body(x).mean(dim=(2, 3)))


def train_small_cnn(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 8,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 3e-3,
) -> SmallCNN:
    """Train :class:`SmallCNN` on (x, y) with Adam, seeded (its own generator; no global RNG).

    Trains on ``x``'s device; the initial weights and the batch order are drawn on the CPU, so a
    seed gives the same start and the same batches on every device."""
    if x.device != y.device:
        raise ValueError(f"x and y must be on one device; got x on {x.device} and y on {y.device}")
    g = torch.Generator().manual_seed(seed)
    model = SmallCNN(int(y.max()) + 1)
    with torch.no_grad():  # seeded initialisation
        for p in model.parameters():
            p.copy_(
                torch.empty_like(p).uniform_(-1, 1, generator=g) * (3.0 / max(1, p[0].numel())) ** 0.5
                if p.ndim > 1
                else torch.zeros_like(p)
            )
    model.to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g).to(x.device)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()
