"""Filter scores: how much each channel of a layer matters to a prediction (thesis 6.2.1, Table 6.1).

Every method returns a (B, K) tensor on the input's device, one score per image and channel:

* ``grad-amap`` (the thesis's method, eq. 6.6): ``mean_ij(dy_c/dA_kij * A_kij)``, signed;
* ``grad-cam`` (eq. 6.1), ``grad-cam++`` (eq. 6.2), ``xgrad-cam`` (eq. 6.3): the CAM weights;
* ``taylor`` (eq. 6.4, Molchanov et al.): ``|mean_ij(dL/dA_kij * A_kij)|`` with ``L`` the
  cross-entropy loss against the target;
* ``taylor-class``: the same with the class score ``y_c`` in place of the loss;
* ``l1-norm`` (eq. 6.5, Li et al.): ``mean_ij |A_kij|``, the activation alone;
* ``random``: uniform scores from a seeded generator (the baseline every ranking must beat).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from swagfast._validate import check_choice, check_seed
from swagfast.attribution.cam_weights import (
    grad_amap_weights,
    gradcam_weights,
    gradcampp_weights,
    layer_activations,
    xgradcam_weights,
)
from swagfast.attribution.layers import resolve_layer

METHODS = ("grad-amap", "grad-cam", "grad-cam++", "xgrad-cam", "taylor", "taylor-class", "l1-norm", "random")

_FROM_GRADIENTS = {
    "grad-amap": grad_amap_weights,
    "grad-cam": gradcam_weights,
    "grad-cam++": gradcampp_weights,
    "xgrad-cam": xgradcam_weights,
    "taylor": lambda A, G: grad_amap_weights(A, G).abs(),
    "taylor-class": lambda A, G: grad_amap_weights(A, G).abs(),
}


def check_method(method: str) -> None:
    check_choice(method, "method", METHODS)


def scores_from_activations(
    method: str, A: torch.Tensor, G: torch.Tensor | None, seed: int = 0
) -> torch.Tensor:
    """The (B, K) scores of ``method`` from a layer's activations ``A`` and gradients ``G``."""
    check_method(method)
    check_seed(seed)
    if method == "l1-norm":
        return A.abs().mean(dim=tuple(range(2, A.ndim)))
    if method == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.rand(tuple(A.shape[:2]), generator=g).to(A.device, A.dtype)
    return _FROM_GRADIENTS[method](A, G)


def layer_pass(
    model: nn.Module, layer: nn.Module, x: torch.Tensor, target, method: str, score: str = "logit"
):
    """``(A, G, logits, target)`` with the gradient ``method`` needs (None for l1-norm / random)."""
    check_method(method)
    need_grad = method not in ("l1-norm", "random")
    return layer_activations(
        model, layer, x, target, "loss" if method == "taylor" else score, need_grad=need_grad
    )


def filter_scores(
    model: nn.Module,
    layer: nn.Module | str,
    x: torch.Tensor,
    target=None,
    *,
    method: str = "grad-amap",
    score: str = "logit",
    seed: int = 0,
) -> torch.Tensor:
    """Score every channel of ``layer`` for each image (thesis Table 6.1's rankings).

    Parameters
    ----------
    model : nn.Module
        A classifier returning (B, classes) logits; its mode and parameters are not touched.
    layer : nn.Module or str
        A layer of ``model`` with (B, K, h, w) or (B, K, t, h, w) output (the thesis uses the
        final convolution layer).
    x : (B, C, H, W) or (B, C, T, H, W) float tensor
    target : None, int, sequence or tensor
        The class whose score is differentiated (the ground truth when known; None = top-1).
    method : str, default "grad-amap"
        One of :data:`METHODS` (see the module docstring).
    score : {"logit", "softmax"}, default "logit"
        The class score ``y_c`` (the thesis differentiates the pre-softmax score).
    seed : int, default 0
        For ``method="random"`` only.

    Returns
    -------
    (B, K) tensor on ``x``'s device.
    """
    A, G, _, _ = layer_pass(model, resolve_layer(model, layer), x, target, method, score)
    return scores_from_activations(method, A, G, seed)


def grad_amap(
    model: nn.Module, layer: nn.Module | str, x: torch.Tensor, target=None, *, score: str = "logit"
):
    """Grad-AMap filter scores ``alpha_k = mean_ij(dy_c/dA_kij * A_kij)`` (thesis eq. 6.6), (B, K)."""
    return filter_scores(model, layer, x, target, method="grad-amap", score=score)


def score_batch(model, module, x, y, method: str, score: str) -> tuple[np.ndarray, np.ndarray]:
    """(filter scores (B, K), mean activations (B, K)) of one batch, as float32 on the host: the
    rows the store keeps (the loop fit and the Ray actors share this)."""
    A, G, _, _ = layer_pass(model, module, x, y, method, score)
    s = scores_from_activations(method, A, G).float().cpu().numpy()
    return s, A.float().mean(dim=tuple(range(2, A.ndim))).cpu().numpy()
