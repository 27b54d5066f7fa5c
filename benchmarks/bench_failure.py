"""FilterStats.fit throughput against the model's own forward+backward on the same batches.

The fit (Grad-AMap scores for the label's class at the final layer, streamed to the on-disk
store) is timed next to (a) one forward pass and (b) a training-style forward+backward (loss
backward through the whole network) over the same batches; the goal is a fit within 1.2x of
(b). Also timed: the loop a user would write without swagfast (per-image Captum
LayerGradientXActivation + numpy per-class lists, then numpy percentiles).

Run: ``python benchmarks/bench_failure.py [--device cuda] [--model torchvision:resnet50]
[--images 64] [--batch 8] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import importlib.util

import numpy as np
import torch
import torch.nn.functional as F
from _common import median_ms_interleaved, report

from swagfast import data, models
from swagfast.failure import FilterStats

LAYERS = {"efficientnet-lite0": "_bn1", "torchvision:resnet50": "layer4"}


def photo_batches(lite, n: int, batch: int, device: str):
    """``n`` 224x224 inputs from the sample photos (shifted crops and flips), labelled by the
    model's own prediction, in batches."""
    photos = list(data.sample_images().values())
    rng = np.random.default_rng(0)
    crops = []
    for i in range(n):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        s = int(min(h, w) * rng.uniform(0.7, 1.0))
        y0, x0 = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        c = lite.preprocess.crop(img[y0 : y0 + s, x0 : x0 + s])
        crops.append(c[:, ::-1] if i % 2 else c)
    x = lite.preprocess.normalize(np.stack(crops)).to(device)
    with torch.no_grad():
        y = torch.cat([lite.model(x[i : i + batch]).argmax(1) for i in range(0, n, batch)])
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-captum", action="store_true")
    args = parser.parse_args()
    dev = args.device
    lite = models.load(args.model, device=dev)
    model, layer = lite.model, LAYERS[args.model]
    batches = photo_batches(lite, args.images, args.batch, dev)

    def forward():
        with torch.no_grad():
            for x, _ in batches:
                model(x)

    def forward_backward():
        for x, y in batches:
            F.cross_entropy(model(x), y).backward()
        model.zero_grad(set_to_none=True)

    def fit():
        FilterStats.fit(model, layer, batches, num_classes=1000, progress=False)

    fns = {
        f"forward (batches of {args.batch})": forward,
        "forward+backward (training step)": forward_backward,
        "FilterStats.fit (Grad-AMap, store on disk)": fit,
    }
    if not args.no_captum and importlib.util.find_spec("captum") is None:
        print("captum is not importable: the Captum row is left out")
    elif not args.no_captum:
        from captum.attr import LayerGradientXActivation

        lgxa = LayerGradientXActivation(model, model.get_submodule(layer))

        def captum_loop():
            per_class: dict[int, list[np.ndarray]] = {}
            for x, y in batches:
                for i in range(len(x)):
                    a = lgxa.attribute(x[i : i + 1], target=int(y[i]))
                    per_class.setdefault(int(y[i]), []).append(a.mean(dim=(2, 3)).detach().cpu().numpy()[0])
            for rows in per_class.values():
                np.percentile(np.stack(rows), (0.1, 99.9), axis=0)

        fns["Captum LayerGradientXActivation per image + numpy"] = captum_loop
    res = median_ms_interleaved(fns, args.repeats, warmup=1, sync=dev.startswith("cuda"))
    rows = [
        {"method": k, "model": args.model, "device": dev, "images": args.images, "median_ms": v}
        for k, v in res.items()
    ]
    report(f"bench_failure_{dev.split(':')[0]}", rows, reference="forward+backward (training step)")


if __name__ == "__main__":
    main()
