"""Peak memory of swagfast's ops beside their peers', in one run.

Per call, the memory it adds at its peak over what the process held before (its result
included), median of ``--repeats`` calls after a warm-up: on the CPU the peak resident set
(``VmHWM``, reset before each call; freed heap memory handed back first, so every allocator is
seen: torch's, numpy's, OpenCV's, swagfast's C++), on CUDA torch's peak allocated bytes. Each
group's ratios are to its swagfast method (``x swagfast``: a peer's 3.0 is three times ours).

* SLIC on a 224x224 photo (K=300, mode I) and supervoxels of a 16x112x112 clip (K=120):
  swagfast beside scikit-image and OpenCV (as ``bench_slic.py``).
* Segment pooling of 64 maps of 224x224 into 300 segments: swagfast beside torch's
  scatter_reduce and numpy's bincount (as ``bench_pool.py``).
* Every image explainer on EfficientNet-Lite0 (as ``bench_peers.py``): one photo, with the
  per-image peers (LIME, Captum Lime, RISE, XRAI; ``--quick`` leaves them out), and 8 photos.
* SWAG-V, guided backprop and Grad-CAM on one 16x112x112 clip of the shipped action-demo model.

Run: ``python benchmarks/bench_memory.py [--device cuda] [--repeats 3] [--quick]``. On CUDA
only the groups that run on the device (pooling, the explainers, SWAG-V).
"""

from __future__ import annotations

import argparse
import warnings

from _common import PeakMemory, report
from bench_peers import explainers
from bench_pool import make_inputs, numpy_pool, torch_pool
from bench_slic import gradient_of, opencv_slic

import swagfast
from swagfast import SWAGV, GradCAM, attribution, data, models
from swagfast.data import center_crop_resize, sample_images
from swagfast.testing import photo_clip


def groups(device: str, quick: bool) -> dict[str, tuple[str, dict]]:
    """setting -> (the swagfast method the ratios are to, {method: call})."""
    out = {}
    cpu = device == "cpu"
    if cpu:
        from skimage.segmentation import slic as sk_slic

        img = center_crop_resize(sample_images()["chelsea"], 224)
        slic = {
            "swagfast.slic": lambda: swagfast.slic(img, 300),
            "skimage.slic": lambda: sk_slic(img, 300, compactness=10, start_label=0),
        }
        try:
            opencv_slic(img, 300)
            slic["cv2.ximgproc SLIC"] = lambda: opencv_slic(img, 300)
        except (ImportError, AttributeError) as err:
            print(f"OpenCV SLIC row skipped: cv2.ximgproc is unavailable ({err}); pip install .[bench]")
        out["224x224 photo, K=300, mode I"] = ("swagfast.slic", slic)
        clip = photo_clip(16, 112)
        cgrad = gradient_of(clip)
        out["16x112x112 clip, K=120"] = (
            "swagfast.supervoxels (I+G)",
            {
                "swagfast.supervoxels (I+G)": lambda: swagfast.supervoxels(
                    clip, 120, gradient=cgrad, mode="I+G", w_c=20, w_g=9
                ),
                "swagfast.supervoxels (I)": lambda: swagfast.supervoxels(clip, 120),
                "skimage.slic 3-D (I)": lambda: sk_slic(
                    clip, 120, compactness=10, start_label=0, channel_axis=-1
                ),
            },
        )
    v, lab, n = make_inputs(64, 224, 224, device)
    pool = {
        "swagfast.segment_pool": lambda: swagfast.segment_pool(v, lab, n_segments=n),
        "torch scatter_reduce + gather": lambda: torch_pool(v, lab, n),
    }
    if cpu:
        vn, ln = v.numpy(), lab.numpy()
        pool["numpy bincount"] = lambda: numpy_pool(vn, ln, n)
    out["64 maps of 224x224, K=300"] = ("swagfast.segment_pool", pool)
    out["1 photo, EfficientNet-Lite0"] = ("SWAG_G", explainers(1, device=device, slow=not quick))
    out["8 photos, EfficientNet-Lite0"] = ("SWAG_G", explainers(8, device=device))
    demo = models.load("action-demo", device=device)
    x = data.action_set(1, seed=11).inputs(demo.mean, demo.std).to(device)
    clips = {}
    for variant in ("I+G", "G", "I"):
        swag = SWAGV(demo.model, variant, mean=demo.mean, std=demo.std)
        clips[f"SWAG-V_{variant}"] = lambda s=swag: s(x)
    clips["guided backprop"] = lambda: attribution.attribute(demo.model, x, "guided")
    clips["Grad-CAM"] = lambda: GradCAM(demo.model, demo.layer)(x)
    out["1 clip 16x112x112, action-demo"] = ("SWAG-V_I+G", clips)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="leave out LIME, Captum Lime, RISE and XRAI")
    args = parser.parse_args()
    memory = PeakMemory(args.device)  # before anything is loaded (see its docstring)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum's and lime's own deprecation chatter
        for setting, (ours, fns) in groups(args.device, args.quick).items():
            peaks = {k: memory.median(fn, args.repeats) for k, fn in fns.items()}
            for k, mib in peaks.items():
                rows.append(
                    {
                        "setting": setting,
                        "method": k,
                        "device": args.device,
                        "peak_mib": round(mib, 2),
                        "x_swagfast": round(mib / peaks[ours], 2) if peaks[ours] > 0 else None,
                    }
                )
                print(rows[-1], flush=True)
    report(f"bench_memory_{args.device.split(':')[0]}", rows, reference=None, extra={"repeats": args.repeats})


if __name__ == "__main__":
    main()
