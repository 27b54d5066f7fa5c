"""Pictures: heatmap overlays and labelled panels, written atomically with OpenCV."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np


def normalize_heatmap(heatmap: np.ndarray, clip_percentile: float = 99.0) -> np.ndarray:
    """Scale a (H, W) heatmap, or a (T, H, W) clip's as a whole, to [0, 1]: min to 0, the
    ``clip_percentile`` value (and above) to 1."""
    h = np.asarray(heatmap, dtype=np.float64)
    if h.ndim not in (2, 3):
        raise ValueError(f"heatmap must have shape (H, W) or (T, H, W), got {h.shape}")
    lo = float(np.nanmin(h))
    hi = float(np.nanpercentile(h, clip_percentile))
    if not np.isfinite(hi - lo) or hi <= lo:
        return np.zeros_like(h)
    return np.clip((h - lo) / (hi - lo), 0.0, 1.0)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a JET-coloured heatmap over an (H, W, 3) uint8 RGB image, or a (T, H, W) heatmap over
    a (T, H, W, 3) clip (scaled over the whole clip, so frames compare); returns uint8 RGB."""
    if image.ndim not in (3, 4) or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) or (T, H, W, 3) uint8, got {image.shape} {image.dtype}")
    h = normalize_heatmap(heatmap)
    if h.shape != image.shape[:-1]:
        raise ValueError(f"heatmap must have the image's size {image.shape[:-1]}, got {h.shape}")
    if image.ndim == 4:
        return np.stack([_blend(f, hf, alpha) for f, hf in zip(image, h, strict=True)])
    return _blend(image, h, alpha)


def _blend(image: np.ndarray, h: np.ndarray, alpha: float) -> np.ndarray:
    colour = cv2.applyColorMap((h * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    return cv2.addWeighted(image, 1.0 - alpha, colour, alpha, 0.0)


def segment_borders(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose right or lower neighbour has another label."""
    b = np.zeros(labels.shape, bool)
    b[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    b[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return b


def draw_borders(
    image: np.ndarray, labels: np.ndarray, colour: tuple[int, int, int] = (255, 255, 0)
) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 image with the borders of ``labels`` (H, W) painted; clips
    ((T, H, W, 3) with (T, H, W) supervoxels) get each frame's borders."""
    if labels.shape != image.shape[:-1]:
        raise ValueError(f"labels must have the image's size {image.shape[:-1]}, got {labels.shape}")
    if labels.ndim == 3:
        return np.stack([draw_borders(f, lf, colour) for f, lf in zip(image, labels, strict=True)])
    out = image.copy()
    out[segment_borders(labels)] = colour
    return out


def caption(image: np.ndarray, lines: list[str], height: int = 18) -> np.ndarray:
    """Add a white band with text lines under an RGB image."""
    band = np.full((height * len(lines) + 6, image.shape[1], 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(
            band, line, (4, height * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA
        )
    return np.concatenate([image, band], axis=0)


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG atomically (temporary file + rename): never half-written."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:  # pragma: no cover - OpenCV failure
        raise RuntimeError(f"could not encode {path} as PNG")
    write_bytes_atomic(path, buf.tobytes())
    return path


def _read_umask() -> int:
    mask = os.umask(0o022)  # the umask can only be read by setting it: once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def created_mode(directory: bool = False) -> int:
    """The permissions ``open`` / ``mkdir`` would give a new file (folder) under the process's
    umask; temporary files and folders start private (0600 / 0700), so whatever is renamed into
    place gets these first."""
    return (0o777 if directory else 0o666) & ~_UMASK


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so
    ``path`` is never half-written; it gets the permissions a plain write would give it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, created_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
