"""Finding a layer and capturing its activations (and editing them) for one call; leaving a
model in training mode as it was."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator

import torch
from torch import nn


def eager_module(model: nn.Module) -> nn.Module:
    """The module a ``torch.compile(model)`` wraps (the same parameters and submodules, run
    eagerly), else ``model`` itself. The explainers run their hooked passes on it: a compiled
    graph hides the activations from autograd hooks, and forward hooks would be traced into it."""
    original = getattr(model, "_orig_mod", None)
    compiled = type(model).__name__ == "OptimizedModule" and isinstance(original, nn.Module)
    return original if compiled else model


def resolve_layer(model: nn.Module, layer: nn.Module | str) -> nn.Module:
    """``layer`` as a module of ``model``: the module itself or its dotted name (``"blocks.15"``)."""
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError as err:
            raise ValueError(f"layer {layer!r} is not a submodule of the model ({err})") from None
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(
                f"layer must be a submodule of the model, got a {type(layer).__name__} that is not"
            )
        return layer
    raise TypeError(f"layer must be an nn.Module or a dotted module name, got {type(layer).__name__}")


# Modules whose output is an activation: the feature map a CAM explains is the last one of these
# that keeps a spatial extent (the layers before them, a batch norm or a convolution, are mostly
# negative there, and a CAM of negative evidence is zero).
ACTIVATIONS = (
    nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Hardswish, nn.Mish, nn.Softplus,
)  # fmt: skip


def _hooked_pass(model: nn.Module, x: torch.Tensor, hooks: dict) -> None:
    """One forward pass of ``x`` without gradients with a forward hook on each module of
    ``hooks``, all removed in ``finally``."""
    handles = [m.register_forward_hook(fn) for m, fn in hooks.items()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()


def feature_layers(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...], bool]]:
    """``(name, output shape, is an activation)`` of every module of ``model`` that outputs a
    feature map (a tensor with the input's number of axes and more than one spatial position) in
    a forward pass of ``x``, in the order the modules finish; a module run several times is listed
    at its last run. One forward pass without gradients, its hooks removed in ``finally``."""
    names = {}
    for name, mod in model.named_modules():
        names.setdefault(mod, name)  # a module registered twice keeps its first name
    seen: dict[str, tuple[int, tuple[int, ...], object, bool]] = {}
    order = [0]

    def hook(mod, _inputs, output):
        if isinstance(output, torch.Tensor) and output.ndim == x.ndim and output.shape[2:].numel() > 1:
            order[0] += 1
            seen[names[mod]] = (order[0], tuple(output.shape), output, isinstance(mod, ACTIVATIONS))

    _hooked_pass(model, x, {m: hook for m in names if m is not model})
    ranked = sorted(seen.items(), key=lambda kv: kv[1][0])
    last_act = next((v[2] for _, v in reversed(ranked) if v[3]), None)
    # a block whose output *is* an activation's output (a ResNet stage ending in its ReLU) counts too
    return [(n, shape, act or (out is last_act)) for n, (_, shape, out, act) in ranked]


def find_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The dotted name of the layer CAMs of ``model`` explain by default, found from one forward
    pass of the example input ``x``: the last post-activation feature map, i.e. the outermost
    module whose output is the output of the last activation module that keeps a spatial extent
    (``layer4`` on a ResNet; the head's activation on an EfficientNet). Without activation
    modules (activations called as functions), the last module whose feature map is
    non-negative on ``x``, else the last convolution. ValueError when no module outputs a
    feature map."""
    layers = feature_layers(model, x)
    post = [n for n, _, act in layers if act]
    if post:
        return post[-1]
    if not layers:
        raise ValueError(
            f"model has no layer with a feature map (an output of {x.ndim} axes with more than one "
            f"spatial position) on an input of shape {tuple(x.shape)}; pass layer= explicitly"
        )
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Conv3d)]
    candidates = {n for n, _, _ in layers}
    nonneg = _nonnegative(model, x, [n for n, _, _ in layers])
    return nonneg[-1] if nonneg else next((n for n in reversed(convs) if n in candidates), layers[-1][0])


def _nonnegative(model: nn.Module, x: torch.Tensor, names: list[str]) -> list[str]:
    """Which of ``names`` output a feature map with no negative value on ``x`` (one pass)."""
    found: dict[str, bool] = {}
    mods = dict(model.named_modules())
    _hooked_pass(
        model,
        x,
        {mods[n]: lambda _m, _i, out, n=n: found.__setitem__(n, bool((out >= 0).all())) for n in names},
    )
    return [n for n in names if found.get(n)]


class Capture:
    """The activations of a layer in the last forward pass (``.output``)."""

    def __init__(self, layer: nn.Module) -> None:
        self.layer = layer
        self.captured: torch.Tensor | None = None

    @property
    def output(self) -> torch.Tensor:
        if self.captured is None:
            raise self.not_run()
        return self.captured

    def not_run(self) -> ValueError:
        return ValueError(
            f"layer must be a module the model's forward pass runs; the {type(self.layer).__name__} "
            "given did not run"
        )


@contextlib.contextmanager
def capture(
    layer: nn.Module,
    edit: Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    grad_from_layer: bool = False,
) -> Iterator[Capture]:
    """Record ``layer``'s output during the block (optionally replaced by ``edit(output)``).

    ``grad_from_layer``: for a forward pass run under ``torch.no_grad()`` whose gradients are
    wanted with respect to the layer's output only. The recorded output becomes a leaf that
    requires grad, and gradient recording is switched on from there to the end of the pass (the
    ``no_grad`` block's exit switches it back): the graph holds only what follows the layer,
    instead of the activations of every layer before it, which a backward pass that stops at
    the layer never uses.

    The rest of the model gets a copy of the output: an in-place operation after the layer (a
    ``ReLU(inplace=True)`` after a convolution, a residual ``out += identity``) would otherwise
    change the recorded activations and move their gradient past itself, so a CAM of the
    convolution would silently be the CAM of the ReLU. The copy's gradient is the output's.
    Only forward passes of the calling thread are recorded (and edited): a server thread running
    the same model meanwhile neither overwrites the record nor sees the edit. The forward hook is
    removed when the block ends, also on exceptions; a block in which the layer never ran raises
    ValueError.
    """
    box = Capture(layer)
    owner = threading.get_ident()

    def hook(_module, _inputs, output):
        if threading.get_ident() != owner:  # another thread's forward pass through a shared model
            return None
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"the layer must output one tensor to be explained, got {type(output).__name__}")
        if edit is not None:
            output = edit(output)
        if grad_from_layer:
            output = output.detach().requires_grad_(True)
            torch.set_grad_enabled(True)  # until the enclosing no_grad block ends
        box.captured = output
        return output.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield box
    finally:
        handle.remove()
    if box.captured is None:  # e.g. an edit that would silently not have applied
        raise box.not_run()


@contextlib.contextmanager
def unchanged(model: nn.Module) -> Iterator[None]:
    """Run ``model`` during the block without changing it, also in training mode: its buffers
    (BatchNorm's running statistics and batch counts, which a forward pass in training mode
    updates) are put back when the block ends, and the global random streams (which dropout
    draws from) are left where they were. Inside the block those streams start from seed 0,
    so dropout's masks, and the explanation, do not depend on the caller's RNG state. In eval
    mode it costs nothing. Training-mode calls from several threads run one at a time (they share
    the process's random streams); eval-mode calls run concurrently, with no lock."""
    if not _in_training(model):
        yield
        return
    with _training_lock:
        saved = [(b, b.detach().clone()) for b in model.buffers()]
        tensors = [*model.parameters(), *model.buffers()]
        cuda = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
        try:
            with torch.random.fork_rng(devices=cuda):
                torch.random.default_generator.manual_seed(0)
                for i in cuda:
                    torch.cuda.default_generators[i].manual_seed(0)
                yield
        finally:
            with torch.no_grad():
                for b, v in saved:
                    b.copy_(v)


# Training-mode calls change the model's buffers (put back at the end) and reseed the process's
# random streams (restored at the end): two at once, from two threads, would see each other's
# statistics and masks and put back the wrong state. They take turns; eval-mode calls take no
# lock. Reentrant: a call nested in another one of the same thread goes on.
_training_lock = threading.RLock()


def _in_training(model: nn.Module) -> bool:
    """Whether any module of ``model`` is in training mode: a plain walk of the module tree
    (``model.modules()`` also builds every module's dotted name; this runs on every explainer
    call)."""
    stack = [model]
    pop, push = stack.pop, stack.extend
    while stack:
        mod = pop()
        if mod is not None:
            if mod.training:
                return True
            push(mod._modules.values())
    return False


_guarded = threading.local()  # ids of the models this thread is inside keeps_model for


def keeps_model(fn: Callable) -> Callable:
    """Run ``fn`` inside :func:`unchanged` for its model: the first argument when it is a
    module, else that argument's ``.model`` (methods of explainers). Calls nested in one that
    already keeps the same model run as they are."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        first = args[0] if args else kwargs.get("model")
        model = first if isinstance(first, nn.Module) else getattr(first, "model", None)
        ids = _guarded.__dict__.setdefault("ids", set())
        if not isinstance(model, nn.Module) or id(model) in ids:
            return fn(*args, **kwargs)
        ids.add(id(model))
        try:
            with unchanged(model):
                return fn(*args, **kwargs)
        finally:
            ids.discard(id(model))

    return wrapper
