"""The ``swagfast`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from swagfast import viz
from swagfast.explainers.cam import CAMS


def _usage_error(args: argparse.Namespace) -> str | None:
    """The first problem with the arguments ``demo`` and ``explain`` share (``--device``,
    ``--out``), or None."""
    try:
        device = torch.device(args.device)
    except RuntimeError:
        return f"--device must be a torch device such as cpu or cuda:0, got {args.device!r}"
    if device.type == "cuda" and not torch.cuda.is_available():
        return f"--device {args.device}: this torch has no usable CUDA device"
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as err:
        return f"--device {args.device}: {err}"
    if Path(args.out).exists() and not Path(args.out).is_dir():
        return f"--out must be a folder, got the file {args.out!r}"
    return None


def _writable_out(out: Path) -> tuple[str | None, bool]:
    """(problem or None, created): makes ``out`` (and its parents) and checks that a file can be
    created in it, so that a run that can write nothing stops before any work."""
    import tempfile

    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".swagfast-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        return f"--out {str(out)!r} cannot be written to: {err.strerror or err}", False
    return None, created


def _demo(args: argparse.Namespace) -> int:
    from swagfast import SWAG, data, models

    problem = _usage_error(args)
    if problem is None and args.limit < 0:
        problem = f"--limit must be >= 0 (0: all photos), got {args.limit}"
    if problem is None and args.segments < 1:
        problem = f"--segments must be >= 1, got {args.segments}"
    if problem is None:
        problem, _ = _writable_out(Path(args.out))
    if problem is not None:
        print(f"swagfast demo: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    bundle = models.load("efficientnet-lite0", device=args.device)
    photos = data.sample_images()
    names = list(photos)[: args.limit] if args.limit else list(photos)
    crops = np.stack([bundle.preprocess.crop(photos[n]) for n in names])
    x = bundle.preprocess.normalize(crops).to(args.device)
    with torch.no_grad():
        probs = bundle.model(x).softmax(dim=1)
    swag = SWAG(bundle.model, args.mode, args.segments, mean=bundle.mean, std=bundle.std)
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


LAYER_METHODS = ("jitter-cam", *CAMS)  # the CAM family under the names of explainers.cam.CAMS
METHODS = ("swag-g", "swag-i", "swag-ig", *LAYER_METHODS, "guided", "rise")
IMAGE_ONLY, VIDEO_ONLY = ("rise",), ("saliency-tubes",)
EXIT_OK, EXIT_SKIPPED, EXIT_USAGE = 0, 1, 2


def _method_name(name: str) -> str:
    """--method's value; a CAM's name before this release is taken with a note on stderr."""
    from swagfast.explainers.cam import OLD_CAM_NAMES

    if name in OLD_CAM_NAMES:
        new = OLD_CAM_NAMES[name]
        print(f"swagfast explain: note: --method {name} is now called {new}", file=sys.stderr)
        return new
    return name


def _inputs(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Files to explain (folders expanded to their images and videos, sorted) and problems found."""
    from swagfast.data import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    files, problems = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
            )
            if not found:
                problems.append(f"{p}: folder holds no images or videos")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or folder")
    return files, problems


def _read_rgb(path: Path) -> np.ndarray | None:
    import cv2

    buf = np.fromfile(str(path), dtype=np.uint8) if path.stat().st_size else np.zeros(0, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    return None if img is None else np.ascontiguousarray(img[..., ::-1])


def make_explainer(method: str, bundle, layer: str, segments: int | None = None, rise_masks: int = 4000):
    """``explain(x, crops, target) -> Explanation`` for a CLI method name (images or clips:
    the swag-* methods are SWAG-V on clips; ``segments`` None = the default, 300 / 120)."""
    from swagfast import RISE, SWAG, SWAGV, Explanation, JitterCAM, attribution
    from swagfast.models import ClipPreprocess

    m = bundle.model
    video = isinstance(bundle.preprocess, ClipPreprocess)
    if method.startswith("swag-"):
        mode = {"swag-g": "G", "swag-i": "I", "swag-ig": "I+G"}[method]
        cls = SWAGV if video else SWAG
        swag = cls(m, mode, segments or (120 if video else 300), mean=bundle.mean, std=bundle.std)
        return lambda x, crops, t: swag(x, t, image=crops)
    if method in CAMS:
        cam = CAMS[method](m, layer)
        return lambda x, crops, t: cam(x, t)
    if method == "jitter-cam":
        jit = JitterCAM(m, layer)
        return lambda x, crops, t: jit(x, t)
    if method == "rise":
        rise = RISE(m, rise_masks, seed=0)
        return lambda x, crops, t: rise(x, t)

    def guided(x, crops, t):
        heat, target = attribution.attribute(m, x, "guided", t)
        return Explanation(heatmap=heat, target=target, method="guided backprop")

    return guided


def _index_html(rows: list[dict], title: str) -> bytes:
    import html
    from urllib.parse import quote

    def href(name: str) -> str:  # a file name as a link: URL-quoted ('#', '?', '%'), then escaped
        return html.escape(quote(name))

    cells = []
    for r in rows:
        top, png = r["top5"][0], href(r["png"])
        video = f'<br><a href="{href(r["video"])}">{html.escape(r["video"])}</a>' if r.get("video") else ""
        cells.append(
            f'<tr><td><a href="{png}"><img src="{png}" width="480"></a></td>'
            f"<td>{html.escape(r['input'])}<br>explained: {html.escape(r['target']['name'])} "
            f"({r['target']['class']})<br>top-1: {html.escape(top['name'])} ({top['prob']:.2f})<br>"
            f'<a href="{href(r["json"])}">{html.escape(r["json"])}</a>{video}</td></tr>'
        )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{''.join(cells)}</table></body></html>"
    )
    return page.encode()


class _Batch(NamedTuple):
    """One explained batch: what its items' outputs are made of."""

    exp: object  # the Explanation, as numpy
    crops: np.ndarray  # (B, [T,] H, W, 3) uint8, what the model saw
    pictures: tuple  # (overlays, borders or None)
    probs: torch.Tensor  # (B, classes) softmax
    bundle: object
    layer: str


def _write_outputs(out: Path, stem: str, f: Path, i: int, batch: _Batch, args) -> dict:
    """PNG (+ MP4 for clips), optional .npy and the JSON of item ``i``; returns its JSON row."""
    exp, crops, pictures, probs, bundle, layer = batch
    top = probs[i].topk(min(5, probs.shape[1]))
    top5 = [
        {"class": int(c), "name": bundle.class_names[int(c)], "prob": round(float(p), 5)}
        for p, c in zip(top.values, top.indices, strict=True)
    ]
    t = int(exp.target[i])
    overlays = pictures[0][i]
    borders = pictures[1][i] if pictures[1] is not None else None
    lines = [f"{f.name}: explaining {bundle.class_names[t]} ({t}) with {exp.method}"]
    lines += [f"  {e['name']} ({e['prob']:.2f})" for e in top5[:3]]
    row: dict = {"input": str(f), "png": f"{stem}.png", "json": f"{stem}.json"}
    if crops.ndim == 5:  # a clip: a strip of 8 frames (clip / overlay / borders) and an MP4
        from swagfast.data import write_clip

        T = crops.shape[1]
        pick = np.round(np.linspace(0, T - 1, min(8, T))).astype(int)
        rows_ = [crops[i][pick], overlays[pick]] + ([borders[pick]] if borders is not None else [])
        strip = np.concatenate([np.concatenate(list(r), axis=1) for r in rows_], axis=0)
        viz.write_png(out / row["png"], viz.caption(strip, lines))
        side = np.concatenate([crops[i], overlays], axis=2)
        write_clip(out / f"{stem}.mp4", np.ascontiguousarray(side))
        row["video"] = f"{stem}.mp4"
    else:
        panels = [crops[i], overlays] + ([borders] if borders is not None else [])
        viz.write_png(out / row["png"], viz.caption(np.concatenate(panels, axis=1), lines))
    heat = np.asarray(exp.heatmap[i], dtype=np.float64)
    row.update(
        {
            "method": exp.method,
            "model": bundle.name,
            "layer": layer if args.method in LAYER_METHODS else None,
            "target": {"class": t, "name": bundle.class_names[t]},
            "top5": top5,
            "heatmap": {"shape": list(heat.shape), "min": float(heat.min()), "max": float(heat.max())},
            "segments": int(exp.segments[i].max()) + 1 if exp.segments is not None else None,
            "batch_timings_s": {k: round(v, 4) for k, v in exp.timings.items()},
        }
    )
    if args.save_heatmaps:
        import io

        bio = io.BytesIO()
        np.save(bio, heat.astype(np.float32))
        viz.write_bytes_atomic(out / f"{stem}.npy", bio.getvalue())
        row["heatmap_file"] = f"{stem}.npy"
    viz.write_bytes_atomic(out / row["json"], json.dumps(row, indent=2).encode())
    return row


def _fail(msg: str) -> int:
    print(f"swagfast explain: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _explainers(args: argparse.Namespace, files: list[Path], skipped: list) -> list | str:
    """(kind, files, bundle, layer, explain) per kind of input (images, videos) there is, or the
    usage error that stops the run; files of a kind the method cannot explain go to ``skipped``."""
    from swagfast import models
    from swagfast.data import VIDEO_SUFFIXES

    videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
    images = [f for f in files if f.suffix.lower() not in VIDEO_SUFFIXES]
    kinds = []
    for kind, group, name in (("image", images, args.model), ("video", videos, args.video_model)):
        if not group:
            continue
        if args.method in (IMAGE_ONLY if kind == "video" else VIDEO_ONLY):
            for f in group:
                print(
                    f"swagfast explain: skipped {f}: --method {args.method} is not for {kind}s",
                    file=sys.stderr,
                )
            skipped += group
            continue
        try:
            bundle = models.load(name, device=args.device, weights=args.weights if kind == "image" else None)
        except (ValueError, FileNotFoundError, RuntimeError) as err:
            return f"--{'model' if kind == 'image' else 'video-model'} {name}: {err}"
        is_clip = isinstance(bundle.preprocess, models.ClipPreprocess)
        if is_clip != (kind == "video"):
            return f"{name} is {'a clip' if is_clip else 'an image'} model; it cannot explain {kind}s"
        if args.target is not None and not 0 <= args.target < len(bundle.class_names):
            return f"--target must be a class in [0, {len(bundle.class_names)}), got {args.target}"
        layer = args.layer or bundle.layer
        try:
            explain = make_explainer(args.method, bundle, layer, args.segments)
        except ValueError as err:
            return str(err)
        kinds.append((kind, group, bundle, layer, explain))
    return kinds or "nothing to explain"


class _Run:
    """The outputs of one ``swagfast explain``: file names, rows, what was skipped."""

    def __init__(self, args: argparse.Namespace, out: Path, files: list[Path], skipped: int) -> None:
        self.args, self.out, self.skipped, self.index_failed = args, out, skipped, False
        self.rows: list[dict] = []
        self.used: set[str] = set()
        self.inputs = {f.resolve() for f in files}  # an output never replaces an input

    def stem(self, f: Path) -> str:
        """A free name for ``f``'s outputs (``NAME``, ``NAME-2``, ...)."""
        stem, k = f.stem, 2
        while stem in self.used or any(
            (self.out / f"{stem}{ext}").resolve() in self.inputs for ext in (".png", ".json", ".mp4", ".npy")
        ):
            stem, k = f"{f.stem}-{k}", k + 1
        self.used.add(stem)
        return stem

    def read(self, kind: str, chunk: list[Path], bundle) -> tuple[list[Path], list[np.ndarray]]:
        """The readable files of ``chunk`` and their crops; the others are reported."""
        from swagfast.data import read_clip

        names, crops = [], []
        for f in chunk:
            try:
                item = read_clip(f) if kind == "video" else _read_rgb(f)
                why = f"not a readable {kind}"
            except (OSError, ValueError) as err:
                item, why = None, str(err)
            if item is None:
                print(f"swagfast explain: skipped {f}: {why}", file=sys.stderr)
                self.skipped += 1
                continue
            names.append(f)
            crops.append(bundle.preprocess.crop(item))
        return names, crops

    def explain(self, names: list[Path], crops: list[np.ndarray], bundle, layer: str, explain) -> None:
        """Explain one batch and write each item's files (a failed write skips that item)."""
        args = self.args
        crops_np = np.stack(crops)
        x = bundle.preprocess.normalize(crops_np).to(args.device)
        with torch.no_grad():
            probs = bundle.model(x).softmax(dim=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exp = explain(x, crops_np, args.target).numpy()
            if not any("is constant" in str(w.message) for w in caught):  # explainers warn themselves
                exp.warn_if_constant("the attribution is zero or uniform on these inputs")
        for w in caught:
            print(f"swagfast explain: warning: {w.message}", file=sys.stderr)
        pictures = (exp.overlay(crops_np), exp.borders(crops_np) if exp.segments is not None else None)
        batch = _Batch(exp, crops_np, pictures, probs, bundle, layer)
        for i, f in enumerate(names):
            stem = self.stem(f)
            try:
                self.rows.append(_write_outputs(self.out, stem, f, i, batch, args))
            except OSError as err:  # this input's files go; the others are still explained
                for ext in (".png", ".json", ".mp4", ".npy"):
                    (self.out / f"{stem}{ext}").unlink(missing_ok=True)
                print(f"swagfast explain: skipped {f}: cannot write its outputs: {err}", file=sys.stderr)
                self.skipped += 1
        if self.rows:
            try:
                viz.write_bytes_atomic(
                    self.out / "index.html", _index_html(self.rows, f"swagfast explain: {args.method}")
                )
            except OSError as err:
                print(f"swagfast explain: cannot write {self.out / 'index.html'}: {err}", file=sys.stderr)
                self.index_failed = True


def _explain(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    problem = _usage_error(args)
    if problem is None and args.batch_size < 1:
        problem = f"--batch-size must be >= 1, got {args.batch_size}"
    if problem is None and args.segments is not None and args.segments < 1:
        problem = f"--segments must be >= 1, got {args.segments}"
    if problem is not None:
        return _fail(problem)
    files, problems = _inputs(args.paths)
    for p in problems:
        print(f"swagfast explain: skipped {p}", file=sys.stderr)
    kinds = _explainers(args, files, problems)
    if isinstance(kinds, str):
        return _fail(kinds)
    out = Path(args.out)
    problem, created = _writable_out(out)
    if problem is not None:
        return _fail(problem)
    run = _Run(args, out, files, len(problems))
    for kind, group, bundle, layer, explain in kinds:
        batches = [group[i : i + args.batch_size] for i in range(0, len(group), args.batch_size)]
        for chunk in tqdm(
            batches, disable=args.quiet or len(batches) < 2, desc=f"explain {kind}s", unit="batch"
        ):
            names, crops = run.read(kind, chunk, bundle)
            if names:
                run.explain(names, crops, bundle, layer, explain)
    if not run.rows:
        if created and not any(out.iterdir()):
            out.rmdir()
        return _fail(f"none of the {run.skipped} inputs could be explained")
    print(
        f"explained {len(run.rows)} of {len(run.rows) + run.skipped} inputs with {args.method}; "
        f"index: {out / 'index.html'}"
    )
    return EXIT_SKIPPED if run.skipped or run.index_failed else EXIT_OK


def _scripts(args: argparse.Namespace, prefix: str) -> int:
    """Run ``benchmarks/{prefix}_NAME.py`` scripts of a swagfast checkout, streaming their tables."""
    import shlex
    import subprocess

    root = (Path(args.dir) if args.dir else Path.cwd() / "benchmarks").resolve()  # the scripts run from it
    cmd = f"swagfast {'bench' if prefix == 'bench' else 'eval'}"
    if not root.is_dir():
        print(
            f"{cmd}: error: no benchmarks folder at {root}; run from a swagfast checkout or pass --dir",
            file=sys.stderr,
        )
        return EXIT_USAGE
    found = {p.stem[len(prefix) + 1 :]: p for p in sorted(root.glob(f"{prefix}_*.py"))}
    if not found:
        print(f"{cmd}: error: no {prefix}_*.py scripts in {root}", file=sys.stderr)
        return EXIT_USAGE
    if args.list:
        print("\n".join(found))
        return EXIT_OK
    try:
        extra = shlex.split(args.args)
    except ValueError as err:
        print(f"{cmd}: error: --args {args.args!r}: {err}", file=sys.stderr)
        return EXIT_USAGE
    unknown = [n for n in args.names if n not in found]
    if unknown:
        print(f"{cmd}: error: unknown {', '.join(unknown)}; choose from {', '.join(found)}", file=sys.stderr)
        return EXIT_USAGE
    failed = []
    for name in args.names or list(found):
        print(f"== {found[name].name} ==", flush=True)
        rc = subprocess.run([sys.executable, str(found[name]), *extra], cwd=root).returncode
        if rc != 0:
            failed.append(f"{name} (exit {rc})")
    if failed:
        print(f"{cmd}: failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_SKIPPED
    return EXIT_OK


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
    demo.add_argument(
        "--mode",
        "--variant",
        dest="mode",
        default="G",
        choices=["G", "I", "I+G"],
        help="SWAG mode (default: G)",
    )
    demo.add_argument("--segments", type=int, default=300, help="superpixels per photo (default: 300)")
    demo.set_defaults(func=_demo)
    ex = sub.add_parser(
        "explain",
        help="explain images and videos (files or folders) with any method; PNG/MP4 + JSON + index.html",
        description="Explain each input: images give NAME.png (photo | heatmap overlay | superpixel "
        "borders for SWAG, with the top classes); videos (read as 16 frames, 112x112, explained by "
        "--video-model with SWAG-V for swag-*) give NAME.png (8 frames) and NAME.mp4 (clip beside "
        "its overlay). Each also gets NAME.json (classes, target, timings); index.html lists all. "
        "Each file is written atomically as it is finished, so an interrupted run keeps what it did.",
        epilog="exit status: 0 every input explained; 1 some inputs were skipped (unreadable, missing, "
        "or their outputs could not be written) or index.html could not be written, the rest explained; "
        "2 bad arguments, an --out that cannot be written to, or nothing to explain or nothing readable.",
    )
    ex.add_argument("paths", nargs="+", help="image files and/or folders (searched recursively)")
    ex.add_argument(
        "--method", default="swag-g", type=_method_name, choices=METHODS, help="explainer (default: swag-g)"
    )
    ex.add_argument("--model", default="efficientnet-lite0", help="efficientnet-lite0 or torchvision:NAME")
    ex.add_argument("--weights", default=None, help="state-dict file for a torchvision model")
    ex.add_argument("--layer", default=None, help="layer for CAM methods (default: the model's last block)")
    ex.add_argument("--target", type=int, default=None, help="class to explain (default: top-1 prediction)")
    ex.add_argument(
        "--video-model", default="action-demo", help="clip model for video inputs (default: action-demo)"
    )
    ex.add_argument("--segments", type=int, default=None, help="SWAG superpixels (default: 300; videos 120)")
    ex.add_argument("--batch-size", type=int, default=8, help="images per batch (default: 8)")
    ex.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    ex.add_argument("--out", default="explain-out", help="output folder (default: explain-out)")
    ex.add_argument("--save-heatmaps", action="store_true", help="also write NAME.npy (float32 heatmap)")
    ex.add_argument("--quiet", action="store_true", help="no progress bar")
    ex.set_defaults(func=_explain)
    for prefix, helptext in (
        ("bench", "run benchmark scripts (benchmarks/bench_*.py): speed and memory tables against peers"),
        ("eval", "run evaluation scripts (benchmarks/eval_*.py): the thesis's accuracy tables"),
    ):
        sp = sub.add_parser(
            prefix,
            help=helptext,
            description=f"{helptext}. Each prints its table and writes benchmarks/results/*.json.",
            epilog="exit status: 0 all ran; 1 some script failed; 2 bad arguments or no scripts found.",
        )
        sp.add_argument(
            "names", nargs="*", help="which scripts (e.g. 'slic' for bench_slic.py; default: all)"
        )
        sp.add_argument("--dir", default=None, help="the benchmarks folder (default: ./benchmarks)")
        sp.add_argument("--list", action="store_true", help="list the available scripts")
        sp.add_argument(
            "--args", default="", help="extra arguments for the scripts, e.g. --args '--repeats 3'"
        )
        sp.set_defaults(func=lambda a, p=prefix: _scripts(a, p))
    info = sub.add_parser("info", help="show the version and which backends are usable")
    info.set_defaults(func=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
