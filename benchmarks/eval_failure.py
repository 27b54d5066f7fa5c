"""Explaining failure (thesis chapter 6), reproduced offline.

1. Filter-ranking check (Table 6.1): zero the channels of the final layer in order of each
   filter score, K/32 at a time, and record the accuracy normalised to the unablated accuracy;
   AUC (lower = the ranking found the important filters first). On the embedded
   EfficientNet-Lite0 (layer ``_bn1``, 1280 channels) with the sample photos (labelled by the
   model's prediction) and composites (true labels), and on the BAM-style object model
   (``SmallCNN``, layer ``body``, 64 channels) with its test set.
2. Beta (thesis 6.3.1) on the BAM-style object model: FilterStats fitted on its training set,
   beta_report on a held-out set: Spearman of beta with the true class's logit and softmax per
   class, and the share of misclassified / correct images with negative beta.
3. Suppressing surprise (thesis 6.4.1, Fig. 6.12): on the misclassified held-out images, how many
   the K x r sweep fixes with the gradient through the most surprising filter, and with the
   unrestricted vanilla gradient. K is scaled to the 64x64 images: (25, 50, 75, 100).

Run: ``python benchmarks/eval_failure.py [--composites 48] [--bam-n 4000] [--epochs 14]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _common import RESULTS, machine

from swagfast import data, metrics, models
from swagfast.data import bam_set, train_small_cnn
from swagfast.failure import METHODS, FilterStats, beta_report, filter_scores, suppress_surprise

THESIS_T61 = {  # Table 6.1: VGG16, ResNet18
    "random": (0.685, 0.733),
    "grad-cam++": (0.147, 0.230),
    "grad-cam": (0.079, 0.225),
    "xgrad-cam": (0.119, 0.225),
    "l1-norm": (0.057, 0.618),
    "taylor": (0.132, 0.629),
    "taylor-class": (0.052, 0.392),
    "grad-amap": (0.042, 0.146),
}


def removal_table(model, layer, batches) -> dict[str, dict]:
    out = {}
    for method in METHODS:
        t0 = time.perf_counter()
        curve = metrics.filter_removal_auc(
            model, layer, batches, lambda x, y, m=method: filter_scores(model, layer, x, y, method=m, seed=0)
        )
        out[method] = {
            "auc": round(curve.auc, 4),
            "accuracy_unablated": round(float(curve.accuracy[0, 0]), 4),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(f"  {method:13s} AUC {curve.auc:.3f}  ({out[method]['seconds']} s)", flush=True)
    return out


def figures(net, stats, rep, test, train, res) -> None:
    """Fig. 6.3 (beta vs logit and softmax, correct vs misclassified) and Fig. 6.10 (surprise
    regions beside the training images that most activate the surprising filter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from swagfast.failure import masked_activation, surprise_region

    out = Path(__file__).parent / "figures"
    out.mkdir(exist_ok=True)

    def save(fig, name):
        tmp = out / f".{name}.tmp.png"
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        tmp.replace(out / name)
        plt.close(fig)
        print(f"written {out / name}")

    ok = rep.predicted == rep.true
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, v, name in ((axes[0], rep.logit, "pre-softmax score"), (axes[1], rep.softmax, "softmax score")):
        ax.scatter(rep.beta[ok], v[ok], s=5, c="tab:blue", label="correct")
        ax.scatter(rep.beta[~ok], v[~ok], s=8, c="tab:red", label="misclassified")
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("beta")
        ax.set_ylabel(f"{name} of the true class")
        ax.legend(fontsize=8)
    axes[0].set_title(f"BAM object model, {len(rep.beta)} held-out images (thesis Fig. 6.3)", fontsize=9)
    save(fig, "fig6_3_beta.png")

    idx = torch.nonzero(res.surprise.eligible).flatten()[:4]
    if len(idx) == 0:
        print("no misclassified image with a surprising filter: Fig. 6.10 skipped")
        return
    wrong = rep.predicted != rep.true
    xw, yw, pw = (
        test.images[torch.from_numpy(wrong)],
        test.objects[torch.from_numpy(wrong)],
        rep.predicted[wrong],
    )
    filt = res.filter[idx]
    reg = surprise_region(net, "body", xw[idx], filt, image=xw[idx], mean=(0, 0, 0), std=(1, 1, 1))
    fig, axes = plt.subplots(len(idx), 4, figsize=(8, 2.1 * len(idx)), squeeze=False)
    for r, b in enumerate(idx.tolist()):
        img = xw[b].permute(1, 2, 0).numpy()
        axes[r, 0].imshow(img)
        axes[r, 0].contour(reg.mask[r].numpy(), levels=[0.5], colors="yellow", linewidths=1.5)
        axes[r, 0].set_title(f"pred {int(pw[b])} (true {int(yw[b])}), filter {int(filt[r])}", fontsize=8)
        top = stats.top_index[int(filt[r])][:3]
        shown = masked_activation(
            net,
            "body",
            train.images[top],
            int(filt[r]),
            image=train.images[top],
            mean=(0, 0, 0),
            std=(1, 1, 1),
        )
        for c in range(3):
            axes[r, c + 1].imshow(shown[c].permute(1, 2, 0).numpy())
            axes[r, c + 1].set_title(f"train #{int(top[c])}", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    save(fig, "fig6_10_surprise.png")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--composites", type=int, default=48)
    parser.add_argument("--bam-n", type=int, default=4000)
    parser.add_argument("--bam-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--no-figures", action="store_true", help="skip the matplotlib figures")
    args = parser.parse_args()
    result: dict = {"machine": machine(), "args": vars(args), "thesis_table_6_1": THESIS_T61}

    # -- 1a. Table 6.1 on EfficientNet-Lite0 -----------------------------------------------------
    lite = models.load("efficientnet-lite0")
    photos = np.stack([lite.preprocess.crop(p) for p in data.sample_images().values()])
    comps = data.composites(args.composites, seed=0)
    x = torch.cat([lite.preprocess.normalize(photos), lite.preprocess.normalize(comps.images)])
    with torch.no_grad():
        pred = lite.model(x[: len(photos)]).argmax(1)
    y = torch.cat([pred, torch.as_tensor(comps.labels)])
    batches = [(x[i : i + args.batch], y[i : i + args.batch]) for i in range(0, len(x), args.batch)]
    print(f"Table 6.1, EfficientNet-Lite0 _bn1, {len(x)} images (9 photos + {len(comps)} composites)")
    result["lite0"] = removal_table(lite.model, "_bn1", batches)

    # -- 1b. and 2./3. on the BAM-style object model -----------------------------------------------
    train, test = bam_set(args.bam_n, seed=0), bam_set(args.bam_test, seed=2)
    t0 = time.perf_counter()
    net = train_small_cnn(train.images, train.objects, epochs=args.epochs, seed=0)
    print(f"BAM object model trained in {time.perf_counter() - t0:.0f} s")
    tb = [(test.images[i : i + 64], test.objects[i : i + 64]) for i in range(0, len(test.images), 64)]
    print(f"Table 6.1, BAM object model (SmallCNN body, 64 channels), {len(test.images)} test images")
    result["bam"] = removal_table(net, "body", tb)

    trb = [(train.images[i : i + 64], train.objects[i : i + 64]) for i in range(0, len(train.images), 64)]
    t0 = time.perf_counter()
    stats = FilterStats.fit(net, "body", trb, num_classes=10, progress=False)
    fit_s = time.perf_counter() - t0
    rep = beta_report(net, "body", stats, tb, progress=False)
    result["beta"] = {**rep.summary(), "fit_seconds": round(fit_s, 2)}
    print("beta:", json.dumps(result["beta"], indent=1))

    wrong = torch.from_numpy(rep.predicted != rep.true)
    xw, yw = test.images[wrong], test.objects[wrong]
    t0 = time.perf_counter()
    res = suppress_surprise(
        net, "body", stats, xw, yw, segments=(25, 50, 75, 100), image=xw, mean=(0, 0, 0), std=(1, 1, 1)
    )
    result["suppression"] = {
        "misclassified": int(len(xw)),
        "with_surprising_filter": int(res.surprise.eligible.sum()),
        "fixed_through_surprising_filter": res.surprise.count,
        "fixed_vanilla_same_images": int((res.vanilla.any_fixed & res.surprise.eligible).sum()),
        "fixed_vanilla_all_misclassified": res.vanilla.count,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print("suppression:", json.dumps(result["suppression"], indent=1))
    if not args.no_figures:
        figures(net, stats, rep, test, train, res)

    print("\n| filter score | Lite0 AUC | BAM SmallCNN AUC | thesis VGG16 | thesis ResNet18 |")
    print("|---|---|---|---|---|")
    for m in METHODS:
        v, r = THESIS_T61[m]
        print(
            f"| {m} | {result['lite0'][m]['auc']:.3f} | {result['bam'][m]['auc']:.3f} | {v:.3f} | {r:.3f} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eval_failure.json").write_text(json.dumps(result, indent=2))
    print(f"written {RESULTS / 'eval_failure.json'}")


if __name__ == "__main__":
    main()
