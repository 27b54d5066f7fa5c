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


# -- per-position CAMs: maps of channel contributions (B, K, ...) rather than channel weights --


def hirescam_maps(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """HiResCAM (Draelos & Carin): ``G_k * A_k`` at every position, (B, K, ...); the CAM is
    ``ReLU(sum_k)`` of it."""
    return G * A


def elementwise_maps(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Grad-CAM element-wise (pytorch-grad-cam's): ``ReLU(G_k * A_k)`` at every position."""
    return (G * A).clamp_min(0)


def layercam_maps(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al.): ``ReLU(G_k) * A_k`` at every position."""
    return G.clamp_min(0) * A


def first_component(M: torch.Tensor) -> torch.Tensor:
    """The projection of each item's (K, ...) maps on their first right singular vector:
    ``M^T v_1`` with ``M`` as (positions, K), ``v_1`` the leading right singular vector
    (Eigen-CAM). The vector's sign, which the SVD leaves open, is chosen so that the projection
    sums to a non-negative value (the map points at the evidence, not away from it). (B, ...)."""
    B, K = M.shape[:2]
    flat = M.reshape(B, K, -1).transpose(1, 2).float()  # (B, positions, K)
    _, _, vh = torch.linalg.svd(flat, full_matrices=False)
    proj = flat @ vh[:, 0, :].unsqueeze(-1)  # (B, positions, 1)
    proj = proj.squeeze(-1)
    sign = torch.where(proj.sum(dim=1, keepdim=True) < 0, -1.0, 1.0)
    return (proj * sign).reshape(B, *M.shape[2:]).to(M.dtype)
