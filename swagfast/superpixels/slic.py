"""Gradient-augmented SLIC superpixels and supervoxels (METHODS.md §2).

A call checks its options once (:class:`SlicParams`) and its inputs, then runs the backend's
stages: features (CIELAB colour, the rescaled attribution), the SLIC rounds, connectivity.
Numpy arrays or torch tensors in, the same type out, on the same device.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from swagfast._backend import (
    as_tensor,
    kernel,
    resolve_backend,
)
from swagfast._validate import (
    check_bool,
    check_int,
    check_number,
    check_positive,
    forwarded_options,
    with_options_of,
)

ArrayLike = np.ndarray | torch.Tensor


MODES = ("I", "G", "I+G")
CONNECTIVITY_RULES = ("raster", "parallel")


def check_connectivity_rule(connectivity) -> None:
    """ValueError unless ``connectivity`` names one of :data:`CONNECTIVITY_RULES`."""
    if connectivity not in CONNECTIVITY_RULES:
        rules = ", ".join(map(repr, CONNECTIVITY_RULES))
        raise ValueError(f"connectivity must be one of {rules}; got {connectivity!r}")


def _checked_rgb(img: torch.Tensor, what: str = "image") -> torch.Tensor:
    """uint8 as it is (the kernels divide by 255); float checked to lie in [0, 1], as float32."""
    if img.dtype == torch.uint8:
        return img
    if not img.dtype.is_floating_point:
        raise TypeError(f"{what} must be uint8 or float in [0, 1], got dtype {img.dtype}")
    img = img.float()
    if img.numel():
        lo, hi = (float(t) for t in torch.aminmax(img))  # NaN and infinities show in the range
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{what} must hold finite values, got NaN or infinity")
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{what} must hold float values in [0, 1], got the range [{lo:g}, {hi:g}]")
    return img


def _rescale_gradient_into(g: torch.Tensor, out: torch.Tensor) -> None:
    """Min-max rescale each item of g (B, ...) to [0, 100] into out (METHODS.md §2); constant
    maps give 0. One pass finds each item's range, which is also the finiteness check (NaN and
    infinities show in it)."""
    flat = g.reshape(g.shape[0], -1)
    lo, hi = torch.aminmax(flat, dim=1, keepdim=True)
    if not bool((torch.isfinite(lo) & torch.isfinite(hi)).all()):
        raise ValueError("gradient must hold finite values, got NaN or infinity")
    span = hi - lo
    scale = torch.where(span > 0, 100.0 / span, 0.0)
    out.copy_(((flat - lo) * scale).reshape(out.shape))


@dataclass(frozen=True)
class SlicParams:
    """The options of one :func:`slic` / :func:`supervoxels` call, checked once
    (:meth:`check`); the stages below trust them."""

    dims: int  # spatial axes: 2 (images) or 3 (clips)
    n_segments: int
    mode: str
    w_c: float
    w_g: float
    max_num_iter: int
    enforce_connectivity: bool
    connectivity: str
    min_size_factor: float
    max_size_factor: float
    spacing: tuple[float, ...]  # divided by its largest entry: only the ratios matter
    given_spacing: tuple[float, ...]

    @classmethod
    def check(
        cls,
        dims: int,
        *,
        n_segments,
        mode,
        w_c,
        w_g,
        max_num_iter,
        enforce_connectivity,
        connectivity,
        min_size_factor,
        max_size_factor,
        spacing,
    ) -> SlicParams:
        if mode not in MODES:
            raise ValueError(f"mode must be one of 'I', 'G', 'I+G'; got {mode!r}")
        check_connectivity_rule(connectivity)
        check_bool(enforce_connectivity, "enforce_connectivity")
        if spacing is not None and not isinstance(spacing, Sequence | np.ndarray | torch.Tensor):
            raise TypeError(
                f"spacing must be a sequence of {dims} numbers (one per spatial axis), got {spacing!r}"
            )
        spacing = (1.0,) * dims if spacing is None else tuple(spacing)
        if len(spacing) != dims:
            raise ValueError(f"spacing must have {dims} entries (one per spatial axis), got {len(spacing)}")
        given = tuple(check_positive(s, "spacing") for s in spacing)
        return cls(
            dims=dims,
            n_segments=check_int(n_segments, "n_segments", 1),
            mode=mode,
            w_c=check_positive(w_c, "w_c"),
            w_g=check_positive(w_g, "w_g"),
            max_num_iter=check_int(max_num_iter, "max_num_iter", 0),
            enforce_connectivity=bool(enforce_connectivity),
            connectivity=connectivity,
            min_size_factor=check_number(min_size_factor, "min_size_factor", low=0),
            max_size_factor=check_positive(max_size_factor, "max_size_factor"),
            spacing=tuple(s / max(given) for s in given),
            given_spacing=given,
        )

    @property
    def what(self) -> str:
        """The colour input's name in messages: "image" or "clip"."""
        return "image" if self.dims == 2 else "clip"

    @property
    def call(self) -> str:
        """The call in messages about memory: "slic with n_segments=300"."""
        return f"{'slic' if self.dims == 2 else 'supervoxels'} with n_segments={self.n_segments}"

    @property
    def spacing3(self) -> tuple[float, float, float]:
        """(z, y, x) spacing; images are one plane deep."""
        return self.spacing if self.dims == 3 else (1.0, *self.spacing)

    @property
    def colour(self) -> bool:
        return self.mode in ("I", "I+G")

    @property
    def uses_gradient(self) -> bool:
        return self.mode in ("G", "I+G")

    @property
    def order_free(self) -> bool:
        """Connectivity by the parallel (union-find) rule."""
        return self.connectivity == "parallel" and self.enforce_connectivity

    @property
    def weights(self) -> np.ndarray:
        """1 / w^2 per feature channel: three colour channels, then the gradient."""
        w = [1.0 / self.w_c**2] * (3 * self.colour) + [1.0 / self.w_g**2] * self.uses_gradient
        return np.array(w, dtype=np.float32)


class _Laps:
    """Seconds per stage into ``timings`` (when given); on CUDA synchronised at each boundary."""

    def __init__(self, timings: dict | None, device: torch.device) -> None:
        if timings is not None and not isinstance(timings, dict):
            raise TypeError(f"timings must be a dict or None, got {type(timings).__name__}")
        self.timings, self.device, self.started = timings, device, time.perf_counter()

    def __call__(self, stage: str) -> None:
        if self.timings is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.timings[stage] = now - self.started
        self.started = now


class _Inputs(NamedTuple):
    rgb: torch.Tensor | None  # (B, *vox, 3) uint8 or float32 in [0, 1]
    gradient: torch.Tensor | None  # (B, *vox) float32
    batched: bool
    is_numpy: bool
    device: torch.device


def _check_inputs(p: SlicParams, image, gradient, channel_axis) -> _Inputs:
    """The colour input and the gradient, checked against the mode and each other, batched."""
    what = p.what
    dims = p.dims
    rgb = g = None
    is_numpy = None
    if p.colour:
        if image is None:
            raise ValueError(f"mode {p.mode!r} needs the colour {what}; got {what}=None")
        is_numpy = isinstance(image, np.ndarray)
        img = as_tensor(image, what)
        if channel_axis is None:
            channel_axis = -1 if is_numpy else -(dims + 1)
        if isinstance(channel_axis, bool) or not isinstance(channel_axis, int):
            raise TypeError(
                f"channel_axis must be an int axis of the {what}, got {type(channel_axis).__name__}"
            )
        if not -img.ndim <= channel_axis < img.ndim:
            raise ValueError(
                f"channel_axis must be an int axis of the {img.ndim}-d {what}, got {channel_axis!r}"
            )
        if img.ndim not in (dims + 1, dims + 2):
            raise ValueError(
                f"{what} must have {dims} spatial axes and a channel axis, optionally a batch axis first; "
                f"got shape {tuple(img.shape)}"
            )
        img = img.movedim(channel_axis, -1)
        if img.shape[-1] != 3:
            raise ValueError(
                f"{what} must have 3 colour channels (RGB) on channel_axis={channel_axis}, "
                f"got {img.shape[-1]} (shape {tuple(image.shape)})"
            )
        rgb = _checked_rgb(img, what)
        spatial = tuple(rgb.shape[:-1])
    elif image is not None:
        raise ValueError(f"mode 'G' clusters the gradient alone; pass {what}=None (the colour is unused)")
    if p.uses_gradient:
        if gradient is None:
            raise ValueError(f"mode {p.mode!r} needs gradient=, the per-pixel attribution map")
        g = as_tensor(gradient, "gradient")
        if g.dtype == torch.bool or g.dtype.is_complex:
            raise TypeError(f"gradient must be a real-valued array, got dtype {g.dtype}")
        g = g.float()
        if rgb is not None:
            if tuple(g.shape) != spatial:
                raise ValueError(
                    f"gradient must have the {what}'s spatial shape {spatial}, got {tuple(g.shape)}"
                )
            if g.device != rgb.device:
                raise ValueError(f"gradient must be on the {what}'s device {rgb.device}, got {g.device}")
        elif g.ndim not in (dims, dims + 1):
            raise ValueError(
                "gradient must have shape "
                f"{'(H, W) or (B, H, W)' if dims == 2 else '(T, H, W) or (B, T, H, W)'}, got {tuple(g.shape)}"
            )
        if is_numpy is None:
            is_numpy = isinstance(gradient, np.ndarray)
            spatial = tuple(g.shape)
    elif gradient is not None:
        raise ValueError("mode 'I' clusters colour alone; gradient= is only used by modes 'G' and 'I+G'")
    batched = len(spatial) == dims + 1
    if not batched:
        rgb = rgb.unsqueeze(0) if rgb is not None else None
        g = g.unsqueeze(0) if g is not None else None
    device = rgb.device if rgb is not None else g.device
    return _Inputs(rgb, g, batched, is_numpy, device)


def _check_size(p: SlicParams, vox: tuple[int, ...]) -> None:
    what = p.what
    if min(vox) == 0:
        raise ValueError(f"{what} must not be empty, got spatial shape {vox}")
    n_vox = math.prod(vox)
    if p.n_segments > n_vox:
        raise ValueError(f"n_segments must be at most the number of pixels ({n_vox}), got {p.n_segments}")
    extent = math.prod(n * s for n, s in zip(vox, p.spacing, strict=True))
    if not 0.0 < extent < np.inf:  # the grid step S comes from it
        raise ValueError(
            f"spacing must keep the {what}'s physical size finite and non-zero, got {p.given_spacing}"
        )


def _features(p: SlicParams, x: _Inputs, feat: torch.Tensor, backend: str) -> None:
    """CIELAB colour and the rescaled attribution into ``feat`` (B, Z, Y, X, F)."""
    B, F = feat.shape[0], feat.shape[-1]
    if x.gradient is not None:
        if backend == "cuda":  # torch's reductions on the device; one kernel pass on the host
            _rescale_gradient_into(x.gradient, feat[..., -1])
        elif not kernel(backend, "rescale_gradient", p.call)(
            x.gradient.contiguous().reshape(B, -1), feat.reshape(B, -1, F)
        ):
            raise ValueError("gradient must hold finite values, got NaN or infinity")
    if x.rgb is not None:
        rgb = x.rgb
        if backend == "cuda" and rgb.dtype == torch.uint8:  # the CUDA kernel reads float32
            rgb = rgb.float().div_(255.0)
        kernel(backend, "rgb_to_lab", p.call)(rgb.contiguous().reshape(-1, 3), feat.reshape(-1, F))


def _connect(p: SlicParams, labels: torch.Tensor, n_centres: int, backend: str) -> None:
    """Connectivity (or just the renumbering) of ``labels`` in place, by the call's rule: the
    order-free one on the labels' device, the raster one on the host."""
    B, zyx = labels.shape[0], tuple(labels.shape[1:])
    counts = torch.empty(B, dtype=torch.int32, device=labels.device)
    if p.order_free:
        ws = {}
        if backend == "cuda":
            from swagfast import _C_cuda

            size = _C_cuda.relabel_workspace(B, *zyx)
            ws = {"workspace": torch.empty(size, dtype=torch.int32, device=labels.device)}
        kernel(backend, "relabel_parallel", p.call)(labels, n_centres, p.min_size_factor, counts, **ws)
        return
    if backend == "cuda":
        # the raster rule is a sequential pass (OpenMP over the batch): one copy of the labels each
        # way, through page-locked memory (torch caches it), so they run at full speed
        host = torch.empty(labels.shape, dtype=labels.dtype, pin_memory=True)
        host.copy_(labels)
        _connect(p, host, n_centres, "cpu")
        labels.copy_(host, non_blocking=True)
        return
    kernel(backend, "relabel", p.call)(
        labels, n_centres, p.min_size_factor, p.max_size_factor, p.enforce_connectivity, counts
    )


def _segment(p: SlicParams, x: _Inputs, feat: torch.Tensor, labels: torch.Tensor, lap: _Laps, backend: str):
    """Features, SLIC rounds and connectivity into ``labels`` (B, Z, Y, X) on the backend."""
    B, zyx, F = labels.shape[0], tuple(labels.shape[1:]), feat.shape[-1]
    _features(p, x, feat, backend)
    lap("features")
    ws = {}
    if backend == "cuda":  # the centres and their sums
        from swagfast import _C_cuda

        n_grid = _C_cuda.slic_centres(*zyx, F, p.n_segments, *p.spacing3)
        ws = {"workspace": torch.empty(B * n_grid * (2 * F + 7), dtype=torch.float64, device=labels.device)}
    n_centres = kernel(backend, "slic_iterate", p.call)(
        feat, p.weights, p.n_segments, p.spacing3, p.max_num_iter, labels, **ws
    )
    lap("clustering")
    _connect(p, labels, n_centres, backend)
    lap("connectivity")


def _slic_nd(p: SlicParams, image, gradient, channel_axis, backend, timings):
    """SLIC labels for checked options: inputs checked and batched, then the backend's stages."""
    lap = _Laps(timings, torch.device("cpu"))
    x = _check_inputs(p, image, gradient, channel_axis)
    spatial = tuple((x.rgb if x.rgb is not None else x.gradient).shape[: p.dims + 1])
    B, vox = spatial[0], spatial[1:]
    _check_size(p, vox)
    be = resolve_backend(backend, x.device, arg=p.what if p.colour else "gradient")
    lap.device = x.device
    zyx = vox if p.dims == 3 else (1, *vox)
    F = 3 * p.colour + p.uses_gradient
    feat = torch.empty((B, *zyx, F), dtype=torch.float32, device=x.device)
    labels = torch.empty((B, *zyx), dtype=torch.int32, device=x.device)
    if B > 0:
        _segment(p, x, feat, labels, lap, be)
    out = labels.reshape(B, *vox)
    if not x.batched:
        out = out[0]
    return out.numpy() if x.is_numpy else out


def _options(call: dict) -> dict:
    """The SLIC options among a :func:`slic` / :func:`supervoxels` call's arguments."""
    return {name: call[name] for name in _OPTION_NAMES}


_OPTION_NAMES = (
    "n_segments",
    "mode",
    "w_c",
    "w_g",
    "max_num_iter",
    "enforce_connectivity",
    "connectivity",
    "min_size_factor",
    "max_size_factor",
    "spacing",
)


def slic(
    image: ArrayLike | None,
    n_segments: int = 300,
    *,
    gradient: ArrayLike | None = None,
    mode: str = "I",
    w_c: float = 10.0,
    w_g: float = 10.0,
    max_num_iter: int = 10,
    enforce_connectivity: bool = True,
    connectivity: str = "raster",
    min_size_factor: float = 0.25,
    max_size_factor: float = 3.0,
    spacing: tuple[float, float] | None = None,
    channel_axis: int | None = None,
    backend: str = "auto",
    timings: dict[str, float] | None = None,
) -> ArrayLike:
    """Gradient-augmented SLIC superpixels (thesis 3.4.1, METHODS.md §2).

    Clusters pixels in the space ``[Lab colour, position, gradient]`` with

        D = sqrt((d_c / w_c)^2 + (d_s / S)^2 + (d_g / w_g)^2),    S = sqrt(N / K)

    where the colour is CIELAB (sRGB, D65; L in [0, 100]) and the gradient is ``gradient``
    min-max rescaled to [0, 100] per image. Mode ``"I"`` uses colour only, ``"G"`` the gradient
    only, ``"I+G"`` both. Unlike :func:`skimage.segmentation.slic`, the features are *not*
    rescaled to [0, 1]: their scales are part of the algorithm.

    Parameters
    ----------
    image : (H, W, 3) or (B, H, W, 3) numpy array; (3, H, W) or (B, 3, H, W) torch tensor
        RGB as uint8 or float in [0, 1]. Numpy arrays are channel-last (like scikit-image),
        tensors channel-first (like torch); ``channel_axis`` overrides. Not used (pass None) in
        mode ``"G"``.
    n_segments : int, default 300
        Requested number of superpixels K (the grid has about K cells; the result has about K
        segments, within [0.5 K, 1.1 K] for ordinary photos). As scikit-image's, the grid
        rounds each axis to its own number of cells (extent / S), so elongated inputs can get
        noticeably more or fewer: a 16x112x112 clip at K = 120 has a 1 x 9 x 9 grid.
    gradient : (H, W) or (B, H, W) array or tensor, optional
        The per-pixel attribution map (e.g. guided backprop ``max_c |g|``); needed by modes
        ``"G"`` and ``"I+G"``.
    mode : {"I", "G", "I+G"}, default "I"
    w_c, w_g : float, default 10
        Colour and gradient weights. Larger ``w_c`` (``w_g``) makes colour (gradient)
        differences matter less relative to distance, giving more compact, grid-like segments;
        smaller values make boundaries follow colour (gradient) edges more tightly. ``w_c``
        plays the part of scikit-image's ``compactness``.
    max_num_iter : int, default 10
    enforce_connectivity : bool, default True
        Make every segment one 4-connected component; components under
        ``min_size_factor * N / K`` pixels join an adjacent segment, and (raster rule) no
        component grows past ``max_size_factor * N / K`` pixels (as scikit-image).
    connectivity : {"raster", "parallel"}, default "raster"
        How ``enforce_connectivity`` finds and merges components. ``"raster"`` (as
        scikit-image): grown breadth-first from each unvisited pixel in raster order, a small one
        joining the last differently labelled segment its search met, cut at ``max_size``; on
        cuda it runs on the host. ``"parallel"``: an order-free rule (union-find), a small
        component joining the segment of the pixel just before its first pixel (left, else
        above), no ``max_size`` cut; on cuda it runs on the device (no copies, no
        synchronisation), and every backend gives the same labels for the same SLIC labels.
    min_size_factor, max_size_factor : float, default 0.25, 3.0
    spacing : (row, col) floats, optional
        Pixel spacing; default (1, 1).
    channel_axis : int, optional
        The colour axis of ``image``. Default: -1 for numpy, the axis before the spatial ones
        (-3) for torch.
    backend : {"auto", "cpu", "cuda", "numba"}
    timings : dict, optional
        When given, filled with the seconds each stage took: ``features`` (checks, Lab colour,
        gradient rescaling), ``clustering`` (the SLIC rounds) and ``connectivity`` (on cuda with
        the ``"raster"`` rule, the copies to and from the host included). On cuda the device is
        synchronised at each stage boundary.

    Returns
    -------
    labels : int32, (H, W) or (B, H, W)
        Segment of each pixel, numbered ``0..n-1`` in raster order of first appearance. Same
        type (numpy/torch) and device as the input. Deterministic.

    Notes
    -----
    Seeds start at the centres of a regular grid and move to the lowest-gradient pixel of their
    3x3 neighbourhood. Each pixel is assigned to the nearest centre among those of its own and
    the 8 neighbouring grid cells whose ``2S x 2S`` window holds it (ties go to the lower centre
    index; a pixel in no window keeps its label). This pixel-parallel form is what every backend
    computes, so cpu, numba and cuda give the same labels up to floating-point rounding.
    On cuda, the ``"raster"`` connectivity rule runs on the host (one copy of the labels each
    way), the ``"parallel"`` one on the device.

    Examples
    --------
    >>> import numpy as np, swagfast
    >>> img = np.zeros((64, 64, 3), np.uint8); img[:, 32:] = 255
    >>> labels = swagfast.slic(img, n_segments=16)
    >>> labels.shape, labels.dtype
    ((64, 64), dtype('int32'))
    """
    params = SlicParams.check(2, **_options(locals()))
    return _slic_nd(params, image, gradient, channel_axis, backend, timings)


@with_options_of(slic)
def supervoxels(
    clip: ArrayLike | None,
    n_segments: int = 120,
    *,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    **options,
) -> ArrayLike:
    """3-D SLIC supervoxels for video (thesis 4.3): :func:`slic` over (T, H, W) volumes.

    ``S = (T H W / K)^(1/3)`` in physical units (``spacing`` = (time, row, col) step, as
    scikit-image's ``spacing``); connectivity is 6-connected.

    Parameters
    ----------
    clip : (T, H, W, 3) or (B, T, H, W, 3) numpy array; (3, T, H, W) or (B, 3, T, H, W) tensor
        RGB uint8 or float in [0, 1]; None in mode ``"G"``.
    gradient : (T, H, W) or (B, T, H, W), optional
    Other parameters (``timings`` included) as :func:`slic`, with its defaults. The SWAG-V
    defaults are ``mode="I+G", w_c=20, w_g=9``.

    Returns
    -------
    labels : int32, (T, H, W) or (B, T, H, W)
    """
    o = forwarded_options("supervoxels", options, slic, skip=("spacing",))
    params = SlicParams.check(3, **_options({**o, "n_segments": n_segments, "spacing": spacing}))
    return _slic_nd(params, clip, o["gradient"], o["channel_axis"], o["backend"], o["timings"])
