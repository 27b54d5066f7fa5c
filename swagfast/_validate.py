"""The argument checks every public call shares: each raises TypeError for a value of the wrong
type and ValueError for one out of range, with a message that names the argument, says what was
expected and shows what arrived. A public function checks its arguments once; the private
helpers it calls trust them."""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

SCORES = ("logit", "softmax")


def check_choice(value, name: str, choices: Sequence[str]) -> str:
    """ValueError unless ``value`` is one of ``choices`` (names compared exactly)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_score(score) -> str:
    """The class score explained: "logit" (pre-softmax) or "softmax"."""
    return check_choice(score, "score", SCORES)


def check_model(model) -> nn.Module:
    """TypeError unless ``model`` is a torch module."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_number(
    value,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float: TypeError unless it is a real number (bools are not), ValueError
    unless it is finite and within the bounds given (``*_open``: the bound itself excluded)."""
    v = _real(value, name)
    below = low is not None and (v <= low if low_open else v < low)
    above = high is not None and (v >= high if high_open else v > high)
    if not math.isfinite(v) or below or above:
        lo = "" if low is None else (f"({low:g}" if low_open else f"[{low:g}")
        hi = "" if high is None else (f"{high:g})" if high_open else f"{high:g}]")
        span = f" in {lo or '(-inf'}, {hi or 'inf)'}" if low is not None or high is not None else ""
        raise ValueError(f"{name} must be a finite number{span}, got {value!r}")
    return v


def check_positive(value, name: str) -> float:
    """A finite number > 0."""
    v = _real(value, name)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return v


def _real(value, name: str) -> float:
    """``value`` as a float; TypeError unless it is a real number (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:  # an int past float's range: not finite
        return math.inf


def check_batch_size(batch_size) -> None:
    """TypeError / ValueError unless ``batch_size`` is None or a positive int."""
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise TypeError(f"batch_size must be a positive int or None, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")


def check_int(value, name: str, low: int = 1) -> int:
    """``value`` as an int: TypeError unless it is one (bools are not), ValueError below ``low``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int >= {low}, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def check_bool(value, name: str) -> None:
    """TypeError unless ``value`` is a bool (a str such as "no" would otherwise count as true)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def check_rgb_values(values: np.ndarray, name: str, *, dtype_only: bool = False) -> None:
    """TypeError unless ``values`` are uint8 or floats; ValueError unless floats lie in [0, 1]
    (NaN included: a 0..255 float picture would otherwise be taken as one in [0, 1])."""
    if values.dtype == np.uint8:
        return
    if values.dtype.kind != "f":
        raise TypeError(f"{name} must be uint8 or float in [0, 1], got dtype {values.dtype}")
    if dtype_only or not values.size:
        return
    lo, hi = float(values.min()), float(values.max())
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"{name} must be uint8 or float in [0, 1], got float values in [{lo:g}, {hi:g}]")


def check_normalisation(mean, std) -> None:
    """TypeError / ValueError unless ``mean`` and ``std`` are 3 numbers each (one per RGB
    channel) and every ``std`` is positive and finite."""
    for name, v in (("mean", mean), ("std", std)):
        if (
            isinstance(v, str)
            or not isinstance(v, Sequence | np.ndarray | torch.Tensor)
            or len(v) != 3
            or not all(isinstance(c, numbers.Real | np.ndarray | torch.Tensor) for c in v)
        ):
            raise TypeError(f"{name} must be 3 numbers (one per RGB channel), got {v!r}")
    if not all(0 < float(s) < np.inf for s in std):
        raise ValueError(f"std must be positive and finite, got {std!r}")


def check_seed(seed) -> None:
    """TypeError unless ``seed`` is an int (what ``torch.Generator.manual_seed`` takes)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")


def _keyword_options(source: Callable, skip: Iterable[str] = ()) -> list[inspect.Parameter]:
    skip = set(skip)
    params = inspect.signature(source).parameters.values()
    return [p for p in params if p.kind is p.KEYWORD_ONLY and p.name not in skip]


def forwarded_options(name: str, given: dict, source: Callable, skip: Iterable[str] = ()) -> dict:
    """``given`` (a ``**options`` of function ``name``) completed with the defaults of
    ``source``'s keyword-only parameters (less ``skip``): one parameter list serves two public
    functions. A keyword ``source`` does not take is a TypeError naming it and the options."""
    params = {p.name: p.default for p in _keyword_options(source, skip)}
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise TypeError(
            f"{name}() got an unexpected keyword argument {unknown[0]!r}; its options are {', '.join(params)}"
        )
    return {**params, **given}


def with_options_of(source: Callable, skip: Iterable[str] = ()) -> Callable:
    """Decorator for a function that takes ``source``'s keyword-only options as ``**options``
    (see :func:`forwarded_options`): its signature, as ``help`` and ``inspect`` show it, lists
    them in place of ``**options``."""

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        taken = {p.name for p in own} | set(skip)
        fn.__signature__ = sig.replace(parameters=own + _keyword_options(source, taken))
        return fn

    return decorate
