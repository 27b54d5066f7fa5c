"""The one result type every explainer returns."""

from __future__ import annotations

import io
import json
import re
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from swagfast import viz
from swagfast._validate import check_rgb_values


def _np(a):
    if not isinstance(a, torch.Tensor):
        return a
    a = a.detach().cpu()
    return (a.float() if a.dtype in (torch.bfloat16,) else a).numpy()  # bfloat16 has no numpy twin


def _images_hwc(images, B: int, ndim: int = 2) -> np.ndarray:
    """(B, [T,] H, W, 3) uint8 from channel-last numpy ((H, W, 3) for one image) or channel-first
    tensors (B, 3, [T,] H, W) in [0, 1] or uint8; ``ndim`` = 2 for images, 3 for clips."""
    if isinstance(images, torch.Tensor):
        t = images.detach().cpu()
        if t.ndim == ndim + 1:
            t = t.unsqueeze(0)
        t = t.movedim(1, -1)
        images = (t.float() if t.dtype.is_floating_point else t).numpy()  # bfloat16 has no numpy twin
    images = np.asarray(images)
    if images.ndim == ndim + 1:
        images = images[None]
    if images.ndim != ndim + 2 or images.shape[-1] != 3 or images.shape[0] != B:
        kind = "(B, H, W, 3) or (B, 3, H, W)" if ndim == 2 else "(B, T, H, W, 3) or (B, 3, T, H, W)"
        raise ValueError(
            f"images must be {B} RGB {'images' if ndim == 2 else 'clips'} {kind}, got shape {images.shape}"
        )
    check_rgb_values(images, "images")  # a 0..255 float image would otherwise turn white
    if images.dtype != np.uint8:
        images = (images.astype(np.float32) * 255).round().astype(np.uint8)
    return images


def _report_constant(
    constant: torch.Tensor, lo: torch.Tensor, method: str, why: str, stacklevel: int
) -> None:
    """The UserWarning of :meth:`Explanation.warn_if_constant` (one host synchronisation)."""
    if bool(constant.any()):
        items = constant.nonzero().flatten().tolist()
        shown = ", ".join(map(str, items[:8])) + (", ..." if len(items) > 8 else "")
        warnings.warn(
            f"{method}: the heatmap of item(s) {shown} is constant ({float(lo[items[0]]):g} everywhere) "
            f"and explains nothing: {why}",
            UserWarning,
            stacklevel=stacklevel,
        )


@dataclass(eq=False)  # compared by identity: a field-wise == of tensors has no single truth value
class Explanation:
    """What an explainer computed for a batch.

    heatmap : (B, H, W) or (B, T, H, W), on the input's device
        The explanation at input resolution (higher = more important).
    target : (B,) int64
        The explained class of each item.
    method : str
    segments : int32 labels like ``heatmap``, or None
        Superpixels / supervoxels (SWAG).
    segment_scores : (B, n) or None
        The pooled score of every segment (0 for numbers absent from an item's segments).
    pixel_map : like ``heatmap``, or None
        The per-pixel attribution before pooling (SWAG's ``max_c |g|``).
    raw : tensor or None
        Method-specific raw output (a CAM before resizing).
    timings : dict of str to seconds
        Wall-clock per stage. On CUDA only meaningful when the explainer was asked to
        ``profile`` (which synchronises at stage boundaries).
    images : (B, [T,] H, W, 3) uint8 or None
        What the model saw, as pictures (set by :func:`swagfast.explain`; needed by
        :meth:`figure` and :meth:`save`).
    names : tuple of str or None
        A name per item (the input's file stem, or ``"input-N"``), used for file names.
    class_names : tuple of str or None
        The model's class names, for captions and the JSON.
    probs : (B, classes) or None
        The model's softmax on the input, for the top classes in captions and the JSON.
    """

    heatmap: torch.Tensor
    target: torch.Tensor
    method: str
    segments: torch.Tensor | None = None
    segment_scores: torch.Tensor | None = None
    pixel_map: torch.Tensor | None = None
    raw: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)
    images: np.ndarray | None = None
    names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    probs: torch.Tensor | None = None
    # a constant-heatmap check computed on the device and not yet reported (see warn_if_constant)
    _unreported: tuple | None = field(default=None, repr=False)

    def warn_if_constant(self, why: str, *, stacklevel: int = 3) -> Explanation:
        """UserWarning when the heatmap of any item is the same value everywhere (it ranks
        nothing, so it explains nothing), naming the items, the value and ``why`` it can happen;
        returns ``self``. One reduction over the batch. On the CPU it is reported at once; on
        CUDA when the explanation is brought to the host (:meth:`numpy`), so that the call that
        made it does not wait for the device."""
        h = (
            self.heatmap
            if isinstance(self.heatmap, torch.Tensor)
            else torch.from_numpy(np.asarray(self.heatmap))
        )
        flat = h.detach().reshape(h.shape[0], -1)
        if flat.numel() == 0:
            return self
        lo, hi = torch.aminmax(flat, dim=1)
        if flat.device.type == "cuda":
            self._unreported = (lo == hi, lo, why)
        else:
            _report_constant(lo == hi, lo, self.method, why, stacklevel)
        return self

    def numpy(self) -> Explanation:
        """A copy with every tensor as a numpy array on the host (a constant heatmap found on the
        device is reported here)."""
        if self._unreported is not None:
            constant, lo, why = self._unreported
            _report_constant(constant, lo, self.method, why, stacklevel=3)
        return replace(
            self,
            timings=dict(self.timings),
            _unreported=None,
            **{
                f.name: _np(getattr(self, f.name))
                for f in fields(self)
                if f.name not in ("method", "timings", "_unreported", "images", "names", "class_names")
            },
        )

    def __repr__(self) -> str:  # shapes, not values: a clip's heatmap is millions of numbers
        def describe(v):
            if isinstance(v, torch.Tensor | np.ndarray):
                where = f", {v.device}" if isinstance(v, torch.Tensor) else ", numpy"
                return f"{type(v).__name__}{tuple(v.shape)} {str(v.dtype).removeprefix('torch.')}{where}"
            return repr(v)

        hidden = ("timings", "_unreported", "class_names")
        shown = (f for f in fields(self) if f.name not in hidden and getattr(self, f.name) is not None)
        parts = [f"{f.name}={describe(getattr(self, f.name))}" for f in shown]
        parts.append(f"timings={{{', '.join(f'{k!r}: {v:.4f}' for k, v in self.timings.items())}}}")
        return f"Explanation({', '.join(parts)})"

    def overlay(self, images, alpha: float = 0.5) -> np.ndarray:
        """Heatmaps blended over ``images`` (see :func:`swagfast.viz.overlay`): (B, [T,] H, W, 3)
        uint8; a clip's heatmap is scaled over the whole clip."""
        heat = _np(self.heatmap)
        imgs = _images_hwc(images, heat.shape[0], heat.ndim - 1)
        return np.stack([viz.overlay(img, h, alpha) for img, h in zip(imgs, heat, strict=True)])

    def borders(self, images, colour: tuple[int, int, int] = (255, 255, 0)) -> np.ndarray:
        """``images`` with the superpixel (supervoxel) borders drawn: (B, [T,] H, W, 3) uint8."""
        if self.segments is None:
            raise ValueError(f"method {self.method!r} has no segments to draw")
        seg = _np(self.segments)
        imgs = _images_hwc(images, seg.shape[0], seg.ndim - 1)
        return np.stack([viz.draw_borders(img, s, colour) for img, s in zip(imgs, seg, strict=True)])

    # -- figures and files -------------------------------------------------------------------

    def _class(self, c: int) -> str:
        return self.class_names[c] if self.class_names and 0 <= c < len(self.class_names) else f"class {c}"

    def top(self, i: int, k: int = 5) -> list[dict]:
        """The ``k`` most probable classes of item ``i`` (``class``, ``name``, ``prob``), or []
        without ``probs``."""
        if self.probs is None:
            return []
        p = np.asarray(_np(self.probs[i]), dtype=np.float64)
        order = np.argsort(-p, kind="stable")[: min(k, len(p))]
        return [{"class": int(c), "name": self._class(int(c)), "prob": round(float(p[c]), 5)} for c in order]

    def figure(self, i: int) -> np.ndarray:
        """Item ``i`` as one RGB picture: what the model saw, the heatmap over it and, with
        segments, their borders, each titled; the colour bar; a caption with the explained class
        and the top classes. A clip shows 8 of its frames, a row each, numbered."""
        if self.images is None:
            raise ValueError("figure needs the pictures the model saw: set images= (swagfast.explain does)")
        seen = np.asarray(self.images[i])
        heat = np.asarray(_np(self.heatmap[i]), dtype=np.float64)
        over = viz.overlay(seen, heat)
        segs = None if self.segments is None else np.asarray(_np(self.segments[i]))
        t = int(_np(self.target[i]))
        name = self.names[i] if self.names else f"input-{i}"
        lines = [f"{name}: explaining {self._class(t)} ({t}) with {self.method}"]
        lines += [f"  {e['name']} ({e['prob']:.2f})" for e in self.top(i, 3)]
        if seen.ndim == 4:  # a clip: frames as columns, one row per panel
            pick = [int(f) for f in np.round(np.linspace(0, len(seen) - 1, min(8, len(seen))))]
            rows, labels = [seen[pick], over[pick]], ["clip", "heatmap"]
            if segs is not None:
                rows.append(viz.draw_borders(seen, segs)[pick])
                labels.append("supervoxels")
            body = viz.labelled_strip(rows, labels, pick)
        else:
            h, w = seen.shape[:2]
            panels = [viz.titled(seen, f"input ({w}x{h})"), viz.titled(over, f"{self.method} heatmap")]
            if segs is not None:
                panels.append(viz.titled(viz.draw_borders(seen, segs), f"{int(segs.max()) + 1} superpixels"))
            body = np.concatenate(panels, axis=1)
        body = np.concatenate([body, viz.colour_bar(body.shape[1])], axis=0)
        return viz.caption(body, lines)

    def save(
        self, folder, *, tag: str | None = None, heatmaps: bool = False, extra: dict | None = None
    ) -> list[dict]:
        """Write every item's files into ``folder`` (see :meth:`save_item`); their JSON rows."""
        return [
            self.save_item(i, folder, tag=tag, heatmaps=heatmaps, extra=extra)
            for i in range(len(self.target))
        ]

    def save_item(
        self, i: int, folder, *, tag: str | None = None, heatmaps: bool = False, extra: dict | None = None
    ) -> dict:
        """Write item ``i``'s files into ``folder`` and return its JSON row: ``NAME.TAG.png``
        (:meth:`figure`), for a clip ``NAME.TAG.mp4`` (H.264: the clip beside its overlay),
        with ``heatmaps`` ``NAME.TAG.npy`` (float32), and ``NAME.TAG.json`` (method, target, top
        classes, heatmap range, segments, timings, the file names, and ``extra``). ``NAME`` is
        the item's name, ``TAG`` the method (file-name safe) unless given, so that two methods
        can share a folder. Each file is written atomically; when a write fails, the item's
        files written so far are removed and the error is raised."""
        out = Path(folder)
        tag = tag or re.sub(r"[^a-z0-9+]+", "-", self.method.lower()).strip("-")
        name = self.names[i] if self.names else f"input-{i}"
        written: list[Path] = []
        try:
            return self._save_item(
                i, out, f"{name}.{tag}", written, heatmaps, {"name": name, **(extra or {})}
            )
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
            raise

    def _save_item(self, i: int, out: Path, stem: str, written: list, heatmaps: bool, row: dict) -> dict:
        from swagfast.data import write_clip

        written.append(out / f"{stem}.png")
        viz.write_png(written[-1], self.figure(i))
        row["png"] = f"{stem}.png"
        if np.asarray(self.images[i]).ndim == 4:
            seen = np.asarray(self.images[i])
            side = np.concatenate([seen, viz.overlay(seen, np.asarray(_np(self.heatmap[i])))], axis=2)
            written.append(out / f"{stem}.mp4")
            write_clip(written[-1], np.ascontiguousarray(side))
            row["video"] = f"{stem}.mp4"
        heat = np.asarray(_np(self.heatmap[i]), dtype=np.float64)
        t = int(_np(self.target[i]))
        row.update(
            {
                "method": self.method,
                "target": {"class": t, "name": self._class(t)},
                "top5": self.top(i),
                "heatmap": {"shape": list(heat.shape), "min": float(heat.min()), "max": float(heat.max())},
                "segments": int(_np(self.segments[i]).max()) + 1 if self.segments is not None else None,
                "batch_timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            }
        )
        if heatmaps:
            bio = io.BytesIO()
            np.save(bio, heat.astype(np.float32))
            written.append(out / f"{stem}.npy")
            viz.write_bytes_atomic(written[-1], bio.getvalue())
            row["heatmap_file"] = f"{stem}.npy"
        row["json"] = f"{stem}.json"
        written.append(out / row["json"])
        viz.write_bytes_atomic(written[-1], json.dumps(row, indent=2).encode())
        return row
