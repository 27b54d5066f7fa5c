"""BAM-style model contrast score (thesis 5.4): an object model and a scene model trained on the
same synthetic images (swagfast.data.bam, CPU, seeded); MCS = G_obj(object model) -
G_obj(scene model) for each explainer (higher = the explanation follows what the model uses).

Run: ``python benchmarks/eval_bam.py [--n 4000] [--epochs 14]``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from _common import RESULTS, machine

from swagfast import SWAG, GradCAM, JitterCAM, attribution, metrics
from swagfast.data import bam_set, train_small_cnn

MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # the small CNNs take [0, 1] images


# Each explainer's (B, H, W) heatmaps for a model and [0, 1] images (eval_roar.py uses them too).
EXPLAINERS = {
    "Grad-CAM": lambda m, x: GradCAM(m, "body")(x).heatmap,
    "Jitter-CAM": lambda m, x: JitterCAM(m, "body")(x).heatmap,
    "guided backprop": lambda m, x: attribution.attribute(m, x, "guided")[0],
    "SWAG_I": lambda m, x: SWAG(m, "I", n_segments=60, mean=MEAN, std=STD)(x).heatmap,
    "SWAG_G": lambda m, x: SWAG(m, "G", n_segments=60, mean=MEAN, std=STD)(x).heatmap,
    "SWAG_I+G": lambda m, x: SWAG(m, "I+G", n_segments=60, mean=MEAN, std=STD)(x).heatmap,
}
MCS_EXPLAINERS = ("Grad-CAM", "Jitter-CAM", "guided backprop", "SWAG_G", "SWAG_I+G")


def crop_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, scale: float) -> float:
    """Accuracy of ``model`` on the crops Jitter-CAM explains at ``cam_scale=scale`` (every fourth
    offset of its grid along each axis): the input up-scaled by d extra cells of k pixels, cut
    into crops of the input's size (d and k from ``JitterCAM.plan``)."""
    _, (dy, dx), (ky, kx) = JitterCAM(model, "body", cam_scale=scale).plan(x)
    H, W = x.shape[-2:]
    up = x
    if dy or dx:
        up = F.interpolate(x, size=(H + dy * ky, W + dx * kx), mode="bilinear", align_corners=False)
    hits = []
    with torch.no_grad():
        for oy in range(0, dy + 1, 4):
            for ox in range(0, dx + 1, 4):
                crop = up[:, :, ky * oy : ky * oy + H, kx * ox : kx * ox + W]
                hits.append((model(crop).argmax(1) == y).float().mean())
    return round(float(torch.stack(hits).mean()), 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--jitter-scales", type=float, nargs="+", default=[1.0, 1.25, 1.5, 2.0])
    args = parser.parse_args()
    train, test = bam_set(args.n, seed=0), bam_set(args.test, seed=1)
    models, acc, correct = {}, {}, {}
    for kind, y, yt in (("object", train.objects, test.objects), ("scene", train.scenes, test.scenes)):
        t0 = time.perf_counter()
        models[kind] = train_small_cnn(train.images, y, epochs=args.epochs, seed=0)
        with torch.no_grad():
            pred = models[kind](test.images).argmax(1)
        correct[kind] = pred == yt
        acc[kind] = float(correct[kind].float().mean())
        print(f"{kind} model: test accuracy {acc[kind]:.3f}, trained in {time.perf_counter() - t0:.0f} s")
    rows = {}
    for name in MCS_EXPLAINERS:
        h = {k: EXPLAINERS[name](m, test.images).detach() for k, m in models.items()}
        rows[name] = metrics.model_contrast_score(
            h["object"], h["scene"], test.masks, correct["object"], correct["scene"]
        )
    print("\n| explainer | MCS (higher = better) |\n|---|---|")
    for name, v in rows.items():
        print(f"| {name} | {v:.3f} |")
    # Jitter-CAM explains crops of the input up-scaled cam_scale times (1: Grad-CAM exactly). Its
    # MCS by scale, beside how often each model still predicts the true class on those crops.
    scales = {}
    for s in args.jitter_scales:
        h = {k: JitterCAM(m, "body", cam_scale=s)(test.images).heatmap.detach() for k, m in models.items()}
        mcs = metrics.model_contrast_score(
            h["object"], h["scene"], test.masks, correct["object"], correct["scene"]
        )
        crops = {
            k: crop_accuracy(m, test.images, y, s)
            for (k, m), y in zip(models.items(), (test.objects, test.scenes), strict=True)
        }
        scales[str(s)] = {"mcs": mcs, "crop_accuracy": crops}
        print(f"Jitter-CAM cam_scale {s}: MCS {mcs:.3f}, accuracy on its crops {crops}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eval_bam.json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "n": args.n,
                "epochs": args.epochs,
                "accuracy": acc,
                "mcs": rows,
                "jitter_scales": scales,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
