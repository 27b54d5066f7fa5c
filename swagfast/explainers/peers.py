"""Adapters to peer libraries' explainers, returning swagfast's Explanation (no copies of them)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from swagfast import attribution as attr
from swagfast._validate import check_int, check_model, check_normalisation, check_score, check_seed
from swagfast.attribution.layers import keeps_model
from swagfast.explainers._compat import PeerSpellings, peer_arguments
from swagfast.explainers.explanation import Explanation


class XRAI(PeerSpellings):
    """XRAI (Kapishnikov et al.) through the PAIR ``saliency`` package (``saliency.core.XRAI``).

    The package drives the model through a callback that returns input gradients; the image is
    handed to it channel-last in the model's normalised space, so its default black and white
    baselines are the minimum and maximum of the normalised input. ``batch_size`` inputs go
    through the model per callback.
    """

    name = "XRAI"

    def __init__(self, model: nn.Module, *, batch_size: int = 16, steps: int | None = None) -> None:
        check_model(model)
        batch_size = check_int(batch_size, "batch_size")
        steps = None if steps is None else check_int(steps, "steps")
        self.model, self.batch_size, self.steps = model, batch_size, steps

    @keeps_model
    @peer_arguments
    def __call__(self, x: torch.Tensor, target=None) -> Explanation:
        import saliency.core as saliency

        attr.check_input(x)
        if x.ndim != 4 or x.shape[0] == 0:
            raise ValueError(f"XRAI explains a non-empty batch of images (B, C, H, W), got {tuple(x.shape)}")
        t0 = time.perf_counter()
        with torch.no_grad():
            t = attr.resolve_target(attr.forward(self.model, x), target)
        device = x.device

        def call_model(batch, call_model_args=None, expected_keys=None):
            xb = (
                torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).permute(0, 3, 1, 2).to(device)
            )
            xb.requires_grad_(True)
            with torch.enable_grad():
                out = self.model(xb)[:, call_model_args["class"]].sum()
                (g,) = torch.autograd.grad(out, xb)
            return {saliency.base.INPUT_OUTPUT_GRADIENTS: g.permute(0, 2, 3, 1).cpu().numpy()}

        xrai = saliency.XRAI()
        params = saliency.XRAIParameters()
        if self.steps is not None:
            params.steps = self.steps
        maps = []
        for b in range(x.shape[0]):
            img = x[b].detach().permute(1, 2, 0).cpu().numpy()
            maps.append(
                xrai.GetMask(
                    img,
                    call_model,
                    call_model_args={"class": int(t[b])},
                    batch_size=self.batch_size,
                    extra_parameters=params,
                )
            )
        heat = torch.from_numpy(np.stack(maps).astype(np.float32)).to(device)
        return Explanation(
            heatmap=heat, target=t, method=self.name, timings={"total": time.perf_counter() - t0}
        ).warn_if_constant("the attribution is zero or uniform on these inputs")


def lime_heatmap(exp, label: int) -> np.ndarray:
    """(H, W) float32 map of a ``lime`` ImageExplanation: each superpixel's weight for ``label``
    (0 for superpixels LIME did not weigh)."""
    weights = dict(exp.local_exp[label])
    lut = np.array([weights.get(s, 0.0) for s in range(int(exp.segments.max()) + 1)], np.float32)
    return lut[exp.segments]


class LIME(PeerSpellings):
    """LIME (Ribeiro et al.) through the ``lime`` package (``lime_image.LimeImageExplainer``).

    Each image is handed to ``lime`` as RGB in [0, 1] (``x`` un-normalised with ``mean`` /
    ``std``); ``lime`` perturbs its superpixels (quickshift by default, or ``segmentation_fn``,
    e.g. :func:`swagfast.lime_segmenter`) and the model scores ``num_samples`` perturbed copies,
    ``batch_size`` at a time, on ``x``'s device. The heatmap is each superpixel's weight for the
    class (``score``: ``"softmax"`` as LIME's paper, or ``"logit"`` for models whose softmax
    saturates). Seeded by ``seed``.
    """

    name = "LIME"

    def __init__(
        self,
        model: nn.Module,
        *,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        num_samples: int = 1000,
        batch_size: int = 10,
        segmentation_fn=None,
        score: str = "softmax",
        seed: int = 0,
    ) -> None:
        check_model(model)
        num_samples, batch_size = check_int(num_samples, "num_samples"), check_int(batch_size, "batch_size")
        check_normalisation(mean, std)
        check_seed(seed)
        check_score(score)
        self.model, self.num_samples, self.batch_size = model, num_samples, batch_size
        self.segmentation_fn, self.score, self.seed = segmentation_fn, score, seed
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    @keeps_model
    @peer_arguments
    def __call__(self, x: torch.Tensor, target=None) -> Explanation:
        import warnings

        from lime import lime_image

        attr.check_input(x)
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[0] == 0:
            raise ValueError(
                f"LIME explains a non-empty batch of RGB images (B, 3, H, W), got {tuple(x.shape)}"
            )
        t0 = time.perf_counter()
        device = x.device
        mean, std = self.mean.to(device), self.std.to(device)
        with torch.no_grad():
            t = attr.resolve_target(attr.forward(self.model, x), target)
        rgb = (x.detach() * std + mean).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)

        def classifier(batch: np.ndarray) -> np.ndarray:
            xb = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(device)
            with torch.no_grad():
                out = self.model((xb.permute(0, 3, 1, 2) - mean) / std)
            return (out.softmax(1) if self.score == "softmax" else out).cpu().numpy()

        kw = {} if self.segmentation_fn is None else {"segmentation_fn": self.segmentation_fn}
        maps = []
        for b in range(x.shape[0]):
            label = int(t[b])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # lime's own deprecation chatter
                exp = lime_image.LimeImageExplainer(random_state=self.seed).explain_instance(
                    rgb[b],
                    classifier,
                    labels=(label,),
                    top_labels=None,
                    num_samples=self.num_samples,
                    batch_size=self.batch_size,
                    random_seed=self.seed,
                    **kw,
                )
            maps.append(lime_heatmap(exp, label))
        heat = torch.from_numpy(np.stack(maps)).to(device)
        return Explanation(
            heatmap=heat, target=t, method=self.name, timings={"total": time.perf_counter() - t0}
        ).warn_if_constant("no superpixel changed the class's score")
