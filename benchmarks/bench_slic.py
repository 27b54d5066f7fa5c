"""SLIC superpixels and supervoxels: swagfast (native, Numba, CUDA) beside scikit-image and OpenCV.

Single-image rows run on one thread (swagfast.set_num_threads(1), cv2.setNumThreads(1);
scikit-image is single-threaded); the batch rows and one 16x224x224 clip (split across threads
within the item) compare 1 and 2 threads. Every method gets the RGB uint8 image and does its own
colour conversion inside the timed call.

Run: ``python benchmarks/bench_slic.py [--device cuda] [--repeats N]``. OpenCV's SLIC needs
``pip install .[bench]`` (opencv-contrib-python-headless); without it the row says so.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from _common import median_ms, median_ms_interleaved, report

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
    lab = rgb2lab(img)
    clip = photo_clip(16, 112)
    cgrad = gradient_of(clip)
    batch = np.stack([center_crop_resize(p, 224) for p in sample_images().values()] * 8)[:64]
    rows = []

    def ev(labels):
        return round(explained_variation(lab, labels), 4)

    before = swagfast.get_num_threads()
    swagfast.set_num_threads(1)
    size, csize, bsize = "224x224, K=300", "16x112x112, K=120", "64x224x224, K=300"
    # name: (backend, mode, size, fn, explained variation or None); timed in interleaved rounds
    single = {
        "skimage.slic": ("skimage", "I", size, lambda: sk_slic(img, 300, compactness=10, start_label=0)),
        "swagfast.slic [cpu, I]": ("cpu", "I", size, lambda: swagfast.slic(img, 300, backend="cpu")),
        "swagfast.slic [numba, I]": ("numba", "I", size, lambda: swagfast.slic(img, 300, backend="numba")),
        "swagfast.slic [cpu, G]": (
            "cpu",
            "G",
            size,
            lambda: swagfast.slic(None, 300, gradient=grad, mode="G"),
        ),
        "swagfast.slic [cpu, I+G]": (
            "cpu",
            "I+G",
            size,
            lambda: swagfast.slic(img, 300, gradient=grad, mode="I+G", w_c=20, w_g=9),
        ),
    }
    try:
        import cv2

        cv2.setNumThreads(1)
        opencv_slic(img, 300)
        single["cv2.ximgproc SLIC"] = ("opencv", "I", size, lambda: opencv_slic(img, 300))
    except (ImportError, AttributeError) as err:
        print(f"OpenCV SLIC row skipped: cv2.ximgproc is unavailable ({err}); pip install .[bench]")
    video = {
        "skimage.slic (3-D)": (
            "skimage",
            "I",
            csize,
            lambda: sk_slic(clip, 120, compactness=10, start_label=0, channel_axis=-1),
        ),
        "swagfast.supervoxels [cpu, I+G]": (
            "cpu",
            "I+G",
            csize,
            lambda: swagfast.supervoxels(clip, 120, gradient=cgrad, mode="I+G", w_c=20, w_g=9, backend="cpu"),
        ),
        "swagfast.supervoxels [numba, I+G]": (
            "numba",
            "I+G",
            csize,
            lambda: swagfast.supervoxels(
                clip, 120, gradient=cgrad, mode="I+G", w_c=20, w_g=9, backend="numba"
            ),
        ),
    }
    for table, reps in ((single, repeats), (video, max(3, repeats // 3))):
        res = median_ms_interleaved({k: v[3] for k, v in table.items()}, reps)
        for name, (backend, mode, sz, fn) in table.items():
            quality = ev(fn()) if sz == size and mode == "I" else None
            rows.append(
                {
                    "method": name.split(" [")[0],
                    "backend": backend,
                    "mode": mode,
                    "size": sz,
                    "threads": 1,
                    "explained_variation": quality,
                    "median_ms": res[name],
                }
            )

    def on_threads(fn, method, mode, size):
        """fn at one and two threads, in interleaved rounds too: the VM's speed drifts between runs."""

        def run(threads):
            swagfast.set_num_threads(threads)
            return fn()

        res = median_ms_interleaved({t: (lambda t=t: run(t)) for t in (1, 2)}, max(3, repeats // 3))
        for threads, ms in res.items():
            rows.append(
                {
                    "method": method,
                    "backend": "cpu",
                    "mode": mode,
                    "size": size,
                    "threads": threads,
                    "explained_variation": None,
                    "median_ms": ms,
                }
            )

    # threads across a batch; and within one item large enough (see kInnerParallelVoxels)
    on_threads(lambda: swagfast.slic(batch, 300), "swagfast.slic", "I", bsize)
    big = photo_clip(16, 224)
    big_grad = gradient_of(big)
    on_threads(
        lambda: swagfast.supervoxels(big, 480, gradient=big_grad, mode="I+G", w_c=20, w_g=9),
        "swagfast.supervoxels",
        "I+G",
        "16x224x224, K=480",
    )
    swagfast.set_num_threads(before)
    return rows


def cuda_rows(repeats: int) -> list[dict]:
    img = center_crop_resize(sample_images()["chelsea"], 224)
    batch = torch.from_numpy(np.stack([img] * 64)).cuda().permute(0, 3, 1, 2).contiguous()
    grad = torch.from_numpy(np.stack([gradient_of(img)] * 64)).cuda()
    rows = []

    def timed(method, backend, mode, size, items, fn, n=repeats):
        ms = median_ms(fn, n, sync=backend == "cuda")
        row = {"method": method, "backend": backend, "mode": mode, "size": size}
        rows.append({**row, "ms_per_image": round(ms / items, 4), "median_ms": ms})

    images = "64x224x224, K=300"
    for mode, kw in (("I", {}), ("G", {"gradient": grad}), ("I+G", {"gradient": grad, "w_c": 20, "w_g": 9})):
        image = None if mode == "G" else batch
        fn = lambda image=image, mode=mode, kw=kw: swagfast.slic(image, 300, mode=mode, **kw)  # noqa: E731
        timed("swagfast.slic", "cuda", mode, images, 64, fn)
    # connectivity: the raster rule's share (on the host, labels copied each way through pinned
    # memory) and the order-free rule on the device
    for method, kw in (
        ("swagfast.slic, connectivity not enforced", {"enforce_connectivity": False}),
        ("swagfast.slic, connectivity=parallel", {"connectivity": "parallel"}),
    ):
        timed(method, "cuda", "I", images, 64, lambda kw=kw: swagfast.slic(batch, 300, **kw))
    clip = photo_clip(16, 112)
    clips = torch.from_numpy(np.stack([clip] * 8)).cuda()
    cgrad = torch.from_numpy(np.stack([gradient_of(clip)] * 8)).cuda()
    for method, rule in (
        ("swagfast.supervoxels", "raster"),
        ("swagfast.supervoxels, connectivity=parallel", "parallel"),
    ):
        kw = dict(gradient=cgrad, mode="I+G", w_c=20, w_g=9, channel_axis=-1, connectivity=rule)
        timed(
            method,
            "cuda",
            "I+G",
            "8x16x112x112, K=120",
            8,
            lambda kw=kw: swagfast.supervoxels(clips, 120, **kw),
        )
    timed("swagfast.slic", "cpu", "I", images, 64, lambda: swagfast.slic(batch.cpu(), 300), n=3)
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
