"""The accuracy tables of the thesis, reproduced offline with the embedded model.

Deletion and insertion AUC on the nine sample photos and on composites; weak localisation
(value / mean / energy families) and the pointing game on the composites (ground-truth boxes and
masks); faithfulness (Average Drop, Increase in Confidence) including the constant baseline.
Every explainer that exists is listed in METHODS; add new ones there.

Run: ``python benchmarks/eval_images.py [--composites 40] [--rise-masks 1000]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from _common import RESULTS, machine
from tqdm import tqdm

from swagfast import (
    RISE,
    SWAG,
    AblationCAM,
    GradAMapCAM,
    GradCAM,
    GradCAMPlusPlus,
    JitterCAM,
    ScoreCAM,
    XGradCAM,
    attribution,
    baselines,
    data,
    metrics,
    models,
)
from swagfast.explainers import LIME, XRAI

THESIS = {  # METHODS.md §7 (ResNet-50 on ImageNet; orderings, not absolute values)
    "deletion": {
        "Grad-CAM": 0.142,
        "SWAG_I": 0.119,
        "SWAG_I+G": 0.109,
        "SWAG_G": 0.095,
        "guided backprop": 0.074,
        "RISE": 0.124,
        "centre": 0.177,
        "random": 0.303,
        "Jitter-CAM": 0.118,
        "LIME": 0.125,
        "XRAI": 0.137,
    },
    "insertion": {"Grad-CAM": 0.576, "Jitter-CAM": 0.551},
    "localisation": {"Grad-CAM": (45.9, 45.9, 44.4), "Jitter-CAM": (39.8, 42.3, 40.6)},
    "pointing": {"Grad-CAM": 53.5, "Jitter-CAM": 64.1},
}


def methods(lite, rise_masks):
    # the CAMs explain the model's default layer: the head's post-activation map (`_relu_head`);
    # tables dated before 2026-12-08 used `_bn1`, the batch norm before that activation
    m, mean, std, L = lite.model, lite.mean, lite.std, lite.layer
    out = {
        "guided backprop": lambda x: attribution.attribute(m, x, "guided")[0],
        "Grad-CAM": lambda x: GradCAM(m, L)(x).heatmap,
        "Jitter-CAM": lambda x: JitterCAM(m, L)(x).heatmap,
        "SWAG_G": lambda x: SWAG(m, "G", mean=mean, std=std)(x).heatmap,
        "SWAG_I": lambda x: SWAG(m, "I", mean=mean, std=std)(x).heatmap,
        "SWAG_I+G": lambda x: SWAG(m, "I+G", mean=mean, std=std)(x).heatmap,
        **{  # SWAG with the order-free connectivity rule (on CUDA it stays on the device)
            f"SWAG_{v}, connectivity=parallel": lambda x, v=v: (
                SWAG(m, v, mean=mean, std=std, connectivity="parallel")(x).heatmap
            )
            for v in ("G", "I", "I+G")
        },
        "centre": lambda x: baselines.centre((x.shape[0], *x.shape[2:])),
        "random": lambda x: baselines.random_point((x.shape[0], *x.shape[2:]), seed=0),
    }
    if rise_masks:
        out["RISE"] = lambda x: RISE(m, rise_masks, seed=0)(x).heatmap
    out.update(
        {
            "Grad-CAM++": lambda x: GradCAMPlusPlus(m, L)(x).heatmap,
            "XGrad-CAM": lambda x: XGradCAM(m, L)(x).heatmap,
            "Grad-AMap": lambda x: GradAMapCAM(m, L)(x).heatmap,
            "Score-CAM": lambda x: ScoreCAM(m, L)(x).heatmap,
            "Ablation-CAM": lambda x: AblationCAM(m, L)(x).heatmap,
            "LIME": lambda x: LIME(m, mean=mean, std=std, num_samples=1000, seed=0)(x).heatmap,
            "XRAI": lambda x: XRAI(m)(x).heatmap,
        }
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--composites", type=int, default=40, help="composites generated (before filtering)")
    parser.add_argument("--rise-masks", type=int, default=1000, help="0 leaves RISE out")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--scale", type=float, nargs=2, default=(0.45, 0.85), help="object size range")
    parser.add_argument("--distractors", type=int, default=0, help="objects of the other class per composite")
    parser.add_argument("--methods", nargs="+", default=None, help="a subset of the methods (default: all)")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    args = parser.parse_args()
    torch.manual_seed(0)
    lite = models.load()
    photos = np.stack([lite.preprocess.crop(p) for p in data.sample_images().values()])
    comps, dropped = data.keep_predicted(
        lite.model,
        lite.preprocess,
        data.composites(args.composites, seed=0, scale=tuple(args.scale), distractors=args.distractors),
    )
    print(f"composites: {len(comps)} kept, {dropped} dropped (model's top-1 is not the pasted object)")
    sets = {"photos": photos, "composites": comps.images}
    heat: dict[str, dict[str, torch.Tensor]] = {s: {} for s in sets}
    rows = []
    t0 = time.perf_counter()
    chosen = {
        k: v for k, v in methods(lite, args.rise_masks).items() if not args.methods or k in args.methods
    }
    for name, fn in tqdm(chosen.items(), desc="methods"):
        for sname, imgs in sets.items():
            hs, dels, ins = [], [], []
            for i in range(0, len(imgs), args.batch):
                x = lite.preprocess.normalize(imgs[i : i + args.batch])
                h = fn(x).detach().float()
                hs.append(h)
                dels.append(metrics.deletion(lite.model, x, h, batch_size=29).auc)
                ins.append(metrics.insertion(lite.model, x, h, batch_size=29).auc)
            heat[sname][name] = torch.cat(hs)
            rows.append(
                {
                    "method": name,
                    "set": sname,
                    "n": len(imgs),
                    "deletion": float(torch.cat(dels).mean()),
                    "insertion": float(torch.cat(ins).mean()),
                }
            )
    # localisation and pointing game on the composites
    loc = {}
    for name, h in heat["composites"].items():
        wl = metrics.weak_localisation(h, [[b] for b in comps.boxes])
        pg = metrics.pointing_game(h, comps.masks)
        loc[name] = {
            "value": wl.error["value"],
            "mean": wl.error["mean"],
            "energy": wl.error["energy"],
            "pointing": 100 * pg.accuracy,
        }
    # faithfulness on photos + composites, with the constant baseline
    x_all = lite.preprocess.normalize(np.concatenate([photos, comps.images]))
    faith = {}
    for name in [m for m in ("Grad-CAM", "Jitter-CAM", "SWAG_G", "guided backprop") if m in chosen] + [
        "constant"
    ]:
        if name == "constant":
            h = baselines.constant((len(x_all), 224, 224))
        else:
            h = torch.cat([heat["photos"][name], heat["composites"][name]])
        f = metrics.faithfulness(lite.model, x_all, h, batch_size=args.batch)
        faith[name] = {"average_drop": f.average_drop, "increase_in_confidence": f.increase_in_confidence}

    print(f"\n(computed in {time.perf_counter() - t0:.0f} s)\n")
    print("| method | set | n | deletion AUC (lower better) | insertion AUC (higher better) | thesis del. |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        th = THESIS["deletion"].get(r["method"], "")
        print(
            f"| {r['method']} | {r['set']} | {r['n']} | {r['deletion']:.4f} | {r['insertion']:.4f} | {th} |"
        )
    print(
        "\n| method | loc. error value / mean / energy % | pointing game % | thesis (Grad-CAM, Jitter-CAM) |"
    )
    print("|---|---|---|---|")
    for name, v in loc.items():
        th = THESIS["localisation"].get(name, "")
        pg = THESIS["pointing"].get(name, "")
        print(
            f"| {name} | {v['value']:.1f} / {v['mean']:.1f} / {v['energy']:.1f} | {v['pointing']:.1f} | "
            f"{th} {pg} |"
        )
    print("\n| heatmap | average drop % (lower 'better') | increase in confidence % (higher 'better') |")
    print("|---|---|---|")
    for name, v in faith.items():
        print(f"| {name} | {v['average_drop']:.1f} | {v['increase_in_confidence']:.1f} |")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "machine": machine(),
        "args": vars(args),
        "composites_kept": len(comps),
        "composites_dropped": dropped,
        "deletion_insertion": rows,
        "localisation": loc,
        "faithfulness": faith,
        "thesis": THESIS,
    }
    path = RESULTS / f"eval_images{args.tag}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
