"""Every image explainer, ours and the peers', on the same photo in one run (thesis Table 3.11).

One 224x224 photo (chelsea) on EfficientNet-Lite0, CPU; per method the median wall-clock of
``--repeats`` calls after a warm-up, as ratios to the floor (the model's forward plus one backward
to the input, no hooks) and to SWAG_G, beside the thesis's Table 3.11 (Titan
X, ResNet-50; seconds). Peers: Captum (GuidedBackprop, LayerGradCam, Lime with SWAG's or
quickshift superpixels), the ``lime`` package (quickshift, 1000 samples), PAIR ``saliency``
XRAI; RISE with 4000 masks as in the thesis. pytorch-grad-cam needs torchvision, which cannot be
installed beside the CPU torch build here, so its rows are absent.

Run: ``python benchmarks/bench_peers.py [--repeats 3] [--samples 1000]``.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable

import numpy as np
import torch
from _common import median_ms_interleaved, ratio_rows, report
from bench_swag import floor

import swagfast
from swagfast import RISE, SWAG, GradCAM, JitterCAM, attribution, data, models
from swagfast.explainers import XRAI

FLOOR = "floor (forward + backward to the input)"
THESIS_S = {  # Table 3.11 (and 3.3, 5.5), Titan X, ResNet-50
    "SWAG_G": 0.10,
    "SWAG_I": 0.18,
    "Grad-CAM": 0.03,
    "Jitter-CAM": 0.37,
    "LIME (lime, quickshift)": 4.76,
    "RISE (4000 masks)": 17.5,
    "XRAI (saliency)": 30.6,
}


def explainers(
    batch: int = 1, samples: int = 1000, rise_masks: int = 4000, device: str = "cpu", slow: bool = True
) -> dict[str, Callable[[], object]]:
    """Every image explainer, ours and the peers', as calls on ``batch`` sample photos (chelsea
    first) at 224x224 on EfficientNet-Lite0 on ``device``, each for the class the model
    predicts. The slow per-image peers (LIME, Captum Lime, RISE, XRAI) only with ``slow`` and
    ``batch=1`` on the CPU."""
    lite = models.load("efficientnet-lite0", device=device)
    m, layer = lite.model, lite.layer
    photos = data.sample_images()
    names = ["chelsea"] + sorted(set(photos) - {"chelsea"})
    if not 1 <= batch <= len(names):
        raise SystemExit(f"--batch must be in [1, {len(names)}] (the sample photos), got {batch}")
    crops = np.stack([lite.preprocess.crop(photos[n]) for n in names[:batch]])
    x = lite.preprocess.normalize(crops).to(device)
    with torch.no_grad():
        t = m(x).argmax(1)

    def predict(images: np.ndarray) -> np.ndarray:  # lime: (N, H, W, 3) float [0, 1] -> probabilities
        with torch.no_grad():
            xb = lite.preprocess.normalize((np.asarray(images) * 255).round().astype(np.uint8))
            return torch.cat([m(xb[i : i + 50]).softmax(1) for i in range(0, len(xb), 50)]).numpy()

    from captum.attr import GuidedBackprop, LayerGradCam, Lime

    gbp, lgc = GuidedBackprop(m), LayerGradCam(m, m.get_submodule(layer))
    fns = {
        FLOOR: lambda: floor(m, x),
        "guided backprop": lambda: attribution.attribute(m, x, "guided", target=t),
        "SWAG_G": lambda: SWAG(m, "G", mean=lite.mean, std=lite.std)(x),
        "SWAG_I": lambda: SWAG(m, "I", mean=lite.mean, std=lite.std)(x),
        "Grad-CAM": lambda: GradCAM(m, layer)(x),
        "Jitter-CAM": lambda: JitterCAM(m, layer)(x),
        "Captum GuidedBackprop": lambda: gbp.attribute(x, target=t),
        "Captum LayerGradCam": lambda: lgc.attribute(x, target=t),
    }
    if batch > 1 or not slow or device != "cpu":
        return fns
    captum_lime = Lime(m)
    swag_seg = swagfast.captum_feature_mask(m, x, "G", n_segments=50, mean=lite.mean, std=lite.std)

    def lime_pkg():
        from lime import lime_image

        return lime_image.LimeImageExplainer(random_state=0).explain_instance(
            crops[0].astype(np.float64) / 255.0,
            predict,
            labels=(int(t),),
            top_labels=None,
            num_samples=samples,
            batch_size=50,
            random_seed=0,
        )

    def captum_lime_call():
        return captum_lime.attribute(
            x, target=int(t), feature_mask=swag_seg, n_samples=samples, perturbations_per_eval=50
        )

    fns.update(
        {
            "LIME (lime, quickshift)": lime_pkg,
            "Captum Lime (SWAG_G superpixels)": captum_lime_call,
            "RISE (4000 masks)": lambda: RISE(m, rise_masks, seed=0)(x),
            "XRAI (saliency)": lambda: XRAI(m)(x),
        }
    )
    return fns


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--rise-masks", type=int, default=4000)
    args = parser.parse_args()
    fns = explainers(1, args.samples, args.rise_masks)
    del fns["guided backprop"]  # timed by bench_swag.py
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum's and lime's own deprecation chatter
        res = median_ms_interleaved(fns, args.repeats, warmup=1)
    rows = ratio_rows(res, FLOOR, "SWAG_G", "x_swag_g", THESIS_S)
    report(
        "bench_peers_cpu", rows, reference=None, extra={"thesis_seconds": THESIS_S, "samples": args.samples}
    )


if __name__ == "__main__":
    main()
