"""Vanilla gradients, target handling and the per-pixel map ``max_c |g|`` (thesis 3.3, 3.6.3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

Target = int | Sequence[int] | torch.Tensor | None
SCORES = ("logit", "softmax")


def resolve_target(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """Class index per batch item as a (B,) int64 tensor on ``logits``' device.

    ``None`` takes the top-1 prediction; an int applies to every item; a sequence or tensor
    gives one class per item.
    """
    B, C = logits.shape
    if target is None:
        t = logits.argmax(dim=1)
    elif isinstance(target, bool):
        raise TypeError("target must be None, an int, a sequence of ints or a tensor, got bool")
    elif isinstance(target, int):
        t = torch.full((B,), target, dtype=torch.long, device=logits.device)
    elif isinstance(target, torch.Tensor | Sequence):
        t = torch.as_tensor(target, device=logits.device)
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise TypeError(f"target must hold integers, got dtype {t.dtype}")
        t = t.long().reshape(-1)
        if t.numel() == 1 and B != 1:
            t = t.expand(B)
        if t.numel() != B:
            raise ValueError(f"target must give one class per batch item ({B}), got {t.numel()}")
    else:
        raise TypeError(f"target must be None, an int, a sequence of ints or a tensor, got {type(target).__name__}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= C):
        raise ValueError(f"target classes must be in [0, {C}), got {t.tolist()}")
    return t


def class_score(logits: torch.Tensor, target: torch.Tensor, score: str) -> torch.Tensor:
    """The (B,) scores whose gradients are explained: pre-softmax logit or softmax probability."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}; got {score!r}")
    out = logits.softmax(dim=1) if score == "softmax" else logits
    return out.gather(1, target.view(-1, 1)).squeeze(1)


def _check_input(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim not in (4, 5):
        raise ValueError(f"x must have shape (B, C, H, W) or (B, C, T, H, W), got {tuple(x.shape)}")


def vanilla(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, score: str = "logit"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the class score with respect to the input (Simonyan et al., thesis 2.2).

    Parameters
    ----------
    model : nn.Module
        A classifier returning (B, classes) logits. Its parameters' ``.grad`` are untouched
        (``torch.autograd.grad`` is used), and its mode is left as the caller set it.
    x : (B, C, H, W) or (B, C, T, H, W) float tensor
        Input, normalised as the model expects.
    target : None, int, sequence or tensor
        Class per item; None explains the top-1 prediction.
    score : {"logit", "softmax"}, default "logit"

    Returns
    -------
    grad : tensor shaped like ``x``
    target : (B,) int64 tensor
    """
    _check_input(x)
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(xg)
        t = resolve_target(logits, target)
        (grad,) = torch.autograd.grad(class_score(logits, t, score).sum(), xg)
    return grad, t


def pixel_map(grad: torch.Tensor) -> torch.Tensor:
    """``M = max_c |g_c|`` over the channel axis 1: (B, C, ...) -> (B, ...) (SPEC.md section 1)."""
    return grad.abs().amax(dim=1)
