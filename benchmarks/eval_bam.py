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
from _common import RESULTS, machine

from swagfast import SWAG, GradCAM, JitterCAM, attribution, metrics
from swagfast.data import bam_set, train_small_cnn

MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # the small CNNs take [0, 1] images


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--test", type=int, default=200)
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
    explainers = {
        "Grad-CAM": lambda m, x: GradCAM(m, "body")(x).heatmap,
        "Jitter-CAM": lambda m, x: JitterCAM(m, "body")(x).heatmap,
        "guided backprop": lambda m, x: attribution.attribute(m, x, "guided")[0],
        "SWAG_G": lambda m, x: SWAG(m, "G", n_segments=60, mean=MEAN, std=STD)(x).heatmap,
        "SWAG_I+G": lambda m, x: SWAG(m, "I+G", n_segments=60, mean=MEAN, std=STD)(x).heatmap,
    }
    rows = {}
    for name, fn in explainers.items():
        h = {k: fn(m, test.images).detach() for k, m in models.items()}
        rows[name] = metrics.model_contrast_score(
            h["object"], h["scene"], test.masks, correct["object"], correct["scene"]
        )
    print("\n| explainer | MCS (higher = better) |\n|---|---|")
    for name, v in rows.items():
        print(f"| {name} | {v:.3f} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eval_bam.json").write_text(
        json.dumps(
            {"machine": machine(), "n": args.n, "epochs": args.epochs, "accuracy": acc, "mcs": rows}, indent=2
        )
    )


if __name__ == "__main__":
    main()
