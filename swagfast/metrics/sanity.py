"""Sanity and robustness of explanations: the model-parameter randomisation test (does the
explanation depend on what the model learnt?), infidelity (does it predict how the score moves
under perturbations?) and max-sensitivity (does it change a lot for a tiny change of the input?).

Each takes ``explain(model, x, target) -> heatmap`` (or an explainer's ``attribute``) and leaves
the user's model untouched: the randomisation test works on copies.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from swagfast import attribution as attr
from swagfast._validate import check_choice, check_int, check_model, check_number, check_seed
from swagfast.metrics._checks import heatmaps_of

Explain = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def rank_correlation(a, b) -> np.ndarray:
    """Spearman's rank correlation of each item's flattened maps (ties share their mean rank),
    (B,); an item constant in either map gets NaN (its ranks say nothing)."""
    a = np.asarray(_host(heatmaps_of(a)), np.float64).reshape(len(a), -1)
    b = np.asarray(_host(heatmaps_of(b)), np.float64).reshape(len(b), -1)
    out = np.full(len(a), np.nan)
    for i, (u, v) in enumerate(zip(a, b, strict=True)):
        if np.ptp(u) > 0 and np.ptp(v) > 0:
            out[i] = spearmanr(u, v).statistic
    return out


def _host(t):
    return t.detach().float().cpu().numpy() if isinstance(t, torch.Tensor) else t


@dataclass
class Randomisation:
    """Result of :func:`randomisation_test`: ``layers`` in the order they were randomised and,
    per layer, the rank correlation of each item's heatmap with the original (``correlation``,
    (layers, B)), and its mean over the items (``mean``)."""

    mode: str
    layers: list[str]
    correlation: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return np.nanmean(self.correlation, axis=1)


def _learnable(model: nn.Module) -> list[str]:
    """The modules with parameters of their own, from the output back to the input (the order of
    registration reversed: the cascading test's order)."""
    return [n for n, m in model.named_modules() if n and any(True for _ in m.parameters(recurse=False))][::-1]


def _randomise(module: nn.Module, gen: torch.Generator) -> None:
    """Each parameter of ``module`` and its submodules redrawn from a normal with its own mean and
    standard deviation (1 when it has one value or none)."""
    with torch.no_grad():
        for p in module.parameters():
            std = float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 1.0
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.device, p.dtype)
            p.copy_(float(p.mean()) + std * noise)


def randomisation_test(
    model: nn.Module,
    explain: Explain,
    x: torch.Tensor,
    target=None,
    *,
    mode: str = "cascading",
    layers: list[str] | None = None,
    seed: int = 0,
) -> Randomisation:
    """The model-parameter randomisation test (Adebayo et al., "Sanity checks for saliency
    maps"). The explanation of the trained model is compared, by rank correlation, with the
    explanation of the same inputs and classes on copies of the model whose parameters are
    redrawn at random: in ``"cascading"`` mode layer after layer from the output back (each copy
    keeps the earlier randomisations), in ``"independent"`` mode one layer at a time. A method
    whose map survives randomisation (correlation near 1) does not explain the model.

    ``explain(model, x, target)`` returns (B, ...) heatmaps; ``layers`` are dotted module names,
    each randomised with its submodules (default: every module with parameters of its own,
    output first; a whole block can be one step); ``target`` defaults to
    the trained model's top-1 classes, kept for every copy. The model itself is not changed.
    """
    check_model(model)
    check_choice(mode, "mode", ("cascading", "independent"))
    check_seed(seed)
    attr.check_input(x)
    names = _learnable(model) if layers is None else list(layers)
    known = dict(model.named_modules())
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(f"layers must name modules of the model; {missing[0]!r} is not one")
    with torch.no_grad():
        t = attr.resolve_target(attr.forward(model, x), target)
    original = explain(model, x, t)
    gen = torch.Generator().manual_seed(seed)
    copy_ = copy.deepcopy(model)
    rows = []
    for name in names:
        if mode == "independent":
            copy_ = copy.deepcopy(model)
        _randomise(dict(copy_.named_modules())[name], gen)
        rows.append(rank_correlation(original, explain(copy_, x, t)))
    return Randomisation(mode, names, np.stack(rows) if rows else np.zeros((0, len(x))))


def _as_attribution(attribution, x: torch.Tensor) -> torch.Tensor:
    """An attribution shaped like ``x``, or a (B, ...) heatmap given to every channel."""
    a = torch.as_tensor(heatmaps_of(attribution), device=x.device).to(x.dtype)
    if a.shape == x.shape:
        return a
    if a.shape == (x.shape[0], *x.shape[2:]):
        return a.unsqueeze(1).expand_as(x)
    want = tuple(x.shape)
    raise ValueError(
        f"attribution must be shaped like x {want} or (B, ...) without channels, got {tuple(a.shape)}"
    )


@torch.no_grad()
def infidelity(
    model: nn.Module,
    x: torch.Tensor,
    attribution,
    target=None,
    *,
    n_samples: int = 10,
    noise_std: float = 0.003,
    normalize: bool = False,
    seed: int = 0,
) -> torch.Tensor:
    """Infidelity (Yeh et al.), per item: ``E_I[(I . a - (f(x) - f(x - I)))^2]`` over ``n_samples``
    perturbations ``I`` drawn from N(0, noise_std^2) on the input's device (seeded), with ``f``
    the class logit. Lower is better. ``attribution`` is shaped like ``x`` or is a (B, ...)
    heatmap (or an Explanation), then given to every channel. ``normalize``: the attribution
    scaled first by the beta that minimises the expectation (Captum's option). Equals Captum's
    ``infidelity`` with the same perturbations."""
    check_model(model)
    attr.check_input(x)
    n = check_int(n_samples, "n_samples")
    sigma = check_number(noise_std, "noise_std", low=0)
    check_seed(seed)
    a = _as_attribution(attribution, x)
    t = attr.resolve_target(attr.forward(model, x), target)
    fx = attr.class_score(model(x), t, "logit")
    gen = torch.Generator(device=x.device).manual_seed(seed)
    noise = sigma * torch.randn((n, *x.shape), generator=gen, device=x.device, dtype=x.dtype)
    dots, drops = [], []
    for k in range(n):
        dots.append((noise[k] * a).reshape(len(x), -1).sum(1))
        drops.append(fx - attr.class_score(model(x - noise[k]), t, "logit"))
    dot, drop = torch.stack(dots), torch.stack(drops)  # (n, B)
    if normalize:
        beta = (dot * drop).mean(0) / (dot * dot).mean(0).clamp_min(torch.finfo(dot.dtype).tiny)
        dot = dot * beta
    return ((dot - drop) ** 2).mean(0)


def max_sensitivity(
    explain: Explain,
    model: nn.Module,
    x: torch.Tensor,
    target=None,
    *,
    radius: float = 0.02,
    n_samples: int = 10,
    seed: int = 0,
) -> torch.Tensor:
    """Max-sensitivity (Yeh et al.), per item: the largest ``||e(x + d) - e(x)|| / ||e(x)||``
    (Frobenius norms) over ``n_samples`` perturbations ``d`` drawn uniformly from
    [-radius, radius] per input value (seeded), the class fixed to the one explained on ``x``.
    Lower is better. Captum's ``sensitivity_max`` with the same perturbations gives the same."""
    check_model(model)
    attr.check_input(x)
    n = check_int(n_samples, "n_samples")
    r = check_number(radius, "radius", low=0)
    check_seed(seed)
    with torch.no_grad():
        t = attr.resolve_target(attr.forward(model, x), target)
    base = torch.as_tensor(heatmaps_of(explain(model, x, t))).reshape(len(x), -1).double()
    norm = base.norm(dim=1)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    worst = torch.zeros(len(x), dtype=torch.float64, device=base.device)
    for _ in range(n):
        d = (torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1) * r
        got = torch.as_tensor(heatmaps_of(explain(model, x + d, t))).reshape(len(x), -1).double()
        worst = torch.maximum(worst, (got - base).norm(dim=1) / torch.where(norm > 0, norm, 1.0))
    return worst
