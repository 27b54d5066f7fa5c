"""Regression tests for hostile inputs: each built from a reproducer that once crashed the
process, dropped data silently, disagreed between backends or raised an error naming no
argument."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import swagfast
from swagfast import attribution, metrics
from swagfast.explainers.cam import GradCAM, ScoreCAM
from swagfast.explainers.explanation import Explanation

HOST = [b for b in ("cpu", "numba") if swagfast.backends()[b].available]


# -- native ops -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", HOST)
def test_segment_pool_with_tables_larger_than_memory_is_a_memory_error(backend):
    v, lab = np.zeros((1, 1), np.float32), np.zeros((1, 1), np.int32)
    with pytest.raises(MemoryError, match=r"segment_pool with n_segments=2147483648 needs .* GiB"):
        swagfast.segment_pool(v, lab, n_segments=2**31, backend=backend)
    # inferred from a label: the same check, the message says where the count came from
    with pytest.raises(MemoryError, match=r"n_segments=2147483647 \(the largest label \+ 1\)"):
        swagfast.segment_pool(v, np.full((1, 1), 2**31 - 2, np.int32), backend=backend)


def test_a_failed_allocation_inside_the_kernels_is_a_memory_error_not_an_abort(tmp_path):
    # Past the up-front check (the tables fit in memory, but not in what the process may map):
    # the kernels' own allocation fails inside an OpenMP region (C++) or a prange (Numba). Run
    # in a child with a small address-space limit, so that an abort would be seen, not suffered.
    code = """
import resource, numpy as np, swagfast
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
for be in ("cpu", "numba"):
    try:
        swagfast.segment_pool(np.zeros((2, 1), np.float32), np.zeros((2, 1), np.int32),
                              n_segments=2**26, scatter=False, backend=be)
        print(be, "ok")
    except MemoryError as err:
        print(be, "MemoryError", "n_segments=67108864" in str(err))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.split("\n")
    assert "cpu MemoryError True" in lines and "numba MemoryError True" in lines, done.stdout


@pytest.mark.parametrize("backend", HOST)
@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.uint64, np.uint8, np.int16, np.int64])
def test_unsigned_and_other_integer_labels_are_converted(backend, dtype):
    rng = np.random.default_rng(0)
    v = rng.random((2, 6, 5)).astype(np.float32)
    lab32 = rng.integers(0, 7, (2, 6, 5)).astype(np.int32)
    want = swagfast.segment_pool(v, lab32, "sum", backend=backend)
    got = swagfast.segment_pool(v, lab32.astype(dtype), "sum", backend=backend)
    np.testing.assert_array_equal(got.segment_values, want.segment_values)
    np.testing.assert_array_equal(got.pixel_values, want.pixel_values)


def test_labels_too_large_for_int32_are_refused_in_every_integer_dtype():
    v = np.zeros((1, 2), np.float32)
    with pytest.raises(ValueError, match="labels must fit in int32, got a label of 4294967295"):
        swagfast.segment_pool(v, np.array([[0, 2**32 - 1]], np.uint32))
    with pytest.raises(ValueError, match=r"labels must fit in int32, got a torch.uint64 label of 2\*\*63"):
        swagfast.segment_pool(v, np.array([[0, 2**64 - 1]], np.uint64))


@pytest.mark.parametrize("backend", HOST)
def test_accumulate_patches_refuses_an_offset_whose_fit_check_would_overflow(backend):
    maps = np.ones((1, 2, 2, 2), np.float32)
    with pytest.raises(ValueError, match=r"patch 1 is at offset \(9223372036854775807, 0\)"):
        swagfast.accumulate_patches(maps, np.array([[0, 0], [2**63 - 1, 0]]), (4, 4), backend=backend)
    with pytest.raises(ValueError, match=r"offsets must fit in int64"):
        swagfast.accumulate_patches(
            maps, np.array([[0, 0], [2**64 - 1, 0]], np.uint64), (4, 4), backend=backend
        )
    with pytest.raises(ValueError, match=r"patch 0 is at offset \(-1, 0\)"):
        swagfast.accumulate_patches(maps, np.array([[-1, 0], [0, 0]]), (4, 4), backend=backend)
    # the last offset that fits is taken, and every cell of both patches is counted
    J, C = swagfast.accumulate_patches(maps, np.array([[0, 0], [2, 2]]), (4, 4), backend=backend)
    assert C.sum() == 8 and J.sum() == 8


@pytest.mark.parametrize(
    ("out_shape", "exc", "msg"),
    [
        (None, TypeError, "out_shape must be a tuple of 2 ints, got None"),
        (8, TypeError, "out_shape must be a tuple of 2 ints, got 8"),
        ((4.0, 4.0), TypeError, r"out_shape must be a tuple of 2 ints, got \(4.0, 4.0\)"),
        ((4.9, 4), TypeError, "out_shape must be a tuple of 2 ints"),
        ("44", TypeError, "out_shape must be a tuple of 2 ints"),
        ((4,), ValueError, "out_shape must have 2 entries"),
        ((0, 4), ValueError, "out_shape must hold sizes >= 1"),
    ],
)
def test_accumulate_patches_out_shape_errors_name_it(out_shape, exc, msg):
    with pytest.raises(exc, match=msg):
        swagfast.accumulate_patches(np.ones((1, 1, 2, 2), np.float32), np.zeros((1, 2), np.int64), out_shape)


def test_supervoxels_with_a_uniform_spacing_give_the_labels_of_spacing_one_on_every_backend():
    c = torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    ref = swagfast.supervoxels(c, 2, enforce_connectivity=False, backend="cpu")
    for backend in HOST:
        for s in (1e-3, 2e-3, 1.0, 7.0, 1e6):
            got = swagfast.supervoxels(c, 2, spacing=(s,) * 3, enforce_connectivity=False, backend=backend)
            assert torch.equal(got, ref), (backend, s)
    # a non-uniform spacing is the same answer as its ratios, and both backends agree on it
    a = swagfast.supervoxels(c, 8, spacing=(2e-3, 1e-3, 1e-3), backend="cpu")
    assert torch.equal(a, swagfast.supervoxels(c, 8, spacing=(2.0, 1.0, 1.0), backend="cpu"))
    if "numba" in HOST:
        assert torch.equal(a, swagfast.supervoxels(c, 8, spacing=(2e-3, 1e-3, 1e-3), backend="numba"))


def test_supervoxels_name_the_clip_and_object_arrays_are_a_type_error():
    with pytest.raises(ValueError, match="mode 'I' needs the colour clip; got clip=None"):
        swagfast.supervoxels(None, 4)
    with pytest.raises(ValueError, match="pass clip=None"):
        swagfast.supervoxels(np.zeros((2, 4, 4, 3), np.uint8), 4, mode="G", gradient=np.zeros((2, 4, 4)))
    with pytest.raises(TypeError, match="clip must hold float values in|clip must be uint8 or float"):
        swagfast.supervoxels(np.zeros((2, 4, 4, 3), np.int16), 4)
    with pytest.raises(TypeError, match="values must hold numbers .*, got dtype object"):
        swagfast.segment_pool(np.array([[1.0, None]], dtype=object), np.zeros((1, 2), np.int32))
    with pytest.raises(TypeError, match="labels must hold numbers .*, got dtype <U1"):
        swagfast.segment_pool(np.zeros((1, 2), np.float32), np.array([["a", "b"]]))


# -- explainers and models --------------------------------------------------------------------


class TrainNet(nn.Module):
    """A BatchNorm + Dropout classifier (the shape of model users leave in training mode)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x):
        x = self.drop(F.relu(self.bn(self.conv(x))))
        return self.fc(x.mean(dim=(2, 3)))


def test_two_threads_explaining_one_training_mode_model_take_turns_and_leave_it_unchanged():
    model = TrainNet().train()
    x = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    alone = attribution.guided(model, x)
    results, errors = [], []

    def work():
        try:
            for _ in range(10):
                results.append(attribution.guided(model, x))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 20
    for grad, target in results:  # each call as the single-threaded one: the same masks, targets
        torch.testing.assert_close(grad, alone[0], rtol=0, atol=0)
        assert torch.equal(target, alone[1])
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert model.training


class Tuple(nn.Module):
    def __init__(self, out) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.out = out

    def forward(self, x):
        y = self.conv(x).mean(dim=(2, 3))
        return self.out(y)


@pytest.mark.parametrize(
    ("out", "exc", "msg"),
    [
        (lambda y: (y, y), TypeError, "the model must return one .* tensor of logits, got a tuple"),
        (lambda y: {"logits": y}, TypeError, "got a dict"),
        (
            lambda y: y.sum(dim=1),
            ValueError,
            r"the model must return \(2, classes\) logits, got shape \(2,\)",
        ),
        (lambda y: y[:, :, None], ValueError, r"got shape \(2, 4, 1\)"),
        (lambda y: y[:1], ValueError, r"got shape \(1, 4\)"),
    ],
)
def test_a_model_output_that_is_not_logits_is_named(out, exc, msg):
    model = Tuple(out)
    x = torch.rand(2, 3, 6, 6)
    for call in (
        lambda: attribution.guided(model, x),
        lambda: GradCAM(model, "conv")(x),
        lambda: swagfast.SWAG(model, "G", 4)(x),
    ):
        with pytest.raises(exc, match=msg):
            call()


def test_a_wrong_channel_count_or_rank_names_x_and_the_models_own_errors_pass_through():
    model = Tuple(lambda y: y)
    with pytest.raises(ValueError, match=r"x must have 3 channels for this model .*'conv'.*, got 4"):
        attribution.guided(model, torch.rand(2, 4, 6, 6))
    with pytest.raises(ValueError, match=r"x must have 2 spatial axes for this model .*Conv2d"):
        attribution.vanilla(model, torch.rand(2, 3, 2, 6, 6))

    class Broken(Tuple):
        def forward(self, x):
            raise RuntimeError("the model's own bug")

    with pytest.raises(RuntimeError, match="the model's own bug"):
        attribution.guided(Broken(lambda y: y), torch.rand(2, 3, 6, 6))


class InplaceNet(nn.Module):
    """ReLUs in the statement form, whose result is thrown away: only the mutation counts. (Each
    after its own convolution: two in-place activations in a row on one tensor cannot be
    back-propagated by plain autograd either.)"""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.c1, self.c2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
        self.c3, self.c4 = nn.Conv2d(6, 6, 3, padding=1), nn.Conv2d(6, 6, 1)
        self.fc = nn.Linear(6, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.4)

    def forward(self, x):
        x = self.c1(x)
        x.relu_()
        x = self.c2(x)
        F.relu(x, inplace=True)
        x = self.c3(x)
        F.relu6(x, inplace=True)
        x = self.c4(x)
        F.leaky_relu_(x, 0.0)
        return self.fc(x.mean(dim=(2, 3)))


def guided_reference(model: InplaceNet, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Guided backprop written out: every ReLU-like step masks the gradient by its input > 0 (and
    < 6 for ReLU6) and keeps only its positive part."""

    class G(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v, hi):
            ctx.save_for_backward((v > 0) & (v < hi))
            return v.clamp(0, hi)

        @staticmethod
        def backward(ctx, g):
            (m,) = ctx.saved_tensors
            return g.clamp_min(0) * m, None

    xg = x.detach().requires_grad_(True)
    h = G.apply(model.c1(xg), float("inf"))
    h = G.apply(model.c2(h), float("inf"))
    h = G.apply(model.c3(h), 6.0)
    h = G.apply(model.c4(h), float("inf"))
    logits = model.fc(h.mean(dim=(2, 3)))
    (g,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), xg)
    return g


def test_guided_backprop_keeps_statement_form_inplace_relus():
    model = InplaceNet().eval()
    x = torch.rand(3, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model(x.clone())
    grad, t = attribution.guided(model, x)
    assert torch.equal(t, logits.argmax(1))
    torch.testing.assert_close(grad, guided_reference(model, x, t))
    assert not torch.allclose(grad, attribution.vanilla(model, x, t)[0])  # so the check can fail
    # the forward is the model's own: its logits come out unchanged beside the map
    xg = x.clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(xg)
        with attribution.guided_graph(out.sum(), model):
            torch.testing.assert_close(out, logits)


def test_pointing_game_counts_a_mask_exactly_tolerance_away_as_a_miss():
    heat = np.zeros((3, 40, 40), np.float32)
    heat[:, 20, 20] = 1.0
    masks = np.zeros((3, 40, 40), bool)
    masks[0, 20 + 9, 20 + 12] = True  # 9^2 + 12^2 = 15^2: TorchRay's rule, a miss
    masks[1, 20 + 10, 20 + 11] = True  # 221 < 225: a hit
    masks[2, 20, 20 + 15] = True  # exactly 15 away along a row: a miss
    pg = metrics.pointing_game(heat, masks)
    assert pg.hits.tolist() == [False, True, False]
    assert metrics.pointing_game(heat, masks, tolerance=16).hits.tolist() == [True, True, True]
    assert metrics.pointing_game(heat, masks, tolerance=0).hits.tolist() == [False, False, False]
    with pytest.raises(TypeError, match="tolerance must be an int"):
        metrics.pointing_game(heat, masks, tolerance=1.5)


def test_a_constant_cam_warns_naming_the_layer():
    class BeforeActivation(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 3)
            with torch.no_grad():  # the batch norm's output is negative everywhere
                self.bn.bias.fill_(-50.0)

        def forward(self, x):
            return self.fc(F.relu(self.bn(self.conv(x))).mean(dim=(2, 3)) + 1e-3)

    model = BeforeActivation().eval()
    x = torch.rand(2, 3, 8, 8)
    for cam in (GradCAM(model, "bn"), ScoreCAM(model, "bn")):
        with pytest.warns(UserWarning, match=r"item\(s\) 0, 1 is constant \(0 everywhere\).*layer 'bn'"):
            cam(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a heatmap that ranks something: no warning
        Explanation(torch.tensor([[0.0, 1.0], [2.0, 2.5]]), torch.zeros(2), "m").warn_if_constant("why")


def test_filter_stats_quantiles_must_be_a_sequence_and_are_stored_ascending():
    from swagfast.failure import FilterStats

    model = TrainNet().eval()
    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    data = [(x, torch.tensor([0, 1, 2, 0, 1, 2]))]
    for bad in (5, 99.9, "99"):
        with pytest.raises(TypeError, match="quantiles must be a sequence of percentages"):
            FilterStats.fit(model, "conv", data, num_classes=5, quantiles=bad, progress=False)
    s = FilterStats.fit(model, "conv", data, num_classes=5, quantiles=(99.9, 0.1, 99.9), progress=False)
    assert s.quantiles == (0.1, 99.9)
    assert np.all(s.percentile(0.1)[:3] <= s.percentile(99.9)[:3])
    np.testing.assert_array_equal(
        s.percentile(99.9)[0], np.percentile(s.class_scores(0)[1].astype(np.float64), 99.9, axis=0)
    )


class Deaf(nn.Module):
    """Its output does not depend on the input: every gradient is zero, every heatmap constant."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).mean(dim=(2, 3)) * 0.0)


def test_swag_warns_on_a_constant_heatmap():
    model = Deaf().eval()
    x = torch.rand(2, 3, 16, 16)
    for variant in ("G", "I", "I+G"):
        with pytest.warns(
            UserWarning, match=rf"SWAG_{re.escape(variant)}.*item\(s\) 0, 1 is constant \(0 everywhere\)"
        ):
            swagfast.SWAG(model, variant, 8)(x)


@pytest.mark.cuda
def test_on_cuda_a_constant_heatmap_is_reported_when_the_explanation_reaches_the_host():
    model = Deaf().cuda().eval()
    x = torch.rand(2, 3, 16, 16, device="cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the call itself neither waits nor warns
        exp = GradCAM(model, "conv")(x)
    with pytest.warns(UserWarning, match=r"Grad-CAM: the heatmap of item\(s\) 0, 1 is constant"):
        exp.numpy()
