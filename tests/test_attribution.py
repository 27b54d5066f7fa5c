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


def _relu_net():
    from swagfast.testing import two_conv_net

    return two_conv_net(11, classes=5, pool=2, dtype=torch.float64)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_right", "riemann_trapezoid", "riemann_middle"])
def test_integrated_gradients_equal_captums(method):
    from captum.attr import IntegratedGradients

    net = _relu_net()
    x = torch.randn(3, 3, 10, 10, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    base = torch.full_like(x, -0.3)
    got, t = attribution.integrated_gradients(
        net, x, [1, 2, 4], baseline=base, n_steps=32, method=method, internal_batch_size=7
    )
    ref = IntegratedGradients(net).attribute(x, base, target=[1, 2, 4], n_steps=32, method=method)
    if method == "riemann_trapezoid":  # Captum's end weights are 1/(2n), the rule's 1/(2(n-1))
        ref = ref * 32 / 31
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-10)
    assert t.tolist() == [1, 2, 4]


def test_integrated_gradients_by_the_formula_and_complete():
    net = _relu_net()
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    got, t = attribution.integrated_gradients(net, x, 3, n_steps=64, method="riemann_right")
    # the formula, written out: (x - 0) times the mean gradient at k/64 x, k = 1..64
    grads = []
    for k in range(1, 65):
        xi = (k / 64 * x).requires_grad_(True)
        (g,) = torch.autograd.grad(net(xi)[:, 3].sum(), xi)
        grads.append(g)
    torch.testing.assert_close(got, x * torch.stack(grads).mean(0), rtol=1e-5, atol=1e-12)
    # completeness at 64 steps (the default rule) where the score moves well along the path; where
    # it barely moves, the ReLUs' kinks make the relative error larger (more steps close it)
    got, _ = attribution.integrated_gradients(net, x, 0, n_steps=64)
    with torch.no_grad():
        gap = net(x)[:, 0] - net(torch.zeros_like(x))[:, 0]
    total = got.sum(dim=(1, 2, 3))
    assert ((total - gap).abs() <= 0.01 * gap.abs()).all(), (total, gap)


def test_noise_tunnel_by_the_formula():
    net = _relu_net()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    n, sigma = 6, 0.2
    gen = torch.Generator().manual_seed(5)
    noise = sigma * torch.randn((n, *x.shape), generator=gen, dtype=x.dtype)
    grads = []
    for k in range(n):
        xi = (x + noise[k]).requires_grad_(True)
        (g,) = torch.autograd.grad(net(xi)[:, 1].sum(), xi)
        grads.append(g)
    g = torch.stack(grads)
    refs = {
        "smoothgrad": g.mean(0),
        "smoothgrad_sq": g.pow(2).mean(0),
        "vargrad": g.var(0, unbiased=False),
    }
    for kind, ref in refs.items():
        got, _ = attribution.noise_tunnel(net, x, 1, kind=kind, n_samples=n, stdev=sigma, seed=5)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-12, msg=kind)
    # around guided backprop instead of the vanilla gradient
    got, _ = attribution.noise_tunnel(net, x, 1, attribution=attribution.guided, n_samples=2, stdev=0.0)
    torch.testing.assert_close(got, attribution.guided(net, x, 1)[0])


def test_deconvolution_equals_captums_and_serves_swag():
    import warnings

    from captum.attr import Deconvolution

    import swagfast

    net = _relu_net()
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(15), dtype=torch.float64)
    got, _ = attribution.deconvolution(net, x, [0, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Captum announces its hooks
        ref = Deconvolution(net).attribute(x, target=[0, 3])
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-12)
    assert not torch.allclose(got, attribution.guided(net, x, [0, 3])[0])  # a different rule
    for method in ("deconvolution", "integrated_gradients", "smoothgrad"):
        exp = swagfast.SWAG(net.float(), "G", 8, attribution=method)(x.float(), [0, 3])
        pix, _ = attribution.attribute(net.float(), x.float(), method, [0, 3])
        torch.testing.assert_close(exp.pixel_map, pix)
        assert method in exp.method
        net.double()
