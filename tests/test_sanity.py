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


def net():
    with torch.random.fork_rng():
        torch.manual_seed(21)
        return nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4),
        ).double().eval()  # fmt: skip


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
            for p in dict(work.named_modules())[name].parameters(recurse=False):
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
