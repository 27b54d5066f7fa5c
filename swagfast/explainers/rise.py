"""RISE (Petsiuk et al.), the randomised-input baseline of the thesis's tables, batched on device."""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from swagfast import attribution as attr
from swagfast._backend import resolve_batch_size
from swagfast._validate import check_batch_size, check_int, check_model, check_number, check_score, check_seed
from swagfast.attribution.layers import keeps_model
from swagfast.explainers._compat import PeerSpellings, peer_arguments
from swagfast.explainers.explanation import Explanation


class RISE(PeerSpellings):
    """RISE: ``S_c = sum_i f_c(x * M_i) M_i / (N p)`` over N random masks.

    Each mask is an ``s x s`` grid of cells kept with probability ``p``, upsampled bilinearly to
    ``(s + 1)`` cells of ``ceil(H / s)`` pixels and cropped at a random shift, as in the paper.
    The random draws are made on the input's device from a generator seeded with ``seed`` (the
    same masks for every call, item and batch size); the masks themselves are built chunk by
    chunk, so memory is bounded by ``batch_size``.

    Parameters
    ----------
    model : nn.Module
    n_masks : int, default 4000 (the thesis uses 4000 and 8000)
    s : int, default 8
    p : float, default 0.5
    batch_size : int, optional
        Masked inputs per forward pass (default 64 on a GPU, 8 on the CPU).
    seed : int, default 0
    score : {"softmax", "logit"}, default "softmax" (as the paper)
    """

    name = "RISE"
    progress = None
    """Called as ``progress(done, total)`` with the masked forward passes done so far and in all,
    after each batch of them; None: nothing."""

    def __init__(
        self,
        model: nn.Module,
        n_masks: int = 4000,
        *,
        s: int = 8,
        p: float = 0.5,
        batch_size: int | None = None,
        seed: int = 0,
        score: str = "softmax",
    ) -> None:
        check_model(model)
        check_int(n_masks, "n_masks")
        check_int(s, "s")
        check_number(p, "p", low=0, high=1, low_open=True, high_open=True)
        check_seed(seed)
        check_score(score)
        check_batch_size(batch_size)
        self.model, self.n_masks, self.s, self.p = model, n_masks, s, p
        self.batch_size, self.seed, self.score = batch_size, seed, score

    def draws(self, size: tuple[int, int], device: torch.device):
        """All random choices up front (grids (N, 1, s, s) and shifts (N,), (N,)), so the masks do
        not depend on ``batch_size``; drawn on ``device`` from a generator seeded with ``seed``."""
        H, W = size
        g = torch.Generator(device=device).manual_seed(self.seed)
        grid = (torch.rand((self.n_masks, 1, self.s, self.s), generator=g, device=device) < self.p).float()
        dy = torch.randint(0, math.ceil(H / self.s), (self.n_masks,), generator=g, device=device)
        dx = torch.randint(0, math.ceil(W / self.s), (self.n_masks,), generator=g, device=device)
        return grid, dy, dx

    def masks(
        self, size: tuple[int, int], grid: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor
    ) -> torch.Tensor:
        """Masks (n, H, W) in [0, 1] from ``n`` draws: upsampled grids cropped at the shifts."""
        H, W = size
        n, device = len(grid), grid.device
        ch, cw = math.ceil(H / self.s), math.ceil(W / self.s)
        up = F.interpolate(
            grid, size=((self.s + 1) * ch, (self.s + 1) * cw), mode="bilinear", align_corners=False
        )
        rows = (dy.view(-1, 1) + torch.arange(H, device=device)).view(n, 1, H, 1).expand(n, 1, H, W)
        cols = (dx.view(-1, 1) + torch.arange(W, device=device)).view(n, 1, 1, W).expand(n, 1, H, W)
        idx = (rows * up.shape[-1] + cols).flatten(2)
        return up.flatten(2).gather(2, idx).view(n, H, W)

    @peer_arguments
    @keeps_model
    def __call__(self, x: torch.Tensor, target=None) -> Explanation:
        attr.check_images(x, "RISE")
        t0 = time.perf_counter()
        B, _, H, W = x.shape
        bs = resolve_batch_size(self.batch_size, x.device)
        with torch.no_grad():
            t = attr.resolve_target(attr.forward(self.model, x), target)
            sal = torch.zeros((B, H, W), device=x.device)
            grid, dy, dx = self.draws((H, W), x.device)
            for i in range(0, self.n_masks, bs):
                m = self.masks((H, W), grid[i : i + bs], dy[i : i + bs], dx[i : i + bs])
                for b in range(B):
                    out = self.model(x[b : b + 1] * m.unsqueeze(1))
                    out = out.softmax(1) if self.score == "softmax" else out
                    sal[b] += torch.einsum("n,nhw->hw", out[:, t[b]].float(), m)
                    if self.progress is not None:
                        self.progress(i * B + (b + 1) * len(m), self.n_masks * B)
            sal /= self.n_masks * self.p
        return Explanation(
            heatmap=sal,
            target=t,
            method=f"RISE(N={self.n_masks})",
            timings={"total": time.perf_counter() - t0},
        ).warn_if_constant("every mask gave the class the same score")
