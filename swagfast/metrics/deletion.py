"""Deletion and insertion (RISE-style; thesis 3.5, METHODS.md §6)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from swagfast._backend import resolve_batch_size
from swagfast._validate import check_choice, check_int, forwarded_options, with_options_of
from swagfast.attribution.layers import keeps_model
from swagfast.metrics._checks import check_heatmaps, descending_order, heatmaps_of

SUBSTRATES = ("zero", "blur", "mean")


class Curves(NamedTuple):
    """``curves`` (B, steps + 1): softmax of the originally predicted class after each step
    (step 0 included); ``auc`` (B,): trapezoid area over x in [0, 1]; ``target`` (B,)."""

    curves: torch.Tensor
    auc: torch.Tensor
    target: torch.Tensor


def auc(curves: torch.Tensor) -> torch.Tensor:
    """Trapezoid rule over an x-axis of [0, 1] with evenly spaced points: (B, S + 1) -> (B,)."""
    steps = curves.shape[-1] - 1
    if steps < 1:
        raise ValueError(f"curves need at least 2 points, got {curves.shape[-1]}")
    return (curves[..., 1:] + curves[..., :-1]).sum(dim=-1) / (2 * steps)


def _substrate(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "mean":
        dims = tuple(range(2, x.ndim))
        return x.mean(dim=dims, keepdim=True).expand_as(x).clone()
    # blur: Gaussian, sigma 5 px, kernel 21, per channel (and per frame), reflect padding (an
    # axis of 10 px or fewer, too short to reflect 10 px, repeats its edge pixel instead)
    k = torch.exp(-0.5 * ((torch.arange(21, device=x.device, dtype=x.dtype) - 10) / 5.0) ** 2)
    k = k / k.sum()
    flat = x.reshape(-1, 1, *x.shape[-2:])

    def pad(n: int) -> str:
        return "reflect" if n > 10 else "replicate"

    flat = F.conv2d(F.pad(flat, (10, 10, 0, 0), mode=pad(x.shape[-1])), k.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, 10, 10), mode=pad(x.shape[-2])), k.view(1, 1, -1, 1))
    return flat.reshape(x.shape)


@keeps_model
def _curves(model, x, heatmap, steps, substrate, batch_size, insert: bool) -> Curves:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim not in (4, 5):
        raise ValueError(f"x must be a (B, C, H, W) or (B, C, T, H, W) tensor, got shape {tuple(x.shape)}")
    heatmap = torch.as_tensor(heatmaps_of(heatmap), device=x.device)
    expected = (x.shape[0], *x.shape[2:])
    if tuple(heatmap.shape) != expected:
        raise ValueError(
            f"heatmap must have shape {expected} (x without its channel axis), got {tuple(heatmap.shape)}"
        )
    check_heatmaps(heatmap, "heatmap")
    check_int(steps, "steps")
    check_choice(substrate, "substrate", SUBSTRATES)
    batch_size = resolve_batch_size(batch_size, x.device)
    B, N = x.shape[0], heatmap[0].numel()
    with torch.no_grad():
        target = model(x).argmax(dim=1)
        # rank of every pixel, most important first; ties by pixel index (stable sort)
        order = descending_order(heatmap.reshape(B, N))
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(N, device=x.device).expand(B, N))
        counts = torch.round(
            torch.arange(steps + 1, device=x.device) * (N / steps)
        ).long()  # pixels changed per step
        base = _substrate(x, substrate)
        start, end = (base, x) if insert else (x, base)
        curves = torch.empty((B, steps + 1), device=x.device)
        jobs = [(b, s) for b in range(B) for s in range(steps + 1)]
        for i in range(0, len(jobs), batch_size):
            chunk = jobs[i : i + batch_size]
            bs = torch.tensor([b for b, _ in chunk], device=x.device)
            ss = torch.tensor([s for _, s in chunk], device=x.device)
            changed = (rank[bs] < counts[ss, None]).view(len(chunk), 1, *x.shape[2:])
            inputs = torch.where(changed, end[bs], start[bs])
            probs = model(inputs).softmax(dim=1)
            curves[bs, ss] = probs.gather(1, target[bs].view(-1, 1)).squeeze(1).float()
    return Curves(curves, auc(curves), target)


def deletion(
    model: nn.Module,
    x: torch.Tensor,
    heatmap,
    *,
    steps: int = 28,
    substrate: str = "zero",
    batch_size: int | None = None,
) -> Curves:
    """Deletion: replace the most important pixels (by ``heatmap``) with the substrate, N/steps at
    a time, and record the softmax of the class predicted on the original ``x`` (lower AUC = better).

    Parameters
    ----------
    model : nn.Module
    x : (B, C, H, W) or (B, C, T, H, W), normalised input
    heatmap : (B, H, W) or (B, T, H, W), or an Explanation
        Ranking; ties broken by pixel index (deterministic).
    steps : int, default 28
        Number of deletion steps (224x224: 1,792 pixels a step; 16x112x112: 7,168 voxels).
    substrate : {"zero", "blur", "mean"}, default "zero"
        What deleted pixels become: 0 (after normalisation), a Gaussian blur (sigma 5 px) of
        ``x``, or each item's per-channel mean.
    batch_size : int, optional
        Images per forward pass (items and steps are batched together); default 64 on a GPU,
        8 on the CPU.
    """
    return _curves(model, x, heatmap, steps, substrate, batch_size, insert=False)


@with_options_of(deletion)
def insertion(model: nn.Module, x: torch.Tensor, heatmap, **options) -> Curves:
    """Insertion: start from the substrate and restore the most important pixels first (higher AUC
    = better). Same arguments and defaults as :func:`deletion`."""
    o = forwarded_options("insertion", options, deletion)
    return _curves(model, x, heatmap, o["steps"], o["substrate"], o["batch_size"], insert=True)
