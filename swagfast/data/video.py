"""Reading real videos into clips (OpenCV)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from swagfast._validate import check_int, check_positive

# the files read as images (OpenCV's decoders) and as clips
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def read_clip(path: str | os.PathLike, frames: int = 16, size: int = 112) -> np.ndarray:
    """Read ``frames`` frames spread evenly over a video, each centre-cropped and resized.

    Parameters
    ----------
    path : str or path
        Any file OpenCV's video reader opens (mp4, avi, ...).
    frames : int, default 16
        Frames in the clip, taken at evenly spaced positions over the whole video (a video with
        fewer frames repeats frames).
    size : int, default 112
        Side of the square crop (the central square of each frame, resized with INTER_AREA).

    Returns
    -------
    (frames, size, size, 3) uint8 RGB array (channel-last; ``models.load("action-demo")``'s
    ``preprocess`` turns it into the model input).

    Raises
    ------
    ValueError
        The file is missing, cannot be decoded, or holds no frames; bad ``frames`` / ``size``.
    """
    import cv2

    from swagfast.data import center_crop_resize

    frames, size = check_int(frames, "frames"), check_int(size, "size")
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a file")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ValueError(f"path {str(path)!r} could not be opened as a video")
        kept = []
        while True:  # decode sequentially (seeking is unreliable across codecs); keep small crops
            ok, frame = cap.read()
            if not ok:
                break
            kept.append(center_crop_resize(np.ascontiguousarray(frame[..., ::-1]), size))
    finally:
        cap.release()
    if not kept:
        raise ValueError(f"path {str(path)!r} holds no decodable frames")
    idx = np.round(np.linspace(0, len(kept) - 1, frames)).astype(int)
    return np.stack([kept[i] for i in idx])


def write_clip(path: str | os.PathLike, clip: np.ndarray, fps: float = 8.0) -> Path:
    """Write a (T, H, W, 3) uint8 RGB clip atomically (temporary file, then renamed), by the
    suffix: ``.mp4`` as H.264 (yuv420p, the profile every browser plays; written with PyAV's
    libx264, an odd width or height padded by one white pixel) or ``.avi`` as MJPG (OpenCV)."""
    path = Path(path)
    clip = np.asarray(clip)
    if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8 or 0 in clip.shape:
        raise ValueError(f"clip must be a non-empty (T, H, W, 3) uint8 array, got {clip.shape} {clip.dtype}")
    check_positive(fps, "fps")
    if path.suffix.lower() not in (".mp4", ".avi"):
        raise ValueError(f"path must end in .mp4 or .avi, got {path.name!r}")
    if path.is_dir():
        raise ValueError(f"path must be a file to write, got the folder {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        (_write_h264 if path.suffix.lower() == ".mp4" else _write_mjpg)(tmp, clip, fps)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # whatever failed, no temporary file is left
    return path


def _write_h264(path: Path, clip: np.ndarray, fps: float) -> None:
    from fractions import Fraction

    import av

    T, H, W = clip.shape[:3]
    pad = ((0, 0), (0, H % 2), (0, W % 2), (0, 0))
    clip = np.pad(clip, pad, constant_values=255) if H % 2 or W % 2 else clip
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], "yuv420p"
        stream.options = {"crf": "20", "movflags": "+faststart"}
        for frame in clip:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        out.mux(stream.encode())


def _write_mjpg(path: Path, clip: np.ndarray, fps: float) -> None:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (clip.shape[2], clip.shape[1]))
    try:
        if not writer.isOpened():
            raise ValueError("OpenCV cannot write .avi here (codec MJPG)")
        for frame in clip:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()
