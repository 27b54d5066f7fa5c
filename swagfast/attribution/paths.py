"""Attributions that average gradients over many inputs: Integrated Gradients (a path from a
baseline) and the noise tunnel (SmoothGrad, SmoothGrad-squared, VarGrad around any gradient).
Each evaluates its inputs in batches of ``internal_batch_size`` items through one forward and
one backward pass, on the input's device."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from swagfast._validate import check_choice, check_int, check_number, check_seed
from swagfast.attribution.gradients import Target, _input_gradient, check_input, resolve_target
from swagfast.attribution.layers import keeps_model

PATH_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
TUNNELS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def path_points(n_steps: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(alphas, weights)`` of ``n_steps`` points on [0, 1] whose weighted sum of ``f(alpha)``
    approximates its integral: Gauss-Legendre nodes, or the Riemann rules (left, right, middle
    points; trapezoid). Captum's points, with one difference: its trapezoid weights the ends
    1/(2n) and the rest 1/n (summing to (n-1)/n); here the rule's 1/(2(n-1)) and 1/(n-1)."""
    n = check_int(n_steps, "n_steps")
    check_choice(method, "method", PATH_METHODS)
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (x + 1), 0.5 * w
    if method == "riemann_trapezoid":
        if n < 2:
            raise ValueError(f"n_steps must be >= 2 for the trapezoid rule, got {n}")
        w = np.full(n, 1 / (n - 1))
        w[[0, -1]] /= 2
        return np.linspace(0, 1, n), w
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (np.arange(n) + offset) / n, np.full(n, 1 / n)


def _batched_gradient(model, points: torch.Tensor, target: torch.Tensor, score: str, chunk: int):
    """Gradients of the class score to each of ``points`` (N, ...), ``chunk`` at a time."""
    out = torch.empty_like(points)
    for i in range(0, len(points), chunk):
        out[i : i + chunk], _ = _input_gradient(
            model, points[i : i + chunk], target[i : i + chunk], score, False
        )
    return out


@keeps_model
def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    baseline: torch.Tensor | float = 0.0,
    n_steps: int = 50,
    method: str = "gausslegendre",
    score: str = "logit",
    internal_batch_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients (Sundararajan et al.): ``(x - x0) * integral_0^1 dF/dx(x0 + a (x -
    x0)) da``, the integral approximated on ``n_steps`` points by ``method`` (Captum's rules;
    the Riemann rules make it ``(x - x0)`` times the mean gradient along the path). The sum of
    the attribution approximates ``F(x) - F(x0)`` (completeness).

    Parameters
    ----------
    baseline : tensor like ``x`` (or broadcastable), or a number, default 0.0
        ``x0``: in the normalised input space (0 is the dataset mean).
    internal_batch_size : int, optional
        Path points per forward / backward pass, over all items (default: every point of a
        batch of 8 items at a time on the CPU, 64 on a GPU).

    Returns ``(attribution shaped like x, target (B,))``.
    """
    check_input(x)
    if not isinstance(baseline, torch.Tensor):
        baseline = torch.tensor(check_number(baseline, "baseline"), dtype=x.dtype, device=x.device)
    x0 = baseline.to(x.device, x.dtype).expand_as(x)
    alphas, weights = path_points(n_steps, method)
    with torch.no_grad():
        t = resolve_target(model(x.detach()), target)
    a = torch.as_tensor(alphas, dtype=x.dtype, device=x.device).view(-1, 1, *([1] * (x.ndim - 1)))
    points = (x0 + a * (x - x0).detach()).reshape(-1, *x.shape[1:])  # (steps * B, ...), step-major
    chunk = internal_batch_size or len(x) * (64 if x.device.type == "cuda" else 8)
    check_int(chunk, "internal_batch_size")
    grads = _batched_gradient(
        model, points, t.repeat(len(alphas)), "logit" if score == "logit" else score, chunk
    )
    w = torch.as_tensor(weights, dtype=x.dtype, device=x.device).view(-1, 1, *([1] * (x.ndim - 1)))
    total = (grads.view(len(alphas), *x.shape) * w).sum(0)
    return (x - x0).detach() * total, t


@keeps_model
def noise_tunnel(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    kind: str = "smoothgrad",
    attribution: Callable | None = None,
    n_samples: int = 25,
    noise_level: float = 0.15,
    stdev: float | None = None,
    seed: int = 0,
    score: str = "logit",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise tunnel around a gradient attribution: the attribution of ``n_samples`` copies
    of ``x`` with Gaussian noise added, combined by ``kind``: ``"smoothgrad"`` their mean
    (Smilkov et al.), ``"smoothgrad_sq"`` the mean of their squares, ``"vargrad"`` their
    variance (Adebayo et al.; ``mean(a^2) - mean(a)^2``).

    Parameters
    ----------
    attribution : callable, optional
        ``attribution(model, x, target, score=...) -> (attribution, target)``, such as
        :func:`~swagfast.attribution.guided` or :func:`integrated_gradients`; default: the
        vanilla gradient.
    noise_level, stdev
        The noise's standard deviation: ``stdev`` when given, else ``noise_level`` times each
        item's value range (``max - min``, as the SmoothGrad paper).
    seed : int
        The noise is drawn on the input's device from a generator seeded with it.

    Returns ``(attribution shaped like x, target (B,))``; the target is resolved on ``x``
    itself, not on the noisy copies.
    """
    check_input(x)
    check_choice(kind, "kind", TUNNELS)
    n = check_int(n_samples, "n_samples")
    check_seed(seed)
    with torch.no_grad():
        t = resolve_target(model(x.detach()), target)
    if stdev is None:
        flat = x.detach().reshape(len(x), -1)
        sigma = check_number(noise_level, "noise_level", low=0) * (flat.amax(1) - flat.amin(1))
        sigma = sigma.view(-1, *([1] * (x.ndim - 1)))
    else:
        sigma = torch.tensor(check_number(stdev, "stdev", low=0), dtype=x.dtype, device=x.device)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    noisy = x.detach().unsqueeze(0) + sigma * torch.randn(
        (n, *x.shape), generator=gen, device=x.device, dtype=x.dtype
    )
    fn = attribution or (lambda m, xi, ti, score: _input_gradient(m, xi, ti, score, False))
    got, _ = fn(model, noisy.reshape(-1, *x.shape[1:]), t.repeat(n), score=score)
    got = got.view(n, *x.shape)
    mean = got.mean(0)
    if kind == "smoothgrad":
        return mean, t
    sq = got.pow(2).mean(0)
    return (sq if kind == "smoothgrad_sq" else sq - mean.pow(2)), t
