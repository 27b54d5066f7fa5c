"""Guided backpropagation (Springenberg et al.; thesis 3.3, METHODS.md §1).

On the backward pass every ReLU-like unit passes only positive gradient, and only where its
forward input was positive (and, for ReLU6 / Hardtanh(0, t), below the top of its range). The
model's forward runs untouched; then :func:`guided_graph` walks the autograd graph behind the
explained score once and hooks its ReLU-like backward nodes, so the forward costs what the
model costs and the backward one clamp per unit. Every way of calling the activation leaves such
a node: ``nn.ReLU`` (also ``inplace=True``), ``nn.ReLU6``, ``nn.Hardtanh(0, t)``,
``nn.LeakyReLU`` (treated as ReLU), ``F.relu`` / ``torch.relu`` / ``Tensor.relu`` /
``x.relu_()`` (also as a statement) inside ``forward``. No module is patched and every hook is
removed when the backward is done, also when it raises.
Other non-linear activations (SiLU, GELU, ELU, ...) keep their ordinary gradient and produce a
``UserWarning`` naming them, so a model that is not ReLU-based never gets a silently wrong map.
A graph compiled by ``torch.compile`` hides its activations; it is refused with a ValueError
rather than explained with plain gradients.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
from torch import nn

# backward nodes of ReLU (also in place) and Hardtanh / ReLU6: their own backward already masks
# by the forward input, so clamping its result at 0 makes them guided
_MASKING_NODES = {"ReluBackward0", "ReluBackward1", "HardtanhBackward0", "HardtanhBackward1"}
# LeakyReLU's backward passes slope x gradient below 0: replaced by the ReLU mask
_LEAKY_NODES = {"LeakyReluBackward0": "_saved_self", "LeakyReluBackward1": "_saved_result"}
_UNKNOWN_NODES = {
    "SiluBackward0": "silu",
    "GeluBackward0": "gelu",
    "EluBackward0": "elu/selu",
    "CeluBackward0": "celu",
    "MishBackward0": "mish",
    "HardswishBackward0": "hardswish",
    "SoftplusBackward0": "softplus",
    "PreluKernelBackward0": "prelu",
    "SigmoidBackward0": "sigmoid",
    "TanhBackward0": "tanh",
    "HardsigmoidBackward0": "hardsigmoid",
    "LogSigmoidBackward0": "logsigmoid",
    "RreluWithNoiseBackward0": "rrelu",
    "ThresholdBackward0": "threshold",
    "GluBackward0": "glu",
}


def _positive(grad_inputs, grad_outputs):
    """A masking node's own result clamped at 0, max(g x mask, 0) = max(g, 0) x mask (a hook run
    after the node). In place, since that tensor is the node's fresh output and nothing else holds
    it yet (no allocation, which on the CPU is a page-faulting malloc per unit); out of place in
    the case it shares memory with the incoming gradient."""
    (g,), (incoming,) = grad_inputs, grad_outputs
    if g is None:
        return None
    if incoming is not None and g.data_ptr() == incoming.data_ptr():
        return (g.clamp_min(0),)
    return (g.clamp_min_(0),)


def _deconvolution(grad_inputs, grad_outputs):
    """Deconvolution's rule for a ReLU-like node: the incoming gradient's positive part, whatever
    the forward input was (Zeiler & Fergus; Captum's ``Deconvolution``)."""
    (incoming,) = grad_outputs
    return None if incoming is None else (incoming.clamp_min(0),)


def _leaky_as_relu(mask: torch.Tensor):
    def hook(grad_inputs, grad_outputs):
        return (grad_outputs[0].clamp_min(0) * mask,)

    return hook


def _graph(root) -> Iterator:
    """Every node of the autograd graph behind ``root`` (a grad_fn), each once."""
    seen, todo = {root}, [root]
    while todo:
        node = todo.pop()
        yield node
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)


def _hook_graph(root, handles: list, unknown: set, rule: str) -> None:
    for node in _graph(root):
        name = node.name()
        if name in _MASKING_NODES:
            lo = getattr(node, "_saved_min_val", 0)
            if lo != 0:
                unknown.add(f"hardtanh(min_val={lo})")
                continue
            handles.append(node.register_hook(_positive if rule == "guided" else _deconvolution))
        elif name in _LEAKY_NODES and rule == "deconvolution":
            handles.append(node.register_hook(_deconvolution))
        elif name in _LEAKY_NODES:
            mask = getattr(node, _LEAKY_NODES[name]) > 0
            handles.append(node.register_hook(_leaky_as_relu(mask)))
        elif name.startswith("CompiledFunction"):
            raise ValueError(
                "guided backprop needs the activations of the model's autograd graph, and part of this "
                "model runs compiled (torch.compile), which hides them; explain the uncompiled module "
                "(a compiled module's original is its _orig_mod)"
            )
        elif name in _UNKNOWN_NODES:
            unknown.add(_UNKNOWN_NODES[name])


@contextlib.contextmanager
def guided_graph(score: torch.Tensor, model: nn.Module | None = None, rule: str = "guided") -> Iterator[None]:
    """Context in which back-propagating ``score`` is guided: every ReLU-like node of the graph
    behind it passes only positive gradient. The hooks are removed on leaving, also when the body
    raises; the graph is not changed otherwise (back-propagate it once, inside the context).
    ``rule="deconvolution"``: each passes the positive part of its incoming gradient whatever its
    forward input was (deconvolution) instead.

    Warns (UserWarning) naming any activation that is not ReLU-like, found among ``model``'s
    modules or in the graph. ValueError for a graph with a ``torch.compile``'d part.
    """
    handles: list = []
    unknown: set[str] = set()
    try:
        if score.grad_fn is not None:
            _hook_graph(score.grad_fn, handles, unknown, rule)
        yield
    finally:
        for h in handles:
            h.remove()
    seen = sorted(set(unknown_activations(model) if model is not None else ()) | unknown)
    if seen:
        warnings.warn(
            f"{'guided backprop' if rule == 'guided' else rule}: these activations are not ReLU-like and "
            "keep their ordinary gradient: " + ", ".join(seen),
            UserWarning,
            stacklevel=3,
        )


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


def unknown_activations(model: nn.Module) -> list[str]:
    """Names and types of activation modules guided backprop does not treat as ReLU-like."""
    found = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Hardtanh) and not isinstance(m, nn.ReLU6) and m.min_val != 0:
            found.append(f"{name or '<model>'} ({type(m).__name__}(min_val={m.min_val}))")
        elif isinstance(m, _UNKNOWN_MODULES):
            found.append(f"{name or '<model>'} ({type(m).__name__})")
    return found
