"""Removal-based evaluations: ROAR (Hooker et al.; thesis 3.5) and filter removal (thesis 6.2.2,
Table 6.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from swagfast._validate import check_int, check_number
from swagfast.attribution.layers import capture, keeps_model, resolve_layer
from swagfast.metrics._checks import descending_order


def _trapezoid(xs: np.ndarray, ys: np.ndarray) -> float:
    return float(np.sum((ys[1:] + ys[:-1]) * np.diff(xs)) / 2)


class RemovalCurve(NamedTuple):
    """``fractions`` removed (x-axis, 0..1), ``accuracy`` at each (``repeats`` x points for ROAR),
    ``mean`` over repeats, and the trapezoid ``auc`` of the mean over the fractions."""

    fractions: np.ndarray
    accuracy: np.ndarray
    mean: np.ndarray
    auc: float


def remove_top_pixels(
    x: torch.Tensor, heatmaps: torch.Tensor, fraction: float, substrate: str = "mean"
) -> torch.Tensor:
    """Replace the top ``fraction`` of pixels of each (B, C, H, W) image, ranked by its (B, H, W)
    heatmap (ties by pixel index), with the image's per-channel mean (``substrate="mean"``, as
    ROAR) or 0 (``"zero"``)."""
    if substrate not in ("mean", "zero"):
        raise ValueError(f"substrate must be 'mean' or 'zero', got {substrate!r}")
    check_number(fraction, "fraction", low=0, high=1)
    if not isinstance(x, torch.Tensor) or not isinstance(heatmaps, torch.Tensor):
        raise TypeError(
            f"x and heatmaps must be torch tensors, got {type(x).__name__} and {type(heatmaps).__name__}"
        )
    if x.ndim < 3 or tuple(heatmaps.shape) != (x.shape[0], *x.shape[2:]):
        raise ValueError(
            f"heatmaps must have shape (B, ...) = {(x.shape[0], *x.shape[2:])} for x of shape "
            f"{tuple(x.shape)}, got {tuple(heatmaps.shape)}"
        )
    B = x.shape[0]
    N = heatmaps[0].numel()
    k = int(round(fraction * N))
    if k == 0:
        return x.clone()
    order = descending_order(heatmaps.reshape(B, N))[:, :k]
    drop = torch.zeros(B, N, dtype=torch.bool, device=x.device)
    drop.scatter_(1, order, True)
    fill = (
        x.mean(dim=tuple(range(2, x.ndim)), keepdim=True)
        if substrate == "mean"
        else torch.zeros_like(x[:, :, :1])
    )
    return torch.where(drop.view(B, 1, *x.shape[2:]), fill.expand_as(x), x)


def roar(
    train_fn: Callable[[torch.Tensor, torch.Tensor, int], nn.Module],
    dataset: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    explain_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    fractions: Iterable[float] = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9),
    repeats: int = 5,
    *,
    substrate: str = "mean",
    batch_size: int = 256,
) -> RemovalCurve:
    """RemOve And Retrain: remove the top t% pixels of every train and test image (by the
    heatmaps of ``explain_fn``, computed once on the unmodified images), retrain with
    ``train_fn(x, y, seed)``, record test accuracy; ``repeats`` seeds (0..repeats-1) per fraction.

    ``dataset`` = (train_x, train_y, test_x, test_y); removed pixels take the image's mean colour
    (or 0, ``substrate="zero"``). A better explanation gives a lower curve (lower AUC). Note the
    known leak: the shape of the removed region can itself carry the class.
    """
    fractions = np.asarray(list(fractions), dtype=np.float64)
    if (
        fractions.ndim != 1
        or len(fractions) < 2
        or not (fractions.min() >= 0 and fractions.max() <= 1)
        or (np.diff(fractions) <= 0).any()
    ):
        raise ValueError(
            f"fractions must be at least two increasing values in [0, 1] (the AUC's x axis), "
            f"got {fractions.tolist()}"
        )
    check_int(repeats, "repeats")
    train_x, train_y, test_x, test_y = dataset
    heat_train, heat_test = explain_fn(train_x, train_y), explain_fn(test_x, test_y)
    acc = np.zeros((repeats, len(fractions)))
    for j, t in enumerate(fractions):
        tr = remove_top_pixels(train_x, heat_train, t, substrate)
        te = remove_top_pixels(test_x, heat_test, t, substrate)
        for r in range(repeats):
            model = train_fn(tr, train_y, r)
            with torch.no_grad():
                pred = torch.cat(
                    [model(te[i : i + batch_size]).argmax(1) for i in range(0, len(te), batch_size)]
                )
            acc[r, j] = float((pred == test_y).float().mean())
    mean = acc.mean(axis=0)
    return RemovalCurve(fractions, acc, mean, _trapezoid(fractions, mean))


@keeps_model
def filter_removal_auc(
    model: nn.Module,
    layer: nn.Module | str,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    scores: torch.Tensor | Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    step: int | None = None,
) -> RemovalCurve:
    """Zero the layer's channels in order of decreasing ``scores``, ``step`` at a time (default
    K/32), and record the accuracy over ``loader`` normalised by the unablated accuracy; AUC over
    the fraction of channels removed (thesis Table 6.1: a better ranking gives a lower AUC).

    ``scores``: a (K,) tensor (one ranking for every image) or ``scores(x, y) -> (B, K)`` (a
    ranking per image, e.g. Grad-AMap filter scores). Ties keep the lower channel index first.
    """
    layer = resolve_layer(model, layer)
    batches = list(loader)
    if not batches:
        raise ValueError("loader must yield at least one (images, labels) batch")
    with torch.no_grad(), capture(layer) as box:
        model(batches[0][0][:1])
    K = box.output.shape[1]
    step = max(1, K // 32) if step is None else step
    check_int(step, "step")
    counts = list(range(0, K + 1, step))
    if counts[-1] != K:
        counts.append(K)
    if not callable(scores) and tuple(torch.as_tensor(scores).shape) != (K,):
        raise ValueError(
            f"scores must be {K} channel scores (the layer's channels) or a callable, "
            f"got shape {tuple(torch.as_tensor(scores).shape)}"
        )
    correct = np.zeros(len(counts))
    total = 0
    for x, y in batches:
        s = scores(x, y) if callable(scores) else torch.as_tensor(scores).expand(len(x), K)
        if tuple(s.shape) != (len(x), K):
            raise ValueError(f"scores must give {K} channel scores per image, got shape {tuple(s.shape)}")
        rank = torch.empty_like(s, dtype=torch.long)
        order = descending_order(s)
        rank.scatter_(1, order, torch.arange(K, device=s.device).expand(len(x), K))
        for j, n in enumerate(counts):
            keep = (rank >= n).to(box.output.dtype)

            def zero(out, keep=keep):
                return out * keep.view(*keep.shape, *([1] * (out.ndim - 2))).to(out.device, out.dtype)

            with torch.no_grad(), capture(layer, edit=zero):
                pred = model(x).argmax(1)
            correct[j] += float((pred == y.to(pred.device)).sum())
        total += len(x)
    acc = correct / total
    base = acc[0] if acc[0] > 0 else 1.0
    xs = np.asarray(counts, dtype=np.float64) / K
    norm = acc / base
    return RemovalCurve(xs, acc[None], norm, _trapezoid(xs, norm))
