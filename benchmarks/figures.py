"""Figures of the thesis, made by the code on the embedded model and the sample photos.

Writes PNGs to ``benchmarks/figures/``:

* ``fig3_11_methods.png``: heatmaps of every image explainer on four photos (thesis Fig. 3.11);
* ``fig3_13_deletion.png`` / ``fig3_14_insertion.png``: mean deletion / insertion curves over
  the nine photos (Figs. 3.13, 3.14);
* ``fig3_16_efficiency.png``: seconds per explanation (measured here, median of 3) against the
  deletion AUC on the photos (Fig. 3.16);
* ``fig5_3_jitter_sizes.png``: Jitter-CAM at several CAM sizes next to Grad-CAM (Fig. 5.3).

The chapter 6 figures (beta, Fig. 6.3; surprise regions beside training images, Fig. 6.10) are
made by ``eval_failure.py``, which holds the trained model they need.

Run: ``python benchmarks/figures.py`` (needs matplotlib: ``pip install ".[bench]"``).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from swagfast import RISE, SWAG, GradCAM, JitterCAM, attribution, baselines, data, metrics, models  # noqa: E402
from swagfast.viz import normalize_heatmap  # noqa: E402

OUT = Path(__file__).parent / "figures"


def explainers(lite):
    m, mean, std = lite.model, lite.mean, lite.std
    return {
        "guided backprop": lambda x: attribution.attribute(m, x, "guided")[0],
        "Grad-CAM": lambda x: GradCAM(m, lite.layer)(x).heatmap,
        "Jitter-CAM": lambda x: JitterCAM(m, lite.layer)(x).heatmap,
        "RISE (1000 masks)": lambda x: RISE(m, 1000, seed=0)(x).heatmap,
        "SWAG_I": lambda x: SWAG(m, "I", mean=mean, std=std)(x).heatmap,
        "SWAG_I+G": lambda x: SWAG(m, "I+G", mean=mean, std=std)(x).heatmap,
        "SWAG_G": lambda x: SWAG(m, "G", mean=mean, std=std)(x).heatmap,
        "centre": lambda x: baselines.centre((x.shape[0], *x.shape[2:])),
    }


def show(ax, crop, heat=None, title=None):
    ax.imshow(crop)
    if heat is not None:
        ax.imshow(normalize_heatmap(np.asarray(heat)), cmap="jet", alpha=0.5, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def save(fig, name: str) -> None:
    OUT.mkdir(exist_ok=True)
    path = OUT / name
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    plt.close(fig)
    print(f"written {path}")


def main() -> None:
    torch.manual_seed(0)  # nothing here draws from it; explainers take their own seeds
    lite = models.load("efficientnet-lite0")
    photos = data.sample_images()
    names = list(photos)
    crops = np.stack([lite.preprocess.crop(photos[n]) for n in names])
    x = lite.preprocess.normalize(crops)
    fns = explainers(lite)
    heat = {k: fn(x).detach() for k, fn in fns.items()}

    # Fig. 3.11: method comparison grid
    show_rows = [0, 1, 2, 3]
    cols = [k for k in fns if k != "centre"]
    fig, axes = plt.subplots(
        len(show_rows), len(cols) + 1, figsize=(1.9 * (len(cols) + 1), 1.9 * len(show_rows))
    )
    with torch.no_grad():
        pred = lite.model(x).argmax(1)
    for r, i in enumerate(show_rows):
        show(
            axes[r, 0],
            crops[i],
            title=f"{names[i]}\n{lite.class_names[int(pred[i])][:18]}" if r == 0 else None,
        )
        if r:
            axes[r, 0].set_title(lite.class_names[int(pred[i])][:18], fontsize=8)
        for c, k in enumerate(cols):
            show(axes[r, c + 1], crops[i], heat[k][i], title=k if r == 0 else None)
    save(fig, "fig3_11_methods.png")

    # Figs. 3.13 / 3.14: mean deletion and insertion curves
    aucs = {}
    for kind, fn in (("deletion", metrics.deletion), ("insertion", metrics.insertion)):
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for k in fns:
            cur = fn(lite.model, x, heat[k])
            mean = cur.curves.mean(dim=0).numpy()
            aucs[(kind, k)] = float(cur.auc.mean())
            ax.plot(np.linspace(0, 1, len(mean)), mean, label=f"{k} ({aucs[(kind, k)]:.3f})")
        ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'restored'}")
        ax.set_ylabel("softmax of the predicted class")
        ax.set_title(
            f"{kind} on the {len(names)} sample photos (EfficientNet-Lite0), AUC in brackets", fontsize=9
        )
        ax.legend(fontsize=7)
        save(fig, f"fig3_1{3 if kind == 'deletion' else 4}_{kind}.png")

    # Fig. 3.16: efficiency vs deletion AUC (one photo per call, median of 3 after a warm-up)
    secs = {}
    for k, fn in fns.items():
        fn(x[:1])
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn(x[:1])
            ts.append(time.perf_counter() - t0)
        secs[k] = statistics.median(ts)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    placed: list[tuple[float, float]] = []
    for k in fns:
        px, py = secs[k], aucs[("deletion", k)]
        ax.scatter(px, py)
        # stack the labels of points that nearly coincide (SWAG's variants) instead of overprinting
        near = sum(abs(np.log10(px / qx)) < 0.15 and abs(py - qy) < 0.004 for qx, qy in placed)
        placed.append((px, py))
        ax.annotate(k, (px, py), fontsize=7, xytext=(4, 3 - 10 * near), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per image (CPU, 2 threads; log scale)")
    ax.set_ylabel("deletion AUC (lower is better)")
    ax.set_title("efficiency vs accuracy on the sample photos", fontsize=9)
    save(fig, "fig3_16_efficiency.png")

    # Fig. 5.3: Jitter-CAM at several CAM sizes
    i = names.index("chelsea")
    sizes = [("Grad-CAM 7x7", GradCAM(lite.model, lite.layer))]
    sizes += [
        (f"Jitter-CAM {7 * s}x{7 * s}", JitterCAM(lite.model, lite.layer, cam_scale=float(s)))
        for s in (2, 3, 4)
    ]
    fig, axes = plt.subplots(2, len(sizes), figsize=(2.4 * len(sizes), 4.8))
    for c, (title, e) in enumerate(sizes):
        exp = e(x[i : i + 1])
        show(axes[0, c], crops[i], exp.heatmap[0].detach(), title=title)
        axes[1, c].imshow(exp.raw[0].detach().numpy(), cmap="jet")
        axes[1, c].set_xticks([])
        axes[1, c].set_yticks([])
    axes[1, 0].set_ylabel("raw CAM", fontsize=8)
    save(fig, "fig5_3_jitter_sizes.png")


if __name__ == "__main__":
    main()
