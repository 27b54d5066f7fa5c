"""ROAD (Rong et al., "A consistent and efficient evaluation strategy for attribution methods"):
remove the pixels a heatmap ranks first (MoRF) or last (LeRF) and fill them by noisy linear
imputation, so the model sees no tell-tale shape of the removed region and needs no retraining
(what ROAR needs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch
from torch import nn

from swagfast import attribution as attr
from swagfast._validate import check_choice, check_model, check_number, check_seed
from swagfast.metrics._checks import check_heatmaps, descending_order, heatmaps_of

# the 8 neighbours and their weights (edges 1/6, corners 1/12), as the paper's imputer
NEIGHBOURS = (
    ((0, 1), 1 / 6), ((0, -1), 1 / 6), ((1, 0), 1 / 6), ((-1, 0), 1 / 6),
    ((1, 1), 1 / 12), ((1, -1), 1 / 12), ((-1, 1), 1 / 12), ((-1, -1), 1 / 12),
)  # fmt: skip


def linear_imputation(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """``image`` (C, H, W) with the ``removed`` (H, W) pixels replaced by the solution of
    ``x_i = sum_j w_ij x_j / sum_j w_ij`` over each removed pixel's neighbours inside the image
    (known neighbours fixed, removed ones solved jointly; one sparse system, every channel a
    right-hand side). Known pixels are returned as they are."""
    C, H, W = image.shape
    idx = -np.ones((H, W), np.int64)
    ys, xs = np.nonzero(removed)
    n = len(ys)
    if n == 0:
        return image.copy()
    idx[ys, xs] = np.arange(n)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], []
    diag = np.zeros(n)
    rhs = np.zeros((n, C))
    for (dy, dx), w in NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < H) & (nx >= 0) & (nx < W)
        diag[inside] += w
        k = np.nonzero(inside)[0]
        other = idx[ny[k], nx[k]]
        unknown = other >= 0
        rows.append(k[unknown])
        cols.append(other[unknown])
        vals.append(-w * np.ones(unknown.sum()))
        known = k[~unknown]
        rhs[known] += w * image[:, ny[known], nx[known]].T
    A = scipy.sparse.csr_matrix(
        (np.concatenate([diag, *vals]), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    solved = scipy.sparse.linalg.spsolve(A.tocsc(), rhs)
    out = image.astype(np.float64).copy()
    out[:, ys, xs] = np.asarray(solved).reshape(n, C).T
    return out


@dataclass
class RoadCurve:
    """``percent`` (P,) removed; ``probs`` (P, B): the softmax of each item's class (its top-1
    on the intact input) after removing that share; ``correct`` (P, B): whether it is still the
    top-1. ``order`` is "morf" or "lerf"."""

    order: str
    percent: np.ndarray
    probs: np.ndarray
    correct: np.ndarray

    @property
    def accuracy(self) -> np.ndarray:
        """(P,) the share of items still classified as before."""
        return self.correct.mean(axis=1)


def road(
    model: nn.Module,
    x: torch.Tensor,
    heatmap,
    *,
    order: str = "morf",
    percent=(10, 20, 30, 40, 50, 60, 70, 80, 90),
    noise: float = 0.01,
    seed: int = 0,
) -> RoadCurve:
    """ROAD: for each share in ``percent``, the pixels of each image that ``heatmap`` ranks
    highest (``order="morf"``, most relevant first: a good map makes the class drop fast) or
    lowest (``"lerf"``: a good map keeps it) are removed from every channel and imputed by
    :func:`linear_imputation`, plus Gaussian noise of standard deviation ``noise`` on the
    imputed values (seeded); the model then classifies the result. Ties in the ranking go by
    pixel index. The imputation solves a sparse system per image and share on the host.

    ``x`` (B, C, H, W) is the normalised input; ``heatmap`` (B, H, W) or an Explanation."""
    check_model(model)
    attr.check_images(x, "ROAD")
    check_choice(order, "order", ("morf", "lerf"))
    check_number(noise, "noise", low=0)
    check_seed(seed)
    heat = torch.as_tensor(heatmaps_of(heatmap))
    if tuple(heat.shape) != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"heatmap must be (B, H, W) = {(x.shape[0], *x.shape[2:])}, got {tuple(heat.shape)}")
    check_heatmaps(heat, "heatmap")
    shares = np.asarray(percent, dtype=np.float64)
    if shares.ndim != 1 or not len(shares) or ((shares <= 0) | (shares >= 100)).any():
        raise ValueError(f"percent must be shares strictly between 0 and 100, got {percent!r}")
    B, C, H, W = x.shape
    ranking = descending_order(heat.reshape(B, -1).cpu().double())
    if order == "lerf":
        ranking = ranking.flip(1)
    rng = np.random.default_rng(seed)
    images = x.detach().cpu().double().numpy()
    with torch.no_grad():
        t = attr.resolve_target(attr.forward(model, x), None)
    probs, correct = [], []
    for share in shares:
        k = int(round(share / 100 * H * W))
        batch = []
        for b in range(B):
            removed = np.zeros(H * W, bool)
            removed[ranking[b, :k].numpy()] = True
            removed = removed.reshape(H, W)
            filled = linear_imputation(images[b], removed)
            filled[:, removed] += noise * rng.standard_normal((C, int(removed.sum())))
            batch.append(filled)
        xb = torch.from_numpy(np.stack(batch)).to(x.device, x.dtype)
        with torch.no_grad():
            p = model(xb).softmax(1)
        probs.append(p.gather(1, t[:, None])[:, 0].float().cpu().numpy())
        correct.append((p.argmax(1) == t).cpu().numpy())
    return RoadCurve(order, shares, np.stack(probs), np.stack(correct))
