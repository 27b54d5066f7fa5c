"""Images with ground truth: objects cut from the bundled photos (with shipped masks) pasted at
random scales and positions onto other photos and textures (thesis 5.4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from swagfast._validate import check_int
from swagfast.data import center_crop_resize, sample_images

MASKS = Path(__file__).parent / "masks"
# object name -> (source photo, mask file, ImageNet class)
OBJECTS = {"cat": ("chelsea", "chelsea.png", 285), "espresso": ("coffee", "coffee.png", 967)}
BACKGROUND_PHOTOS = ("rocket", "hubble_deep_field", "immunohistochemistry", "retina", "china", "flower")
TEXTURES = ("brick", "grass", "gravel")


@dataclass
class Composites:
    """``images`` (n, H, W, 3) uint8, ``masks`` (n, H, W) bool, ``boxes`` (n, 4) inclusive pixel
    boxes (x_min, y_min, x_max, y_max), ``labels`` (n,) ImageNet classes, and per item the
    object and background names."""

    images: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    objects: list[str] = field(default_factory=list)
    backgrounds: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, keep) -> Composites:
        keep = np.asarray(keep)
        idx = np.nonzero(keep)[0] if keep.dtype == bool else keep
        return Composites(
            self.images[idx],
            self.masks[idx],
            self.boxes[idx],
            self.labels[idx],
            [self.objects[i] for i in idx],
            [self.backgrounds[i] for i in idx],
        )


def object_cutouts() -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """name -> (RGB crop, bool mask crop, ImageNet class), cropped to the mask's bounding box."""
    photos = sample_images()
    out = {}
    for name, (photo, mask_file, label) in OBJECTS.items():
        mask = cv2.imread(str(MASKS / mask_file), cv2.IMREAD_GRAYSCALE) > 0
        img = photos[photo]
        ys, xs = np.nonzero(mask)
        sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        out[name] = (img[sl], mask[sl], label)
    return out


def backgrounds(size: int = 224) -> dict[str, np.ndarray]:
    """Photos without the objects and scikit-image's textures, as (size, size, 3) uint8."""
    import skimage.data

    photos = sample_images()
    out = {n: center_crop_resize(photos[n], size) for n in BACKGROUND_PHOTOS}
    for n in TEXTURES:
        grey = getattr(skimage.data, n)()
        out[n] = center_crop_resize(np.repeat(grey[..., None], 3, axis=2), size)
    return out


def composites(
    n: int = 100,
    *,
    seed: int = 0,
    size: int = 224,
    scale: tuple[float, float] = (0.45, 0.85),
    objects: tuple[str, ...] = tuple(OBJECTS),
    distractors: int = 0,
) -> Composites:
    """``n`` composites, deterministic given ``seed``: an object (longer side a uniform fraction
    ``scale`` of ``size``) pasted at a uniform position onto a uniformly chosen background.

    ``distractors``: that many copies of *other* objects (of another class, same size range)
    pasted first, each where its box does not overlap the target's or each other's (an item
    keeps fewer when no free place is found in 100 draws). Masks, boxes and labels stay the
    target's, so localisation and the pointing game must pick the right object.
    """
    n, distractors = check_int(n, "n", 0), check_int(distractors, "distractors", 0)
    size = check_int(size, "size", 32)
    if isinstance(objects, str) or not isinstance(objects, Sequence) or not objects:
        raise TypeError(f"objects must be a non-empty sequence of object names, got {objects!r}")
    unknown = set(objects) - set(OBJECTS)
    if unknown:
        raise ValueError(f"objects must be among {', '.join(OBJECTS)}; got {sorted(unknown)}")
    if not isinstance(scale, Sequence) or len(scale) != 2:
        raise TypeError(f"scale must be a (low, high) pair, got {scale!r}")
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
    if scale[0] * size < 8:
        raise ValueError(f"scale's low end must give objects of 8 px or more at size {size}, got {scale}")
    rng = np.random.default_rng(seed)
    cut = object_cutouts()
    bgs = backgrounds(size)
    bg_names = sorted(bgs)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), bool)
    boxes = np.empty((n, 4), np.int64)
    labels = np.empty(n, np.int64)
    obj_names, bg_used = [], []

    def place(name: str):
        img, mask, _ = cut[name]
        side = rng.uniform(*scale) * size
        f = side / max(img.shape[:2])
        h, w = max(1, round(img.shape[0] * f)), max(1, round(img.shape[1] * f))
        o = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        m = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return o, m, h, w

    def paste(canvas, o, m, y0, x0):
        h, w = m.shape
        region = canvas[y0 : y0 + h, x0 : x0 + w]
        region[m] = o[m]

    for i in range(n):
        obj = objects[int(rng.integers(len(objects)))]
        bg = bg_names[int(rng.integers(len(bg_names)))]
        label = cut[obj][2]
        o, m, h, w = place(obj)
        y0, x0 = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
        canvas = bgs[bg].copy()
        taken = [(x0, y0, x0 + w, y0 + h)]
        others = [k for k in OBJECTS if cut[k][2] != label]
        for _ in range(distractors if others else 0):
            do, dm, dh, dw = place(others[int(rng.integers(len(others)))])
            for _ in range(100):
                dy, dx = int(rng.integers(0, size - dh + 1)), int(rng.integers(0, size - dw + 1))
                box = (dx, dy, dx + dw, dy + dh)
                if all(box[2] <= t[0] or t[2] <= box[0] or box[3] <= t[1] or t[3] <= box[1] for t in taken):
                    paste(canvas, do, dm, dy, dx)
                    taken.append(box)
                    break
        paste(canvas, o, m, y0, x0)
        images[i] = canvas
        masks[i, y0 : y0 + h, x0 : x0 + w] = m
        ys, xs = np.nonzero(masks[i])
        boxes[i] = (xs.min(), ys.min(), xs.max(), ys.max())
        labels[i] = label
        obj_names.append(obj)
        bg_used.append(bg)
    return Composites(images, masks, boxes, labels, obj_names, bg_used)


def keep_predicted(
    model,
    preprocess,
    comps: Composites,
    *,
    topk: int = 1,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> tuple[Composites, int]:
    """The composites whose object class is among the model's top-``topk`` predictions, and how
    many were dropped. ``preprocess.normalize`` maps (B, H, W, 3) uint8 to the model's input."""
    keep = np.zeros(len(comps), bool)
    with torch.no_grad():
        for i in range(0, len(comps), batch_size):
            x = preprocess.normalize(comps.images[i : i + batch_size]).to(device)
            top = model(x).topk(topk, dim=1).indices.cpu().numpy()
            keep[i : i + batch_size] = (top == comps.labels[i : i + batch_size, None]).any(axis=1)
    return comps.subset(keep), int((~keep).sum())
