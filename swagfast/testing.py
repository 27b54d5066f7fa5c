"""Small, obviously-right numpy references that the tests compare every backend with."""

from __future__ import annotations

import numpy as np
import torch


def segment_pool_reference(
    values: np.ndarray, labels: np.ndarray, reduce: str, n_segments: int
) -> np.ndarray:
    """Per-segment reduction of ``values`` (B, ...) by ``labels`` (B, ...), in float64.

    Empty segments give 0 (argmax: -1); NaNs propagate (numpy's min/max/mean do); argmax is
    the flat index within the item of the first maximum (numpy's argmax: the first NaN if any).
    """
    values = np.asarray(values, dtype=np.float64)
    B = values.shape[0]
    out = np.zeros((B, n_segments))
    ops = {
        "mean": np.mean,
        "sum": np.sum,
        "min": np.min,
        "max": np.max,
        "l1": lambda x: np.sum(np.abs(x)),
        "l2": lambda x: np.sqrt(np.sum(x * x)),
        "var": np.var,
        "std": np.std,
    }
    if reduce == "argmax":
        out[:] = -1
        for b in range(B):
            flat_v, flat_l = values[b].ravel(), labels[b].ravel()
            for s in range(n_segments):
                where = np.flatnonzero(flat_l == s)
                if where.size:
                    out[b, s] = where[np.argmax(flat_v[where])]
        return out
    op = ops[reduce]
    for b in range(B):
        for s in range(n_segments):
            members = values[b][labels[b] == s]
            if members.size:
                out[b, s] = op(members)
    return out


# ---- helpers shared by the tests -------------------------------------------------------------


def cam_reference(A: np.ndarray, G: np.ndarray, kind: str, weights: np.ndarray | None = None) -> np.ndarray:
    """The CAM of activations ``A`` and class-score gradients ``G`` ((B, K, h, w), float64),
    written from the papers' formulas for the test suite, before any resizing:

    * ``"hirescam"``: ``ReLU(sum_k G_k A_k)``; ``"elementwise"``: ``sum_k ReLU(G_k A_k)``;
      ``"layercam"``: ``ReLU(sum_k ReLU(G_k) A_k)``;
    * ``"eigen-cam"`` / ``"eigen-grad-cam"``: ``ReLU`` of the projection of ``A`` (``G A``), as
      (positions, K), on its first right singular vector, signed to sum to >= 0;
    * ``"eigen-smooth"``: the same projection of ``weights_k A_k`` (a weighted CAM's channels).
    """
    A, G = np.asarray(A, np.float64), np.asarray(G, np.float64)
    if kind == "hirescam":
        return np.maximum((G * A).sum(1), 0)
    if kind == "elementwise":
        return np.maximum(G * A, 0).sum(1)
    if kind == "layercam":
        return np.maximum((np.maximum(G, 0) * A).sum(1), 0)
    M = {"eigen-cam": A, "eigen-grad-cam": G * A}.get(kind)
    if M is None:
        M = np.asarray(weights, np.float64)[:, :, None, None] * A
    out = []
    for m in M:
        flat = m.reshape(m.shape[0], -1).T
        _, _, vt = np.linalg.svd(flat, full_matrices=False)
        p = flat @ vt[0]
        out.append(np.maximum(p if p.sum() >= 0 else -p, 0).reshape(m.shape[1:]))
    return np.stack(out)


def two_conv_net(
    seed: int, width: int = 6, classes: int = 4, pool: int = 1, dtype: torch.dtype = torch.float32
) -> torch.nn.Module:
    """A small eval-mode ReLU CNN for the tests: conv(3 -> 6) ReLU, conv(6 -> width) ReLU (modules
    "0" to "3"), adaptive average pool to ``pool`` x ``pool``, a linear classifier; its weights
    from ``seed`` without moving the process's random streams."""
    from torch import nn

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Linear(width * pool * pool, classes),
        )  # fmt: skip
    return net.to(dtype).eval()


def to_backend(a: np.ndarray, backend: str):
    """numpy for host backends (also exercising the numpy path), a CUDA tensor for cuda."""
    if backend == "cuda":
        return torch.from_numpy(np.ascontiguousarray(a)).to("cuda")
    return a


def to_numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def explained_variation(features: np.ndarray, labels: np.ndarray) -> float:
    """sum_S |S| (mean_S - mean)^2 / sum (x - mean)^2 over all channels of (..., C) ``features``."""
    x = features.reshape(-1, features.shape[-1]).astype(np.float64)
    lab = labels.ravel()
    mu = x.mean(axis=0)
    n = np.bincount(lab)
    means = (
        np.stack([np.bincount(lab, weights=x[:, c]) for c in range(x.shape[1])], 1)
        / np.maximum(n, 1)[:, None]
    )
    return float((n[:, None] * (means - mu) ** 2).sum() / ((x - mu) ** 2).sum())


def connected_segment_count(labels: np.ndarray) -> int:
    """Number of 4-connected (2-D) / 6-connected (3-D) components of equal labels."""
    from skimage.measure import label

    return int(label(labels, connectivity=1, background=-1).max())


def photo_clip(frames: int = 16, size: int = 112) -> np.ndarray:
    """(frames, size, size, 3) uint8 clip: a window panning across scikit-image's chelsea photo."""
    import cv2
    import skimage.data

    img = skimage.data.chelsea()
    h = img.shape[0]
    out = []
    for t in range(frames):
        crop = img[:, 4 * t : 4 * t + h]
        out.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(out)


# -- a model with a planted failure (thesis chapter 6 tests) -----------------------------------

PLANTED_HEAD = ((1.0, 0.1, 0.5), (0.0, 1.0, 8.0))


def unconnected_labels(kind: str, rng: np.random.Generator, small: bool = False) -> tuple[np.ndarray, int]:
    """Labels before connectivity, as the relabel kernels take them: a contiguous [B, Z, Y, X]
    int32 array and the number of centres to relabel it with. ``kind``: "image" (SLIC rounds on
    chelsea and coffee, renumbered but not connected), "clip" (the same on a panning clip),
    "noise" and "noise3d" (many tiny components, long merge chains). ``small``: sizes the CUDA
    emulation runs quickly (48 pixels a side, a 6x24x24 clip)."""
    from swagfast import slic, supervoxels
    from swagfast.data import center_crop_resize, sample_images

    if kind == "image":
        side, K = (48, 40) if small else (224, 300)
        img = np.stack([center_crop_resize(sample_images()[n], side) for n in ("chelsea", "coffee")])
        return np.ascontiguousarray(slic(img, K, enforce_connectivity=False)[:, None]), K
    if kind == "clip":
        (frames, side), K = ((6, 24), 12) if small else ((8, 64), 60)
        return np.ascontiguousarray(
            supervoxels(photo_clip(frames, side), K, enforce_connectivity=False)[None]
        ), K
    if kind == "noise":
        return rng.integers(0, 3, size=(3, 1, 37, 41)).astype(np.int32), 40
    if kind == "noise3d":
        return rng.integers(0, 2, size=(2, 5, 19, 23)).astype(np.int32), 40
    raise ValueError(f"kind must be one of 'image', 'clip', 'noise', 'noise3d'; got {kind!r}")


def planted_pattern_model() -> torch.nn.Module:
    """A hand-set CNN whose filter 2 detects a blue patch that pushes class 0 images to class 1.

    ``block`` (the layer to analyse): 1x1 conv with identity weights and bias -0.5, then ReLU, so
    filter n fires (value x_n - 0.5) where colour channel n exceeds 0.5. Head: global average
    pool, then logits ``W @ mean(A)`` with ``W`` = :data:`PLANTED_HEAD` (class 0 = red disc, class
    1 = green disc; the blue filter counts 8x for class 1 and 0.5x for class 0).
    """
    from torch import nn

    class Planted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            conv = nn.Conv2d(3, 3, 1)
            with torch.no_grad():
                conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
                conv.bias.fill_(-0.5)
            self.block = nn.Sequential(conv, nn.ReLU())
            self.head = nn.Linear(3, 2, bias=False)
            with torch.no_grad():
                self.head.weight.copy_(torch.tensor(PLANTED_HEAD))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.block(x).mean(dim=(2, 3)))

    return Planted().eval()


def planted_pattern_images(
    labels, *, seed: int = 0, radius=None, patch: bool = False, green_noise: bool = True, size: int = 32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images for :func:`planted_pattern_model`: noise background (green noise reaches 0.55 when
    ``green_noise``, so filter 1 fires a little everywhere), a red (class 0) or green (class 1)
    disc of ``radius`` (default drawn from 4..9) left of centre, and with ``patch`` an 8x8 blue
    square in the right-hand quarter.

    Returns (x (N, 3, size, size), labels (N,), patch masks (N, size, size)).
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    x = rng.uniform(0.0, 0.3, size=(n, 3, size, size))
    if green_noise:
        x[:, 1] = rng.uniform(0.0, 0.55, size=(n, size, size))
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((n, size, size), dtype=bool)
    for i, c in enumerate(labels):
        r = int(rng.integers(4, 10)) if radius is None else int(radius)
        cy, cx = int(rng.integers(10, 23)), int(rng.integers(10, 15))
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        x[i, :, disc] = (1.0, 0.2, 0.2) if c == 0 else (0.2, 1.0, 0.2)
        if patch:
            py, px = int(rng.integers(0, size - 8)), int(rng.integers(size - 8 - 2, size - 8 + 1))
            masks[i, py : py + 8, px : px + 8] = True
            x[i, :, masks[i]] = (0.1, 0.1, 1.0)
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels), torch.from_numpy(masks)


# -- torchvision's R(2+1)D-18 layer structure, for machines without torchvision -----------------


def r2plus1d_18_replica(classes: int = 400) -> torch.nn.Module:
    """A randomly initialised network with exactly the layers, widths and residual structure of
    ``torchvision.models.video.r2plus1d_18`` (in-place ReLUs, batch norms, (2+1)D factorised
    convolutions, ``layer4`` last), built without torchvision (which cannot be installed beside
    the CPU torch build here). For tests and timing."""
    from torch import nn

    class _Conv2Plus1D(nn.Sequential):
        def __init__(self, cin: int, cout: int, mid: int, stride: int = 1) -> None:
            super().__init__(
                nn.Conv3d(cin, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
                nn.BatchNorm3d(mid),
                nn.ReLU(inplace=True),
                nn.Conv3d(mid, cout, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False),
            )

    class _Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            mid = (cin * cout * 27) // (cin * 9 + 3 * cout)
            self.conv1 = nn.Sequential(
                _Conv2Plus1D(cin, cout, mid, stride), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)
            )
            self.conv2 = nn.Sequential(_Conv2Plus1D(cout, cout, mid), nn.BatchNorm3d(cout))
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout)
                )

        def forward(self, x):
            res = x if self.downsample is None else self.downsample(x)
            return self.relu(self.conv2(self.conv1(x)) + res)

    class _R2Plus1D18(nn.Module):
        """torchvision's ``r2plus1d_18`` architecture (same layers and widths), for machines without
        torchvision."""

        def __init__(self, classes: int = 400) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
                nn.BatchNorm3d(45),
                nn.ReLU(inplace=True),
                nn.Conv3d(45, 64, (3, 1, 1), 1, (1, 0, 0), bias=False),
                nn.BatchNorm3d(64),
                nn.ReLU(inplace=True),
            )
            layers, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers.append(nn.Sequential(_Block(cin, cout, stride), _Block(cout, cout, 1)))
                cin = cout
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.fc = nn.Linear(512, classes)

        def forward(self, x):
            x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
            return self.fc(x.mean(dim=(2, 3, 4)))

    return _R2Plus1D18(classes).eval()
