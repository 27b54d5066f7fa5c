"""Jitter-CAM (thesis chapter 5, METHODS.md §4): many CAMs over patches of an upscaled input,
averaged into a CAM finer than the layer's resolution."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from swagfast import attribution as attr
from swagfast._validate import check_bool, check_number
from swagfast.attribution.layers import capture, eager_module, keeps_model
from swagfast.explainers._compat import PeerSpellings, peer_arguments
from swagfast.explainers.cam import CAMS, BaseCAM, cam_name, resize
from swagfast.explainers.explanation import Explanation
from swagfast.patches import accumulate_patches


class JitterCAM(PeerSpellings):
    """Jitter-CAM over any base CAM.

    For an input side ``p`` and base CAM side ``m`` (e.g. 224 and 7): ``k = p / m`` pixels per
    CAM cell; target side ``m + d`` (``d = round(m (cam_scale - 1))``, default ``d = m``); the
    input is upscaled bilinearly to ``p + d k``, ``(d + 1)^2`` patches of side ``p`` are cut at
    stride ``k``, the raw (not re-normalised) base CAM of each patch is added into ``J`` at its
    offset and counted in ``C``; the result ``J / C`` is resized bilinearly to the input. Rows
    and columns are handled independently (non-square inputs, e.g. 224 x 292). ``d = 0``
    reproduces the base CAM exactly. Every patch is explained for the class predicted on (or
    given for) the whole input.

    Beyond the thesis: clips (B, 3, T, H, W) are jittered in space, and also in time with
    ``jitter_time=True`` (the thesis's suggested future work).

    Parameters
    ----------
    model, layer : as the CAMs
    base : str or BaseCAM subclass, default "grad-cam"
        "grad-cam", "grad-cam++", "xgrad-cam", "grad-amap-cam", "score-cam", "ablation-cam"
        (:data:`swagfast.explainers.cam.CAMS`; the names without hyphens are deprecated aliases).
    cam_scale : float, default 2.0
        Target CAM side over the base side (``m + d = round(cam_scale m)``).
    cam_size : int or tuple of ints, optional
        The target CAM size ``(h', w')`` (or ``(t', h', w')``) instead of ``cam_scale``; an int
        is that size along every jittered axis.
    score : {"logit", "softmax"}, optional
        The class score of the base CAM; by default the base CAM's own (softmax for Score-CAM,
        the logit for the others).
    batch_size : int, optional
        Patches per forward/backward pass (bounds memory); default 64 on a GPU, 8 on the CPU
        (see :func:`swagfast._backend.default_batch_size`).
    backend : backend of the patch accumulation.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: nn.Module | str | list | None = None,
        base: str | type[BaseCAM] = "grad-cam",
        *,
        cam_scale: float = 2.0,
        cam_size: tuple[int, ...] | None = None,
        batch_size: int | None = None,
        score: str | None = None,
        jitter_time: bool = False,
        backend: str = "auto",
        target_layers: list | None = None,
    ) -> None:
        if isinstance(base, str):
            base = CAMS[cam_name(base)]
        if not (isinstance(base, type) and issubclass(base, BaseCAM)):
            raise TypeError(f"base must be a CAM name or a BaseCAM subclass, got {base!r}")
        if cam_size is None:
            check_number(cam_scale, "cam_scale", low=1)
        elif isinstance(cam_size, int | np.integer) and not isinstance(cam_size, bool):
            cam_size = (int(cam_size),)  # the same size along every jittered axis
        if cam_size is not None and (
            not isinstance(cam_size, Sequence)
            or not cam_size
            or any(isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 1 for c in cam_size)
        ):
            raise TypeError(f"cam_size must be a positive int or a sequence of them, got {cam_size!r}")
        check_bool(jitter_time, "jitter_time")
        self.cam = base(model, layer, batch_size=batch_size, target_layers=target_layers, score=score)
        if len(self.cam.layers) > 1:
            raise ValueError(f"Jitter-CAM explains one layer, got {len(self.cam.layers)} layers")
        self.model = model
        self.cam_scale = cam_scale
        self.cam_size = None if cam_size is None else tuple(int(s) for s in cam_size)
        self.jitter_time = jitter_time
        self.backend = backend

    @property
    def name(self) -> str:
        return f"Jitter-CAM[{self.cam.name}]"

    def plan(
        self, x: torch.Tensor, layer_shape: tuple[int, ...] | None = None
    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(m, d, k) per jittered axis for input ``x``: base CAM size, extra cells, pixels per cell.

        ``layer_shape``: the layer's activation shape for ``x`` if known (else one forward finds it).
        """
        if layer_shape is None:
            with torch.no_grad(), capture(self.cam.layer) as box:
                eager_module(self.model)(x[:1])
            layer_shape = tuple(box.output.shape)
        if len(layer_shape) != x.ndim:
            raise ValueError(
                "the layer's output must be (B, K, h, w) or (B, K, t, h, w) like the input "
                f"{tuple(x.shape)}, got {tuple(layer_shape)}"
            )
        m_all = tuple(layer_shape[2:])
        p_all = tuple(x.shape[2:])
        axes = range(len(m_all)) if (x.ndim == 4 or self.jitter_time) else range(1, len(m_all))
        m = tuple(m_all[a] for a in axes)
        p = tuple(p_all[a] for a in axes)
        if self.cam_size is not None:
            cam_size = self.cam_size * len(m) if len(self.cam_size) == 1 else self.cam_size
            if len(cam_size) != len(m):
                raise ValueError(f"cam_size must have {len(m)} entries, got {self.cam_size}")
            d = tuple(s - mm for s, mm in zip(cam_size, m, strict=True))
            if min(d) < 0:
                raise ValueError(f"cam_size {cam_size} must not be smaller than the base CAM {m}")
        else:
            d = tuple(round(mm * (self.cam_scale - 1)) for mm in m)
        for pp, mm in zip(p, m, strict=True):
            if pp % mm:
                raise ValueError(
                    f"the input side {pp} must be a multiple of the layer's side {mm} (k = p / m pixels per "
                    f"CAM cell); resize the input, e.g. to {mm * round(pp / mm)}"
                )
        k = tuple(pp // mm for pp, mm in zip(p, m, strict=True))
        return m, d, k

    @peer_arguments
    @keeps_model
    def __call__(self, x: torch.Tensor, target=None) -> Explanation:
        attr.check_input(x)
        if x.shape[0] == 0:
            raise ValueError(f"x must hold at least one item, got the empty batch {tuple(x.shape)}")
        t0 = time.perf_counter()
        with torch.no_grad(), capture(self.cam.layer) as box:  # the class and the layer's shape at once
            t = attr.resolve_target(attr.forward(self.model, x.detach()), target)
        m, d, k = self.plan(x, tuple(box.output.shape))
        nd = len(m)
        lead = x.ndim - 2 - nd  # a time axis that is not jittered
        p = tuple(x.shape[2 + lead :])
        big = tuple(pp + dd * kk for pp, dd, kk in zip(p, d, k, strict=True))
        if big != p:
            mode = "bilinear" if x.ndim == 4 else "trilinear"
            size = tuple(x.shape[2 : 2 + lead]) + big
            up = F.interpolate(x.detach(), size=size, mode=mode, align_corners=False)
        else:
            up = x.detach()
        grid = torch.cartesian_prod(*[torch.arange(dd + 1) for dd in d]).reshape(-1, nd)  # offsets in cells
        P, B = len(grid), x.shape[0]
        jobs = [(b, q) for b in range(B) for q in range(P)]
        maps = None
        bs = self.cam.batch_size_for(x.device)
        for i in range(0, len(jobs), bs):
            chunk = jobs[i : i + bs]
            crops = []
            for b, q in chunk:
                idx = tuple(
                    slice(int(o) * kk, int(o) * kk + pp) for o, kk, pp in zip(grid[q], k, p, strict=True)
                )
                crops.append(up[(b, slice(None)) + (slice(None),) * lead + idx])
            cams, _ = self.cam.raw(torch.stack(crops), t[[b for b, _ in chunk]])
            if maps is None:
                maps = torch.empty((B, P, *cams.shape[1:]), device=cams.device, dtype=cams.dtype)
            maps.view(B * P, *cams.shape[1:])[i : i + len(chunk)] = cams
        t1 = time.perf_counter()
        cam_shape = tuple(maps.shape[2:])
        offsets = grid
        if lead:  # the time axis is not jittered: every patch starts at frame 0 of the CAM
            offsets = torch.cat([torch.zeros(P, 1, dtype=grid.dtype), grid], dim=1)
        out_shape = cam_shape[:lead] + tuple(mm + dd for mm, dd in zip(m, d, strict=True))
        # the accumulation is float32 whatever the model's dtype (bfloat16, float16)
        maps = maps.float().contiguous()
        J, C = accumulate_patches(maps, offsets.to(torch.int64), out_shape, backend=self.backend)
        jitter = J / C
        heat = resize(jitter, tuple(x.shape[2:]))
        t2 = time.perf_counter()
        return Explanation(
            heatmap=heat,
            target=t,
            method=self.name,
            raw=jitter,
            timings={"patch_cams": t1 - t0, "accumulate": t2 - t1, "total": t2 - t0},
        ).warn_if_constant(self.cam.zero_cause())
