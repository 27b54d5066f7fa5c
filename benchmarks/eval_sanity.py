"""The model-parameter randomisation test (cascading, from the classifier back to the stem) of
SWAG_G, Grad-CAM and guided backprop on the embedded EfficientNet-Lite0 and the sample photos:
the rank correlation of each method's map with the trained model's after each step. A method
that explains the model loses its map as the layers are randomised; the literature reports that
guided backprop keeps it.

Run: ``python benchmarks/eval_sanity.py [--photos 4]``; writes results/eval_sanity.json.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import RESULTS, machine

from swagfast import SWAG, GradCAM, attribution, data, models
from swagfast.metrics import randomisation_test


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=4)
    args = parser.parse_args()
    lite = models.load()
    photos = list(data.sample_images().values())[: args.photos]
    x = lite.preprocess(photos)
    m = lite.model
    blocks = [f"_blocks.{i}" for i in reversed(range(len(m._blocks)))]
    layers = ["_fc", "_bn1", "_conv_head", *blocks, "_bn0", "_conv_stem"]
    methods = {
        "SWAG_G": lambda model, xb, t: SWAG(model, "G", mean=lite.mean, std=lite.std)(xb, t).heatmap,
        "Grad-CAM": lambda model, xb, t: GradCAM(model, lite.layer)(xb, t).heatmap,
        "guided backprop": lambda model, xb, t: attribution.attribute(model, xb, "guided", t)[0],
    }
    rows = []
    for name, fn in methods.items():
        t0 = time.perf_counter()
        res = randomisation_test(m, fn, x, mode="cascading", layers=layers, seed=0)
        print(f"{name}: " + " ".join(f"{v:.2f}" for v in res.mean) + f" ({time.perf_counter() - t0:.0f} s)")
        rows.append({"method": name, "layers": res.layers, "mean": [float(v) for v in res.mean]})
    RESULTS.mkdir(exist_ok=True)
    out = {"machine": machine(), "args": vars(args), "rows": rows}
    (RESULTS / "eval_sanity.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
