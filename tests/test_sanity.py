"""The sanity and robustness metrics: the randomisation test, infidelity and max-sensitivity,
against formulas written here and against Captum's implementations with the same noise."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from swagfast import GradCAM, attribution
from swagfast.metrics import infidelity, max_sensitivity, randomisation_test, rank_correlation
from swagfast.testing import two_conv_net


def net():
    return two_conv_net(21, dtype=torch.float64)


X = torch.randn(3, 3, 10, 10, generator=torch.Generator().manual_seed(22), dtype=torch.float64)


def gradient(model, x, t):
    return attribution.attribute(model, x, "vanilla", t)[0]


def test_rank_correlation_is_spearmans():
    a = torch.randn(2, 5, 5, generator=torch.Generator().manual_seed(1))
    b = a + 0.5 * torch.randn(2, 5, 5, generator=torch.Generator().manual_seed(2))
    b[1] = b[1].clamp_min(0)  # ties share their mean rank
    ref = [spearmanr(u.flatten(), v.flatten()).statistic for u, v in zip(a.numpy(), b.numpy(), strict=True)]
    np.testing.assert_allclose(rank_correlation(a, b), ref)
    assert np.isnan(rank_correlation(a, torch.zeros(2, 5, 5))).all()


@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_randomisation_test_by_hand_and_the_model_left_alone(mode):
    model = net()
    before = copy.deepcopy(model.state_dict())
    res = randomisation_test(model, gradient, X, mode=mode, seed=3)
    assert res.layers == ["6", "2", "0"] and res.correlation.shape == (3, 3)
    for k, v in before.items():
        assert torch.equal(model.state_dict()[k], v), k
    # by hand: the same redraws, in the same order, from the same generator
    t = model(X).argmax(1)
    original = gradient(model, X, t)
    gen, work = torch.Generator().manual_seed(3), copy.deepcopy(model)
    for i, name in enumerate(["6", "2", "0"]):
        if mode == "independent":
            work = copy.deepcopy(model)
        with torch.no_grad():
            for p in dict(work.named_modules())[name].parameters():
                std = float(p.std()) if p.numel() > 1 else 1.0
                p.copy_(float(p.mean()) + std * torch.randn(p.shape, generator=gen).double())
        np.testing.assert_allclose(res.correlation[i], rank_correlation(original, gradient(work, X, t)))
    # the gradient depends on the weights: randomising the last layer changes the map
    assert res.mean[0] < 0.9
    # a method that ignores the model passes no sanity check: correlation 1 everywhere
    edges = randomisation_test(model, lambda m, x, t: attribution.sobel_map(x), X, mode=mode)
    np.testing.assert_allclose(edges.mean, 1.0)
    with pytest.raises(ValueError, match="layers must name modules of the model; 'nope'"):
        randomisation_test(model, gradient, X, layers=["nope"])


def _captum_noise(noise):
    """Captum expands each item n times in a row (repeat_interleave): our (n, B, ...) noise in
    that order."""
    return noise.transpose(0, 1).reshape(-1, *noise.shape[2:])


@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_equals_captums(normalize):
    from captum.metrics import infidelity as captum_infidelity

    model = net()
    a = attribution.vanilla(model, X, 1)[0]
    got = infidelity(model, X, a, 1, n_samples=6, noise_std=0.05, normalize=normalize, seed=4)
    gen = torch.Generator().manual_seed(4)
    noise = 0.05 * torch.randn((6, *X.shape), generator=gen, dtype=X.dtype)

    def perturb(inputs):
        p = _captum_noise(noise)
        return p, inputs - p

    ref = captum_infidelity(model, perturb, X, a, target=1, n_perturb_samples=6, normalize=normalize)
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-12)
    # a heatmap is given to every channel
    heat = a.abs().amax(1)
    torch.testing.assert_close(
        infidelity(model, X, heat, 1, n_samples=3, seed=4),
        infidelity(model, X, heat[:, None].expand_as(X), 1, n_samples=3, seed=4),
    )


def test_max_sensitivity_equals_captums():
    from captum.metrics import sensitivity_max

    model = net()
    cam = GradCAM(model, "2")

    def explain(m, x, t):
        return cam(x, t).heatmap

    got = max_sensitivity(explain, model, X, 2, radius=0.1, n_samples=5, seed=5)
    gen = torch.Generator().manual_seed(5)
    noise = torch.stack([(torch.rand(X.shape, generator=gen, dtype=X.dtype) * 2 - 1) * 0.1 for _ in range(5)])

    def perturb(inputs, radius):
        return inputs + _captum_noise(noise)

    def captum_explain(x, target):  # Captum hands over a tuple of inputs and wants one back
        return (cam(x[0] if isinstance(x, tuple) else x, target).heatmap,)

    ref = sensitivity_max(captum_explain, X, perturb_func=perturb, n_perturb_samples=5, target=2)
    torch.testing.assert_close(got, ref.double(), rtol=1e-6, atol=1e-12)


def test_linear_imputation_solves_the_neighbour_equations():
    from swagfast.metrics import linear_imputation

    rng = np.random.default_rng(0)
    img = rng.random((2, 7, 6))
    removed = rng.random((7, 6)) < 0.4
    got = linear_imputation(img, removed)
    np.testing.assert_array_equal(got[:, ~removed], img[:, ~removed])  # known pixels kept
    # every imputed pixel is the weighted mean of its neighbours inside the image (edges 1/6,
    # corners 1/12), written out here pixel by pixel
    for y, x in zip(*np.nonzero(removed), strict=True):
        total, weight = np.zeros(2), 0.0
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if (dy, dx) != (0, 0) and 0 <= y + dy < 7 and 0 <= x + dx < 6:
                    w = 1 / 12 if dy and dx else 1 / 6
                    total += w * got[:, y + dy, x + dx]
                    weight += w
        np.testing.assert_allclose(got[:, y, x], total / weight, rtol=1e-10)
    flat = np.full((1, 5, 5), 0.25)
    np.testing.assert_allclose(linear_imputation(flat, rng.random((5, 5)) < 0.5), flat)


def test_road_morf_and_lerf_on_a_model_that_looks_at_one_patch():
    from swagfast.metrics import road

    class Patch(nn.Module):  # class 1 when the top-left patch is bright
        def forward(self, x):
            s = x[:, :, :4, :4].mean(dim=(1, 2, 3))
            return torch.stack([torch.zeros_like(s), 20 * (s - 0.5)], 1)

    x = torch.zeros(2, 3, 12, 12)
    x[:, :, :4, :4] = 1.0
    heat = torch.zeros(2, 12, 12)
    heat[:, :4, :4] = 1.0  # the right explanation
    morf = road(Patch(), x, heat, order="morf", percent=(5, 12), noise=0.0)
    lerf = road(Patch(), x, heat, order="lerf", percent=(5, 12, 50), noise=0.0)
    assert morf.accuracy.tolist() == [1.0, 0.0]  # 5% (7 px) of the 16 leaves the class; all 16 kill it
    assert (lerf.accuracy == 1).all() and (lerf.probs > 0.99).all()  # the background does not matter
    again = road(Patch(), x, heat, order="morf", percent=(5, 12), noise=0.1, seed=1)
    np.testing.assert_array_equal(
        again.probs, road(Patch(), x, heat, order="morf", percent=(5, 12), noise=0.1, seed=1).probs
    )
    with pytest.raises(ValueError, match="percent must be shares strictly between 0 and 100"):
        road(Patch(), x, heat, percent=(0, 50))
