from __future__ import annotations

import pytest
import torch
from torch import nn

from swagfast import attribution


def tiny_linear() -> nn.Module:
    """logits = W x (flattened) with hand-set weights: the gradient of class c is W[c]."""
    lin = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0, 0.0, 3.0], [0.5, 0.5, -1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]))
    return nn.Sequential(nn.Flatten(), lin)


def test_vanilla_exact_on_hand_set_linear_model():
    model = tiny_linear()
    x = torch.ones(2, 1, 2, 2)
    grad, t = attribution.vanilla(model, x, target=[0, 1])
    assert t.tolist() == [0, 1]
    torch.testing.assert_close(grad[0].flatten(), torch.tensor([1.0, -2.0, 0.0, 3.0]))
    torch.testing.assert_close(grad[1].flatten(), torch.tensor([0.5, 0.5, -1.0, 0.0]))
    torch.testing.assert_close(attribution.pixel_map(grad)[0], torch.tensor([[1.0, 2.0], [0.0, 3.0]]))
    assert all(p.grad is None for p in model.parameters())


def test_vanilla_matches_captum_saliency_and_softmax_score():
    captum_attr = pytest.importorskip(
        "captum.attr", reason="captum is a test dependency (pip install .[test])"
    )
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)
    ).eval()
    x = torch.randn(3, 3, 8, 8)
    grad, t = attribution.vanilla(model, x, target=2)
    expected = captum_attr.Saliency(model).attribute(x, target=2, abs=False)
    torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-6)
    soft = nn.Sequential(model, nn.Softmax(dim=1))
    grad_s, _ = attribution.vanilla(model, x, target=2, score="softmax")
    torch.testing.assert_close(
        grad_s, captum_attr.Saliency(soft).attribute(x, target=2, abs=False), rtol=1e-5, atol=1e-7
    )


def test_target_handling_errors():
    logits = torch.zeros(2, 3)
    assert attribution.resolve_target(torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]]), None).tolist() == [
        1,
        0,
    ]
    with pytest.raises(ValueError, match=r"target classes must be in \[0, 3\), got \[5, 5\]"):
        attribution.resolve_target(logits, 5)
    with pytest.raises(ValueError, match=r"one class per batch item \(2\), got 3"):
        attribution.resolve_target(logits, [0, 1, 2])
    with pytest.raises(TypeError, match="target must hold integers"):
        attribution.resolve_target(logits, torch.tensor([0.5, 1.0]))
    with pytest.raises(
        TypeError, match="target must be None, an int, a sequence of ints or a tensor, got str"
    ):
        attribution.resolve_target(logits, "cat")  # a str is a Sequence, but not of classes
    with pytest.raises(ValueError, match=r"one class per batch item \(2\), got an empty sequence"):
        attribution.resolve_target(logits, [])
    with pytest.raises(ValueError, match="score must be one of logit, softmax"):
        attribution.vanilla(tiny_linear(), torch.ones(1, 1, 2, 2), score="prob")
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\)"):
        attribution.vanilla(tiny_linear(), torch.ones(4))
