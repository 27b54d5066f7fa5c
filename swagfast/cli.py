"""The ``swagfast`` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from swagfast import viz


def _demo(args: argparse.Namespace) -> int:
    from swagfast import SWAG, data, models

    bundle = models.load("efficientnet-lite0", device=args.device)
    photos = data.sample_images()
    names = list(photos)[: args.limit] if args.limit else list(photos)
    crops = np.stack([bundle.preprocess.crop(photos[n]) for n in names])
    x = bundle.preprocess.normalize(crops).to(args.device)
    with torch.no_grad():
        probs = bundle.model(x).softmax(dim=1)
    swag = SWAG(bundle.model, args.variant, args.segments, mean=bundle.mean, std=bundle.std)
    exp = swag(x, image=crops).numpy()
    overlays = exp.overlay(crops)
    borders = exp.borders(crops)
    out = Path(args.out)
    summary = []
    for i, name in enumerate(names):
        top = probs[i].topk(3)
        preds = [
            (int(c), bundle.class_names[int(c)], float(p))
            for p, c in zip(top.values, top.indices, strict=True)
        ]
        panel = np.concatenate([crops[i], overlays[i], borders[i]], axis=1)
        lines = [f"{name}: {n} ({p:.2f})" for _, n, p in preds[:1]]
        lines += [f"  {n} ({p:.2f})" for _, n, p in preds[1:]]
        lines += [f"middle: {exp.method} heatmap, right: its {int(exp.segments[i].max()) + 1} superpixels"]
        path = viz.write_png(out / f"{name}.png", viz.caption(panel, lines))
        summary.append(
            {
                "image": name,
                "file": path.name,
                "method": exp.method,
                "target": int(exp.target[i]),
                "top3": [{"class": c, "name": n, "prob": p} for c, n, p in preds],
            }
        )
        print(f"{name:>22}: {preds[0][1]} ({preds[0][2]:.2f}) -> {path}")
    timings = {k: round(v, 4) for k, v in exp.timings.items()}
    viz.write_bytes_atomic(
        out / "demo.json", json.dumps({"timings_s": timings, "images": summary}, indent=2).encode()
    )
    print(f"{exp.method} for {len(names)} photos: " + ", ".join(f"{k} {v:.3f} s" for k, v in timings.items()))
    return 0


def _info(args: argparse.Namespace) -> int:
    import swagfast

    print(f"swagfast {swagfast.__version__}")
    for name, status in swagfast.backends().items():
        print(f"  {name:6} {'yes' if status.available else 'no ':3}  {status.reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swagfast", description="Fast explanations for CNNs.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="explain the bundled sample photos with SWAG on the embedded model")
    demo.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    demo.add_argument("--limit", type=int, default=0, help="only the first N photos (default: all)")
    demo.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    demo.add_argument("--variant", default="G", choices=["G", "I", "I+G"], help="SWAG variant (default: G)")
    demo.add_argument("--segments", type=int, default=300, help="superpixels per photo (default: 300)")
    demo.set_defaults(func=_demo)
    info = sub.add_parser("info", help="show the version and which backends are usable")
    info.set_defaults(func=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
