"""CAMs and Jitter-CAM on the embedded EfficientNet-Lite0 (224x224, layer ``_bn1``: 1280 x 7 x 7).

* Jitter-CAM (cam_scale 2: 64 patches) against one batched forward+backward of the same 64
  patches (the floor for any implementation) and against the loop users write today (64 separate
  Grad-CAM calls).
* Grad-CAM, Score-CAM, Ablation-CAM and Jitter-CAM per image as ratios to the floor (the model's
  forward plus one backward to the input, no hooks) and to Grad-CAM, beside the thesis's
  Table 5.5 (Titan X, ResNet-50; seconds), with the forward alone and Captum's LayerGradCam.

Run: ``python benchmarks/bench_cam.py [--device cuda] [--repeats N]``.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _common import median_ms_interleaved, ratio_rows, report
from bench_swag import floor as floor_call
from bench_swag import forward_only

from swagfast import AblationCAM, GradCAM, JitterCAM, ScoreCAM, data, models

THESIS_S = {"Grad-CAM": 0.03, "Score-CAM": 3.83, "Ablation-CAM": 0.60, "Jitter-CAM[Grad-CAM]": 0.37}
LAYERS = {"efficientnet-lite0": "_bn1", "torchvision:resnet50": "layer4"}
FLOOR = "floor (forward + backward to the input)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="efficientnet-lite0", help="or torchvision:resnet50 (random init)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dev = args.device
    sync = dev.startswith("cuda")
    lite = models.load(args.model, device=dev)
    x = lite.preprocess([data.sample_images()["chelsea"]]).to(dev)
    LAYER = LAYERS[args.model]
    gradcam = GradCAM(lite.model, LAYER)
    jitter = JitterCAM(lite.model, LAYER, "grad-cam", cam_scale=2.0)
    t = lite.model(x).argmax(1)
    # the 64 patches Jitter-CAM explains
    up = F.interpolate(x, size=(448, 448), mode="bilinear", align_corners=False)
    patches = torch.stack(
        [up[0, :, 32 * i : 32 * i + 224, 32 * j : 32 * j + 224] for i in range(8) for j in range(8)]
    )
    t64 = t.expand(64)

    bs = gradcam.batch_size_for(x.device)
    floor = f"forward+backward of the 64 patches (batches of {bs})"
    res = median_ms_interleaved(
        {
            floor: lambda: [gradcam.raw(patches[i : i + bs], t64[i : i + bs]) for i in range(0, 64, bs)],
            "forward+backward of the 64 patches (one batch of 64)": lambda: gradcam.raw(patches, t64),
            f"Jitter-CAM (64 patches, batches of {bs})": lambda: jitter(x),
            "64 separate Grad-CAM calls": lambda: [gradcam(patches[i : i + 1], t) for i in range(64)],
        },
        args.repeats,
        warmup=1,
        sync=sync,
    )
    rows = [{"method": k, "device": dev, "median_ms": v} for k, v in res.items()]
    report(f"bench_jitter_{dev.split(':')[0]}", rows, reference=floor)

    print()
    cams = {
        "Grad-CAM": gradcam,
        "Ablation-CAM": AblationCAM(lite.model, LAYER),
        "Score-CAM": ScoreCAM(lite.model, LAYER),
        "Jitter-CAM[Grad-CAM]": jitter,
    }
    fns = {
        FLOOR: lambda: floor_call(lite.model, x),
        "forward alone (no_grad)": lambda: forward_only(lite.model, x),
    }
    fns |= {k: (lambda c=c: c(x)) for k, c in cams.items()}
    try:  # the peer: Captum's LayerGradCam, up-sampled to the input as Grad-CAM users do
        from captum.attr import LayerAttribution, LayerGradCam

        lgc = LayerGradCam(lite.model, lite.model.get_submodule(LAYER))

        def captum_gradcam():
            a = lgc.attribute(x, target=int(t[0]), relu_attributions=True)
            return LayerAttribution.interpolate(a, tuple(x.shape[2:]), "bilinear")

        fns["Captum LayerGradCam"] = captum_gradcam
    except ImportError:
        print("captum is not importable: the Captum LayerGradCam row is left out")
    # the per-channel CAMs take seconds, Grad-CAM and its peer tens of ms: the quick ones get
    # more repeats (their own interleaved run), so their ratio is not two samples' noise
    quick = (FLOOR, "forward alone (no_grad)", "Grad-CAM", "Captum LayerGradCam")
    res = median_ms_interleaved(
        {k: f for k, f in fns.items() if k in quick}, max(5, 4 * args.repeats), warmup=1, sync=sync
    )
    slow = {k: f for k, f in fns.items() if k not in quick}
    res |= median_ms_interleaved(slow, max(1, args.repeats // 2), warmup=1, sync=sync)
    res = {k: res[k] for k in fns}  # the table's order
    rows = ratio_rows(res, FLOOR, "Grad-CAM", "x_gradcam", THESIS_S, floor_digits=3, device=dev)
    if sync:  # the GPU check also times Jitter-CAM at B=16
        x16 = x.expand(16, *x.shape[1:]).contiguous()
        ms = median_ms_interleaved(
            {"j": lambda: jitter(x16)}, max(1, args.repeats // 2), warmup=1, sync=True
        )["j"]
        rows.append(
            {
                "method": "Jitter-CAM[Grad-CAM], B=16",
                "device": dev,
                "x_floor": None,
                "x_gradcam": round(ms / res["Grad-CAM"], 2),
                "thesis_x_gradcam": None,
                "median_ms": ms,
            }
        )
    report(f"bench_cam_{dev.split(':')[0]}", rows, reference=None)


if __name__ == "__main__":
    main()
