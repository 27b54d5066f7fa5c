"""Adapters to peer libraries' explainers, returning swagfast's Explanation (no copies of them)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from swagfast import attribution as attr
from swagfast.explainers.explanation import Explanation


class XRAI:
    """XRAI (Kapishnikov et al.) through the PAIR ``saliency`` package (``saliency.core.XRAI``).

    The package drives the model through a callback that returns input gradients; the image is
    handed to it channel-last in the model's normalised space, so its default black and white
    baselines are the minimum and maximum of the normalised input. ``batch_size`` inputs go
    through the model per callback.
    """

    name = "XRAI"

    def __init__(self, model: nn.Module, *, batch_size: int = 16, steps: int | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model, self.batch_size, self.steps = model, batch_size, steps

    def __call__(self, x: torch.Tensor, target=None) -> Explanation:
        import saliency.core as saliency

        attr.check_input(x)
        if x.ndim != 4:
            raise ValueError(f"XRAI explains images (B, C, H, W), got {tuple(x.shape)}")
        t0 = time.perf_counter()
        with torch.no_grad():
            t = attr.resolve_target(self.model(x), target)
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
        )
