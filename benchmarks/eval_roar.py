"""ROAR (RemOve And Retrain, METHODS.md §6) on the BAM-style data: an object model is trained
on the synthetic images, every explainer's heatmaps are computed once with it, the top t% pixels
(t in 0, 10, 30, 50, 70, 90) of every train and test image are replaced by the image's mean colour,
and a fresh model is retrained on what is left (5 seeds per t). A better explanation removes
more of what the class needs: a lower accuracy curve, a lower AUC. Uniform noise and Sobel are the
baselines.

The heatmaps are computed on ``--explain-device`` (the CPU by default, so they are the same
whichever device trains). Each explainer's 30 retrainings are one task; ``--workers`` runs
tasks in separate processes (on one GPU several small trainings share the device). The JSON is
rewritten (atomically) as each explainer finishes, so a run cut short keeps what it finished.

Run: ``python benchmarks/eval_roar.py [--device cuda] [--workers 7] [--n 4000] [--epochs 14]``
(a CPU run here is ~99 s per training, 210 trainings; benchmarks/gpu_check.sh runs it).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import torch
from _common import RESULTS, machine
from eval_bam import EXPLAINERS as BAM_EXPLAINERS

from swagfast import baselines, metrics
from swagfast.data import bam_set, train_small_cnn

EXPLAINERS = ("noise", "Sobel", "Grad-CAM", "guided backprop", "SWAG_I", "SWAG_G", "SWAG_I+G")


def heatmaps(name: str, model: torch.nn.Module, x: torch.Tensor, seed: int, chunk: int = 500) -> torch.Tensor:
    """(B, H, W) heatmaps of ``name`` for the object model, in chunks (bounded memory): the
    baselines here, the explainers as eval_bam.py computes them."""
    out = []
    for i in range(0, len(x), chunk):
        xb = x[i : i + chunk]
        if name == "noise":
            h = baselines.noise(tuple(xb.shape[:1] + xb.shape[2:]), seed=seed + i)  # drawn on the CPU
        elif name == "Sobel":
            h = baselines.sobel(xb)
        else:
            h = BAM_EXPLAINERS[name](model, xb)
        out.append(h.detach())
    return torch.cat(out)


def retrain(task: dict) -> dict:
    """One explainer's ROAR curve (run in a worker process or in this one)."""
    dev = torch.device(task["device"])
    torch.set_num_threads(task["threads"])
    if dev.type == "cuda":
        torch.backends.cudnn.deterministic = True  # same seeds, same curve (this process only)
    x, y, xt, yt = (t.to(dev) for t in task["data"])
    heat = {x.data_ptr(): task["heat"][0].to(dev), xt.data_ptr(): task["heat"][1].to(dev)}
    t0 = time.perf_counter()
    curve = metrics.roar(
        lambda xs, ys, seed: train_small_cnn(xs, ys, epochs=task["epochs"], seed=seed),
        (x, y, xt, yt),
        lambda xs, _ys: heat[xs.data_ptr()],
        fractions=task["fractions"],
        repeats=task["repeats"],
    )
    return {
        "explainer": task["name"],
        "fractions": curve.fractions.tolist(),
        "accuracy": curve.accuracy.tolist(),
        "mean": curve.mean.tolist(),
        "auc": curve.auc,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def write(doc: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "eval_roar.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu", help="where the models are trained")
    parser.add_argument("--explain-device", default="cpu", help="where the heatmaps are computed")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.1, 0.3, 0.5, 0.7, 0.9])
    parser.add_argument("--explainers", nargs="+", default=list(EXPLAINERS), choices=EXPLAINERS)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    dev = torch.device(args.device)
    train, test = bam_set(args.n, seed=0), bam_set(args.test, seed=1)
    x, y, xt, yt = train.images, train.objects, test.images, test.objects
    t0 = time.perf_counter()
    model = train_small_cnn(x.to(dev), y.to(dev), epochs=args.epochs, seed=0)
    with torch.no_grad():
        acc = float((model(xt.to(dev)).argmax(1).cpu() == yt).float().mean())
    print(f"object model: test accuracy {acc:.3f}, trained in {time.perf_counter() - t0:.1f} s on {dev}")
    edev = torch.device(args.explain_device)
    emodel = copy.deepcopy(model).to(edev)
    tasks = []
    for k, name in enumerate(args.explainers):
        heat = tuple(heatmaps(name, emodel, d.to(edev), 100 * k + s).cpu() for d, s in ((x, 0), (xt, 50)))
        tasks.append(
            {
                "name": name,
                "device": args.device,
                "data": (x, y, xt, yt),
                "heat": heat,
                "epochs": args.epochs,
                "fractions": args.fractions,
                "repeats": args.repeats,
                "threads": max(1, torch.get_num_threads() // max(1, args.workers)),
            }
        )
    doc = {"machine": machine(), "args": vars(args), "object_model_accuracy": acc, "roar": {}}
    pool = None
    if args.workers > 1:
        pool = ProcessPoolExecutor(min(args.workers, len(tasks)), mp_context=get_context("spawn"))
    try:
        if pool is None:
            done = map(retrain, tasks)
        else:
            done = (f.result() for f in as_completed([pool.submit(retrain, t) for t in tasks]))
        for row in done:
            doc["roar"][row["explainer"]] = row
            doc["roar"] = {k: doc["roar"][k] for k in args.explainers if k in doc["roar"]}
            write(doc)
            mean = " ".join(f"{v:.3f}" for v in row["mean"])
            name, auc, sec = row["explainer"], row["auc"], row["seconds"]
            print(f"{name}: AUC {auc:.4f}  accuracy by fraction {mean}  ({sec} s)")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


if __name__ == "__main__":
    main()
