"""SWAG-V accuracy on the synthetic actions (thesis Tables 4.2 and 4.3).

Held-out clips of :func:`swagfast.data.action_set` explained by the shipped ``action-demo``
model for its predicted class: deletion and insertion AUC (28 steps of 16*112*112/28 voxels,
zero substrate) and spatio-temporal weak localisation (a box per frame from the thresholded
heatmap, IoU with the true per-frame box averaged over the 16 frames; correct when > 0.5; error
% at the best threshold of each family) for every method and the centre / random baselines.
Also the ground-truth check: the share of frames whose top-5% voxels lie mostly on the object.
SWAG-V also with ``connectivity="raster"`` (scikit-image's rule) beside its default ``"parallel"``.

Run: ``python benchmarks/eval_video.py [--clips 96]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from _common import RESULTS, machine

from swagfast import (
    SWAGV,
    GradCAM,
    GradCAMPlusPlus,
    SaliencyTubes,
    attribution,
    baselines,
    data,
    metrics,
    models,
)

THESIS = {  # R(2+1)D: Table 4.2 (deletion, insertion on Kinetics-400), Table 4.3 (UCF101 loc. error)
    "centre": (0.167, 0.304, (87.91, 88.26, 87.66)),
    "random": (0.265, 0.322, (90.51, 90.63, 90.40)),
    "Grad-CAM": (0.118, 0.447, (85.40, 87.08, 85.32)),
    "Grad-CAM++": (0.125, 0.422, (85.40, 87.08, 85.32)),
    "Saliency Tubes": (0.118, 0.447, (85.58, 85.86, 85.64)),
    "SWAG-V_I": (0.113, 0.372, (71.76, 72.61, 72.58)),
    "SWAG-V_I+G": (0.111, 0.381, (70.02, 69.94, 71.25)),
    "SWAG-V_G": (0.080, 0.343, (69.88, 70.80, 70.59)),
    "guided backprop": (0.035, 0.287, (90.68, 87.58, 85.64)),
}


def top_share_on_object(heat: np.ndarray, mask: np.ndarray, share: float = 0.05, margin: int = 4) -> float:
    """Fraction of frames in which most of the clip's top ``share`` voxels lie on the object's
    tube (mask dilated by ``margin`` pixels)."""
    import cv2

    thr = np.quantile(heat, 1 - share)
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    ok = []
    for h, m in zip(heat, mask, strict=True):
        top = h >= thr
        if top.any():
            ok.append((top & (cv2.dilate(m.astype(np.uint8), kernel) > 0)).sum() / top.sum() >= 0.5)
    return float(np.mean(ok)) if ok else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=96)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    demo = models.load("action-demo")
    m, layer = demo.model, demo.layer
    held = data.action_set(args.clips, seed=99)
    x = held.inputs(demo.mean, demo.std)
    with torch.no_grad():
        pred = torch.cat([m(x[i : i + args.batch]).argmax(1) for i in range(0, len(x), args.batch)])
    acc = float((pred == held.labels).float().mean())
    print(f"action-demo accuracy on {len(x)} held-out clips: {acc:.3f}")
    shape = (len(x), 16, 112, 112)
    methods = {
        "centre": lambda xb: baselines.centre((len(xb), 16, 112, 112)),
        "random": None,
        "Grad-CAM": lambda xb: GradCAM(m, layer)(xb).heatmap,
        "Grad-CAM++": lambda xb: GradCAMPlusPlus(m, layer)(xb).heatmap,
        "Saliency Tubes": lambda xb: SaliencyTubes(m, layer)(xb).heatmap,
        "SWAG-V_I": lambda xb: SWAGV(m, "I", mean=demo.mean, std=demo.std)(xb).heatmap,
        "SWAG-V_I+G": lambda xb: SWAGV(m, "I+G", mean=demo.mean, std=demo.std)(xb).heatmap,
        "SWAG-V_G": lambda xb: SWAGV(m, "G", mean=demo.mean, std=demo.std)(xb).heatmap,
        **{  # the same with scikit-image's connectivity rule instead of SWAG-V's default
            f"SWAG-V_{v}, connectivity=raster": lambda xb, v=v: (
                SWAGV(m, v, mean=demo.mean, std=demo.std, connectivity="raster")(xb).heatmap
            )
            for v in ("I", "I+G", "G")
        },
        "guided backprop": lambda xb: attribution.attribute(m, xb, "guided")[0],
    }
    boxes = [[b[None] for b in clip] for clip in held.boxes.numpy()]
    rows = {}
    t_all = time.perf_counter()
    for name, fn in methods.items():
        t0 = time.perf_counter()
        if name == "random":
            heat = baselines.random_point(shape, seed=0)
        else:
            heat = torch.cat([fn(x[i : i + args.batch]).detach() for i in range(0, len(x), args.batch)])
        secs = (time.perf_counter() - t0) / len(x)
        dele = metrics.deletion(m, x, heat, batch_size=args.batch).auc.mean().item()
        ins = metrics.insertion(m, x, heat, batch_size=args.batch).auc.mean().item()
        loc = metrics.weak_localisation(heat, boxes)
        on = float(
            np.mean(
                [top_share_on_object(h.numpy(), k.numpy()) for h, k in zip(heat, held.masks, strict=True)]
            )
        )
        rows[name] = {
            "deletion": round(dele, 4),
            "insertion": round(ins, 4),
            "localisation_error": {k: round(v, 2) for k, v in loc.error.items()},
            "top5_on_object_frames": round(on, 3),
            "seconds_per_clip": round(secs, 4),
        }
        print(f"{name:16s} del {dele:.3f} ins {ins:.3f} loc {loc.error} top5-on-object {on:.2f}", flush=True)
    print(f"(computed in {time.perf_counter() - t_all:.0f} s)\n")
    print("| method | deletion | insertion | loc. error v/m/e | top-5% on object | thesis d / i / loc |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        e = r["localisation_error"]
        ref = ""
        if name in THESIS:
            d, i, loc = THESIS[name]
            ref = f"{d:.3f} / {i:.3f} / {loc[0]:.1f}, {loc[1]:.1f}, {loc[2]:.1f}"
        print(
            f"| {name} | {r['deletion']:.3f} | {r['insertion']:.3f} | {e['value']:.1f} / {e['mean']:.1f} / "
            f"{e['energy']:.1f} | {r['top5_on_object_frames']:.2f} | {ref} |"
        )
    RESULTS.mkdir(exist_ok=True)
    out = {"machine": machine(), "clips": len(x), "accuracy": acc, "rows": rows, "thesis": THESIS}
    (RESULTS / "eval_video.json").write_text(json.dumps(out, indent=2))
    print(f"written {RESULTS / 'eval_video.json'}")


if __name__ == "__main__":
    main()
