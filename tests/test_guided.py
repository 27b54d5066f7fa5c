"""Guided backpropagation: Captum's GuidedBackprop, hand-computed values, ReLU6 / LeakyReLU /
functional ReLUs, warnings for other activations, and nothing left behind."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from swagfast import attribution

captum_attr = pytest.importorskip("captum.attr", reason="captum is a test dependency (pip install .[test])")


def captum_guided(model, x, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captum's own warnings about hooks / requires_grad
        return captum_attr.GuidedBackprop(model).attribute(x, target=target)


def small_relu_net(inplace: bool) -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 4),
    ).eval()


@pytest.mark.parametrize("inplace", [False, True])
def test_guided_equals_captum_on_relu_models(inplace):
    model = small_relu_net(inplace)
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    grad, t = attribution.guided(model, x, target=[0, 2, 3])
    torch.testing.assert_close(grad, captum_guided(model, x, [0, 2, 3]), rtol=1e-5, atol=1e-7)
    assert t.tolist() == [0, 2, 3]


def test_functional_relu_inside_forward_is_guided_too():
    class Functional(nn.Module):
        def __init__(self, seq):
            super().__init__()
            self.c1, self.c2, self.fc = seq[0], seq[2], seq[6]

        def forward(self, x):
            x = F.relu(self.c1(x))
            x = torch.relu(self.c2(x))
            return self.fc(F.max_pool2d(x, 2).flatten(1))

    seq = small_relu_net(False)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    grad, _ = attribution.guided(Functional(seq), x, target=1)
    torch.testing.assert_close(grad, captum_guided(seq, x, 1), rtol=1e-5, atol=1e-7)


def test_exact_values_on_a_hand_set_model():
    lin1 = nn.Linear(2, 2, bias=False)
    lin2 = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 1.0]]))
        lin2.weight.copy_(torch.tensor([[1.0, -1.0]]))
    model = nn.Sequential(nn.Flatten(), lin1, nn.ReLU(), lin2)
    x = torch.tensor([1.0, 0.5]).view(1, 1, 1, 2)  # hidden pre-activations (0.5, 2.5): both active
    g, _ = attribution.guided(model, x, target=0)
    v, _ = attribution.vanilla(model, x, target=0)
    # dy/dh = (1, -1); guided keeps (1, 0) -> W1^T (1, 0) = (1, -1); vanilla W1^T (1, -1) = (-1, -2)
    torch.testing.assert_close(g.flatten(), torch.tensor([1.0, -1.0]))
    torch.testing.assert_close(v.flatten(), torch.tensor([-1.0, -2.0]))


class _RefGuided(torch.autograd.Function):
    """Independent reference: forward as given, backward 1[lo < x < hi] * relu(grad)."""

    @staticmethod
    def forward(ctx, x, fwd, hi):
        ctx.save_for_backward(x)
        ctx.hi = hi
        return fwd(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        keep = (x > 0) & (x < ctx.hi)
        return torch.where(keep & (g > 0), g, torch.zeros_like(g)), None, None


class _RefModule(nn.Module):
    def __init__(self, fwd, hi=float("inf")):
        super().__init__()
        self.fwd, self.hi = fwd, hi

    def forward(self, x):
        return _RefGuided.apply(x, self.fwd, self.hi)


def swap_modules(model: nn.Module, kind, make) -> nn.Module:
    for name, child in model.named_children():
        if isinstance(child, kind):
            setattr(model, name, make(child))
        else:
            swap_modules(child, kind, make)
    return model


def test_relu6_model_matches_a_guided_reference():
    """The embedded EfficientNet-Lite0 (ReLU6): same map as the model with ReLU6 swapped for a
    hand-written guided function (gradient also zero where the input saturates at 6)."""
    import copy

    from swagfast import data, models

    lite = models.load()
    x = lite.preprocess([data.sample_images()["chelsea"]])
    ours, t = attribution.guided(lite.model, x)
    ref_model = swap_modules(
        copy.deepcopy(lite.model), nn.ReLU6, lambda m: _RefModule(lambda v: v.clamp(0, 6), 6.0)
    )
    xr = x.clone().requires_grad_(True)
    ref_model(xr)[0, int(t)].backward()
    torch.testing.assert_close(ours, xr.grad, rtol=1e-4, atol=1e-6)
    assert (ours != 0).any()


def test_leaky_relu_is_treated_as_relu_but_keeps_its_forward():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(5 * 6 * 6, 3)).eval()
    x = torch.randn(2, 3, 8, 8)
    ours, _ = attribution.guided(model, x, target=2)
    ref = swap_modules(
        __import__("copy").deepcopy(model), nn.LeakyReLU, lambda m: _RefModule(lambda v: F.leaky_relu(v, 0.2))
    )
    xr = x.clone().requires_grad_(True)
    ref(xr)[:, 2].sum().backward()
    torch.testing.assert_close(ours, xr.grad, rtol=1e-5, atol=1e-7)


def test_unknown_activation_warns_with_its_name():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.SiLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    with pytest.warns(UserWarning, match=r"not ReLU-like.*\(SiLU\)"):
        attribution.guided(model, torch.randn(1, 3, 8, 8))

    class Gelu(nn.Module):
        def forward(self, x):
            return F.gelu(x).flatten(1)[:, :3]

    with pytest.warns(UserWarning, match="gelu"):
        attribution.guided(Gelu(), torch.randn(1, 3, 4, 4))


def test_nothing_outlives_the_call_and_model_state_is_kept():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            F.relu(self.conv(x))
            raise RuntimeError("boom")

    model = Boom().train()
    model.conv.weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="boom"):
        attribution.guided(model, torch.randn(1, 3, 4, 4))
    assert model.training and not model.conv.weight.requires_grad and model.conv.bias.requires_grad
    assert model.conv.weight.grad is None and model.conv.bias.grad is None
    # ordinary autograd is untouched afterwards: ReLU's gradient is the plain one again
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    (torch.relu(x) * torch.tensor([1.0, -3.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, -3.0]))


def test_input_x_gradient_matches_captum():
    model = small_relu_net(False)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    ours, _ = attribution.input_x_gradient(model, x, target=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = captum_attr.InputXGradient(model).attribute(x, target=1)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)


def test_sanity_baselines():
    x = torch.randn(2, 3, 16, 16)
    a = attribution.noise_map(x, seed=1)
    assert a.shape == (2, 16, 16) and torch.equal(a, attribution.noise_map(x, seed=1))
    assert not torch.equal(a, attribution.noise_map(x, seed=2))
    img = torch.zeros(1, 3, 8, 8)
    img[..., 4:] = 1.0  # a vertical edge between columns 3 and 4
    s = attribution.sobel_map(img)[0]
    assert s[:, 3:5].min() > 0 and s[:, :2].max() == 0 and s[:, 6:].max() == 0
    clip = torch.rand(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(3))  # frame by frame
    frames = torch.stack([attribution.sobel_map(clip[:, :, t]) for t in range(4)], dim=1)
    torch.testing.assert_close(attribution.sobel_map(clip), frames)


def test_hardtanh_zero_to_t_is_guided_with_its_top():
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(3, 5, 3), nn.Hardtanh(0.0, 0.3), nn.Flatten(), nn.Linear(5 * 6 * 6, 3)
    ).eval()
    x = torch.randn(2, 3, 8, 8)
    ours, _ = attribution.guided(model, x, target=0)
    ref = swap_modules(
        __import__("copy").deepcopy(model), nn.Hardtanh, lambda m: _RefModule(lambda v: v.clamp(0, 0.3), 0.3)
    )
    xr = x.clone().requires_grad_(True)
    ref(xr)[:, 0].sum().backward()
    torch.testing.assert_close(ours, xr.grad, rtol=1e-5, atol=1e-7)
    # inputs above the top get no gradient: some units saturate here, so the maps differ from ReLU's
    relu = swap_modules(__import__("copy").deepcopy(model), nn.Hardtanh, lambda m: nn.ReLU())
    assert not torch.allclose(ours, attribution.guided(relu, x, target=0)[0])
    # Hardtanh with a negative bottom is not ReLU-like: warned about by name
    odd = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Hardtanh(), nn.Flatten(), nn.Linear(2 * 6 * 6, 2))
    with pytest.warns(UserWarning, match=r"Hardtanh\(min_val=-1.0\)"):
        attribution.guided(odd, x)


def test_a_compiled_model_is_explained_through_its_eager_graph():
    model = small_relu_net(False)
    compiled = torch.compile(model, backend="aot_eager")  # the same graph capture as inductor's
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    eager, _ = attribution.guided(model, x, target=[1, 2])
    ours, _ = attribution.guided(compiled, x, target=[1, 2])
    torch.testing.assert_close(ours, eager, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(eager, attribution.vanilla(model, x, target=[1, 2])[0])


def test_a_compiled_part_inside_a_model_is_refused_not_explained_plainly():
    inner = small_relu_net(False)
    model = nn.Sequential(torch.compile(inner[:4], backend="aot_eager"), *inner[4:]).eval()
    with pytest.raises(ValueError, match=r"part of this model runs compiled \(torch.compile\)"):
        attribution.guided(model, torch.randn(1, 3, 8, 8))


@pytest.mark.cuda
@pytest.mark.parametrize("target", [None, 1, [0, 3], "tensor"])
def test_on_cuda_guided_backprop_synchronises_once_after_the_backward(target):
    model = small_relu_net(False).cuda()
    x = torch.randn(2, 3, 8, 8, device="cuda")
    if target == "tensor":
        target = torch.tensor([2, 1], device="cuda")
    attribution.guided(model, x, target=target)  # warm-up (allocator, kernels)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            attribution.guided(model, x, target=target)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in seen if "synchroniz" in str(w.message)]
    assert len(syncs) == 1, [str(w.message) for w in syncs]


def test_targets_out_of_range_are_named_before_or_after_the_backward():
    model = small_relu_net(False)
    x = torch.randn(2, 3, 8, 8)
    for target in (7, [0, 9], torch.tensor([0, -1])):
        with pytest.raises(ValueError, match=r"target classes must be in \[0, 4\)"):
            attribution.guided(model, x, target=target)
    nan = nn.Sequential(model, nn.Flatten())
    with pytest.raises(ValueError, match="NaN or infinity for items \\[1\\]"):
        attribution.guided(nan, torch.stack([x[0], torch.full_like(x[1], float("nan"))]))


class _Residual(nn.Module):
    """relu(x + conv(relu(bn(conv(x))))): the gradient reaching the outer ReLU's node is also the
    skip connection's, so a hook that changed it in place would corrupt the other branch."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.bn, self.c2 = (
            nn.Conv2d(6, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.Conv2d(6, 6, 3, padding=1),
        )
        self.inner, self.outer = nn.ReLU(inplace=True), nn.ReLU(inplace=True)

    def forward(self, x):
        return self.outer(x + self.c2(self.inner(self.bn(self.c1(x)))))


def test_residual_blocks_match_the_guided_reference():
    import copy

    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        _Residual(),
        _Residual(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 4),
    ).eval()
    x = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(6))
    ours, t = attribution.guided(model, x)
    ref_model = swap_modules(copy.deepcopy(model), nn.ReLU, lambda m: _RefModule(torch.relu))
    xr = x.clone().requires_grad_(True)
    ref_model(xr).gather(1, t[:, None]).sum().backward()
    torch.testing.assert_close(ours, xr.grad, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(ours, attribution.vanilla(model, x, t)[0])


def test_explainers_on_a_compiled_model_give_the_eager_result():
    from swagfast import SWAG, GradCAM, GradCAMPlusPlus, JitterCAM

    torch.manual_seed(7)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 4),
    ).eval()
    with torch.no_grad():
        model[-1].weight.abs_()  # positive evidence at the ReLU layer, so no CAM is all zero
    compiled = torch.compile(model, backend="aot_eager")
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(8))
    for make in (
        lambda m: GradCAM(m, "3"),
        lambda m: GradCAMPlusPlus(m, "3"),
        lambda m: JitterCAM(m, "3", "grad-cam"),
        lambda m: SWAG(m, "G", 20),
    ):
        eager, ours = make(model)(x), make(compiled)(x)
        torch.testing.assert_close(ours.heatmap, eager.heatmap, rtol=1e-4, atol=1e-6)
