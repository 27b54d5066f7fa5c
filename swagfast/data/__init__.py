"""Sample data: the real photos that ship with scikit-image and scikit-learn."""

from __future__ import annotations

import numpy as np

# scikit-image's bundled RGB photos (no download needed) and scikit-learn's two samples.
_SKIMAGE_PHOTOS = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
_SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")


def sample_images() -> dict[str, np.ndarray]:
    """The bundled real photos, by name.

    Returns
    -------
    dict of str to (H, W, 3) uint8 RGB arrays
        scikit-image's ``chelsea``, ``coffee``, ``astronaut``, ``rocket``,
        ``hubble_deep_field``, ``immunohistochemistry``, ``retina`` and scikit-learn's
        ``china`` and ``flower``, in that order. Nothing is downloaded.
    """
    import skimage.data
    from sklearn.datasets import load_sample_image

    photos = {name: getattr(skimage.data, name)() for name in _SKIMAGE_PHOTOS}
    for fname in _SKLEARN_PHOTOS:
        photos[fname.removesuffix(".jpg")] = load_sample_image(fname)
    out = {}
    for name, img in photos.items():
        img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
        if img.ndim != 3 or img.shape[2] != 3:  # pragma: no cover - guards against library changes
            raise RuntimeError(f"sample image {name!r} is not RGB: shape {img.shape}")
        out[name] = img
    return out


def center_crop_resize(image: np.ndarray, size: int) -> np.ndarray:
    """Crop the central square of an (H, W, 3) image and resize it to (size, size, 3) (cv2.INTER_AREA)."""
    import cv2

    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        got = image.shape if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an (H, W, 3) numpy array, got {got}")
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = np.ascontiguousarray(image[top : top + s, left : left + s])
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


from swagfast.data.actions import ACTIONS, ActionSet, action_set  # noqa: E402
from swagfast.data.bam import BAMSet, SmallCNN, bam_set, train_small_cnn  # noqa: E402
from swagfast.data.composites import Composites, composites, keep_predicted, object_cutouts  # noqa: E402
from swagfast.data.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_clip, write_clip  # noqa: E402

__all__ = [
    "ACTIONS",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "ActionSet",
    "BAMSet",
    "Composites",
    "SmallCNN",
    "action_set",
    "bam_set",
    "center_crop_resize",
    "composites",
    "keep_predicted",
    "read_clip",
    "write_clip",
    "object_cutouts",
    "sample_images",
    "train_small_cnn",
]
