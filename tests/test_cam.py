"""The CAM family against direct formulas; Jitter-CAM's d = 0 identity and patch bookkeeping."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import swagfast
from swagfast import (
    AblationCAM,
    GradAMapCAM,
    GradCAM,
    GradCAMPlusPlus,
    JitterCAM,
    SaliencyTubes,
    ScoreCAM,
    XGradCAM,
)
from swagfast.failure import filter_gradient, filter_scores


class GapNet(nn.Module):
    """conv -> ReLU -> (layer 'features') -> global average pool -> linear: classic CAM applies."""

    def __init__(self, k=6, classes=4, video=False):
        super().__init__()
        conv = nn.Conv3d if video else nn.Conv2d
        self.body = nn.Sequential(
            conv(3, k, 3, padding=1), nn.ReLU(), conv(k, k, 3, stride=2, padding=1), nn.ReLU()
        )
        self.fc = nn.Linear(k, classes)

    def forward(self, x):
        a = self.body(x)
        return self.fc(a.flatten(2).mean(dim=2))


def model_and_input(seed=0, video=False, size=16):
    torch.manual_seed(seed)
    m = GapNet(video=video).eval()
    shape = (2, 3, 4, size, size) if video else (2, 3, size, size)
    return m, torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def direct(model, x, target, weights_fn):
    A = model.body(x)
    logits = model.fc(A.flatten(2).mean(dim=2))
    G = torch.autograd.grad(logits[torch.arange(len(x)), target].sum(), A)[0]
    w = weights_fn(A.detach(), G)
    return torch.relu(torch.einsum("bk,bk...->b...", w, A.detach()))


def test_gradcam_equals_the_formula_and_classic_cam():
    model, x = model_and_input()
    exp = GradCAM(model, "body")(x, target=[1, 2])
    ref = direct(model, x, torch.tensor([1, 2]), lambda A, G: G.mean(dim=(2, 3)))
    torch.testing.assert_close(exp.raw, ref)
    # classic CAM: fc weights of the class; Grad-CAM's weights are those / (h w)
    A = model.body(x).detach()
    classic = torch.relu(torch.einsum("bk,bkhw->bhw", model.fc.weight[[1, 2]].detach(), A))
    torch.testing.assert_close(exp.raw * A.shape[2] * A.shape[3], classic)
    assert exp.heatmap.shape == (2, 16, 16) and exp.raw.shape == (2, 8, 8)
    torch.testing.assert_close(exp.heatmap, F.interpolate(exp.raw[:, None], (16, 16), mode="bilinear")[:, 0])


@pytest.mark.filterwarnings("ignore:.*is constant .* explains nothing:UserWarning")  # a random model
def test_gradcam_plus_plus_and_xgradcam_and_gradamap_against_hand_formulas():
    model, x = model_and_input(1)
    t = torch.tensor([0, 3])

    def pp(A, G):
        num = G**2
        den = 2 * G**2 + A.sum(dim=(2, 3), keepdim=True) * G**3
        alpha = torch.where(den != 0, num / den, torch.zeros_like(den))
        return (alpha * torch.relu(G)).sum(dim=(2, 3))

    torch.testing.assert_close(GradCAMPlusPlus(model, model.body)(x, t).raw, direct(model, x, t, pp))
    xg = lambda A, G: (A / A.sum(dim=(2, 3), keepdim=True) * G).sum(dim=(2, 3))  # noqa: E731
    torch.testing.assert_close(XGradCAM(model, "body")(x, t).raw, direct(model, x, t, xg))
    am = lambda A, G: (A * G).mean(dim=(2, 3))  # noqa: E731
    torch.testing.assert_close(GradAMapCAM(model, "body")(x, t).raw, direct(model, x, t, am))


def test_score_and_ablation_cam_against_loops():
    model, x = model_and_input(2)
    x = x[:1]
    t = int(model(x).argmax())
    A = model.body(x).detach()
    # Score-CAM by an explicit loop over channels
    w = []
    for k in range(A.shape[1]):
        up = F.interpolate(A[:, k : k + 1], (16, 16), mode="bilinear", align_corners=False)[0, 0]
        mask = (up - up.min()) / (up.max() - up.min()) if up.max() > up.min() else torch.zeros_like(up)
        w.append(model(x * mask).softmax(1)[0, t])
    ref = torch.relu(torch.einsum("k,khw->hw", torch.stack(w).detach(), A[0]))
    torch.testing.assert_close(ScoreCAM(model, "body", batch_size=4)(x).raw[0], ref, rtol=1e-5, atol=1e-6)
    # Ablation-CAM by zeroing one channel at a time
    y = model(x)[0, t]
    w = []
    for k in range(A.shape[1]):
        fc_in = A.clone()
        fc_in[:, k] = 0
        w.append((y - model.fc(fc_in.flatten(2).mean(2))[0, t]) / y)
    ref = torch.relu(torch.einsum("k,khw->hw", torch.stack(w).detach(), A[0]))
    torch.testing.assert_close(AblationCAM(model, "body", batch_size=4)(x).raw[0], ref, rtol=1e-5, atol=1e-6)
    # score= is honoured (it used to be ignored): Score-CAM on logits, Ablation-CAM on softmax
    w_logit, w_soft = [], []
    p = model(x).softmax(1)[0, t]
    for k in range(A.shape[1]):
        up = F.interpolate(A[:, k : k + 1], (16, 16), mode="bilinear", align_corners=False)[0, 0]
        mask = (up - up.min()) / (up.max() - up.min()) if up.max() > up.min() else torch.zeros_like(up)
        w_logit.append(model(x * mask)[0, t])
        fc_in = A.clone()
        fc_in[:, k] = 0
        w_soft.append((p - model.fc(fc_in.flatten(2).mean(2)).softmax(1)[0, t]) / p)
    for cam, weights in (
        (ScoreCAM(model, "body", score="logit"), w_logit),
        (AblationCAM(model, "body", score="softmax"), w_soft),
    ):
        ref = torch.relu(torch.einsum("k,khw->hw", torch.stack(weights).detach(), A[0]))
        torch.testing.assert_close(cam(x).raw[0], ref, rtol=1e-5, atol=1e-6)


def test_video_cams_are_trilinear_and_saliency_tubes_needs_5d():
    model, x = model_and_input(3, video=True)
    exp = SaliencyTubes(model, "body")(x)
    assert exp.raw.shape == (2, 2, 8, 8) and exp.heatmap.shape == (2, 4, 16, 16)
    torch.testing.assert_close(exp.raw, GradCAM(model, "body")(x).raw)
    image_model, xi = model_and_input(3)
    with pytest.raises(ValueError, match=r"Saliency Tubes needs a layer with \(B, K, t, h, w\)"):
        SaliencyTubes(image_model, "body")(xi)


def test_hooks_removed_and_state_kept_after_errors():
    model, x = model_and_input()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="target classes must be in"):
        GradCAM(model, "body")(x, target=9)
    with pytest.raises(ValueError, match="target classes must be in"):
        AblationCAM(model, "body")(x, target=9)
    assert all(not m._forward_hooks for m in model.modules())
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="layer 'nope' is not a submodule"):
        GradCAM(model, "nope")
    with pytest.raises(ValueError, match="layer must be a submodule of the model"):
        GradCAM(model, nn.ReLU())


@pytest.mark.filterwarnings("ignore:.*is constant .* explains nothing:UserWarning")  # a random model
def test_frozen_models_and_layers_that_never_run():
    model, x = model_and_input(3)
    ref = {cam: cam(model, "body")(x).raw for cam in (GradCAM, GradCAMPlusPlus, XGradCAM, GradAMapCAM)}
    scores = filter_scores(model, "body", x)
    jitter = JitterCAM(model, "body", "grad-cam")(x).raw
    model.requires_grad_(False)  # as models served for inference often are
    for cam, raw in ref.items():
        torch.testing.assert_close(cam(model, "body")(x).raw, raw)
    torch.testing.assert_close(filter_scores(model, "body", x), scores)
    torch.testing.assert_close(JitterCAM(model, "body", "grad-cam")(x).raw, jitter)
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())
    model.unused = nn.Conv2d(6, 6, 1)  # a submodule forward never calls
    for cam in (GradCAM, ScoreCAM, AblationCAM, JitterCAM):
        with pytest.raises(
            ValueError, match="layer must be a module the model's forward pass runs; the Conv2d"
        ):
            cam(model, "unused")(x)
    with pytest.raises(ValueError, match="layer must be a module the model's forward pass runs"):
        filter_gradient(model, "unused", x, [0, 1])
    assert all(not m._forward_hooks for m in model.modules())


def test_gradient_cams_record_the_graph_from_the_layer_on_only():
    """The backward pass stops at the layer, so nothing before it keeps activations for one:
    every tensor autograd saves during a gradient CAM or filter score of ``body.2`` (stride 2,
    8x8) comes from after the layer, none at the input's 16x16; the CAM is still the formula's
    and the caller's grad mode is left as it was."""
    model, x = model_and_input(4)
    x = x.requires_grad_(True)  # an input that asks for gradients changes nothing either
    t = torch.tensor([1, 3])

    def post(A, G):
        return G.mean(dim=(2, 3))

    body2 = model.body[2]
    A = model.body[:3](x)
    logits = model.fc(model.body[3](A).flatten(2).mean(dim=2))
    G = torch.autograd.grad(logits[torch.arange(2), t].sum(), A)[0]
    ref = torch.relu(torch.einsum("bk,bkhw->bhw", post(A, G), A.detach()))
    shapes = []

    def pack(tensor):
        shapes.append(tuple(tensor.shape))
        return tensor

    for grad_mode in (True, False):
        with torch.set_grad_enabled(grad_mode), torch.autograd.graph.saved_tensors_hooks(pack, lambda v: v):
            shapes.clear()
            raw = GradCAM(model, body2)(x, t).raw
            assert shapes and all(s[-2:] != (16, 16) for s in shapes), shapes
            shapes.clear()
            filter_scores(model, "body.2", x, t, method="grad-amap")
            assert shapes and all(s[-2:] != (16, 16) for s in shapes), shapes
            assert torch.is_grad_enabled() == grad_mode
        torch.testing.assert_close(raw, ref)
    assert x.grad is None and all(p.grad is None for p in model.parameters())


class InplaceNet(nn.Module):
    """conv -> ReLU -> conv ('body.2') -> ReLU: with ``inplace`` the last ReLU overwrites the
    convolution's output, as torchvision's VGG does."""

    def __init__(self, inplace, k=6, classes=4):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, k, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(k, k, 3, stride=2, padding=1),
            nn.ReLU(inplace),
        )
        self.fc = nn.Linear(k, classes)

    def forward(self, x):
        return self.fc(self.body(x).flatten(2).mean(dim=2))


def test_a_layer_followed_by_an_inplace_op_is_explained_before_it():
    torch.manual_seed(5)
    plain = InplaceNet(False).eval()
    inplace = InplaceNet(True).eval()
    inplace.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    cams = (GradCAM, GradCAMPlusPlus, XGradCAM, GradAMapCAM, ScoreCAM, AblationCAM)
    for cam in cams:
        torch.testing.assert_close(cam(inplace, "body.2")(x).raw, cam(plain, "body.2")(x).raw)
    jit = JitterCAM(inplace, "body.2", "grad-cam")(x).raw
    torch.testing.assert_close(jit, JitterCAM(plain, "body.2", "grad-cam")(x).raw)
    for method in ("grad-amap", "grad-cam++", "taylor", "l1-norm"):
        torch.testing.assert_close(
            filter_scores(inplace, "body.2", x, method=method),
            filter_scores(plain, "body.2", x, method=method),
        )
    # the convolution's CAM is not the ReLU's (what reading the overwritten output gave)
    assert not torch.allclose(GradCAM(inplace, "body.2")(x).raw, GradCAM(plain, "body.3")(x).raw)
    assert torch.equal(inplace(x), plain(x))  # the model's output is untouched
    assert all(not m._forward_hooks for m in inplace.modules())


def test_jitter_cam_with_d_zero_is_the_base_cam():
    model, x = model_and_input(4)
    for base in ("grad-cam", "grad-cam++", "xgrad-cam"):
        jit = JitterCAM(model, "body", base, cam_scale=1.0)(x)
        ref = swagfast.explainers.CAMS[base](model, "body")(x)
        torch.testing.assert_close(jit.heatmap, ref.heatmap, rtol=0, atol=0)
        torch.testing.assert_close(jit.raw, ref.raw, rtol=0, atol=0)


def test_jitter_cam_patches_and_average():
    """cam_scale 2 on a 16x16 input with an 8x8 CAM: k = 2, d = 8, 81 patches of the 32x32 upscale."""
    model, x = model_and_input(5)
    jc = JitterCAM(model, "body", cam_scale=2.0, batch_size=20)
    exp = jc(x, target=[0, 1])
    assert jc.plan(x) == ((8, 8), (8, 8), (2, 2))
    assert exp.raw.shape == (2, 16, 16) and exp.heatmap.shape == (2, 16, 16)
    up = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    J = torch.zeros(2, 16, 16)
    C = torch.zeros(2, 16, 16)
    cam = GradCAM(model, "body")
    for i in range(9):
        for j in range(9):
            patch = up[:, :, 2 * i : 2 * i + 16, 2 * j : 2 * j + 16]
            J[:, i : i + 8, j : j + 8] += cam.raw(patch, torch.tensor([0, 1]))[0]
            C[:, i : i + 8, j : j + 8] += 1
    torch.testing.assert_close(exp.raw, J / C, rtol=1e-5, atol=1e-7)
    # the same with a different batch size (memory bound) gives the same map
    torch.testing.assert_close(JitterCAM(model, "body", batch_size=7)(x, target=[0, 1]).raw, exp.raw)


def test_jitter_cam_non_square_and_video():
    model, _ = model_and_input(6)
    x = torch.randn(1, 3, 16, 24)
    exp = JitterCAM(model, "body", cam_size=(10, 15))(x)
    assert exp.raw.shape == (1, 10, 15) and exp.heatmap.shape == (1, 16, 24)
    vmodel, clip = model_and_input(6, video=True)
    v = JitterCAM(vmodel, "body", cam_scale=1.5)(clip)
    assert v.raw.shape == (2, 2, 12, 12) and v.heatmap.shape == (2, 4, 16, 16)
    vt = JitterCAM(vmodel, "body", cam_scale=1.5, jitter_time=True)(clip)
    assert vt.raw.shape == (2, 3, 12, 12)


def test_jitter_cam_bad_arguments():
    model, x = model_and_input()
    with pytest.raises(ValueError, match="base must be one of"):
        JitterCAM(model, "body", "lime")
    for scale in (0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"cam_scale must be a finite number in \[1, inf\)"):
            JitterCAM(model, "body", cam_scale=scale)
    with pytest.raises(TypeError, match="cam_scale must be a number, got str"):
        JitterCAM(model, "body", cam_scale="2")
    with pytest.raises(ValueError, match=r"input side 17 must be a multiple of the layer's side 9"):
        JitterCAM(model, "body")(torch.randn(1, 3, 17, 17))
    with pytest.raises(ValueError, match=r"cam_size \(4, 4\) must not be smaller"):
        JitterCAM(model, "body", cam_size=(4, 4))(x)
    with pytest.raises(TypeError, match="jitter_time must be a bool, got str"):
        JitterCAM(model, "body", jitter_time="yes")
    with pytest.raises(TypeError, match="batch_size must be a positive int or None, got str"):
        GradCAM(model, "body", batch_size="8")
    for size in ((0, 12), (12.0, 12), "12", True):
        with pytest.raises(TypeError, match="cam_size must be a positive int or a sequence of them"):
            JitterCAM(model, "body", cam_size=size)
    # an int is that size along both axes
    torch.testing.assert_close(
        JitterCAM(model, "body", cam_size=12)(x).raw, JitterCAM(model, "body", cam_size=(12, 12))(x).raw
    )
    with pytest.raises(
        ValueError, match=r"x must hold at least one item, got the empty batch \(0, 3, 16, 16\)"
    ):
        JitterCAM(model, "body")(x[:0])
    head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    with pytest.raises(ValueError, match=r"the layer's output must be \(B, K, h, w\) or \(B, K, t, h, w\)"):
        JitterCAM(head, "0")(x)
    half = copy.deepcopy(model).to(torch.bfloat16)  # the patches accumulate in float32
    jit = JitterCAM(half, "body")(x.to(torch.bfloat16)).raw
    assert jit.dtype == torch.float32
    torch.testing.assert_close(jit, JitterCAM(model, "body")(x).raw, rtol=0.1, atol=0.05)


@pytest.mark.cuda
def test_jitter_cam_on_cuda_matches_cpu():
    model, x = model_and_input(7)
    cpu = JitterCAM(model, "body", batch_size=16)(x, target=[0, 1])
    gpu = JitterCAM(model.cuda(), "body", batch_size=16)(x.cuda(), target=[0, 1])
    assert gpu.heatmap.device.type == "cuda"
    torch.testing.assert_close(gpu.raw.cpu(), cpu.raw, rtol=1e-4, atol=1e-6)


def test_capture_ignores_other_threads_forward_passes():
    import threading

    from swagfast.attribution.layers import capture

    model, x = model_and_input(8)
    other = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    expected = model(other)
    seen = {}

    def serve():  # a server thread using the same model while an explanation is being made
        seen["out"] = model(other)

    with capture(model.body, edit=torch.zeros_like) as box:
        mine = model(x)
        thread = threading.Thread(target=serve)
        thread.start()
        thread.join()
    assert torch.equal(seen["out"], expected)  # the edit did not reach the other thread
    assert torch.equal(box.output, torch.zeros_like(model.body(x)))  # the record is this thread's
    assert torch.equal(mine, model.fc(torch.zeros(2, 6)))


def _cam_net():
    from swagfast.testing import two_conv_net

    return two_conv_net(3, width=5)


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        ("HiResCAM", "hirescam"),
        ("GradCAMElementWise", "elementwise"),
        ("LayerCAM", "layercam"),
        ("EigenCAM", "eigen-cam"),
        ("EigenGradCAM", "eigen-grad-cam"),
    ],
)
def test_the_position_wise_and_eigen_cams_match_their_formulas(cls, kind):
    import swagfast
    from swagfast.attribution.cam_weights import layer_activations
    from swagfast.testing import cam_reference

    net = _cam_net()
    x = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(4))
    A, G, _, t = layer_activations(net, net[2], x, [0, 2, 3])  # the layer before the ReLU: signed
    ref = cam_reference(A.double().numpy(), G.double().numpy(), kind)
    cam = getattr(swagfast, cls)(net, "2")
    raw, got_t = cam.raw(x, [0, 2, 3])
    assert torch.equal(got_t, t)
    np.testing.assert_allclose(raw.double().numpy(), ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    assert ref.max() > 0  # a map that ranks something
    exp = cam(x, [0, 2, 3])
    assert (
        exp.heatmap.shape == (3, 12, 12)
        and cam.name in swagfast.CAMS[next(k for k, v in swagfast.CAMS.items() if v is type(cam))].name
    )


def test_eigen_smooth_and_aug_smooth_on_any_cam():
    from swagfast.attribution.cam_weights import gradcam_weights, layer_activations
    from swagfast.baselines import unit_range
    from swagfast.explainers.cam import resize
    from swagfast.testing import cam_reference

    net = _cam_net()
    x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(5))
    A, G, _, _ = layer_activations(net, net[2], x, 1)
    ref = cam_reference(
        A.double().numpy(), G.double().numpy(), "eigen-smooth", gradcam_weights(A, G).double().numpy()
    )
    got = GradCAM(net, "2", eigen_smooth=True).raw(x, 1)[0]
    np.testing.assert_allclose(got.double().numpy(), ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    # aug_smooth: the mean of the [0, 1]-scaled heatmaps of six inputs (flips x 0.9 / 1 / 1.1), flipped back
    maps = []
    for flip in (False, True):
        for factor in (0.9, 1.0, 1.1):
            xa = (x.flip(-1) if flip else x) * factor
            h = unit_range(resize(GradCAM(net, "2").raw(xa, 1)[0], (12, 12)))
            maps.append(h.flip(-1) if flip else h)
    smooth = GradCAM(net, "2", aug_smooth=True)(x, 1)
    torch.testing.assert_close(smooth.heatmap, torch.stack(maps).mean(0), rtol=1e-6, atol=1e-6)
    assert "augmentation-smoothed" in smooth.method
    with pytest.raises(TypeError, match="eigen_smooth must be a bool"):
        GradCAM(net, "2", eigen_smooth="yes")


def test_guided_gradcam_and_occlusion_equal_captums():
    import warnings

    from captum.attr import GuidedGradCam
    from captum.attr import Occlusion as CaptumOcclusion

    from swagfast import GuidedGradCAM, Occlusion, attribution

    net = _cam_net().double()
    x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    got = GuidedGradCAM(net, "3")(x, [1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Captum announces its hooks
        ref = GuidedGradCam(net, net[3]).attribute(x, target=[1, 2], interpolate_mode="bilinear")
    torch.testing.assert_close(got.heatmap, ref.abs().amax(1), rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(got.pixel_map, attribution.attribute(net, x, "guided", [1, 2])[0])
    for window, stride in ((4, 2), (5, 3)):
        occ = Occlusion(net, window=window, stride=stride, baseline=0.3, batch_size=5)(x, [1, 2])
        ref = CaptumOcclusion(net).attribute(
            x,
            sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride),
            baselines=0.3,
            target=[1, 2],
        )
        # Captum sums in float32
        torch.testing.assert_close(occ.heatmap, ref[:, 0].double(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="window must be at most the image side 12, got 13"):
        Occlusion(net, window=13)(x)
