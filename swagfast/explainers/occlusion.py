"""Occlusion (Zeiler & Fergus): the drop of the class score when a window of the input is
replaced by a baseline, averaged over the windows that cover each pixel."""

from __future__ import annotations

import time
from dataclasses import KW_ONLY, dataclass
from typing import ClassVar

import torch
from torch import nn

from swagfast import attribution as attr
from swagfast._backend import resolve_batch_size
from swagfast._validate import check_batch_size, check_int, check_model, check_number, check_score
from swagfast.attribution.layers import keeps_model
from swagfast.explainers._compat import PeerSpellings, peer_arguments
from swagfast.explainers.explanation import Explanation


@dataclass(eq=False)
class Occlusion(PeerSpellings):
    """Occlusion with square windows slid over the image, every channel occluded together.

    ``heatmap[b, i, j] = mean over the windows w covering (i, j) of f_c(x_b) - f_c(x_b with w
    set to baseline)``. Windows sit at ``0, stride, 2 stride, ...`` until the whole image is
    covered, the last one in a row or column cut at the border (Captum's placement), so the
    result equals Captum's ``Occlusion`` with ``sliding_window_shapes=(C, window, window)`` and
    ``strides=(C, stride, stride)`` (the same on every channel). The occluded inputs of an item
    are evaluated ``batch_size`` at a time.

    Parameters
    ----------
    model : nn.Module
    window : int, default 16
    stride : int, default 8
    baseline : float, default 0.0 (in the normalised input: the dataset mean)
    score : {"logit", "softmax"}, default "logit"
    batch_size : int, optional (default 64 on a GPU, 8 on the CPU)
    """

    model: nn.Module
    _: KW_ONLY
    window: int = 16
    stride: int = 8
    baseline: float = 0.0
    score: str = "logit"
    batch_size: int | None = None
    name: ClassVar[str] = "Occlusion"
    progress: ClassVar = None
    """Called as ``progress(done, total)`` with the occluded passes done so far and in all."""

    def __post_init__(self) -> None:
        check_model(self.model)
        check_int(self.window, "window")
        check_int(self.stride, "stride")
        check_number(self.baseline, "baseline")
        check_score(self.score)
        check_batch_size(self.batch_size)

    def windows(self, H: int, W: int) -> list[tuple[int, int]]:
        """The top-left corners of the windows on an H x W image."""
        if self.window > min(H, W):
            raise ValueError(f"window must be at most the image side {min(H, W)}, got {self.window}")
        if self.stride > self.window:
            raise ValueError(
                f"stride must be at most the window {self.window} (or pixels go unseen), got {self.stride}"
            )
        ys = range(0, -(-(H - self.window) // self.stride) * self.stride + 1, self.stride)
        xs = range(0, -(-(W - self.window) // self.stride) * self.stride + 1, self.stride)
        return [(y, x) for y in ys for x in xs]

    @peer_arguments
    @keeps_model
    def __call__(self, x: torch.Tensor, target=None) -> Explanation:
        t0 = time.perf_counter()
        attr.check_images(x, "Occlusion")
        corners = self.windows(*x.shape[-2:])
        B, _, H, W = x.shape
        bs = resolve_batch_size(self.batch_size, x.device)
        with torch.no_grad():
            logits = attr.forward(self.model, x)
            t = attr.resolve_target(logits, target)
            full = attr.class_score(logits, t, self.score)
            dtype = torch.promote_types(x.dtype, torch.float32)  # half precision summed in float32
            total = torch.zeros((B, H, W), device=x.device, dtype=dtype)
            count = torch.zeros((H, W), device=x.device, dtype=dtype)
            for y, x0 in corners:
                count[y : y + self.window, x0 : x0 + self.window] += 1
            for b in range(B):
                for i in range(0, len(corners), bs):
                    chunk = corners[i : i + bs]
                    xs = x[b : b + 1].repeat(len(chunk), 1, 1, 1)
                    for k, (y, x0) in enumerate(chunk):
                        xs[k, :, y : y + self.window, x0 : x0 + self.window] = self.baseline
                    drop = full[b] - attr.class_score(self.model(xs), t[b].expand(len(chunk)), self.score)
                    for k, (y, x0) in enumerate(chunk):
                        total[b, y : y + self.window, x0 : x0 + self.window] += drop[k].to(dtype)
                    if self.progress is not None:
                        self.progress(b * len(corners) + i + len(chunk), B * len(corners))
        name, took = f"Occlusion({self.window}/{self.stride})", {"total": time.perf_counter() - t0}
        exp = Explanation(heatmap=total / count, target=t, method=name, timings=took)
        return exp.warn_if_constant("no window changed the class score")
