"""Weak localisation and the pointing game (thesis 2.4, 5.4; METHODS.md §6)."""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
import torch

from swagfast._validate import check_int, check_number
from swagfast.baselines import unit_range
from swagfast.metrics._checks import check_heatmaps, heatmaps_of

FAMILIES = {
    "value": np.round(np.arange(0.0, 0.951, 0.05), 2),  # t in 0:0.05:0.95
    "mean": np.round(np.arange(0.0, 10.01, 0.5), 2),  # a in 0:0.5:10, threshold a * mean
    "energy": np.round(np.arange(0.0, 95.1, 5.0), 1),  # a% of the total
}


def _np(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _unit(h: np.ndarray) -> np.ndarray:
    """The whole map min-max scaled to [0, 1] in float64 (a constant map becomes 0)."""
    return unit_range(torch.from_numpy(np.asarray(h, np.float64)[None]))[0].numpy()


def _threshold(h: np.ndarray, family: str, a: float) -> float:
    if family == "value":
        return a
    if family == "mean":
        return a * h.mean()
    # energy: the value of the last pixel of the smallest top set holding a% of the total
    if a <= 0:
        return np.inf
    v = np.sort(h.ravel())[::-1]
    total = v.sum()
    if total <= 0:
        return np.inf
    k = int(np.searchsorted(np.cumsum(v), a / 100.0 * total))
    return v[min(k, len(v) - 1)]


def mask_box(mask: np.ndarray, component: str = "largest") -> tuple[int, int, int, int] | None:
    """(x_min, y_min, x_max, y_max) of the largest 8-connected component (or of all pixels)."""
    if not mask.any():
        return None
    if component == "largest":
        n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, w, h = (
            int(stats[best, c])
            for c in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT)
        )
        return x, y, x + w - 1, y + h - 1
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def box_iou(a, b) -> float:
    """IoU of two inclusive pixel boxes (x_min, y_min, x_max, y_max)."""
    if a is None or b is None:
        return 0.0
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


class Localisation(NamedTuple):
    """``error`` family -> error % at its best threshold; ``best_threshold`` family -> that
    threshold; ``errors`` family -> (thresholds, error % at each)."""

    error: dict[str, float]
    best_threshold: dict[str, float]
    errors: dict[str, tuple[np.ndarray, np.ndarray]]


def ground_truth_boxes(boxes) -> np.ndarray:
    """(n, 4) int64 boxes (x_min, y_min, x_max, y_max), each with min <= max."""
    try:
        fb = np.asarray(boxes, dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"boxes must be (x_min, y_min, x_max, y_max) integer boxes, got {boxes!r} ({err})"
        ) from None
    if fb.size % 4 or (fb.ndim > 1 and fb.shape[-1] != 4):
        raise ValueError(f"boxes must be (x_min, y_min, x_max, y_max) boxes of 4 numbers, got {boxes!r}")
    fb = fb.reshape(-1, 4)
    if ((fb[:, 2] < fb[:, 0]) | (fb[:, 3] < fb[:, 1])).any():
        raise ValueError(f"boxes must have x_min <= x_max and y_min <= y_max, got {fb.tolist()}")
    return fb


def _frame_boxes(boxes, h: np.ndarray) -> list[np.ndarray]:
    """One item's ground truth, checked once: [(n, 4)] for an image ``h`` (H, W), one (n, 4)
    per frame for a clip (T, H, W)."""
    if h.ndim == 2:
        return [ground_truth_boxes(boxes)]
    if len(boxes) != len(h):
        raise ValueError(f"boxes must give one entry per frame ({len(h)}), got {len(boxes)}")
    return [ground_truth_boxes(fb) for fb in boxes]


def iou_frames(h: np.ndarray, truth: list[np.ndarray], family: str, a: float, component: str) -> float:
    """Max IoU over the ground-truth boxes (2-D), or the mean over frames of it (3-D); ``truth``
    from :func:`_frame_boxes`."""
    hu = _unit(h)  # scaled over the whole clip, so frames keep their relative strength
    thr = _threshold(hu, family, a)
    frames = hu[None] if h.ndim == 2 else hu
    ious = []
    for f, fb in zip(frames, truth, strict=True):
        box = mask_box(f >= thr, component) if np.isfinite(thr) else None
        ious.append(max((box_iou(box, g) for g in fb), default=0.0))
    return float(np.mean(ious))


def weak_localisation(
    heatmaps,
    boxes,
    *,
    families: tuple[str, ...] = ("value", "mean", "energy"),
    component: str = "largest",
    iou: float = 0.5,
) -> Localisation:
    """Weak localisation error (thesis 5.4, METHODS.md §6).

    Each heatmap is scaled to [0, 1]; for every threshold of a family the pixels at or above it
    are boxed (largest 8-connected component, or ``component="all"`` pixels) and the item is
    correct when the box's IoU with one of its ground-truth boxes exceeds ``iou``. Families:
    ``value`` t in 0:0.05:0.95; ``mean`` a * mean(heatmap), a in 0:0.5:10; ``energy`` the
    smallest set of top pixels holding a% of the total, a in 0:5:95, with every pixel tied with
    its last one (a threshold like the others: on SWAG's piecewise-constant maps whole segments,
    not an arbitrary part of the last one).

    Parameters
    ----------
    heatmaps : (B, H, W) or, for video, (B, T, H, W); numpy or torch
    boxes : sequence of B entries
        Images: (n, 4) boxes ``(x_min, y_min, x_max, y_max)``, inclusive pixels. Video: T
        entries of (n, 4), one per frame; a clip counts as correct when the mean over its frames
        of the per-frame IoU exceeds ``iou``.

    Returns
    -------
    Localisation
        Error % at the best threshold of each family, the threshold, and the whole curve.
    """
    h = _np(heatmaps_of(heatmaps))
    if h.ndim not in (3, 4):
        raise ValueError(f"heatmaps must have shape (B, H, W) or (B, T, H, W), got {h.shape}")
    check_heatmaps(h)
    if len(boxes) != len(h):
        raise ValueError(f"boxes must give the boxes of each of the {len(h)} heatmaps, got {len(boxes)}")
    if component not in ("largest", "all"):
        raise ValueError(f"component must be 'largest' or 'all', got {component!r}")
    check_number(iou, "iou", low=0, high=1, high_open=True)  # the overlap a box must exceed
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"families must be among {', '.join(FAMILIES)}; got {sorted(unknown)}")
    truth = [_frame_boxes(bx, hm) for hm, bx in zip(h, boxes, strict=True)]
    error, best, curves = {}, {}, {}
    for fam in families:
        thresholds = FAMILIES[fam]
        correct = np.array(
            [
                [iou_frames(hm, gt, fam, a, component) > iou for a in thresholds]
                for hm, gt in zip(h, truth, strict=True)
            ]
        )
        errs = 100.0 * (1.0 - correct.mean(axis=0))
        i = int(np.argmin(errs))
        error[fam], best[fam], curves[fam] = float(errs[i]), float(thresholds[i]), (thresholds, errs)
    return Localisation(error, best, curves)


class PointingGame(NamedTuple):
    """Accuracy = hits / (hits + misses) over all items and over the ``difficult`` ones."""

    accuracy: float
    accuracy_difficult: float | None
    hits: np.ndarray  # (B,) bool; items with an empty mask are False and excluded from both


def pointing_game(heatmaps, masks, *, tolerance: int = 15, difficult=None) -> PointingGame:
    """The pointing game (Zhang et al.; thesis 5.4): the heatmap's maximum (first in raster
    order on ties) is a hit when a pixel of the class's mask lies strictly within ``tolerance``
    pixels of it, ``dy^2 + dx^2 < tolerance^2``, the rule of TorchRay's reference implementation
    the thesis measured with (a mask pixel exactly ``tolerance`` away is a miss); with
    ``tolerance=0``, when the maximum lies on the mask itself. Exact integer arithmetic.

    heatmaps (B, H, W); masks (B, H, W) bool; ``difficult`` (B,) bool marks the hard subset
    (e.g. small objects or images with distractors). Items whose mask is empty are skipped.
    """
    tol = check_int(tolerance, "tolerance", low=0)  # pixels
    h, m = _np(heatmaps_of(heatmaps)), _np(masks).astype(bool)
    if h.ndim != 3 or m.shape != h.shape:
        raise ValueError(f"heatmaps and masks must both be (B, H, W), got {h.shape} and {m.shape}")
    check_heatmaps(h)
    hits = np.zeros(len(h), bool)
    valid = m.reshape(len(m), -1).any(axis=1)
    for i, (hm, mk) in enumerate(zip(h, m, strict=True)):
        if not valid[i]:
            continue
        y, x = np.unravel_index(int(np.argmax(hm)), hm.shape)
        if tol == 0:
            hits[i] = bool(mk[y, x])
            continue
        y0, x0 = max(y - tol, 0), max(x - tol, 0)
        ys, xs = np.nonzero(mk[y0 : y + tol + 1, x0 : x + tol + 1])
        hits[i] = bool(((ys + y0 - y) ** 2 + (xs + x0 - x) ** 2 < tol * tol).any())
    acc = float(hits[valid].mean()) if valid.any() else float("nan")
    acc_d = None
    if difficult is not None:
        d = np.asarray(difficult, bool) & valid
        acc_d = float(hits[d].mean()) if d.any() else float("nan")
    return PointingGame(acc, acc_d, hits)
