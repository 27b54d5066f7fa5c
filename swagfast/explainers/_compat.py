"""The spellings users of pytorch-grad-cam and Captum bring, on every explainer: a ``with``
block, ``attribute(x, target=...)``, and the keywords ``input_tensor=`` / ``targets=`` (a list
of ints or of target objects with a ``category``, such as ``ClassifierOutputTarget``)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch


def _categories(targets):
    """pytorch-grad-cam's ``targets``: a list of ints or of objects with ``.category``."""
    if isinstance(targets, list | tuple) and targets and all(hasattr(t, "category") for t in targets):
        return [int(t.category) for t in targets]
    if hasattr(targets, "category"):
        return int(targets.category)
    return targets


def peer_arguments(call: Callable) -> Callable:
    """``__call__(x, target)`` also taken as ``(input_tensor=x, targets=[...])``."""

    @functools.wraps(call)
    def wrapper(self, x=None, target=None, *args, input_tensor=None, targets=None, **kwargs):
        if input_tensor is not None:
            if x is not None:
                raise TypeError("give the input once: x or input_tensor, not both")
            x = input_tensor
        if targets is not None:
            if target is not None:
                raise TypeError("give the classes once: target or targets, not both")
            target = _categories(targets)
        if x is None:
            raise TypeError(f"{type(self).__name__}() needs the input x (or input_tensor=)")
        return call(self, x, target, *args, **kwargs)

    return wrapper


class PeerSpellings:
    """``with Explainer(...) as e:`` and Captum's ``attribute``. The hooks of an explainer live
    inside each call and are removed before it returns, so leaving the block has nothing to
    release; it is there so that code written for pytorch-grad-cam runs unchanged."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def attribute(self, inputs: torch.Tensor, target=None, **kwargs) -> torch.Tensor:
        """Captum's spelling: the heatmap tensor of ``self(inputs, target, **kwargs)``, (B, H, W)
        or (B, T, H, W) on the input's device (not Captum's input-shaped attributions: every
        swagfast method gives one map per item)."""
        return self(inputs, _categories(target), **kwargs).heatmap


def layer_list(layer, target_layers, model) -> list:
    """The layers an explainer explains: ``layer`` (a module, a dotted name, or a list of them,
    averaged as pytorch-grad-cam does) or pytorch-grad-cam's ``target_layers``."""
    from swagfast.attribution.layers import resolve_layer

    if target_layers is not None:
        if layer is not None:
            raise TypeError("give the layer once: layer or target_layers, not both")
        layer = target_layers
    if layer is None:
        raise TypeError("a layer is needed: layer= (a module or a dotted name) or target_layers=[...]")
    layers = list(layer) if isinstance(layer, list | tuple) else [layer]
    if not layers:
        raise ValueError("layer must name at least one layer, got an empty list")
    return [resolve_layer(model, one) for one in layers]
