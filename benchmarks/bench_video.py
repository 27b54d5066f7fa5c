"""SWAG-V on 16x112x112 clips (thesis Table 4.4).

* SWAG-V (G, I, I+G) against the floor (the model's forward plus one backward to the input, no
  hooks) and guided backprop alone on the same model and clip: the overhead of the supervoxels
  and pooling.
* Grad-CAM, Grad-CAM++, Saliency Tubes and SWAG-V per clip as ratios to Grad-CAM, beside the
  thesis's Table 4.4 (Titan X, R(2+1)D; seconds).
* Each variant with SWAG-V's default connectivity rule (``"parallel"``: order-free, on CUDA it
  runs on the device) and with ``connectivity="raster"`` (scikit-image's rule; on CUDA the
  labels go to the host and back).
* SWAG-V_I also with the other ``overlap`` setting (supervoxels computed beside the attribution)
  than its default for that input (``SWAG.uses_overlap``), under both rules.
* Where SWAG-V's time goes: each variant with ``profile=True`` (every stage timed alone, CUDA
  synchronised at the boundaries), median ms per stage (a second table, ``..._stages``).

Models: ``action-demo`` (the shipped small (2+1)D network) and R(2+1)D-18 (torchvision's when it
is importable, otherwise the same architecture built here; random init — timing only).

Run: ``python benchmarks/bench_video.py [--device cuda] [--model action-demo|r2plus1d_18]
[--batch 1] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _common import median_ms_interleaved, report
from bench_swag import floor

from swagfast import SWAGV, GradCAM, GradCAMPlusPlus, SaliencyTubes, attribution, data, models
from swagfast.testing import r2plus1d_18_replica

THESIS_S = {  # Table 4.4, R(2+1)D
    "Grad-CAM": 0.15,
    "Grad-CAM++": 0.15,
    "Saliency Tubes": 0.05,
    "SWAG-V_I": 0.68,
    "SWAG-V_I+G": 0.74,
    "SWAG-V_G": 0.40,
}


RULES = (("parallel", ""), ("raster", ", connectivity=raster"))  # connectivity rule, row-name suffix


def load(name: str, device: str):
    if name == "action-demo":
        demo = models.load("action-demo", device=device)
        return demo.model, demo.layer, demo.mean, demo.std, "action-demo (shipped weights)"
    try:
        import torchvision

        net = torchvision.models.video.r2plus1d_18(weights=None)
        origin = "torchvision r2plus1d_18, random init"
    except ImportError:
        with torch.random.fork_rng():
            torch.manual_seed(0)  # initialisation only; the global RNG is restored after
            net = r2plus1d_18_replica()
        origin = "R(2+1)D-18 built here (torchvision not importable), random init"
    return net.eval().to(device), "layer4", (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989), origin


FLOOR = "floor (forward + backward to the input)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="action-demo", choices=["action-demo", "r2plus1d_18"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dev = args.device
    model, layer, mean, std, origin = load(args.model, dev)
    clips = data.action_set(args.batch, seed=11)
    x = clips.inputs(mean, std).to(dev)
    fns = {
        FLOOR: lambda: floor(model, x),
        "guided backprop": lambda: attribution.attribute(model, x, "guided"),
        "Grad-CAM": lambda: GradCAM(model, layer)(x),
        "Grad-CAM++": lambda: GradCAMPlusPlus(model, layer)(x),
        "Saliency Tubes": lambda: SaliencyTubes(model, layer)(x),
    }
    for v in ("G", "I", "I+G"):
        for rule, suffix in RULES:
            swag = SWAGV(model, v, mean=mean, std=std, connectivity=rule)
            fns[f"SWAG-V_{v}{suffix}"] = lambda s=swag: s(x)
    cuda = dev.startswith("cuda")
    for rule, suffix in RULES:  # the other overlap setting than the default for this input
        flip = not SWAGV(model, "I", connectivity=rule).uses_overlap(x)
        other = SWAGV(model, "I", mean=mean, std=std, connectivity=rule, overlap=flip)
        fns[f"SWAG-V_I{suffix}, overlap={flip}"] = lambda s=other: s(x)
    res = median_ms_interleaved(fns, args.repeats, warmup=1, sync=cuda)
    rows = []
    for k, ms in res.items():
        rows.append(
            {
                "method": k,
                "model": args.model,
                "device": dev,
                "batch": args.batch,
                "median_ms": ms,
                "x_floor": round(ms / res[FLOOR], 3),
                "x_guided": round(ms / res["guided backprop"], 3),
                "x_gradcam": round(ms / res["Grad-CAM"], 3),
                "thesis_x_gradcam": round(THESIS_S[k] / THESIS_S["Grad-CAM"], 2) if k in THESIS_S else None,
            }
        )
    tag = f"bench_video_{args.model}_{dev.split(':')[0]}_b{args.batch}"
    report(tag, rows, reference=None, extra={"model_origin": origin, "thesis_seconds": THESIS_S})
    print()
    report(f"{tag}_stages", stage_rows(model, x, mean, std, args.repeats), reference=None)


STAGES = (
    "attribution",
    "superpixels.features",
    "superpixels.clustering",
    "superpixels.connectivity",
    "pooling",
)


def stage_rows(model, x, mean, std, repeats: int) -> list[dict]:
    """Median ms of each stage of SWAG-V (profile=True: stages run one after another, CUDA
    synchronised at every boundary), per variant and connectivity rule."""
    rows = []
    for (rule, suffix), v in [(r, v) for r in RULES for v in ("G", "I", "I+G")]:
        swag = SWAGV(model, v, mean=mean, std=std, connectivity=rule, profile=True)
        swag(x)  # warm-up
        runs = [swag(x).timings for _ in range(repeats)]
        row = {"method": f"SWAG-V_{v}{suffix}"}
        for k in STAGES:
            row[k.removeprefix("superpixels.") + "_ms"] = round(
                1e3 * statistics.median(t[k] for t in runs), 3
            )
        row["median_ms"] = 1e3 * statistics.median(t["total"] for t in runs)
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
