"""SWAG: superpixels weighted by average gradients (thesis chapter 3, METHODS.md §3)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from swagfast import attribution as attr
from swagfast._overlap import start_overlapped
from swagfast._validate import check_choice, check_model, check_normalisation, check_score, check_seed
from swagfast.explainers._compat import PeerSpellings, peer_arguments
from swagfast.explainers.explanation import Explanation
from swagfast.superpixels import (
    MODES,
    POOLINGS,
    check_connectivity_rule,
    segment_pool,
    slic,
    supervoxels,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Default weights per mode (METHODS.md §2): I: w_c = 10; G: w_g = 10; I+G: 20 and 9.
DEFAULT_WEIGHTS = {"I": (10.0, 10.0), "G": (10.0, 10.0), "I+G": (20.0, 9.0)}


class _Clock:
    def __init__(self, device: torch.device, sync: bool) -> None:
        self.sync = sync and device.type == "cuda"
        self.t = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str) -> None:
        if self.sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.timings[name] = now - self.t
        self.t = now


def _renamed(old: str, old_value, new: str, value):
    """The value of a keyword given under its old name, with a DeprecationWarning."""
    if old_value is None:
        return value
    warnings.warn(
        f"SWAG's {old}= is deprecated and will be removed in the next release; use {new}=",
        DeprecationWarning,
        stacklevel=3,
    )
    return old_value


class SWAG(PeerSpellings):
    """SWAG / SWAG-V: pixel attributions mean-pooled into (gradient-augmented) SLIC segments.

    ``E(R_i) = mean of M over segment R_i`` with ``M = max_c |g|`` of guided backpropagation;
    the heatmap is ``E`` scattered back to the pixels (thesis 3.3). Images (B, 3, H, W) use
    superpixels (:func:`swagfast.slic`), clips (B, 3, T, H, W) supervoxels
    (:func:`swagfast.supervoxels`): one code path.

    Parameters
    ----------
    model : nn.Module
        Classifier taking the normalised input, returning (B, classes) logits.
    mode : {"G", "I", "I+G"}, default "G"
        Which features the SLIC clusters: the gradient (G), the colour (I) or both (as
        :func:`swagfast.slic`'s ``mode``; the keyword ``variant=`` is a deprecated alias).
    n_segments : int, default 300
        Superpixels per image (METHODS.md §3: 300 at 224x224; SWAG-V: 120 supervoxels).
    attribution : {"guided", "vanilla", "input_x_gradient", "noise", "sobel"}, default "guided"
        The per-pixel map; "noise" and "sobel" are the sanity baselines of Tables 3.4/3.5.
    reduce : {"mean", "sum", "min", "max", "l1", "l2", "var", "std"}, default "mean"
        How each segment's pixels are pooled (:func:`swagfast.segment_pool`'s ``reduce``; the
        keyword ``pooling=`` is a deprecated alias).
    w_c, w_g : float, optional
        SLIC weights; default per mode: I (10, -), G (-, 10), I+G (20, 9).
    mean, std : 3 floats, default ImageNet
        The model's normalisation, used to recover the colour image for variants I and I+G
        when ``image`` is not given to the call.
    score : {"logit", "softmax"}, default "logit"
    spacing : (t, y, x), optional
        Voxel spacing for clips (supervoxels).
    seed : int, default 0
        Seed of the "noise" baseline.
    backend : {"auto", "cpu", "cuda", "numba"}
    connectivity : {"raster", "parallel"} or None, default None (:class:`SWAGV`: "parallel")
        The superpixels' connectivity rule (:func:`swagfast.slic`). None: ``"parallel"`` for
        CUDA input, which runs on the device (no copy of the labels to the host and back; the
        two rules explain the photos equally well, ``benchmarks/RESULTS.md``), ``"raster"``
        (scikit-image's rule, as fast there) on the host.
    overlap : bool or None, default None
        Variant I only (its superpixels do not depend on the attribution): compute them beside
        the attribution, in a worker thread on one CPU thread (on CUDA: on a side stream), so
        the host's share of the superpixels runs while the device computes the attribution.
        None (:meth:`uses_overlap`): on for one CUDA clip under the ``"raster"`` connectivity
        rule, the one case where there is a long host pass to hide; off for batches (the
        worker's one thread would run every item's host pass that the caller spreads over all
        cores), for one photo (its host pass is too short to hide), under the ``"parallel"``
        rule (nothing runs on the host) and on the CPU (the attribution already uses every
        core). The figures are in benchmarks/RESULTS.md. Same labels either way; with it,
        ``timings["superpixels"]`` is the wait after the attribution.
    profile : bool, default False
        Time every stage alone: synchronise CUDA at stage boundaries, run the stages one after
        another (no ``overlap``) and add the superpixels' own stages to ``timings``
        (``superpixels.features``, ``.clustering``, ``.connectivity``; their sum is about
        ``superpixels``).

    Examples
    --------
    >>> from swagfast import SWAG, models, data                     # doctest: +SKIP
    >>> lite0 = models.load()
    >>> x = lite0.preprocess([data.sample_images()["chelsea"]])
    >>> exp = SWAG(lite0.model, "G", mean=lite0.mean, std=lite0.std)(x)
    >>> exp.heatmap.shape, exp.target
    (torch.Size([1, 224, 224]), tensor([285]))
    """

    def __init__(
        self,
        model: nn.Module,
        mode: str = "G",
        n_segments: int = 300,
        *,
        attribution: str = "guided",
        reduce: str = "mean",
        w_c: float | None = None,
        w_g: float | None = None,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        score: str = "logit",
        max_num_iter: int = 10,
        spacing: tuple[float, float, float] | None = None,
        seed: int = 0,
        backend: str = "auto",
        connectivity: str | None = None,
        overlap: bool | None = None,
        profile: bool = False,
        variant: str | None = None,
        pooling: str | None = None,
    ) -> None:
        check_model(model)
        mode = _renamed("variant", variant, "mode", mode)
        reduce = _renamed("pooling", pooling, "reduce", reduce)
        if mode not in MODES:
            raise ValueError(f"mode must be one of 'G', 'I', 'I+G'; got {mode!r}")
        check_choice(attribution, "attribution", attr.METHODS)
        check_choice(reduce, "reduce", POOLINGS)
        check_score(score)
        check_normalisation(mean, std)
        check_seed(seed)
        if connectivity is not None:
            check_connectivity_rule(connectivity)
        if overlap is not None and not isinstance(overlap, bool):
            raise TypeError(f"overlap must be a bool or None, got {type(overlap).__name__}")
        if not isinstance(profile, bool):
            raise TypeError(f"profile must be a bool, got {type(profile).__name__}")
        self.model = model
        self.mode = mode
        self.n_segments = n_segments
        self.attribution = attribution
        self.reduce = reduce
        dc, dg = DEFAULT_WEIGHTS[mode]
        self.w_c = dc if w_c is None else w_c
        self.w_g = dg if w_g is None else w_g
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.score = score
        self.max_num_iter = max_num_iter
        self.spacing = spacing
        self.seed = seed
        self.backend = backend
        self.connectivity = connectivity
        self.overlap = overlap
        self.profile = profile

    @property
    def variant(self) -> str:
        """Deprecated name of :attr:`mode`."""
        warnings.warn("SWAG.variant is deprecated; use SWAG.mode", DeprecationWarning, stacklevel=2)
        return self.mode

    @property
    def pooling(self) -> str:
        """Deprecated name of :attr:`reduce`."""
        warnings.warn("SWAG.pooling is deprecated; use SWAG.reduce", DeprecationWarning, stacklevel=2)
        return self.reduce

    def method_name(self, video: bool = False) -> str:
        """ "SWAG_G", "SWAG-V_I+G", ... with the attribution in brackets when not guided."""
        name = "SWAG-V" if video else "SWAG"
        return f"{name}_{self.mode}" + ("" if self.attribution == "guided" else f"[{self.attribution}]")

    def colour_image(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation: (B, 3, ...) in [0, 1] on ``x``'s device."""
        shape = (1, 3) + (1,) * (x.ndim - 2)
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(shape)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(shape)
        return (x.detach() * std + mean).clamp_(0.0, 1.0)

    def _image_tensor(self, x: torch.Tensor, image) -> torch.Tensor:
        if image is None:
            return self.colour_image(x)
        arrived = tuple(getattr(image, "shape", ()))
        if isinstance(image, np.ndarray):
            image = torch.from_numpy(np.ascontiguousarray(image)).movedim(-1, 1)  # numpy is channel-last
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"image must be a numpy array or tensor, got {type(image).__name__}")
        expected = (x.shape[0], 3, *x.shape[2:])
        if tuple(image.shape) != expected:
            raise ValueError(
                f"image must be the un-normalised RGB input of shape {expected} (numpy: channel-last, "
                f"{(x.shape[0], *x.shape[2:], 3)}), got {arrived}"
            )
        return image.to(x.device)

    def uses_overlap(self, x: torch.Tensor) -> bool:
        """Whether a call on ``x`` computes the superpixels beside the attribution (``overlap``):
        variant I only, never with ``profile``; ``overlap=None`` decides by device, input
        (one clip) and connectivity rule (see the class's parameters)."""
        attr.check_input(x)
        if self.mode != "I" or self.profile:
            return False
        if self.overlap is not None:
            return self.overlap
        one_clip = x.device.type == "cuda" and x.ndim == 5 and x.shape[0] == 1
        return one_clip and self.connectivity_for(x) == "raster"

    def connectivity_for(self, x: torch.Tensor) -> str:
        """The connectivity rule a call on ``x`` uses (``connectivity``, or by device when None)."""
        if self.connectivity is not None:
            return self.connectivity
        return "parallel" if x.device.type == "cuda" else "raster"

    def segment(self, x: torch.Tensor, target=None, *, image=None, _clock: _Clock | None = None):
        """(segments, M, target): the superpixels SWAG pools into, the pixel map and the classes."""
        attr.check_input(x)
        clock = _clock or _Clock(x.device, self.profile)
        need_colour = self.mode in ("I", "I+G") or self.attribution == "sobel"
        img = self._image_tensor(x, image) if need_colour else None
        fn = slic if x.ndim == 4 else supervoxels
        if x.ndim == 4 and self.spacing is not None:
            raise ValueError(
                f"spacing is the voxel spacing of clips (B, 3, T, H, W); got images {tuple(x.shape)} "
                "with spacing set"
            )
        kw = {} if self.spacing is None else {"spacing": self.spacing}
        kw.update(
            mode=self.mode,
            w_c=self.w_c,
            w_g=self.w_g,
            max_num_iter=self.max_num_iter,
            backend=self.backend,
            connectivity=self.connectivity_for(x),
        )
        colour = img if self.mode in ("I", "I+G") else None
        early = None
        if self.uses_overlap(x):
            early = start_overlapped(fn, x.device, colour, self.n_segments, **kw)
        try:
            M, t = attr.attribute(
                self.model, x, self.attribution, target, score=self.score, image=img, seed=self.seed
            )
        except BaseException:
            if early is not None:
                early.wait()  # the worker must not outlive the call that started it
            raise
        clock.lap("attribution")
        if early is not None:
            segments = early.result()
        else:
            stages = {} if self.profile else None
            grad = M if self.mode in ("G", "I+G") else None
            segments = fn(colour, self.n_segments, gradient=grad, timings=stages, **kw)
        clock.lap("superpixels")
        if self.profile:
            clock.timings.update({f"superpixels.{k}": v for k, v in stages.items()})
        return segments, M, t

    @peer_arguments
    def __call__(self, x: torch.Tensor, target=None, *, image=None) -> Explanation:
        """Explain ``x`` (B, 3, H, W) or (B, 3, T, H, W), normalised as the model expects.

        ``target``: None (top-1), an int, or one class per item. ``image``: the un-normalised
        RGB input (tensor (B, 3, ...) in [0, 1] or uint8, or numpy channel-last); by default it
        is recovered from ``x`` with ``mean``/``std``.
        """
        attr.check_input(x)
        clock = _Clock(x.device, self.profile)
        segments, M, t = self.segment(x, target, image=image, _clock=clock)
        pooled = segment_pool(M, segments, self.reduce, backend=self.backend)
        clock.lap("pooling")
        clock.timings["total"] = sum(clock.timings[k] for k in ("attribution", "superpixels", "pooling"))
        return Explanation(
            heatmap=pooled.pixel_values,
            target=t,
            method=self.method_name(x.ndim == 5),
            segments=segments,
            segment_scores=pooled.segment_values,
            pixel_map=M,
            timings=clock.timings,
        ).warn_if_constant(
            f"the {self.attribution} attribution is zero or equal on every segment (the model's "
            "gradient for the class vanishes at the input: dead units, a saturated score)"
        )


class SWAGV(SWAG):
    """SWAG-V (thesis 4.3): :class:`SWAG` on clips with the video defaults of METHODS.md §3 —
    variant I+G with ``w_c = 20``, ``w_g = 9`` and 120 supervoxels for a 16x112x112 clip — and
    5-D input only. I+G is the default because its colour term keeps supervoxels on the moving
    object in each frame; G's gradient-only supervoxels also cover where the object has been
    (see benchmarks/RESULTS.md, SWAG-V). The supervoxels' connectivity rule defaults to
    ``"parallel"`` (:func:`swagfast.supervoxels`): on CUDA it runs on the device, where the
    ``"raster"`` rule copies the labels to the host and back (benchmarks/RESULTS.md, SWAG-V); on
    the CPU both cost the same, and every backend gives the same labels.
    ``connectivity="raster"`` gives scikit-image's rule.

    The same code path as SWAG (guided backprop through Conv3d / (2+1)D networks, per-voxel
    ``max_c |g|``, :func:`swagfast.supervoxels`, pooling); the heatmap is (B, T, H, W).

    Examples
    --------
    >>> from swagfast import SWAGV, models, data                     # doctest: +SKIP
    >>> demo = models.load("action-demo")
    >>> clips = data.action_set(2, seed=5)
    >>> x = clips.inputs(demo.mean, demo.std)                       # (2, 3, 16, 112, 112)
    >>> SWAGV(demo.model, mean=demo.mean, std=demo.std)(x).heatmap.shape
    torch.Size([2, 16, 112, 112])
    """

    def __init__(
        self,
        model: nn.Module,
        mode: str = "I+G",
        n_segments: int = 120,
        *,
        w_c: float = 20.0,
        w_g: float = 9.0,
        spacing: tuple[float, float, float] | None = None,
        connectivity: str = "parallel",
        **kwargs,
    ) -> None:
        super().__init__(
            model, mode, n_segments, w_c=w_c, w_g=w_g, spacing=spacing, connectivity=connectivity, **kwargs
        )

    def segment(self, x: torch.Tensor, target=None, *, image=None, _clock: _Clock | None = None):
        attr.check_input(x)
        if x.ndim != 5:
            raise ValueError(f"x must be clips of shape (B, C, T, H, W) for SWAG-V, got {tuple(x.shape)}")
        return super().segment(x, target, image=image, _clock=_clock)


def lime_segmenter(
    model: nn.Module,
    mode: str = "G",
    n_segments: int = 50,
    *,
    preprocess: Callable[[np.ndarray], torch.Tensor] | None = None,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    target=None,
    **swag_kwargs,
) -> Callable[[np.ndarray], np.ndarray]:
    """A ``segmentation_fn`` for ``lime.lime_image.LimeImageExplainer.explain_instance``.

    LIME_G / LIME_I / LIME_I+G of thesis Table 3.9: LIME with SWAG's superpixels (default
    ``n_segments=50``) instead of quickshift. The returned function takes the (H, W, 3) image
    LIME passes (uint8, or float in [0, 1]) and returns (H, W) int labels.

    ``preprocess`` maps that image to the model's normalised (1, 3, H, W) input; by default the
    image is scaled to [0, 1] and normalised with ``mean``/``std`` (no resizing, so the segments
    match the image). ``target``: the class whose gradient drives the G variants (None: top-1).
    """
    swag = SWAG(model, mode, n_segments, mean=mean, std=std, **swag_kwargs)

    def default_preprocess(image: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        if image.dtype == np.uint8 or t.max() > 1.0:
            t = t / 255.0
        m = torch.tensor(mean).view(1, 3, 1, 1)
        s = torch.tensor(std).view(1, 3, 1, 1)
        return (t - m) / s

    prep = preprocess or default_preprocess
    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    def segmentation_fn(image: np.ndarray) -> np.ndarray:
        x = prep(image).to(device)
        segments, _, _ = swag.segment(x, target)
        return segments[0].cpu().numpy()

    return segmentation_fn


def captum_feature_mask(
    model: nn.Module,
    x: torch.Tensor,
    mode: str = "G",
    n_segments: int = 50,
    *,
    target=None,
    image=None,
    **swag_kwargs,
) -> torch.Tensor:
    """(B, 1, H, W) int64 feature masks for ``captum.attr.Lime(...).attribute(feature_mask=...)``.

    Each item's segments are numbered 0..n-1 (Captum's requirement), on ``x``'s device.
    """
    segments, _, _ = SWAG(model, mode, n_segments, **swag_kwargs).segment(x, target, image=image)
    return segments.long().unsqueeze(1)
