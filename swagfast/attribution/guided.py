"""Guided backpropagation (Springenberg et al.; thesis 3.3, METHODS.md §1).

On the backward pass every ReLU-like unit passes only positive gradient, and only where its
forward input was positive (and, for ReLU6 / Hardtanh(0, t), below the top of its range). The
units are found by intercepting the activation *functions* while the model runs, through a
``torch.overrides.TorchFunctionMode`` that is active only inside :func:`guided_relus`:
``nn.ReLU`` (also ``inplace=True``), ``nn.ReLU6``, ``nn.Hardtanh(0, t)``, ``nn.LeakyReLU``
(treated as ReLU) and ``F.relu`` / ``torch.relu`` / ``Tensor.relu`` called inside ``forward``
are all covered, with no module patched and no hook registered. Forward values are unchanged,
and in-place calls (``x.relu_()``, ``inplace=True``) change their tensor in place as they would
without the mode, also when their result is not used.
Other non-linear activations (SiLU, GELU, ELU, ...) keep their ordinary gradient and produce a
``UserWarning`` naming them, so a model that is not ReLU-based never gets a silently wrong map.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode


def _guided_mask(x: torch.Tensor, hi: float | None) -> torch.Tensor:
    """Where the unit passes gradient: 0 < x, and x < hi for a clamp to [0, hi]."""
    return (x > 0) & (x < hi) if hi is not None else x > 0


class _GuidedClamp(torch.autograd.Function):
    """Forward: ReLU (slope None, hi None), leaky ReLU (slope) or clamp(0, hi).
    Backward: max(grad, 0) where 0 < x (< hi), else 0."""

    @staticmethod
    def forward(ctx, x, slope, hi):
        mask = _guided_mask(x, hi)
        if hi is not None:
            y = x.clamp(0.0, hi)
        else:
            y = F.leaky_relu(x, slope) if slope is not None else x.clamp_min(0.0)
        ctx.save_for_backward(mask)
        return y

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad.clamp_min(0) * mask, None, None


class _GuidedClampInplace(_GuidedClamp):
    """:class:`_GuidedClamp` applied in place (``x.relu_()``, ``nn.ReLU(inplace=True)``): the
    caller's tensor changes as the model expects, also when the result is not used
    (``x.relu_()`` as a statement), and autograd's version counter sees the change. The same
    backward."""

    @staticmethod
    def forward(ctx, x, slope, hi):
        mask = _guided_mask(x, hi)  # before the change
        if hi is not None:
            x.clamp_(0.0, hi)
        elif slope is not None:
            F.leaky_relu_(x, slope)
        else:
            x.clamp_min_(0.0)
        ctx.mark_dirty(x)
        ctx.save_for_backward(mask)
        return x


def _guided(x, slope, hi, inplace: bool):
    return (_GuidedClampInplace if inplace else _GuidedClamp).apply(x, slope, hi)


def _inplace_flag(args, kwargs, position: int) -> bool:
    """The ``inplace`` argument of a functional activation (positional at ``position``)."""
    return bool(args[position] if len(args) > position else kwargs.get("inplace", False))


_RELU = {torch.relu, F.relu, torch.Tensor.relu}
_RELU_INPLACE = {torch.relu_, F.relu_, torch.Tensor.relu_}
_UNKNOWN_FUNCTIONS = {
    F.silu: "silu",
    F.gelu: "gelu",
    F.elu: "elu",
    F.selu: "selu",
    F.celu: "celu",
    F.mish: "mish",
    F.hardswish: "hardswish",
    F.softplus: "softplus",
    F.prelu: "prelu",
    torch.sigmoid: "sigmoid",
    torch.tanh: "tanh",
}
_KNOWN_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU)
_UNKNOWN_MODULES = (
    nn.SiLU,
    nn.GELU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.Mish,
    nn.Hardswish,
    nn.Softplus,
    nn.PReLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardsigmoid,
    nn.LogSigmoid,
    nn.RReLU,
    nn.Threshold,
    nn.GLU,
)


class _GuidedMode(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.unknown: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        x = args[0] if args else kwargs.get("input")
        if not isinstance(x, torch.Tensor) or not x.requires_grad:
            return func(*args, **kwargs)
        if func in _RELU_INPLACE:
            return _guided(x, None, None, True)
        if func in _RELU:
            return _guided(x, None, None, func is F.relu and _inplace_flag(args, kwargs, 1))
        if func is F.relu6:
            return _guided(x, None, 6.0, _inplace_flag(args, kwargs, 1))
        if func in (F.hardtanh, F.hardtanh_):
            lo = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
            hi = args[2] if len(args) > 2 else kwargs.get("max_val", 1.0)
            if lo == 0:
                return _guided(x, None, float(hi), func is F.hardtanh_ or _inplace_flag(args, kwargs, 3))
            self.unknown.add(f"hardtanh(min_val={lo})")
            return func(*args, **kwargs)
        if func in (F.leaky_relu, F.leaky_relu_, torch._C._nn.leaky_relu, torch._C._nn.leaky_relu_):
            slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
            inplace = func in (F.leaky_relu_, torch._C._nn.leaky_relu_) or (
                func is F.leaky_relu and _inplace_flag(args, kwargs, 2)
            )
            return _guided(x, float(slope), None, inplace)
        if func in _UNKNOWN_FUNCTIONS:
            self.unknown.add(_UNKNOWN_FUNCTIONS[func])
        return func(*args, **kwargs)


def unknown_activations(model: nn.Module) -> list[str]:
    """Names and types of activation modules guided backprop does not treat as ReLU-like."""
    found = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Hardtanh) and not isinstance(m, nn.ReLU6) and m.min_val != 0:
            found.append(f"{name or '<model>'} ({type(m).__name__}(min_val={m.min_val}))")
        elif isinstance(m, _UNKNOWN_MODULES):
            found.append(f"{name or '<model>'} ({type(m).__name__})")
    return found


@contextlib.contextmanager
def guided_relus(model: nn.Module | None = None) -> Iterator[None]:
    """Context in which every ReLU-like call (module or functional) back-propagates guided.

    Warns (UserWarning) naming any activation that is not ReLU-like, found either among
    ``model``'s modules or called while the context is active. Nothing outlives the context,
    also when the body raises.
    """
    mode = _GuidedMode()
    modules = unknown_activations(model) if model is not None else []
    with mode:
        yield
    seen = sorted(set(modules) | mode.unknown)
    if seen:
        warnings.warn(
            "guided backprop: these activations are not ReLU-like and keep their ordinary gradient: "
            + ", ".join(seen),
            UserWarning,
            stacklevel=3,
        )
