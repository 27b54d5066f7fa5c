"""Every ``swagfast explain --method`` for images, at its defaults, on the embedded model and the
nine sample photos: does each give a heatmap that ranks something (not the same value
everywhere), and how long does it take per photo? Also times the first explanation from the
command line (a cold process: import, model load, one photo).

Run: ``python benchmarks/check_methods.py [--limit-slow N]``; writes results/check_methods.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from _common import RESULTS, machine

import swagfast
from swagfast import api, data, models


def first_explanation_s(photo: np.ndarray) -> float:
    """Wall time of ``swagfast explain one.jpg`` in a fresh process (the default method)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        cv2.imwrite(str(path), photo[..., ::-1])
        t0 = time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "swagfast"),
                "explain",
                str(path),
                "--out",
                str(Path(tmp) / "o"),
                "--quiet",
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit-slow", type=int, default=0, help="photos for the slow methods (0: all nine)")
    parser.add_argument("--photos", type=int, default=9, help="photos for every method (default: all nine)")
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="only these; their rows replace those of the last run's JSON",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    lite = models.load()
    photos = data.sample_images()
    names = list(photos)[: args.photos]
    rows = []
    for method in api.METHODS:
        if method in api.VIDEO_ONLY or (args.methods and method not in args.methods):
            continue
        use = names[: args.limit_slow] if method in api.SLOW and args.limit_slow else names
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exp = swagfast.explain(lite, [photos[n] for n in use], method)
        seconds = (time.perf_counter() - t0) / len(use)
        flat = exp.heatmap.reshape(len(use), -1).float()
        spread = (flat.amax(1) - flat.amin(1)).tolist()
        rows.append(
            {
                "method": method,
                "layer": lite.layer if method in api.LAYER_METHODS else None,
                "photos": len(use),
                "constant": [n for n, s in zip(use, spread, strict=True) if s == 0],
                "min_range": min(spread),
                "warnings": sorted({str(w.message)[:120] for w in caught}),
                "s_per_photo": seconds,
            }
        )
        print(
            f"{method:>15}: {len(rows[-1]['constant'])} of {len(use)} constant, {seconds:.2f} s a photo",
            flush=True,
        )
    out = RESULTS / "check_methods.json"
    result = {"machine": machine(), "args": vars(args), "methods": rows}
    if args.methods:  # a partial run: its rows merged into the last run's, in METHODS' order
        last = json.loads(out.read_text())
        mine = {r["method"]: r for r in rows}
        both = {**{r["method"]: r for r in last["methods"]}, **mine}
        result["methods"] = [both[m] for m in api.METHODS if m in both]
        result["first_explanation_s"] = last["first_explanation_s"]
        result["runs"] = [*last.get("runs", [{"machine": last["machine"], "args": last["args"]}])]
        result["runs"].append({"machine": result["machine"], "args": vars(args)})
    else:
        result["first_explanation_s"] = [first_explanation_s(photos["chelsea"]) for _ in range(3)]
    cold = np.median(result["first_explanation_s"])
    print(f"first explanation from the command line (fresh process): {cold:.1f} s (median of 3)")
    RESULTS.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
