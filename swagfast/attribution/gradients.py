"""Input gradients (vanilla, guided, input x gradient), target handling, the per-pixel map
``max_c |g|`` and the sanity baselines of thesis Tables 3.4/3.5 (thesis 3.3, 3.6.3)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from swagfast import baselines
from swagfast._validate import check_choice, check_score
from swagfast.attribution.guided import guided_graph
from swagfast.attribution.layers import eager_module, keeps_model
from swagfast.baselines import sobel_map

Target = int | Sequence[int] | torch.Tensor | None
METHODS = (
    "guided",
    "vanilla",
    "input_x_gradient",
    "deconvolution",
    "integrated_gradients",
    "smoothgrad",
    "smoothgrad_sq",
    "vargrad",
    "noise",
    "sobel",
)


def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)``, checked to be (B, classes) logits; a ``torch.compile``'d model runs its eager
    original (:func:`~swagfast.attribution.layers.eager_module`), so that the hooks of the
    explainers see its layers. A model that fails on ``x`` because of a
    rank or channel count its first convolution cannot take is a ValueError naming ``x`` (torch's
    RuntimeError as its cause); any other error of the model propagates as it is."""
    try:
        logits = eager_module(model)(x)
    except RuntimeError as err:
        problem = _input_mismatch(model, x)
        if problem is None:  # the model's own failure: as it is
            raise
        raise ValueError(problem) from err
    check_logits(logits, x.shape[0])
    return logits


def _input_mismatch(model: nn.Module, x: torch.Tensor) -> str | None:
    """What is wrong with ``x`` for the model's first convolution (its rank or channel count),
    or None: asked only after the model failed, to name the argument when that was the cause."""
    conv = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    if conv is None:
        return None
    dims = len(conv.kernel_size)
    name = next(n for n, m in model.named_modules() if m is conv) or "<model>"
    if x.ndim != dims + 2:
        return (
            f"x must have {dims} spatial axes for this model (its first convolution {name!r} is "
            f"{type(conv).__name__}), got shape {tuple(x.shape)}"
        )
    if x.shape[1] != conv.in_channels:
        return (
            f"x must have {conv.in_channels} channels for this model (its first convolution {name!r} "
            f"takes {conv.in_channels}), got {x.shape[1]} (shape {tuple(x.shape)})"
        )
    return None


def check_logits(logits, batch: int | None = None) -> None:
    """TypeError unless the model's output is one tensor; ValueError unless it is (B, classes)."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(
            "the model must return one (B, classes) tensor of logits, got a "
            f"{type(logits).__name__} (wrap it in a module that returns the logits)"
        )
    if logits.ndim != 2 or logits.shape[1] < 1 or (batch is not None and logits.shape[0] != batch):
        want = f"({batch}, classes)" if batch is not None else "(B, classes)"
        raise ValueError(f"the model must return {want} logits, got shape {tuple(logits.shape)}")


def resolve_target(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """Class index per batch item as a (B,) int64 tensor on ``logits``' device.

    ``None`` takes the top-1 prediction; an int applies to every item; a sequence or tensor
    gives one class per item. ValueError for logits that are not finite and for classes out of
    range.
    """
    t, checks = _resolve_target(logits, target)
    checks.raise_if_failed()
    return t


class _DeviceChecks:
    """What can only be checked on the device's values (finite logits, the classes of a target
    tensor), kept as device flags and read with one synchronisation, when the caller chooses:
    after the backward has been queued, so that the launch queue never stalls in between."""

    def __init__(self, logits: torch.Tensor, t: torch.Tensor, classes_given_on_device: bool) -> None:
        self.logits, self.t, self.C = logits, t, logits.shape[1]
        self.finite = torch.isfinite(logits).all(dim=1)
        self.in_range = ((t >= 0) & (t < self.C)) if classes_given_on_device else None

    def safe_target(self) -> torch.Tensor:
        """The target clamped into range, for use before the check (a gather out of range would be
        an error, on CUDA a device-side assert)."""
        return self.t.clamp(0, self.C - 1) if self.in_range is not None else self.t

    def raise_if_failed(self) -> None:
        ok = self.finite.all()
        if self.in_range is not None:
            ok = ok & self.in_range.all()
        if bool(ok):  # the one synchronisation
            return
        if not bool(self.finite.all()):  # NaN logits have an arbitrary argmax and gradient
            bad = (~self.finite).nonzero().flatten().tolist()
            raise ValueError(
                f"the model's output holds NaN or infinity for items {bad[:8]}: x (or the model) must give "
                "finite values"
            )
        raise ValueError(f"target classes must be in [0, {self.C}), got {self.t.tolist()}")


def _resolve_target(logits: torch.Tensor, target: Target) -> tuple[torch.Tensor, _DeviceChecks]:
    """(target, the checks that need device values, not yet read): everything that can be
    checked on the host (types, lengths, the classes of ints and sequences) is checked here."""
    check_logits(logits)
    B, C = logits.shape
    on_device = False
    if target is None:
        t = logits.argmax(dim=1)
    elif isinstance(target, bool | str | bytes):
        raise TypeError(
            f"target must be None, an int, a sequence of ints or a tensor, got {type(target).__name__}"
        )
    elif isinstance(target, int | np.integer):
        if not 0 <= int(target) < C:
            raise ValueError(f"target classes must be in [0, {C}), got {[int(target)] * B}")
        t = torch.full((B,), int(target), dtype=torch.long, device=logits.device)
    elif isinstance(target, torch.Tensor | Sequence | np.ndarray):
        if isinstance(target, Sequence) and len(target) == 0:
            raise ValueError(f"target must give one class per batch item ({B}), got an empty sequence")
        on_device = isinstance(target, torch.Tensor) and target.device.type != "cpu"
        host = None if on_device else torch.as_tensor(target)
        t = torch.as_tensor(target, device=logits.device)
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise TypeError(f"target must hold integers, got dtype {t.dtype}")
        t = t.long().reshape(-1)
        if t.numel() == 1 and B != 1:
            t = t.expand(B)
        if t.numel() != B:
            raise ValueError(f"target must give one class per batch item ({B}), got {t.numel()}")
        if host is not None and host.numel() and (int(host.min()) < 0 or int(host.max()) >= C):
            raise ValueError(f"target classes must be in [0, {C}), got {t.tolist()}")
    else:
        raise TypeError(
            f"target must be None, an int, a sequence of ints or a tensor, got {type(target).__name__}"
        )
    return t, _DeviceChecks(logits, t, on_device)


def random_target(logits: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Sanity baseline of thesis Table 3.5: a uniformly drawn class per item, never the top-1
    prediction (seeded), as a (B,) int64 tensor on ``logits``' device."""
    B, C = logits.shape
    if C < 2:
        raise ValueError(f"a random other class needs at least 2 classes, got {C}")
    g = torch.Generator().manual_seed(seed)
    shift = torch.randint(1, C, (B,), generator=g).to(logits.device)
    return (logits.argmax(dim=1) + shift) % C


def class_score(logits: torch.Tensor, target: torch.Tensor, score: str) -> torch.Tensor:
    """The (B,) scores whose gradients are explained: pre-softmax logit or softmax probability."""
    check_score(score)
    out = logits.softmax(dim=1) if score == "softmax" else logits
    return out.gather(1, target.view(-1, 1)).squeeze(1)


def check_input(x: torch.Tensor) -> None:
    """An explainer's input: a floating-point (B, C, H, W) or (B, C, T, H, W) tensor (TypeError
    for another type or dtype, ValueError for another number of axes)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim not in (4, 5):
        raise ValueError(f"x must have shape (B, C, H, W) or (B, C, T, H, W), got {tuple(x.shape)}")


def check_images(x: torch.Tensor, method: str) -> None:
    """:func:`check_input` for a method that explains images only (B, C, H, W)."""
    check_input(x)
    if x.ndim != 4:
        raise ValueError(f"{method} explains images (B, C, H, W), got {tuple(x.shape)}")


@keeps_model
def _input_gradient(model: nn.Module, x: torch.Tensor, target: Target, score: str, guided):
    """The gradient of the class score to ``x``; ``guided``: False, True (guided backprop) or
    "deconvolution" (the rule of the ReLU-like nodes, see :func:`guided_graph`)."""
    check_input(x)
    check_score(score)
    if guided:
        model = eager_module(model)
    xg = x.detach().requires_grad_(True)
    rule = "deconvolution" if guided == "deconvolution" else "guided"
    with torch.enable_grad():
        logits = forward(model, xg)
        t, checks = _resolve_target(logits, target)
        out = class_score(logits, checks.safe_target(), score).sum()
        with guided_graph(out, model, rule) if guided else contextlib.nullcontext():
            (grad,) = torch.autograd.grad(out, xg)
    checks.raise_if_failed()  # read once the backward is queued
    return grad, t


def vanilla(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, score: str = "logit"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the class score with respect to the input (Simonyan et al., thesis 2.2).

    Parameters
    ----------
    model : nn.Module
        A classifier returning (B, classes) logits. Its parameters' ``.grad`` are untouched
        (``torch.autograd.grad`` is used), and its train/eval mode and ``requires_grad`` flags
        are left as the caller set them.
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
    return _input_gradient(model, x, target, score, guided=False)


def guided(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, score: str = "logit"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Guided backpropagation (thesis 3.3): as :func:`vanilla`, with every ReLU-like unit passing
    only positive gradient where its input was positive (see :mod:`swagfast.attribution.guided`).
    """
    return _input_gradient(model, x, target, score, guided=True)


def input_x_gradient(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, score: str = "logit"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient times input (Shrikumar et al.), same arguments as :func:`vanilla`."""
    grad, t = _input_gradient(model, x, target, score, guided=False)
    return grad * x.detach(), t


def deconvolution(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, score: str = "logit"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deconvolution (Zeiler & Fergus): as :func:`vanilla`, with every ReLU-like unit passing the
    positive part of its incoming gradient whatever its forward input was (Captum's rule)."""
    return _input_gradient(model, x, target, score, guided="deconvolution")


def pixel_map(grad: torch.Tensor) -> torch.Tensor:
    """``M = max_c |g_c|`` over the channel axis 1: (B, C, ...) -> (B, ...) (METHODS.md §1)."""
    return grad.abs().amax(dim=1)


def noise_map(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Sanity baseline: uniform random values in [0, 1), (B, ...) on ``x``'s device, seeded
    (:func:`swagfast.baselines.noise` in ``x``'s dtype)."""
    return baselines.noise((x.shape[0], *x.shape[2:]), seed, x.device).to(x.dtype)


@keeps_model
def attribute(
    model: nn.Module,
    x: torch.Tensor,
    method: str = "guided",
    target: Target = None,
    *,
    score: str = "logit",
    image: torch.Tensor | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel map ``M`` (B, ...) for ``method`` and the explained targets (B,).

    ``method``: "guided", "vanilla", "input_x_gradient", "deconvolution",
    "integrated_gradients" (zero baseline, 50 Gauss-Legendre steps), "smoothgrad",
    "smoothgrad_sq", "vargrad" (the noise tunnel around the vanilla gradient, 25 samples, noise
    0.15 of the input's range, seeded by ``seed``): ``max_c |a|`` of that attribution; or the
    sanity baselines "noise" (uniform, seeded) and "sobel" (edges of ``image``, or of ``x``).
    The baselines still run the model once to resolve ``target``.
    """
    check_choice(method, "attribution", METHODS)
    if method in ("noise", "sobel"):
        check_input(x)
        with torch.no_grad():
            t = resolve_target(forward(model, x), target)
        if method == "noise":
            return noise_map(x, seed), t
        return sobel_map(image if image is not None else x).to(x.dtype), t
    if method == "integrated_gradients":
        from swagfast.attribution.paths import integrated_gradients

        grad, t = integrated_gradients(model, x, target, score=score)
    elif method in ("smoothgrad", "smoothgrad_sq", "vargrad"):
        from swagfast.attribution.paths import noise_tunnel

        grad, t = noise_tunnel(model, x, target, kind=method, score=score, seed=seed)
    else:
        fn = {"guided": guided, "vanilla": vanilla, "input_x_gradient": input_x_gradient}.get(
            method, deconvolution
        )
        grad, t = fn(model, x, target, score=score)
    return pixel_map(grad), t
