"""The CAM family on any layer (thesis chapter 5 and 6, METHODS.md §4).

``CAM = ReLU(sum_k w_k A_k)`` over the K channels of a layer's activations ``A`` (B, K, h, w) or
(B, K, t, h, w), with weights per method:

* Grad-CAM: spatial mean of ``dY_c/dA_k``;
* Grad-CAM++: ``sum_ij alpha_kij relu(g_kij)``, ``alpha = g^2 / (2 g^2 + sum_ab A_kab g^3)``
  (the exp-score closed form, thesis eq. 6.2);
* XGrad-CAM: ``sum_ij (A_kij / sum_ab A_kab) g_kij`` (eq. 6.3);
* Grad-AMap-CAM: ``mean_ij(g_kij A_kij)`` (eq. 6.6);
* Score-CAM: softmax score of the class on the input masked by each channel's upsampled,
  min-max normalised activation;
* Ablation-CAM: ``(y_c - y_c^k) / y_c`` with channel k zeroed at the layer (forward hook, so any
  model works, not only ones with a separable head);
* Saliency Tubes: the class-weighted sum of 3-D activations (video), weights as Grad-CAM (for a
  global-average-pool + linear head these are the classifier weights up to a constant).

Each returns an :class:`Explanation` with the map resized to the input (bilinear / trilinear)
and ``raw``, the h x w (t x h x w) map before resizing.
"""

from __future__ import annotations

import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from swagfast import attribution as attr
from swagfast._backend import resolve_batch_size
from swagfast._validate import check_batch_size, check_bool, check_model, check_score
from swagfast.attribution.cam_weights import (
    elementwise_maps,
    first_component,
    grad_amap_weights,
    gradcam_weights,
    gradcampp_weights,
    hirescam_maps,
    layer_activations,
    layercam_maps,
    xgradcam_weights,
)
from swagfast.attribution.layers import capture, keeps_model
from swagfast.baselines import unit_range
from swagfast.explainers._compat import PeerSpellings, layer_list, peer_arguments
from swagfast.explainers.explanation import Explanation


def resize(cam: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """(B, h, w) -> (B, H, W) bilinear, (B, t, h, w) -> (B, T, H, W) trilinear (align_corners=False)."""
    if tuple(cam.shape[1:]) == tuple(size):
        return cam
    mode = "bilinear" if cam.ndim == 3 else "trilinear"
    return F.interpolate(cam.unsqueeze(1), size=size, mode=mode, align_corners=False).squeeze(1)


class BaseCAM(PeerSpellings):
    """Shared machinery; subclasses define ``weights`` (and gradient-free ones ``needs_grad``).

    ``layer`` is a module or a dotted module name (``"layer4"``), or a list of them: the CAM of
    each, resized to the input and scaled to [0, 1] per item, averaged (pytorch-grad-cam's rule
    for several ``target_layers``, which is also accepted by that name). A ``with`` block,
    ``input_tensor=`` / ``targets=`` and ``attribute`` work as in pytorch-grad-cam and Captum.
    """

    name = "CAM"
    needs_grad = True
    default_score = "logit"  # the class score weighted (``score=``): Score-CAM's is the softmax

    def __init__(
        self,
        model: nn.Module,
        layer: nn.Module | str | list | None = None,
        *,
        score: str | None = None,
        batch_size: int | None = None,
        target_layers: list | None = None,
        eigen_smooth: bool = False,
        aug_smooth: bool = False,
    ) -> None:
        check_model(model)
        score = self.default_score if score is None else score
        check_score(score)
        check_batch_size(batch_size)
        check_bool(eigen_smooth, "eigen_smooth")
        check_bool(aug_smooth, "aug_smooth")
        self.model = model
        self.layers = layer_list(layer, target_layers, model)
        self.layer = self.layers[0]
        self.score = score
        self._batch_size = batch_size
        self.eigen_smooth, self.aug_smooth = eigen_smooth, aug_smooth

    progress = None
    """Called as ``progress(done, total)`` with the extra forward passes (masked inputs) done so
    far and in all, after each batch of them (Score-CAM, Ablation-CAM); None: nothing."""

    def _tick(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def extra_passes(self, x: torch.Tensor, channels: int) -> int:
        """Masked forward passes a call on ``x`` makes for a layer of ``channels`` channels (0 for
        the gradient CAMs)."""
        return 0 if self.needs_grad else len(x) * channels

    def batch_size_for(self, device: torch.device) -> int:
        """Images per extra forward pass (Score-/Ablation-CAM masks, Jitter-CAM patches)."""
        return resolve_batch_size(self._batch_size, device)

    def zero_cause(self) -> str:
        """Why a CAM of this layer can be constant (for :meth:`Explanation.warn_if_constant`)."""
        name = next((n for n, m in self.model.named_modules() if m is self.layer), "?")
        return (
            f"the layer {name!r} ({type(self.layer).__name__}) gave no positive evidence for the class; "
            "a layer whose values are mostly negative (a batch norm or convolution before its "
            "activation) gives a zero CAM, so explain the activation after it"
        )

    # -- the raw map ---------------------------------------------------------------------------

    def activations(self, x: torch.Tensor, target=None, layer: nn.Module | None = None):
        """(A, G, logits, target): activations of ``layer`` (default: the first layer),
        class-score gradients (None if not needed)."""
        return layer_activations(
            self.model, layer or self.layer, x, target, self.score, need_grad=self.needs_grad
        )

    formula = None  # the gradient CAMs' weights from (A, G): a function of swagfast.attribution.cam_weights
    maps = None  # or, for the per-position CAMs, the channel contributions (B, K, ...) from (A, G)
    projected = False  # the CAM is the first principal component of the contributions (Eigen-CAM)

    def weights(self, A, G, x, t, logits) -> torch.Tensor:
        """(B, K) channel weights; the gradient CAMs apply their ``formula``, the others override."""
        if self.formula is None:  # pragma: no cover - every CAM defines one or the other
            raise NotImplementedError
        return self.formula(A, G)

    @keeps_model
    def raw(self, x: torch.Tensor, target=None, layer: nn.Module | None = None):
        """The CAM of ``layer`` (default: the first layer) at its resolution (not normalised)
        and the explained classes."""
        A, G, logits, t = self.activations(x, target, layer)
        if self.maps is not None:
            M = self.maps(A, G)
        else:
            w = self.weights(A, G, x, t, logits)
            if not (self.eigen_smooth or self.projected):
                return torch.einsum("bk,bk...->b...", w, A).clamp_min(0), t
            M = w.view(*w.shape, *([1] * (A.ndim - 2))) * A
        cam = first_component(M) if (self.eigen_smooth or self.projected) else M.sum(dim=1)
        return cam.clamp_min(0), t

    @peer_arguments
    def __call__(self, x: torch.Tensor, target=None) -> Explanation:
        t0 = time.perf_counter()
        if self.aug_smooth:
            return self._augmented(x, target, t0)
        return self._explain(x, target, t0)

    def _explain(self, x: torch.Tensor, target, t0: float) -> Explanation:
        if len(self.layers) > 1:
            return self._averaged(x, target, t0)
        cam, t = self.raw(x, target)
        heat = resize(cam, tuple(x.shape[2:]))
        return Explanation(
            heatmap=heat, target=t, method=self.name, raw=cam, timings={"total": time.perf_counter() - t0}
        ).warn_if_constant(self.zero_cause())

    def _averaged(self, x: torch.Tensor, target, t0: float) -> Explanation:
        """The mean over ``self.layers`` of each layer's CAM at input size, scaled to [0, 1]."""
        maps, t = [], target
        for layer in self.layers:
            cam, t = self.raw(x, t, layer)
            maps.append(unit_range(resize(cam, tuple(x.shape[2:]))))
        heat = torch.stack(maps).mean(0)
        return Explanation(
            heatmap=heat,
            target=t,
            method=f"{self.name} ({len(self.layers)} layers averaged)",
            timings={"total": time.perf_counter() - t0},
        ).warn_if_constant(self.zero_cause())

    # pytorch-grad-cam's test-time augmentation: horizontal flip x intensity 0.9, 1, 1.1
    AUGMENTATIONS = tuple((flip, factor) for flip in (False, True) for factor in (0.9, 1.0, 1.1))

    def _augmented(self, x: torch.Tensor, target, t0: float) -> Explanation:
        """``aug_smooth``: the mean over :data:`AUGMENTATIONS` of the heatmap of each augmented
        input (its layers averaged as usual), scaled to [0, 1] per item and flipped back. The
        class is resolved once, on the input as it is."""
        with warnings.catch_warnings():
            # one augmented map may be blank; the mean is checked below
            warnings.simplefilter("ignore", UserWarning)
            plain = self._explain(x, target, t0)
            maps, t = [unit_range(plain.heatmap)], plain.target
            for flip, factor in self.AUGMENTATIONS:
                if (flip, factor) != (False, 1.0):
                    heat = unit_range(self._explain((x.flip(-1) if flip else x) * factor, t, t0).heatmap)
                    maps.append(heat.flip(-1) if flip else heat)
        return Explanation(
            heatmap=torch.stack(maps).mean(0),
            target=t,
            method=f"{self.name} (augmentation-smoothed)",
            timings={"total": time.perf_counter() - t0},
        ).warn_if_constant(self.zero_cause())


class GradCAM(BaseCAM):
    """Grad-CAM (Selvaraju et al.): weights = spatial mean of the class-score gradient."""

    name, formula = "Grad-CAM", staticmethod(gradcam_weights)


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++ (Chattopadhay et al.), thesis eq. 6.2 with the exp-score closed form."""

    name, formula = "Grad-CAM++", staticmethod(gradcampp_weights)


class XGradCAM(BaseCAM):
    """XGrad-CAM (Fu et al.), thesis eq. 6.3: gradients weighted by normalised activations."""

    name, formula = "XGrad-CAM", staticmethod(xgradcam_weights)


class GradAMapCAM(BaseCAM):
    """Grad-AMap-CAM, thesis eq. 6.6: weights = mean_ij(dy_c/dA_kij * A_kij) (signed)."""

    name, formula = "Grad-AMap-CAM", staticmethod(grad_amap_weights)


class HiResCAM(BaseCAM):
    """HiResCAM (Draelos & Carin): ``ReLU(sum_k G_k * A_k)``, the gradient and the activation
    multiplied position by position instead of the gradient averaged first (the map shows what
    the score used, exactly, for a model whose head is a linear layer after global pooling)."""

    name, maps = "HiResCAM", staticmethod(hirescam_maps)


class GradCAMElementWise(BaseCAM):
    """Grad-CAM element-wise (pytorch-grad-cam's variant): ``sum_k ReLU(G_k * A_k)``."""

    name, maps = "Grad-CAM element-wise", staticmethod(elementwise_maps)


class LayerCAM(BaseCAM):
    """LayerCAM (Jiang et al.): ``ReLU(sum_k ReLU(G_k) * A_k)``, position by position: fine
    maps from earlier layers as well as the last."""

    name, maps = "LayerCAM", staticmethod(layercam_maps)


class EigenCAM(BaseCAM):
    """Eigen-CAM (Muhammad & Yeasin): the projection of the activations on their first right
    singular vector, with no gradient and no class (the same map whatever ``target``); the
    SVD's sign chosen so that the map sums to a non-negative value. Follows the paper: the
    activations are not centred first (pytorch-grad-cam centres them)."""

    name, needs_grad, projected = "Eigen-CAM", False, True

    def weights(self, A, G, x, t, logits):
        return torch.ones(A.shape[:2], device=A.device, dtype=A.dtype)


class EigenGradCAM(BaseCAM):
    """Eigen-Grad-CAM: the first principal component (as :class:`EigenCAM`) of ``G_k * A_k``,
    so that it depends on the class."""

    name, maps, projected = "Eigen-Grad-CAM", staticmethod(hirescam_maps), True


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM (Selvaraju et al.): guided backprop multiplied by the Grad-CAM upsampled
    to the input; the heatmap is ``Grad-CAM * max_c |guided_c|`` (the CAM is >= 0) and
    ``pixel_map`` the guided ``max_c |g_c|`` alone. One more backward pass than Grad-CAM."""

    name = "Guided Grad-CAM"

    def _explain(self, x: torch.Tensor, target, t0: float) -> Explanation:
        cam = super()._explain(x, target, t0)
        grad, _ = attr.guided(self.model, x, cam.target, score=self.score)
        pix = attr.pixel_map(grad)
        return Explanation(
            heatmap=cam.heatmap * pix,
            target=cam.target,
            method=self.name,
            pixel_map=pix,
            raw=cam.raw,
            timings={"total": time.perf_counter() - t0},
        ).warn_if_constant(self.zero_cause())


class SaliencyTubes(GradCAM):
    """Saliency Tubes (Stergiou et al.) for 3-D CNNs: class-weighted 3-D activation maps."""

    name = "Saliency Tubes"

    def weights(self, A, G, x, t, logits):
        if A.ndim != 5:
            raise ValueError(
                f"Saliency Tubes needs a layer with (B, K, t, h, w) activations, got {tuple(A.shape)}"
            )
        return super().weights(A, G, x, t, logits)


class ScoreCAM(BaseCAM):
    """Score-CAM (Wang et al.): each channel's upsampled activation masks the input; its weight
    is the class's score on that masked input: softmax by default, as the paper (``score``).
    Batched ``batch_size`` masks a pass."""

    name = "Score-CAM"
    needs_grad = False
    default_score = "softmax"

    def weights(self, A, G, x, t, logits):
        B, K = A.shape[:2]
        size = tuple(x.shape[2:])
        w = torch.empty((B, K), device=A.device, dtype=torch.float32)
        bs = self.batch_size_for(x.device)
        with torch.no_grad():
            for b in range(B):
                for k0 in range(0, K, bs):
                    masks = unit_range(resize(A[b, k0 : k0 + bs], size))
                    out = self.model(x[b : b + 1] * masks.unsqueeze(1))
                    w[b, k0 : k0 + len(masks)] = attr.class_score(out, t[b].expand(len(out)), self.score)
                    self._tick(b * K + k0 + len(masks), B * K)
        return w.to(A.dtype)


class AblationCAM(BaseCAM):
    """Ablation-CAM (Desai & Ramaswamy): weight = relative drop of the class logit (``score``)
    when the channel is zeroed at the layer (a forward hook, so any model works). Batched."""

    name = "Ablation-CAM"
    needs_grad = False

    def weights(self, A, G, x, t, logits):
        B, K = A.shape[:2]
        y = attr.class_score(logits, t, self.score)
        w = torch.empty((B, K), device=A.device, dtype=torch.float32)
        bs = self.batch_size_for(x.device)
        with torch.no_grad():
            for b in range(B):
                for k0 in range(0, K, bs):
                    ks = torch.arange(k0, min(K, k0 + bs), device=A.device)

                    def zero_channel(out, ks=ks):
                        out = out.clone()
                        out[torch.arange(len(ks), device=out.device), ks] = 0
                        return out

                    with capture(self.layer, edit=zero_channel):
                        out = self.model(x[b : b + 1].expand(len(ks), *x.shape[1:]))
                    yk = attr.class_score(out, t[b].expand(len(ks)), self.score)
                    w[b, k0 : k0 + len(ks)] = (y[b] - yk) / torch.where(y[b] != 0, y[b], 1.0)
                    self._tick(b * K + k0 + len(ks), B * K)
        return w.to(A.dtype)


# The CAM family by name: the one spelling the CLI, Jitter-CAM's ``base`` and the filter scores
# of swagfast.failure (grad-cam, grad-cam++, xgrad-cam) share.
CAMS = {
    "grad-cam": GradCAM,
    "grad-cam++": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "grad-cam-elementwise": GradCAMElementWise,
    "layercam": LayerCAM,
    "eigen-cam": EigenCAM,
    "eigen-grad-cam": EigenGradCAM,
    "xgrad-cam": XGradCAM,
    "grad-amap-cam": GradAMapCAM,
    "score-cam": ScoreCAM,
    "ablation-cam": AblationCAM,
    "guided-grad-cam": GuidedGradCAM,
    "saliency-tubes": SaliencyTubes,
}
# the names before this release, accepted with a DeprecationWarning for one release
OLD_CAM_NAMES = {
    "gradcam": "grad-cam",
    "gradcam++": "grad-cam++",
    "xgradcam": "xgrad-cam",
    "gradamapcam": "grad-amap-cam",
    "scorecam": "score-cam",
    "ablationcam": "ablation-cam",
    "saliencytubes": "saliency-tubes",
}


def cam_name(name: str, argument: str = "base") -> str:
    """``name`` as a key of :data:`CAMS` (an old spelling warns and maps to the new one)."""
    if name in OLD_CAM_NAMES:
        new = OLD_CAM_NAMES[name]
        warnings.warn(
            f"the CAM name {name!r} is deprecated and will be removed in the next release; use {new!r}",
            DeprecationWarning,
            stacklevel=3,
        )
        return new
    if name not in CAMS:
        raise ValueError(f"{argument} must be one of {', '.join(CAMS)} or a CAM class; got {name!r}")
    return name
