"""``swagfast.explain``: from pictures to explanations in one call, and the method names that it,
the command line and the dataset tools share.

The explainers themselves (:class:`~swagfast.SWAG`, :class:`~swagfast.GradCAM`, ...) take the
model's normalised input tensor; this layer takes what users have in hand (files, PIL images,
arrays, tensors), applies the model's preprocessing, and returns an :class:`Explanation` that
knows the pictures the model saw, so that it can draw and save its figures.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from swagfast.explainers import CAMS, Explanation
from swagfast.explainers.cam import OLD_CAM_NAMES
from swagfast.models import ClipPreprocess, LoadedModel, Preprocess

SWAG_MODES = {"swag-g": "G", "swag-i": "I", "swag-ig": "I+G"}
LAYER_METHODS = ("jitter-cam", *CAMS)  # the methods that explain a layer (``layer=``)
# per-pixel attributions by their command-line name and swagfast.attribution's
PIXEL_METHODS = {
    "guided": "guided",
    "vanilla": "vanilla",
    "input-x-gradient": "input_x_gradient",
    "deconvolution": "deconvolution",
    "integrated-gradients": "integrated_gradients",
    "smoothgrad": "smoothgrad",
    "smoothgrad-sq": "smoothgrad_sq",
    "vargrad": "vargrad",
}
METHODS = (*SWAG_MODES, *LAYER_METHODS, *PIXEL_METHODS, "occlusion", "rise")
"""Every method by the one name the command line, :func:`explain` and the dataset tools use."""
IMAGE_ONLY, VIDEO_ONLY = ("rise", "occlusion"), ("saliency-tubes",)
SLOW = ("score-cam", "ablation-cam", "rise", "occlusion")
"""Methods that run a forward pass per mask: hundreds to thousands per input."""


def method_name(name: str) -> str:
    """``name`` as one of :data:`METHODS` (a CAM's name before this release maps to its new one)."""
    if not isinstance(name, str):
        raise TypeError(f"method must be a str, got {type(name).__name__}")
    name = OLD_CAM_NAMES.get(name, name)
    if name not in METHODS:
        close = difflib.get_close_matches(name, METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {name!r}{hint}")
    return name


@dataclasses.dataclass
class Method:
    """One method ready to run on a model: ``method(x, pictures, target) -> Explanation``.

    ``explainer`` is the explainer object (None for guided backprop, a function), whose
    ``progress`` the slow methods call after each batch of masked inputs."""

    name: str
    explainer: object
    run: Callable

    def __call__(self, x: torch.Tensor, pictures, target=None) -> Explanation:
        return self.run(x, pictures, target)

    def set_progress(self, progress: Callable[[int, int], None] | None) -> None:
        if self.name in SLOW:
            self.explainer.progress = progress

    def pass_batch(self, device: torch.device) -> int:
        """Masked inputs a :data:`SLOW` method puts through the model at a time on ``device``."""
        from swagfast._backend import resolve_batch_size

        if hasattr(self.explainer, "batch_size_for"):  # the CAMs
            return self.explainer.batch_size_for(device)
        return resolve_batch_size(self.explainer.batch_size, device)

    def extra_passes(self, x: torch.Tensor) -> int:
        """Masked forward passes a call on ``x`` makes (0 but for :data:`SLOW` methods)."""
        if self.name == "rise":
            return len(x) * self.explainer.n_masks
        if self.name == "occlusion":
            return len(x) * len(self.explainer.windows(*x.shape[-2:]))
        if self.name in SLOW:
            from swagfast.attribution.layers import capture

            with torch.no_grad(), capture(self.explainer.layer) as box:
                self.explainer.model(x[:1])
            return self.explainer.extra_passes(x, box.output.shape[1])
        return 0


def make_method(
    method: str,
    bundle: LoadedModel,
    layer: str | nn.Module | list | None = None,
    *,
    segments: int | None = None,
    rise_masks: int = 4000,
) -> Method:
    """``method`` (one of :data:`METHODS`) set up for ``bundle``'s model: the swag-* methods are
    SWAG-V on a clip model; ``layer`` (default: the bundle's) for the CAMs and Jitter-CAM;
    ``segments`` superpixels for SWAG (default 300; supervoxels 120); ``rise_masks`` for RISE."""
    from swagfast import attribution
    from swagfast.explainers import RISE, SWAG, SWAGV, JitterCAM, Occlusion

    method = method_name(method)
    m, video = bundle.model, isinstance(bundle.preprocess, ClipPreprocess)
    if method in (VIDEO_ONLY if not video else IMAGE_ONLY):
        raise ValueError(f"method {method} explains {'clips' if video else 'images'} only")
    layer = bundle.layer if layer is None else layer
    if method in SWAG_MODES:
        cls = SWAGV if video else SWAG
        swag = cls(
            m, SWAG_MODES[method], segments or (120 if video else 300), mean=bundle.mean, std=bundle.std
        )
        return Method(method, swag, lambda x, pics, t: swag(x, t, image=pics))
    if method in CAMS:
        cam = CAMS[method](m, layer)
        return Method(method, cam, lambda x, pics, t: cam(x, t))
    if method == "jitter-cam":
        jit = JitterCAM(m, layer)
        return Method(method, jit, lambda x, pics, t: jit(x, t))
    if method == "rise":
        rise = RISE(m, rise_masks, seed=0)
        return Method(method, rise, lambda x, pics, t: rise(x, t))
    if method == "occlusion":
        occ = Occlusion(m)
        return Method(method, occ, lambda x, pics, t: occ(x, t))

    def pixels(x, pics, t):
        t0 = time.perf_counter()
        heat, target = attribution.attribute(m, x, PIXEL_METHODS[method], t)
        name = "guided backprop" if method == "guided" else method
        return Explanation(
            heatmap=heat, target=target, method=name, timings={"total": time.perf_counter() - t0}
        )

    return Method(method, None, pixels)


# -- inputs ----------------------------------------------------------------------------------


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (OpenCV's decoders); ValueError naming the file
    when it cannot be read."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"input {str(p)!r} is not a file")
    buf = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise ValueError(f"input {str(p)!r} is not a readable image")
    return np.ascontiguousarray(img[..., ::-1])


def _rgb(a: np.ndarray, what: str) -> np.ndarray:
    """(H, W, 3) from grey (H, W) / (H, W, 1) and RGBA (H, W, 4) arrays; values checked."""
    from swagfast._validate import check_rgb_values

    if a.ndim == 2:
        a = a[..., None]
    if a.ndim == 3 and a.shape[-1] in (1, 4):
        a = np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a[..., :3]
    if a.ndim != 3 or a.shape[-1] != 3 or 0 in a.shape:
        raise ValueError(f"{what} must be an (H, W, 3) RGB picture, got shape {a.shape}")
    if a.dtype.kind not in "uif" or a.dtype.kind == "c":
        raise TypeError(f"{what} must hold real numbers, got dtype {a.dtype}")
    check_rgb_values(a, what)
    return a if a.dtype == np.uint8 else (a.astype(np.float32) * 255).round().astype(np.uint8)


def _items(inputs) -> list:
    """The inputs as a list of single items (a batch array or tensor split, one item wrapped)."""
    if isinstance(inputs, list | tuple):
        if not inputs:
            raise ValueError("inputs must hold at least one input, got an empty sequence")
        return list(inputs)
    return [inputs]


def read_input(item, bundle: LoadedModel, k: int = 0):
    """``(name, picture, model input)`` of one input for ``bundle``'s model: a file is read (an
    image, or a video for a clip model) and a picture fitted by the model's preprocessing, so
    ``picture`` is what the model sees and ``model input`` None; a float tensor is the model's
    input as it is (then ``picture`` is None). ``name`` is the file's stem or ``input-k``.
    ValueError naming the input when it cannot be read or has the wrong shape."""
    from swagfast.data import VIDEO_SUFFIXES, read_clip

    pre, video = bundle.preprocess, isinstance(bundle.preprocess, ClipPreprocess)
    if isinstance(item, str | os.PathLike):
        p = Path(item)
        if p.suffix.lower() in VIDEO_SUFFIXES:
            if not video:
                raise ValueError(f"input {str(p)!r} is a video, but {bundle.name} explains images")
            return p.stem, read_clip(p, pre.frames, pre.size), None
        if video:
            raise ValueError(f"input {str(p)!r} is not a video, but {bundle.name} explains clips")
        return p.stem, pre.picture(read_image(p)), None
    name = getattr(item, "filename", None)
    name = Path(name).stem if isinstance(name, str) and name else f"input-{k}"
    if hasattr(item, "convert") and hasattr(item, "size"):  # a PIL image
        item = np.asarray(item.convert("RGB"))
    if isinstance(item, torch.Tensor) and item.dtype.is_floating_point:
        want = 4 if video else 3
        if item.ndim != want or item.shape[0] != 3:
            kind = "(3, T, H, W)" if video else "(3, H, W)"
            raise ValueError(
                f"a float tensor input must be a normalised {kind} model input, got {tuple(item.shape)}"
            )
        return name, None, item
    if isinstance(item, torch.Tensor):  # uint8 pictures, channel first
        item = item.detach().cpu().movedim(0, -1).numpy()
    if not isinstance(item, np.ndarray):
        raise TypeError(
            "inputs must be file paths, PIL images, numpy arrays or torch tensors (or a list of them), "
            f"got {type(item).__name__}"
        )
    if video:
        if item.ndim != 4:
            raise ValueError(f"a clip must be a (T, H, W, 3) array, got shape {item.shape}")
        return name, pre.crop(np.stack([_rgb(f, "a clip's frame") for f in item])), None
    return name, pre.picture(_rgb(item, "an image")), None


def _split(inputs, bundle: LoadedModel) -> list:
    """Batched inputs (BCHW tensors, (B, H, W, 3) arrays; for clip models their 5-D forms) as
    items."""
    video = isinstance(bundle.preprocess, ClipPreprocess)
    batch = 5 if video else 4
    out = []
    for item in _items(inputs):
        if isinstance(item, torch.Tensor | np.ndarray) and item.ndim == batch:
            out += list(item)
        else:
            out.append(item)
    return out


def prepare(inputs, bundle: LoadedModel, device=None) -> tuple[torch.Tensor, np.ndarray, tuple[str, ...]]:
    """``(x, pictures, names)``: the model input on ``device``, the (B, [T,] H, W, 3) uint8
    pictures the model sees and a unique name per input, from file paths, PIL images, (H, W, 3)
    arrays (uint8, or float in [0, 1]), channel-first uint8 tensors, or float tensors that are
    already the model's normalised input; one of them or a list, or a batch array / tensor."""
    pre = bundle.preprocess
    mean = torch.tensor(pre.mean).view(3, *([1] * (3 if isinstance(pre, ClipPreprocess) else 2)))
    std = torch.tensor(pre.std).view(mean.shape)
    names, xs, pics = [], [], []
    for k, item in enumerate(_split(inputs, bundle)):
        name, pic, x = read_input(item, bundle, k)
        if x is None:
            x = pre.normalize(pic[None])[0]
        else:
            x = x.detach()
            unit = (x.cpu().float() * std + mean).clamp(0, 1)
            pic = (unit.movedim(0, -1).numpy() * 255).round().astype(np.uint8)
        names.append(name)
        xs.append(x)
        pics.append(pic)
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise ValueError(f"inputs given as model tensors must all have one shape, got {sorted(shapes)}")
    device = torch.device(device) if device is not None else _model_device(bundle.model)
    x = torch.stack([x.to(device, torch.float32) for x in xs])  # a device tensor stays where it is
    return x, np.stack(pics), tuple(_unique(names))


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}-{k + 1}")
    return out


def _model_device(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def class_index(target, class_names: Sequence[str]):
    """``target`` with class names replaced by their indices (exact, then case-insensitive);
    ints, None and tensors pass through. ValueError naming the closest names otherwise."""
    if isinstance(target, str):
        if target in class_names:
            return list(class_names).index(target)
        lower = [c.lower() for c in class_names]
        if target.lower() in lower:
            return lower.index(target.lower())
        synonyms = [[w.strip() for w in c.split(",")] for c in lower]  # ImageNet's "tabby, tabby cat"
        hit = next((i for i, words in enumerate(synonyms) if target.lower().strip() in words), None)
        if hit is not None:
            return hit
        if target.strip().lstrip("-").isdigit():
            return int(target)
        close = difflib.get_close_matches(target, class_names, n=3)
        hint = f"; the closest are {', '.join(map(repr, close))}" if close else ""
        raise ValueError(f"target {target!r} is not one of the model's {len(class_names)} class names{hint}")
    if isinstance(target, list | tuple):
        return [class_index(t, class_names) for t in target]
    return target


# -- the entry point -------------------------------------------------------------------------


def explain(
    model: nn.Module | str | LoadedModel,
    inputs,
    method: str = "swag-g",
    *,
    target=None,
    layer: str | nn.Module | list | None = None,
    preprocess: Preprocess | ClipPreprocess | None = None,
    device: str | torch.device | None = None,
    fit: str = "resize",
    segments: int | None = None,
    batch_size: int = 8,
    rise_masks: int = 4000,
    progress: Callable[[int, int], None] | None = None,
) -> Explanation:
    """Explain what ``model`` sees in ``inputs`` with ``method``.

    Parameters
    ----------
    model : nn.Module, str or LoadedModel
        A module (its preprocessing assumed unless ``preprocess`` is given: 224x224, ImageNet
        mean and std; its default layer found from one forward pass), a name
        :func:`swagfast.models.load` takes (``"efficientnet-lite0"``, ``"FILE.py:FACTORY"``, ...),
        or what ``load`` returned.
    inputs
        File paths (images, or videos for a clip model), PIL images, (H, W, 3) arrays (uint8 or
        float in [0, 1]), channel-first uint8 tensors, float tensors that are already the
        model's normalised (3, H, W) input; one, a list, or a batch ((B, H, W, 3) array,
        (B, 3, H, W) tensor). Pictures are fitted to the model's input by its preprocessing
        (by default the whole picture resized; ``Preprocess(fit="crop")`` for the central
        square).
    method : str, default "swag-g"
        One of :data:`METHODS`.
    target : int, class name, list of them, or None
        The class to explain per input (default: the model's top-1 prediction).
    layer : module, dotted name or list, optional
        For the CAMs and Jitter-CAM (default: the model's last post-activation feature map).
    preprocess : Preprocess or ClipPreprocess, optional
        Replaces the model's own (and is used as it is, ``fit`` included).
    fit : {"resize", "crop"}, default "resize"
        How a picture becomes the model's square input: the whole picture resized (nothing is
        cut off; the figure shows it squeezed as the model saw it) or its central square (the
        ImageNet evaluation protocol). Clips are always centre-cropped.
    device : optional
        Where to compute (default: where the model's parameters are).
    segments, rise_masks : optional
        SWAG's superpixels (300; 120 supervoxels) and RISE's masks (4000).
    batch_size : int, default 8
        Inputs explained together.
    progress : callable, optional
        ``progress(done, total)`` after each batch of inputs (and, for the slow methods, each
        batch of masked passes: then ``total`` counts those).

    Returns
    -------
    Explanation
        One for all inputs, with ``images`` (what the model saw), ``names``, ``class_names``
        and ``probs`` set: ``.figure(i)`` draws an input, ``.save(folder)`` writes them all.
        A module passed in is left in the training mode it was in.
    """
    from swagfast import models
    from swagfast._validate import check_int

    check_int(batch_size, "batch_size")
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    try:
        if isinstance(model, LoadedModel):
            bundle = model
        else:
            bundle = models.load(model, device=None if isinstance(model, nn.Module) else device or "cpu")
        if preprocess is None and isinstance(bundle.preprocess, Preprocess):
            preprocess = dataclasses.replace(bundle.preprocess, fit=fit)
        if preprocess is not None:
            if not isinstance(preprocess, Preprocess | ClipPreprocess):
                raise TypeError(
                    f"preprocess must be a Preprocess or ClipPreprocess, got {type(preprocess).__name__}"
                )
            bundle = dataclasses.replace(bundle, preprocess=preprocess)
        x, pictures, names = prepare(inputs, bundle, device)
        runner = make_method(method, bundle, layer, segments=segments, rise_masks=rise_masks)
        return _run(
            runner, bundle, x, pictures, names, class_index(target, bundle.class_names), batch_size, progress
        )
    finally:
        for m, training in modes:
            m.train(training)


def _run(runner: Method, bundle, x, pictures, names, target, batch_size: int, progress) -> Explanation:
    parts = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        tb = target[i : i + batch_size] if isinstance(target, list | torch.Tensor) else target
        runner.set_progress(progress)
        with torch.no_grad():
            probs = bundle.model(xb).softmax(dim=1)
        exp = runner(xb, pictures[i : i + batch_size], tb)
        parts.append((exp, probs))
        if progress is not None and runner.name not in SLOW:
            progress(min(i + batch_size, len(x)), len(x))
    exp = _concat([e for e, _ in parts])
    exp.probs = torch.cat([p for _, p in parts])
    exp.images, exp.names, exp.class_names = pictures, names, tuple(bundle.class_names)
    return exp


def _concat(parts: list[Explanation]) -> Explanation:
    """One Explanation from batches of one method (``segment_scores`` padded with zeros)."""
    if len(parts) == 1:
        return parts[0]
    first, values = parts[0], {}
    for f in dataclasses.fields(Explanation):
        got = [getattr(p, f.name) for p in parts]
        if f.name == "timings":
            values[f.name] = {k: sum(t.get(k, 0.0) for t in got) for k in got[0]}
        elif isinstance(got[0], torch.Tensor):
            if f.name == "segment_scores":
                n = max(g.shape[1] for g in got)
                got = [torch.nn.functional.pad(g, (0, n - g.shape[1])) for g in got]
            values[f.name] = torch.cat(got)
        elif f.name != "_unreported":
            values[f.name] = getattr(first, f.name)
    out = Explanation(**values)
    pending = [p._unreported for p in parts if p._unreported is not None]
    if pending and len(pending) == len(parts):
        out._unreported = (
            torch.cat([c for c, _, _ in pending]),
            torch.cat([lo for _, lo, _ in pending]),
            pending[0][2],
        )
    return out


__all__ = [
    "LAYER_METHODS",
    "METHODS",
    "SLOW",
    "Method",
    "class_index",
    "explain",
    "make_method",
    "prepare",
    "read_image",
    "read_input",
]
