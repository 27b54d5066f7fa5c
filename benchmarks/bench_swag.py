"""SWAG on the embedded EfficientNet-Lite0 (224x224): cost over the floor (the model's own forward
plus one backward to the input, no hooks) and over guided backprop alone, beside Captum's
GuidedBackprop and the naive composition users write today, and LIME with quickshift vs with
SWAG's G superpixels.
Each variant under SWAG's default connectivity rule (``"raster"`` on the CPU; ``"parallel"``, on
the device, on CUDA) and under the other one; variant I also with the other ``overlap`` setting
than its default for that input (``SWAG.uses_overlap``).

Run: ``python benchmarks/bench_swag.py [--device cuda] [--repeats N] [--lime-samples 1000]
[--batches 1 8 64] [--autocast bf16]``.
Timings are interleaved (every round runs each method once) and reported as medians.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings

import numpy as np
import torch
from _common import median_ms_interleaved, report

import swagfast
from swagfast import SWAG, attribution, data, metrics, models
from swagfast.explainers.peers import lime_heatmap


def naive_swag(model, x, image_u8):
    """Captum GuidedBackprop + skimage.segmentation.slic + numpy.bincount, as one writes it today."""
    from captum.attr import GuidedBackprop
    from skimage.segmentation import slic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grad = GuidedBackprop(model).attribute(x, target=model(x).argmax(1))
    M = grad.abs().amax(dim=1).detach().cpu().numpy()
    out = []
    for m, img in zip(M, image_u8, strict=True):
        seg = slic(img, n_segments=300, compactness=10, start_label=0)
        mean = np.bincount(seg.ravel(), weights=m.ravel()) / np.bincount(seg.ravel())
        out.append(mean[seg])
    return np.stack(out)


def floor(model, x):
    """The model's own cost of a one-backward explanation: forward, then the gradient of the
    explained (top-1) logits with respect to the input; no hooks, no checks."""
    xg = x.detach().requires_grad_(True)
    logits = model(xg)
    (g,) = torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), xg)
    return g


def forward_only(model, x):
    with torch.no_grad():
        return model(x)


def captum_guided(model, x):
    from captum.attr import GuidedBackprop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GuidedBackprop(model).attribute(x, target=model(x).argmax(1))


def rules(device: str) -> tuple:
    """(connectivity, row suffix): SWAG's default for the device first, then the other rule."""
    other = "parallel" if device == "cpu" else "raster"
    return ((None, ""), (other, f", connectivity={other}"))


def autocast(fns: dict, dtype: str | None, device: str) -> dict:
    """Each timed call under ``torch.autocast`` (the floor's too, so the ratios compare like with
    like); unchanged for dtype None."""
    if dtype is None:
        return fns
    kind = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]

    def wrap(fn):
        def run():
            with torch.autocast(device.split(":")[0], dtype=kind):
                return fn()

        return run

    return {k: wrap(f) for k, f in fns.items()}


def timing_rows(lite, photos, device, repeats, batches, dtype=None):
    rows = []
    images = list(photos.values()) * (1 + max(batches) // len(photos))  # enough images for the batch
    for B in batches:
        crops = np.stack([lite.preprocess.crop(img) for img in images[:B]])
        x = lite.preprocess.normalize(crops).to(device)
        fns = {
            "floor (forward + backward to the input)": lambda x=x: floor(lite.model, x),
            "forward alone (no_grad)": lambda x=x: forward_only(lite.model, x),
            "guided backprop": lambda x=x: attribution.guided(lite.model, x),
        }
        if importlib.util.find_spec("captum") is not None:  # it hooks nn.ReLU modules only
            fns["Captum GuidedBackprop"] = lambda x=x: captum_guided(lite.model, x)
        for rule, suffix in rules(device):
            for v in ("G", "I", "I+G"):
                swag = SWAG(lite.model, v, mean=lite.mean, std=lite.std, connectivity=rule)
                fns[f"SWAG_{v}{suffix}"] = lambda swag=swag, x=x: swag(x)
            # variant I with the other overlap setting than its default for this input
            flip = not SWAG(lite.model, "I", connectivity=rule).uses_overlap(x)
            other = SWAG(lite.model, "I", mean=lite.mean, std=lite.std, connectivity=rule, overlap=flip)
            fns[f"SWAG_I{suffix}, overlap={flip}"] = lambda x=x, other=other: other(x)
        if B == 1 and importlib.util.find_spec("captum") is not None:
            fns["naive (Captum + skimage + bincount)"] = lambda x=x, c=crops: naive_swag(lite.model, x, c)
        elif B == 1:
            print("captum is not importable: the naive (Captum + skimage + bincount) row is left out")
        res = median_ms_interleaved(autocast(fns, dtype, device), repeats, sync=device == "cuda")
        base, lowest = res["guided backprop"], res["floor (forward + backward to the input)"]
        for name, ms in res.items():
            rows.append(
                {
                    "method": name,
                    "batch": B,
                    "device": device,
                    "x_guided": round(ms / base, 3),
                    "x_floor": round(ms / lowest, 3),
                    "median_ms": ms,
                }
            )
    return rows


def lime_rows(lite, photos, samples):
    from lime import lime_image

    def classifier(batch):
        x = lite.preprocess.normalize(batch.astype(np.uint8))
        with torch.no_grad():
            return lite.model(x).softmax(1).numpy()

    seg_g = swagfast.lime_segmenter(lite.model, "G", n_segments=50, mean=lite.mean, std=lite.std)
    rows = []
    for label, seg_fn in (("LIME (quickshift)", None), ("LIME_G (SWAG superpixels, K=50)", seg_g)):
        times, aucs = [], []
        for name in photos:
            img = lite.preprocess.crop(photos[name])
            x = lite.preprocess.normalize(img[None])
            target = int(lite.model(x).argmax(1))
            kw = {"segmentation_fn": seg_fn} if seg_fn is not None else {}
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exp = lime_image.LimeImageExplainer(random_state=0).explain_instance(
                    img,
                    classifier,
                    labels=(target,),
                    top_labels=None,
                    num_samples=samples,
                    random_seed=0,
                    **kw,
                )
            times.append(time.perf_counter() - t0)
            heat = lime_heatmap(exp, target)
            aucs.append(float(metrics.deletion(lite.model, x, torch.from_numpy(heat)[None]).auc[0]))
        rows.append(
            {
                "method": label,
                "photos": len(photos),
                "samples": samples,
                "deletion_auc": round(float(np.mean(aucs)), 4),
                "median_ms": float(np.median(times)) * 1e3,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="efficientnet-lite0", help="or torchvision:resnet50 (random init)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--lime-samples", type=int, default=1000)
    parser.add_argument("--no-lime", action="store_true")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--autocast", choices=("bf16", "fp16"), help="every row under torch.autocast")
    args = parser.parse_args()
    lite = models.load(args.model, device=args.device)
    photos = data.sample_images()
    suffix = f"_{args.autocast}" if args.autocast else ""
    report(
        f"bench_swag_{args.device}{suffix}",
        timing_rows(lite, photos, args.device, args.repeats, args.batches, args.autocast),
        reference=None,
    )
    if not args.no_lime and args.device == "cpu":
        print()
        report("bench_swag_lime", lime_rows(lite, photos, args.lime_samples), reference="LIME (quickshift)")


if __name__ == "__main__":
    main()
