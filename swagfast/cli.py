"""The ``swagfast`` command."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from swagfast import viz


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
    from swagfast import api, data, models

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
    method = {"G": "swag-g", "I": "swag-i", "I+G": "swag-ig"}[args.mode]
    exp = api.explain(bundle, [photos[n] for n in names], method, segments=args.segments, fit=args.fit)
    exp.names = tuple(names)
    out = Path(args.out)
    rows = []
    for i, name in enumerate(names):
        row = exp.save_item(i, out, tag=method, extra={"input": name, "model": bundle.name})
        rows.append(row)
        top = row["top5"][0]
        print(f"{name:>22}: {top['name']} ({top['prob']:.2f}) -> {out / row['png']}")
    timings = {k: round(v, 4) for k, v in exp.timings.items()}
    summary = [
        {"image": r["input"], "file": r["png"], "method": r["method"], "target": r["target"]["class"],
         "top3": r["top5"][:3]}
        for r in rows
    ]  # fmt: skip
    viz.write_bytes_atomic(
        out / "demo.json", json.dumps({"timings_s": timings, "images": summary}, indent=2).encode()
    )
    viz.write_bytes_atomic(out / "index.html", viz.gallery_html(rows, f"swagfast demo: {exp.method}"))
    print(f"{exp.method} for {len(names)} photos: " + ", ".join(f"{k} {v:.3f} s" for k, v in timings.items()))
    print(f"index: {out / 'index.html'}")
    return 0


EXIT_OK, EXIT_SKIPPED, EXIT_USAGE = 0, 1, 2


def _method_name(name: str) -> str:
    """--method's value; a CAM's name before this release is taken with a note on stderr."""
    from swagfast.explainers.cam import OLD_CAM_NAMES

    if name in OLD_CAM_NAMES:
        new = OLD_CAM_NAMES[name]
        print(f"swagfast explain: note: --method {name} is now called {new}", file=sys.stderr)
        return new
    return name


def _inputs(paths: list[str], out: Path) -> tuple[list[Path], list[str]]:
    """Files to explain (folders expanded to their images and videos, sorted, without what is
    inside ``out``: a rerun does not explain its own outputs) and problems found."""
    from swagfast.data import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    out = out.resolve()
    files, problems = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
                and out not in f.resolve().parents
            )
            if not found:
                problems.append(f"{p}: folder holds no images or videos (outside --out)")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or folder")
    return files, problems


def _fail(msg: str) -> int:
    print(f"swagfast explain: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _load(args: argparse.Namespace, kind: str):
    """The model for ``kind`` with the command line's overrides (errors as ValueError)."""
    from swagfast import models
    from swagfast.models.own import read_class_names

    if kind == "video":
        return models.load(args.video_model, device=args.device)
    classes = read_class_names(args.classes) if args.classes else None
    return models.load(
        args.model, device=args.device, weights=args.weights, size=args.size, mean=args.mean,
        std=args.std, class_names=classes, fit=args.fit,
    )  # fmt: skip


def _layer(args: argparse.Namespace, bundle) -> str:
    """--layer checked against the model (ValueError listing the layers with a feature map)."""
    from swagfast.attribution.layers import feature_layers, resolve_layer
    from swagfast.models.own import probe_input

    if args.layer is None:
        return bundle.layer
    try:
        resolve_layer(bundle.model, args.layer)
    except (ValueError, TypeError):
        probe = probe_input(bundle.model, bundle.preprocess.size, getattr(bundle.preprocess, "frames", None))
        names = [n for n, _, _ in feature_layers(bundle.model, probe)]
        shown = ", ".join(names[-12:]) + (f" (and {len(names) - 12} before them)" if len(names) > 12 else "")
        raise ValueError(
            f"--layer {args.layer!r} is not a layer of the model; layers with a feature map: {shown}"
        ) from None
    return args.layer


def _explainers(args: argparse.Namespace, files: list[Path], skipped: list) -> list | str:
    """(kind, files, bundle, method, target) per kind of input (images, videos) there is, or the
    usage error that stops the run; files of a kind the method cannot explain go to ``skipped``."""
    from swagfast import api
    from swagfast.data import VIDEO_SUFFIXES
    from swagfast.models import ClipPreprocess

    videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
    images = [f for f in files if f.suffix.lower() not in VIDEO_SUFFIXES]
    kinds = []
    for kind, group in (("image", images), ("video", videos)):
        if not group:
            continue
        if args.method in (api.IMAGE_ONLY if kind == "video" else api.VIDEO_ONLY):
            for f in group:
                print(
                    f"swagfast explain: skipped {f}: --method {args.method} is not for {kind}s",
                    file=sys.stderr,
                )
                skipped.append(f"{f}: --method {args.method} is not for {kind}s")
            continue
        flag = "--model" if kind == "image" else "--video-model"
        try:
            bundle = _load(args, kind)
        except (ValueError, FileNotFoundError, RuntimeError, TypeError) as err:
            return f"{flag} {args.model if kind == 'image' else args.video_model}: {err}"
        is_clip = isinstance(bundle.preprocess, ClipPreprocess)
        if is_clip != (kind == "video"):
            return f"{bundle.name} is {'a clip' if is_clip else 'an image'} model; it cannot explain {kind}s"
        try:
            target = api.class_index(args.target, bundle.class_names)
            if target is not None and not 0 <= target < len(bundle.class_names):
                n = len(bundle.class_names)
                return f"--target must be a class in [0, {n}) or a class name, got {args.target}"
            layer = _layer(args, bundle)
            method = api.make_method(
                args.method, bundle, layer, segments=args.segments, rise_masks=args.rise_masks
            )
        except ValueError as err:
            return str(err).replace("target ", "--target ", 1) if str(err).startswith("target ") else str(err)
        if args.method in api.LAYER_METHODS:
            found = "given" if args.layer else "the model's default: its last post-activation feature map"
            print(f"{bundle.name}: explaining layer {layer!r} ({found})")
        for note in bundle.assumed:
            print(f"{bundle.name}: assumed {note}", file=sys.stderr)
        kinds.append((kind, group, bundle, method, target))
    return kinds or "nothing to explain"


class _Run:
    """The outputs of one ``swagfast explain``: file names, rows, what was skipped."""

    def __init__(self, args: argparse.Namespace, out: Path, files: list[Path], skipped: list[str]) -> None:
        self.args, self.out, self.skipped, self.index_failed = args, out, skipped, False
        self.rows: list[dict] = []
        self.used: set[str] = set()
        self.inputs = {f.resolve() for f in files}  # an output never replaces an input

    def stem(self, f: Path) -> str:
        """A free name for ``f``'s outputs (``NAME``, ``NAME-2``, ...)."""
        stem, k = f.stem, 2
        exts = (".png", ".json", ".mp4", ".npy")
        while stem in self.used or any(
            (self.out / f"{stem}.{self.args.method}{ext}").resolve() in self.inputs for ext in exts
        ):
            stem, k = f"{f.stem}-{k}", k + 1
        self.used.add(stem)
        return stem

    def read(self, kind: str, chunk: list[Path], bundle) -> tuple[list[Path], list[np.ndarray]]:
        """The readable files of ``chunk`` and the pictures the model sees of them."""
        from swagfast import api

        names, pictures = [], []
        for f in chunk:
            try:
                _, picture, _ = api.read_input(f, bundle, 0)
            except (OSError, ValueError) as err:
                print(f"swagfast explain: skipped {f}: {err}", file=sys.stderr)
                self.skipped.append(f"{f}: {err}")
                continue
            names.append(f)
            pictures.append(picture)
        return names, pictures

    def explain(self, names: list[Path], pictures: list[np.ndarray], bundle, method, target) -> None:
        """Explain one batch and write each item's files (a failed write skips that item)."""
        from swagfast import api

        args = self.args
        pics = np.stack(pictures)
        x = bundle.preprocess.normalize(pics).to(args.device)
        with torch.no_grad():
            probs = bundle.model(x).softmax(dim=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exp = method(x, pics, target).numpy()
            if not any("is constant" in str(w.message) for w in caught):  # explainers warn themselves
                exp.warn_if_constant("the attribution is zero or uniform on these inputs")
        for w in caught:
            print(f"swagfast explain: warning: {w.message}", file=sys.stderr)
        exp.images, exp.probs, exp.class_names = pics, probs.cpu().numpy(), tuple(bundle.class_names)
        exp.names = tuple(self.stem(f) for f in names)
        for i, f in enumerate(names):
            info = {"input": str(f), "model": bundle.name}
            info["layer"] = (args.layer or bundle.layer) if args.method in api.LAYER_METHODS else None
            try:
                row = exp.save_item(i, self.out, tag=args.method, heatmaps=args.save_heatmaps, extra=info)
            except OSError as err:  # this input's files go; the others are still explained
                print(f"swagfast explain: skipped {f}: cannot write its outputs: {err}", file=sys.stderr)
                self.skipped.append(f"{f}: cannot write its outputs: {err}")
                continue
            self.rows.append(row)
        self.write_index()

    def write_index(self) -> None:
        """index.html over every explanation in the folder: this run's and earlier runs' of
        other methods (their JSON rows)."""
        mine = {r["json"] for r in self.rows}
        rows = list(self.rows)
        for j in sorted(self.out.glob("*.json")):
            if j.name in mine or j.name == "demo.json":
                continue
            try:
                row = json.loads(j.read_text())
            except (OSError, ValueError):
                continue
            if (
                isinstance(row, dict)
                and {"png", "json", "method", "target"} <= set(row)
                and row["json"] == j.name
            ):
                rows.append(row)
        rows.sort(key=lambda r: (str(r.get("input", "")), r["json"]))
        try:
            viz.write_bytes_atomic(
                self.out / "index.html", viz.gallery_html(rows, "swagfast explain", skipped=self.skipped)
            )
        except OSError as err:
            print(f"swagfast explain: cannot write {self.out / 'index.html'}: {err}", file=sys.stderr)
            self.index_failed = True


def _estimate(method, bundle, pictures: list[np.ndarray], n: int, device) -> str:
    """One line: the masked forward passes a slow method makes and the time they should take,
    from one timed forward pass of a batch of them."""
    import time

    x = bundle.preprocess.normalize(np.stack(pictures[:1])).to(device)
    passes = method.extra_passes(x)
    bs = method.pass_batch(x.device)
    with torch.no_grad():
        batch = x.expand(bs, *x.shape[1:]).contiguous()
        bundle.model(batch)  # warm-up
        t0 = time.perf_counter()
        bundle.model(batch)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        per_batch = time.perf_counter() - t0
    each = passes / bs * per_batch
    return (
        f"{method.name}: {passes} masked forward passes per input, about {each:.0f} s an input and "
        f"{each * n / 60:.1f} min for {n} (estimated from one timed pass of {bs})"
    )


def _advance(bar, done: int, total: int) -> None:
    """A progress callback: ``bar`` at ``done`` of ``total``."""
    bar.total = total
    bar.update(done - bar.n)


def _explain(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from swagfast import api

    problem = _usage_error(args)
    for flag, value in (
        ("--batch-size", args.batch_size),
        ("--segments", args.segments),
        ("--rise-masks", args.rise_masks),
    ):
        if problem is None and value is not None and value < 1:
            problem = f"{flag} must be >= 1, got {value}"
    if problem is not None:
        return _fail(problem)
    out = Path(args.out)
    files, problems = _inputs(args.paths, out)
    for p in problems:
        print(f"swagfast explain: skipped {p}", file=sys.stderr)
    kinds = _explainers(args, files, problems)
    if isinstance(kinds, str):
        return _fail(kinds)
    problem, created = _writable_out(out)
    if problem is not None:
        return _fail(problem)
    run = _Run(args, out, files, problems)
    for kind, group, bundle, method, target in kinds:
        slow = args.method in api.SLOW
        step = 1 if slow else args.batch_size  # a slow method's input is written as soon as it is done
        bar = tqdm(total=len(group), disable=args.quiet, desc=f"{args.method} {kind}s", unit=kind)
        inner = tqdm(
            total=0, disable=args.quiet or not slow, desc="  masked passes", unit="pass", leave=False
        )
        method.set_progress(functools.partial(_advance, inner))
        for i in range(0, len(group), step):
            names, pictures = run.read(kind, group[i : i + step], bundle)
            if names and slow and i == 0:
                print(_estimate(method, bundle, pictures, len(group), args.device), file=sys.stderr)
            if names:
                inner.reset()
                run.explain(names, pictures, bundle, method, target)
            bar.update(len(group[i : i + step]))
        inner.close()
        bar.close()
    if not run.rows:
        if created and not any(out.iterdir()):
            out.rmdir()
        return _fail(f"none of the {len(run.skipped)} inputs could be explained")
    print(
        f"explained {len(run.rows)} of {len(run.rows) + len(run.skipped)} inputs with {args.method}; "
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


def _add_explain(sub, methods: tuple[str, ...]) -> None:
    """The ``explain`` command's arguments."""
    ex = sub.add_parser(
        "explain",
        help="explain images and videos (files or folders) with any method and any model",
        description="Explain each input with --method on --model. Each input gets NAME.METHOD.png "
        "(what the model saw | heatmap over it | superpixel borders for SWAG, with a colour bar and "
        "the top classes) and NAME.METHOD.json (classes, target, timings); videos (16 frames, "
        "112x112, explained by --video-model) also get NAME.METHOD.mp4 (H.264, the clip beside its "
        "overlay). index.html shows every explanation in --out. Each input's files are written as "
        "soon as it is done (atomically), so an interrupted run keeps what it finished; a rerun skips "
        "what is inside --out.",
        epilog="your own model: --model path/to/file.py:make (make() returns an nn.Module, or a dict "
        "with 'model' and any of 'size', 'mean', 'std', 'class_names', 'layer'); or "
        "--model package.module:make. exit status: 0 every input explained; 1 some inputs were "
        "skipped (unreadable, missing, or their outputs could not be written) or index.html could "
        "not be written, the rest explained; 2 bad arguments, an --out that cannot be written to, or "
        "nothing to explain or nothing readable.",
    )
    ex.add_argument("paths", nargs="+", help="image / video files and/or folders (searched recursively)")
    ex.add_argument(
        "--method", default="swag-g", type=_method_name, choices=methods, help="explainer (default: swag-g)"
    )
    ex.add_argument(
        "--model", default="efficientnet-lite0",
        help="efficientnet-lite0 (default), torchvision:NAME, FILE.py:FACTORY or package.module:FACTORY",
    )  # fmt: skip
    ex.add_argument(
        "--weights", default=None, help="a state-dict file for the model (torchvision or your own)"
    )
    ex.add_argument(
        "--size", type=int, default=None, help="the model's input side in pixels (default: its own, else 224)"
    )
    ex.add_argument(
        "--mean",
        type=float,
        nargs=3,
        default=None,
        help="normalisation mean, R G B (default: its own, else ImageNet's)",
    )
    ex.add_argument(
        "--std",
        type=float,
        nargs=3,
        default=None,
        help="normalisation std, R G B (default: its own, else ImageNet's)",
    )
    ex.add_argument(
        "--classes",
        default=None,
        help="class names: a JSON list or one name per line (default: its own, else numbers)",
    )
    ex.add_argument(
        "--fit", default="resize", choices=["resize", "crop"],
        help="resize: the whole picture (default); crop: its central square (the ImageNet protocol)",
    )  # fmt: skip
    ex.add_argument(
        "--layer", default=None,
        help="layer for the CAM methods (default: the model's last post-activation feature map, found)",
    )  # fmt: skip
    ex.add_argument(
        "--target", default=None, help="class to explain: an index or a class name (default: top-1)"
    )
    ex.add_argument(
        "--video-model", default="action-demo", help="clip model for video inputs (default: action-demo)"
    )
    ex.add_argument("--segments", type=int, default=None, help="SWAG superpixels (default: 300; videos 120)")
    ex.add_argument(
        "--rise-masks", type=int, default=4000, help="RISE's random masks per input (default: 4000)"
    )
    ex.add_argument(
        "--batch-size", type=int, default=8, help="inputs per batch (default: 8; 1 for the slow methods)"
    )
    ex.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    ex.add_argument("--out", default="explain-out", help="output folder (default: explain-out)")
    ex.add_argument(
        "--save-heatmaps", action="store_true", help="also write NAME.METHOD.npy (float32 heatmap)"
    )
    ex.add_argument("--quiet", action="store_true", help="no progress bars")
    ex.set_defaults(func=_explain)


def build_parser() -> argparse.ArgumentParser:
    import swagfast
    from swagfast.api import METHODS

    parser = argparse.ArgumentParser(prog="swagfast", description="Fast explanations for CNNs.")
    parser.add_argument("--version", action="version", version=f"swagfast {swagfast.__version__}")
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
    demo.add_argument(
        "--fit", default="resize", choices=["resize", "crop"],
        help="resize: the whole photo (default); crop: its central square",
    )  # fmt: skip
    demo.set_defaults(func=_demo)
    _add_explain(sub, METHODS)
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
