"""SLIC superpixels and supervoxels: swagfast (native, Numba, CUDA) beside scikit-image and OpenCV.

Single-image rows run on one thread (swagfast.set_num_threads(1), cv2.setNumThreads(1);
scikit-image is single-threaded); the batch rows compare 1 and 2 threads. Every method gets the
RGB uint8 image and does its own colour conversion inside the timed call.

Run: ``python benchmarks/bench_slic.py [--device cuda] [--repeats N]``. OpenCV's SLIC needs
``pip install .[bench]`` (opencv-contrib-python-headless); without it the row says so.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from _common import median_ms, report

import swagfast
from swagfast.data import center_crop_resize, sample_images
from swagfast.testing import explained_variation, photo_clip


def opencv_slic(img: np.ndarray, K: int):
    import cv2

    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    region = int(round(math.sqrt(img.shape[0] * img.shape[1] / K)))
    s = cv2.ximgproc.createSuperpixelSLIC(lab, algorithm=cv2.ximgproc.SLIC, region_size=region, ruler=10.0)
    s.iterate(10)
    s.enforceLabelConnectivity(25)
    return s.getLabels()


def gradient_of(img: np.ndarray) -> np.ndarray:
    """A stand-in attribution map with realistic structure: the luminance gradient magnitude."""
    grey = img.mean(axis=-1).astype(np.float32)
    gy, gx = np.gradient(grey, axis=(-2, -1))
    return np.hypot(gy, gx).astype(np.float32)


def cpu_rows(repeats: int) -> list[dict]:
    from skimage.color import rgb2lab
    from skimage.segmentation import slic as sk_slic

    img = center_crop_resize(sample_images()["chelsea"], 224)
    grad = gradient_of(img)
    rows = []

    def add(method, backend, mode, size, fn, threads, reps=repeats, ev=None):
        rows.append({"method": method, "backend": backend, "mode": mode, "size": size, "threads": threads,
                     "explained_variation": ev, "median_ms": median_ms(fn, reps)})

    before = swagfast.get_num_threads()
    swagfast.set_num_threads(1)
    lab = rgb2lab(img)
    size = "224x224, K=300"
    add("skimage.slic", "skimage", "I", size, lambda: sk_slic(img, 300, compactness=10, start_label=0), 1,
        ev=round(explained_variation(lab, sk_slic(img, 300, compactness=10, start_label=0)), 4))
    try:
        import cv2

        cv2.setNumThreads(1)
        add("cv2.ximgproc SLIC", "opencv", "I", size, lambda: opencv_slic(img, 300), 1,
            ev=round(explained_variation(lab, opencv_slic(img, 300)), 4))
    except (ImportError, AttributeError) as err:
        print(f"OpenCV SLIC row skipped: cv2.ximgproc is unavailable ({err}); pip install .[bench]")
    for be in ("cpu", "numba"):
        add("swagfast.slic", be, "I", size, lambda be=be: swagfast.slic(img, 300, backend=be), 1,
            ev=round(explained_variation(lab, swagfast.slic(img, 300, backend=be)), 4))
    add("swagfast.slic", "cpu", "G", size, lambda: swagfast.slic(None, 300, gradient=grad, mode="G"), 1)
    add("swagfast.slic", "cpu", "I+G", size,
        lambda: swagfast.slic(img, 300, gradient=grad, mode="I+G", w_c=20, w_g=9), 1)

    clip = photo_clip(16, 112)
    cgrad = gradient_of(clip)
    csize = "16x112x112, K=120"
    add("skimage.slic (3-D)", "skimage", "I", csize,
        lambda: sk_slic(clip, 120, compactness=10, start_label=0, channel_axis=-1), 1, reps=max(3, repeats // 3))
    for be in ("cpu", "numba"):
        add("swagfast.supervoxels", be, "I+G", csize,
            lambda be=be: swagfast.supervoxels(clip, 120, gradient=cgrad, mode="I+G", w_c=20, w_g=9, backend=be), 1)

    batch = np.stack([center_crop_resize(p, 224) for p in sample_images().values()] * 8)[:64]
    bsize = "64x224x224, K=300"
    for threads in (1, 2):
        swagfast.set_num_threads(threads)
        add("swagfast.slic", "cpu", "I", bsize, lambda: swagfast.slic(batch, 300), threads, reps=max(3, repeats // 5))
    swagfast.set_num_threads(before)
    return rows


def cuda_rows(repeats: int) -> list[dict]:
    img = center_crop_resize(sample_images()["chelsea"], 224)
    batch = torch.from_numpy(np.stack([img] * 64)).cuda().permute(0, 3, 1, 2).contiguous()
    grad = torch.from_numpy(np.stack([gradient_of(img)] * 64)).cuda()
    rows = []
    for mode, kw in (("I", {}), ("G", {"gradient": grad}), ("I+G", {"gradient": grad, "w_c": 20, "w_g": 9})):
        image = None if mode == "G" else batch
        fn = lambda image=image, mode=mode, kw=kw: swagfast.slic(image, 300, mode=mode, **kw)  # noqa: E731
        ms = median_ms(fn, repeats, sync=True)
        rows.append({"method": "swagfast.slic", "backend": "cuda", "mode": mode, "size": "64x224x224, K=300",
                     "ms_per_image": round(ms / 64, 4), "median_ms": ms})
    rows.append({"method": "swagfast.slic", "backend": "cpu", "mode": "I", "size": "64x224x224, K=300",
                 "ms_per_image": None, "median_ms": median_ms(lambda: swagfast.slic(batch.cpu(), 300), 3)})
    rows[-1]["ms_per_image"] = round(rows[-1]["median_ms"] / 64, 4)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    if args.device.startswith("cuda"):
        report("bench_slic_cuda", cuda_rows(args.repeats), reference="swagfast.slic")
    else:
        report("bench_slic_cpu", cpu_rows(args.repeats), reference="skimage.slic")


if __name__ == "__main__":
    main()
