"""The CAM weight formulas and the layer pass they need: the maths shared by the CAM explainers
(:mod:`swagfast.explainers.cam`) and the filter scores of :mod:`swagfast.failure.scores`.

``A`` is a layer's (B, K, ...) activations, ``G`` the gradient of the class scores with respect to
it; each formula gives the (B, K) channel weights of ``CAM = ReLU(sum_k w_k A_k)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from swagfast.attribution.gradients import check_input, class_score, forward, resolve_target
from swagfast.attribution.layers import capture, keeps_model


@keeps_model
def layer_activations(
    model: nn.Module,
    layer: nn.Module,
    x: torch.Tensor,
    target=None,
    score: str = "logit",
    *,
    need_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """One forward (and layer-deep backward) pass: ``(A, G, logits, target)``.

    ``A``: the layer's (B, K, ...) activations; ``G``: the gradient of the summed class scores
    (``score`` "logit" or "softmax"; "loss" = summed cross-entropy against ``target``) with
    respect to ``A``, or None when ``need_grad`` is False. The backward pass stops at the layer,
    so the graph is recorded from the layer on only (``capture(grad_from_layer=True)``): the
    layers before it keep no activations for a backward pass (and frozen parameters before it
    do not matter).
    """
    check_input(x)
    with capture(layer, grad_from_layer=need_grad) as box:
        with torch.no_grad():
            logits = forward(model, x)
        A = box.output
        t = resolve_target(logits, target)
        G = None
        if need_grad:
            with torch.enable_grad():
                if score == "loss":
                    objective = F.cross_entropy(logits, t, reduction="sum")
                else:
                    objective = class_score(logits, t, score).sum()
                (G,) = torch.autograd.grad(objective, A)
    if A.ndim not in (4, 5):
        raise ValueError(f"the layer's output must be (B, K, h, w) or (B, K, t, h, w), got {tuple(A.shape)}")
    return A.detach(), G, logits.detach(), t


def _spatial_dims(A: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(2, A.ndim))


def gradcam_weights(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (thesis eq. 6.1): spatial mean of the gradient, (B, K)."""
    return G.mean(dim=_spatial_dims(G))


def gradcampp_weights(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ (thesis eq. 6.2, exp-score closed form), (B, K)."""
    dims = _spatial_dims(A)
    g2, g3 = G.pow(2), G.pow(3)
    sum_a = A.sum(dim=dims, keepdim=True)
    denom = 2 * g2 + sum_a * g3
    alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, 1.0), 0.0)
    return (alpha * G.clamp_min(0)).sum(dim=dims)


def xgradcam_weights(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM (thesis eq. 6.3): gradients weighted by normalised activations, (B, K)."""
    dims = _spatial_dims(A)
    sum_a = A.sum(dim=dims, keepdim=True)
    return (A / torch.where(sum_a != 0, sum_a, 1.0) * G).sum(dim=dims)


def grad_amap_weights(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Grad-AMap (thesis eq. 6.6): ``mean_ij(g_kij A_kij)``, signed, (B, K)."""
    return (G * A).mean(dim=_spatial_dims(A))
