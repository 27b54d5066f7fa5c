"""Where a surprising filter looks, and deleting it to fix the prediction (thesis 6.3.2, 6.4.1).

* :func:`filter_gradient`: the vanilla input gradient of a class score back-propagated **only
  through one filter** of a layer (the gradient of every other channel there is zeroed).
* :func:`surprise_region`: that gradient's per-pixel map ``max_c |g|`` mean-pooled into colour
  SLIC superpixels (50 by default); the top superpixel is the region.
* :func:`masked_activation`: a (training) image multiplied by one filter's up-sampled activation
  map, to show beside the region (thesis Fig. 6.10).
* :func:`suppress_surprise`: the K x r sweep — for K superpixels in {100, 200, 300, 400}, zero
  the r highest in {1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100}; an image is fixed when some setting
  makes the model predict its true class. Run with the gradient through the most surprising
  filter and, for comparison, with the unrestricted vanilla gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from swagfast import attribution as attr
from swagfast._backend import resolve_batch_size
from swagfast.attribution.layers import capture, keeps_model, resolve_layer
from swagfast.explainers.swag import IMAGENET_MEAN, IMAGENET_STD
from swagfast.failure.analysis import analyze
from swagfast.failure.stats import FilterStats
from swagfast.superpixels import segment_pool, slic

SEGMENTS = (100, 200, 300, 400)
REMOVALS = (1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100)


@keeps_model
def filter_gradient(
    model: nn.Module,
    layer: nn.Module | str,
    x: torch.Tensor,
    filters: torch.Tensor | Sequence[int] | int | None,
    target=None,
    *,
    score: str = "logit",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Input gradient of the class score through one channel of ``layer`` per image.

    Parameters
    ----------
    filters : int, sequence or (B,) tensor, or None
        The channel kept per image; a negative entry or None keeps every channel (the plain
        vanilla gradient).
    target : None, int, sequence or tensor
        The class differentiated (None = top-1 prediction).

    Returns
    -------
    grad : tensor shaped like ``x``
    target : (B,) int64
    """
    attr.check_input(x)
    module = resolve_layer(model, layer)
    B = len(x)
    if filters is None:
        keep = torch.full((B,), -1, dtype=torch.long)
    else:
        keep = torch.as_tensor(filters, dtype=torch.long).reshape(-1)
        if keep.numel() == 1:
            keep = keep.expand(B)
        if keep.numel() != B:
            raise ValueError(f"filters must give one channel per image ({B}), got {keep.numel()}")
    keep = keep.to(x.device)

    def restrict(out: torch.Tensor) -> torch.Tensor:
        K = out.shape[1]
        if keep.numel() and int(keep.max()) >= K:
            raise ValueError(f"filters must be channel indices below {K}, got {int(keep.max())}")
        mask = torch.ones(out.shape[:2], device=out.device, dtype=out.dtype)
        rows = keep >= 0
        mask[rows] = F.one_hot(keep[rows], K).to(out.dtype)
        mask = mask.view(*mask.shape, *([1] * (out.ndim - 2)))
        if out.requires_grad:
            out.register_hook(lambda g: g * mask)
        return out

    xg = x.detach().requires_grad_(True)
    with torch.enable_grad(), capture(module, edit=restrict):
        logits = attr.forward(model, xg)
        t = attr.resolve_target(logits, target)
        (grad,) = torch.autograd.grad(attr.class_score(logits, t, score).sum(), xg)
    return grad, t


def _colour(x: torch.Tensor, image, mean, std) -> torch.Tensor:
    if image is not None:
        if not isinstance(image, torch.Tensor) or tuple(image.shape) != tuple(x.shape):
            raise ValueError(
                f"image must be the un-normalised (B, 3, H, W) tensor beside x {tuple(x.shape)}, got "
                f"{tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__}"
            )
        return image.to(x.device)
    shape = (1, -1, 1, 1)
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(shape)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(shape)
    return (x.detach() * s + m).clamp(0.0, 1.0)


def _ranked_segments(pixel: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Per image, the segment labels ordered by mean pixel score (highest first, ties: lower label)."""
    scores = segment_pool(pixel, segments, "mean", scatter=False).segment_values
    n = segments.flatten(1).max(dim=1).values + 1
    order = []
    for b in range(len(pixel)):
        v = scores[b, : int(n[b])]
        order.append(torch.sort(-v, stable=True).indices)
    return order


@dataclass
class Region:
    """The region a filter responds to: ``segments`` (B, H, W) colour superpixels, ``mask``
    (B, H, W) bool (the top segment), ``pixel`` (B, H, W) the gradient map."""

    segments: torch.Tensor
    mask: torch.Tensor
    pixel: torch.Tensor
    target: torch.Tensor


@keeps_model
def surprise_region(
    model: nn.Module,
    layer: nn.Module | str,
    x: torch.Tensor,
    filters,
    target=None,
    *,
    n_segments: int = 50,
    image: torch.Tensor | None = None,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    score: str = "logit",
) -> Region:
    """The superpixel where the gradient through ``filters`` is strongest (thesis 6.3.2).

    ``image``: the un-normalised (B, 3, H, W) RGB input in [0, 1]; by default recovered from
    ``x`` with ``mean``/``std``. ``target`` defaults to the predicted class (the region is what
    the filter contributes to the wrong prediction); pass the true class to look the other way.
    """
    grad, t = filter_gradient(model, layer, x, filters, target, score=score)
    pixel = attr.pixel_map(grad)
    segments = slic(_colour(x, image, mean, std), n_segments)
    top = torch.stack([o[0] for o in _ranked_segments(pixel, segments)])
    mask = segments == top.view(-1, 1, 1).to(segments.dtype)
    return Region(segments=segments, mask=mask, pixel=pixel, target=t)


@keeps_model
def masked_activation(
    model: nn.Module,
    layer: nn.Module | str,
    x: torch.Tensor,
    filters,
    *,
    image: torch.Tensor | None = None,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> torch.Tensor:
    """(B, 3, H, W) colour images multiplied by their filter's activation map, up-sampled
    (bilinear) and scaled to [0, 1] per image (thesis Fig. 6.10, the training images)."""
    attr.check_input(x)
    module = resolve_layer(model, layer)
    with torch.no_grad(), capture(module) as box:
        model(x)
    A = box.output
    f = torch.as_tensor(np.asarray(filters.cpu() if isinstance(filters, torch.Tensor) else filters))
    if f.dtype == torch.bool or f.dtype.is_floating_point or f.dtype.is_complex:
        raise TypeError(f"filters must be channel indices (ints), got dtype {f.dtype}")
    f = f.reshape(-1)
    K = A.shape[1]
    if len(f) not in (1, len(x)) or (len(f) and not (0 <= int(f.min()) and int(f.max()) < K)):
        raise ValueError(
            f"filters must be one channel index in [0, {K}) or one per image ({len(x)}), got {f.tolist()}"
        )
    f = f.to(A.device).expand(len(x))
    act = A[torch.arange(len(x), device=A.device), f].unsqueeze(1).float()
    act = F.interpolate(act, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False).clamp_min(0)
    peak = act.flatten(1).max(dim=1).values.view(-1, 1, 1, 1)
    act = torch.where(peak > 0, act / torch.where(peak > 0, peak, 1.0), 0.0)
    return _colour(x, image, mean, std) * act.to(x.dtype)


@dataclass
class Sweep:
    """One suppression sweep over B images.

    ``fixed`` (B, len(segments), len(removals)) bool: the prediction became the true class;
    ``eligible`` (B,): images the sweep ran on; ``any_fixed`` (B,); ``setting`` (B, 2) the
    fixing (K, r) that deletes the fewest pixels (-1 where none); ``deleted`` (B, H, W) bool,
    that setting's deleted pixels (all False where none).
    """

    fixed: torch.Tensor
    eligible: torch.Tensor
    any_fixed: torch.Tensor
    setting: torch.Tensor
    deleted: torch.Tensor
    segments: tuple[int, ...]
    removals: tuple[int, ...]

    @property
    def count(self) -> int:
        return int(self.any_fixed.sum())


@dataclass
class Suppression:
    """:func:`suppress_surprise`'s result: the sweep through the most surprising filter
    (``surprise``), the same sweep with the unrestricted vanilla gradient (``vanilla``, or None),
    the analysis (``analysis``) and the filter used per image (``filter``, -1 = none)."""

    surprise: Sweep
    vanilla: Sweep | None
    filter: torch.Tensor
    analysis: object


def _sweep(model, x, y, pixel, eligible, *, segments, removals, batch_size, segments_for) -> Sweep:
    """The suppression sweep of the ``eligible`` items: for each superpixel count and removal
    count, whether deleting the top segments (ranked by ``pixel``) restores the true class."""
    B, H, W = len(x), x.shape[-2], x.shape[-1]
    fixed = torch.zeros((B, len(segments), len(removals)), dtype=torch.bool, device=x.device)
    best_area = torch.full((B,), H * W + 1, dtype=torch.long, device=x.device)
    setting = torch.full((B, 2), -1, dtype=torch.long, device=x.device)
    deleted = torch.zeros((B, H, W), dtype=torch.bool, device=x.device)
    idx = torch.nonzero(eligible).flatten()
    if len(idx) == 0:
        return Sweep(
            fixed, eligible, fixed.flatten(1).any(1), setting, deleted, tuple(segments), tuple(removals)
        )
    for ki, K in enumerate(segments):
        labels = segments_for(K, idx)
        orders = _ranked_segments(pixel[idx], labels)
        for j, b in enumerate(idx.tolist()):  # one image's R variants at a time: memory O(R x image)
            rank = torch.empty_like(orders[j])
            rank[orders[j]] = torch.arange(len(orders[j]), device=rank.device)
            seg_rank = rank[labels[j].long()]
            masks = torch.stack([seg_rank < r for r in removals])  # (R, H, W)
            variants = x[b].unsqueeze(0) * (~masks).unsqueeze(1).to(x.dtype)
            with torch.no_grad():
                preds = torch.cat(
                    [
                        model(variants[s : s + batch_size]).argmax(dim=1)
                        for s in range(0, len(variants), batch_size)
                    ]
                )
            ok = preds == y[b]
            fixed[b, ki] = ok
            area = masks.flatten(1).sum(dim=1)
            for ri in range(len(removals)):
                if ok[ri] and area[ri] < best_area[b]:
                    best_area[b] = area[ri]
                    setting[b] = torch.tensor([K, removals[ri]], device=x.device)
                    deleted[b] = masks[ri]
    return Sweep(fixed, eligible, fixed.flatten(1).any(1), setting, deleted, tuple(segments), tuple(removals))


@keeps_model
def suppress_surprise(
    model: nn.Module,
    layer: nn.Module | str,
    stats: FilterStats,
    x: torch.Tensor,
    y,
    *,
    segments: Sequence[int] = SEGMENTS,
    removals: Sequence[int] = REMOVALS,
    compare: bool = True,
    target: str = "predicted",
    image: torch.Tensor | None = None,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    batch_size: int | None = None,
) -> Suppression:
    """Try to fix misclassified images by deleting (zeroing) the superpixels that drive their most
    surprising filter (thesis 6.4.1, Fig. 6.12).

    Runs on the images that are misclassified and have a surprising filter (see
    :func:`~swagfast.failure.analyze`); with ``compare`` the same sweep runs on every
    misclassified image with the unrestricted vanilla gradient. Deleted pixels are set to 0 in
    ``x``'s (normalised) space. ``target``: "predicted" (default) differentiates the wrong class's
    score, "true" the ground truth's. Superpixels are colour SLIC on ``image`` (or ``x``
    un-normalised with ``mean``/``std``), computed once per K and image for both sweeps.
    """
    for name, seq in (("segments", segments), ("removals", removals)):
        if not seq or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in seq):
            raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {seq!r}")
    if target not in ("predicted", "true"):
        raise ValueError(f"target must be 'predicted' or 'true', got {target!r}")
    bs = resolve_batch_size(batch_size, x.device)
    analysis = analyze(model, layer, stats, x, y)
    true = analysis.true
    wrong = analysis.misclassified
    filt = analysis.most_surprising()
    tgt = analysis.predicted if target == "predicted" else true
    colour = _colour(x, image, mean, std)
    cache: dict[int, torch.Tensor] = {}

    def seg(K: int, idx: torch.Tensor) -> torch.Tensor:
        if K not in cache:
            cache[K] = slic(colour, K)
        return cache[K][idx]

    eligible = wrong & (filt >= 0)
    g, _ = filter_gradient(model, layer, x, torch.where(eligible, filt, 0), tgt, score=stats.score)
    sweep = dict(segments=segments, removals=removals, batch_size=bs, segments_for=seg)
    surprise = _sweep(model, x, true, attr.pixel_map(g), eligible, **sweep)
    vanilla = None
    if compare:
        g, _ = filter_gradient(model, layer, x, None, tgt, score=stats.score)
        vanilla = _sweep(model, x, true, attr.pixel_map(g), wrong, **sweep)
    return Suppression(surprise=surprise, vanilla=vanilla, filter=filt, analysis=analysis)
