"""Faithfulness (Average Drop / Increase in Confidence, thesis 5.4.2) and the BAM model contrast
score (thesis 5.4; METHODS.md §6)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from swagfast._backend import resolve_batch_size
from swagfast.attribution import resolve_target
from swagfast.attribution.layers import keeps_model
from swagfast.baselines import unit_range
from swagfast.metrics._checks import check_heatmaps, heatmaps_of


class Faithfulness(NamedTuple):
    """Percentages over the batch: ``average_drop`` = mean(max(0, Y - O) / Y) * 100,
    ``increase_in_confidence`` = mean(1[Y < O]) * 100, ``mean_increase`` = mean(max(0, O - Y) / Y)
    * 100; ``y_input`` (Y) and ``o_explanation`` (O), (B,): the class's softmax on the input and on
    the explanation map."""

    average_drop: float
    increase_in_confidence: float
    mean_increase: float
    y_input: torch.Tensor
    o_explanation: torch.Tensor


def unit_heatmap(heatmap: torch.Tensor) -> torch.Tensor:
    """Each item min-max scaled to [0, 1] in float32 (constant maps become 0)."""
    return unit_range(heatmap.float())


@keeps_model
def faithfulness(
    model: nn.Module, x: torch.Tensor, heatmap, *, target=None, batch_size: int | None = None
) -> Faithfulness:
    """Average Drop, Increase in Confidence and the mean increase (Chattopadhay et al.).

    The explanation map is the heatmap scaled to [0, 1] per item times the (normalised) input,
    so masked-out pixels become 0, the dataset mean. The thesis (5.4.2) shows the flaw: the
    ``baselines.constant`` heatmap (0.9 everywhere) beats Grad-CAM on both numbers.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    heatmap = torch.as_tensor(heatmaps_of(heatmap), device=x.device)
    expected = (x.shape[0], *x.shape[2:])
    if x.ndim < 3 or tuple(heatmap.shape) != expected:
        raise ValueError(
            f"heatmap must have shape {expected} (x without its channel axis), got {tuple(heatmap.shape)}"
        )
    check_heatmaps(heatmap, "heatmap")
    masked = x * unit_heatmap(heatmap).unsqueeze(1).to(x.dtype)
    batch_size = resolve_batch_size(batch_size, x.device)
    with torch.no_grad():
        Y_logits = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
        t = resolve_target(Y_logits, target)
        O_logits = torch.cat([model(masked[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    y = Y_logits.softmax(1).gather(1, t.view(-1, 1)).squeeze(1)
    o = O_logits.softmax(1).gather(1, t.view(-1, 1)).squeeze(1)
    drop = ((y - o).clamp_min(0) / y).mean().item() * 100
    ic = (y < o).float().mean().item() * 100
    inc = ((o - y).clamp_min(0) / y).mean().item() * 100
    return Faithfulness(drop, ic, inc, y, o)


def model_contrast_score(
    heatmaps_obj_model, heatmaps_scene_model, masks, correct_obj=None, correct_scene=None
) -> float:
    """BAM's model contrast score (Yang & Kim): ``G_obj(object model) - G_obj(scene model)``.

    ``G`` = mean over correctly classified images of the mean heatmap (scaled to [0, 1]) inside
    the object mask. Heatmaps (B, H, W) of the two models on the same images; masks (B, H, W)
    bool; ``correct_*`` (B,) bool (default: all).
    """

    def g(heat, correct):
        heat = heatmaps_of(heat)
        heat = torch.as_tensor(np.asarray(heat) if not isinstance(heat, torch.Tensor) else heat)
        check_heatmaps(heat)
        h = unit_heatmap(heat)
        m = (
            torch.as_tensor(np.asarray(masks) if not isinstance(masks, torch.Tensor) else masks)
            .bool()
            .to(h.device)
        )
        if h.shape != m.shape:
            raise ValueError(
                f"heatmaps and masks must have the same shape, got {tuple(h.shape)} and {tuple(m.shape)}"
            )
        inside = (h * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
        keep = torch.ones(len(h), dtype=torch.bool) if correct is None else torch.as_tensor(correct).bool()
        if tuple(keep.shape) != (len(h),):
            raise ValueError(
                f"correct_obj / correct_scene must be ({len(h)},) bools, got shape {tuple(keep.shape)}"
            )
        if not keep.any():
            raise ValueError("no correctly classified image to average over")
        return float(inside[keep.to(inside.device)].mean())

    return g(heatmaps_obj_model, correct_obj) - g(heatmaps_scene_model, correct_scene)
