"""Dataset-scale evaluation: stream an image folder through explainers and metrics, with a
progress bar, bounded memory and resume (reproduces the thesis's Tables 3.7 / 5.3 when pointed
at ImageNet's validation images, labels and boxes)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from swagfast._validate import check_int
from swagfast.data.video import IMAGE_SUFFIXES
from swagfast.metrics.deletion import deletion, insertion
from swagfast.metrics.localisation import FAMILIES, ground_truth_boxes, iou_frames


def crop_box(box, shape: tuple[int, int], size: int):
    """A box (x_min, y_min, x_max, y_max) of an (H, W) photo mapped into the centre-square crop
    resized to ``size`` (as :meth:`swagfast.models.Preprocess.crop`); None when it falls outside."""
    h, w = shape
    s = min(h, w)
    top, left, f = (h - s) // 2, (w - s) // 2, size / s
    x0, y0, x1, y1 = (
        (box[0] - left) * f,
        (box[1] - top) * f,
        (box[2] - left + 1) * f - 1,
        (box[3] - top + 1) * f - 1,
    )
    x0, y0, x1, y1 = max(0, round(x0)), max(0, round(y0)), min(size - 1, round(x1)), min(size - 1, round(y1))
    return (x0, y0, x1, y1) if x0 <= x1 and y0 <= y1 else None


def _same_run(rec: dict, steps: int, labels, boxes) -> str | None:
    """What differs between a result line and this run's settings (None: nothing)."""
    if rec.get("steps") != steps:
        return f"steps={rec.get('steps')} (this run: {steps})"
    if ("localised" in rec) != (boxes is not None):
        return "boxes given" if "localised" in rec else "no boxes"
    label = None if labels is None else labels.get(rec["file"])
    if rec.get("label") != label:
        return f"label {rec.get('label')} for {rec['file']} (this run: {label})"
    return None


def _resume(out: Path, steps: int, labels, boxes) -> tuple[set[tuple[str, str]], set[str]]:
    """(file, method) pairs already in the results file ``out``, and the files recorded as
    unreadable. A last line left unfinished by an interrupted run is cut, so appending starts
    cleanly; any other line that is not a record of :func:`evaluate_folder` means ``out`` is
    some other file, and a record made with other settings (steps, labels, boxes) another run's
    file: both are left untouched (ValueError), as mixing them would average unlike numbers."""
    done, failed = set(), set()
    if not out.exists():
        return done, failed
    if not out.is_file():
        raise ValueError(
            f"out must be a results file (JSON lines) or a new path, got the folder {str(out)!r}"
        )
    data = out.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    for n, line in enumerate(complete.splitlines(), 1):
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            rec = None
        if not isinstance(rec, dict) or "file" not in rec or not ("method" in rec or "error" in rec):
            raise ValueError(
                f"out must be a results file of evaluate_folder (JSON lines) or a new path; line {n} of "
                f"{str(out)!r} is not one of its records, so the file is left as it is"
            )
        if "method" in rec:
            other = _same_run(rec, steps, labels, boxes)
            if other is not None:
                raise ValueError(
                    f"out {str(out)!r} holds the results of another run (line {n}: {other}); "
                    "resume with the same settings or write to a new file"
                )
            done.add((rec["file"], rec["method"]))
        else:
            failed.add(rec["file"])
    tail = data[len(complete) :]
    if tail:
        start = b'{"file": '  # every record begins so (json.dumps of a dict whose first key is "file")
        if not (tail.startswith(start) or start.startswith(tail)):
            raise ValueError(
                f"out must be a results file of evaluate_folder (JSON lines) or a new path; the last line of "
                f"{str(out)!r} is not one of its records, so the file is left as it is"
            )
        with out.open("r+b") as f:
            f.truncate(len(complete))
    return done, failed


def evaluate_folder(
    folder: str | os.PathLike,
    model: nn.Module,
    preprocess,
    explainers: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    out: str | os.PathLike,
    *,
    labels: Mapping[str, int] | None = None,
    boxes: Mapping[str, Sequence[Sequence[int]]] | None = None,
    batch_size: int = 8,
    steps: int = 28,
    limit: int | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate every image of ``folder`` with every explainer; one JSON line per (image, method).

    Parameters
    ----------
    folder : the images (sorted by name; jpg, png, bmp, tif, webp)
    model, preprocess : the classifier and its :class:`swagfast.models.Preprocess`
    explainers : name -> ``fn(x, target) -> heatmap`` (or an :class:`Explanation`) on the
        normalised batch; ``target`` is the batch's (B,) classes from ``labels`` on ``x``'s
        device, or None (explain the prediction). swagfast's explainers (``SWAG(...)``,
        ``GradCAM(...)``, ...) can be passed as they are.
    out : JSON-lines results file. Runs resume: pairs already there are skipped, so an
        interrupted run continues where it stopped (a torn last line is ignored). Unreadable
        images get one ``{"file", "error"}`` line and are skipped (also on later runs).
    labels : file name -> class, optional: the class each explainer explains (and each line
        records); without it the model's prediction is explained. Deletion and insertion follow
        the class predicted on the image either way (METHODS.md §6)
    boxes : file name -> boxes (x_min, y_min, x_max, y_max) in the photo's pixels, optional;
        with it each line also holds the weak-localisation outcome per threshold
    batch_size : images in memory at once
    limit : stop after this many images (for a first look)

    Returns
    -------
    dict : method -> {"n", "deletion", "insertion" (mean AUCs), and with boxes
        "localisation_error" family -> error % at the best threshold}, over the whole file.
    """
    folder, out = Path(folder), Path(out)
    files, truth = _image_files(folder, limit, labels, boxes)
    batch_size, steps = check_int(batch_size, "batch_size"), check_int(steps, "steps")
    if not isinstance(explainers, Mapping) or not all(callable(f) for f in explainers.values()):
        raise TypeError(
            f"explainers must map names to callables fn(x, target), got {type(explainers).__name__}"
        )
    if not explainers:
        raise ValueError("explainers must name at least one explainer, got none")
    done, failed = _resume(out, steps, labels, boxes)
    todo = [p for p in files if p.name not in failed and any((p.name, m) not in done for m in explainers)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as sink, tqdm(total=len(todo), desc="images", disable=not progress) as bar:
        for i in range(0, len(todo), batch_size):
            chunk, crops, shapes = _read_images(todo[i : i + batch_size], preprocess, sink)
            if chunk:
                x = preprocess.normalize(np.stack(crops)).to(next(model.parameters()).device)
                target = None if labels is None else torch.tensor([labels[n] for n in chunk], device=x.device)
                for name, fn in explainers.items():
                    keep = [j for j, n in enumerate(chunk) if (n, name) not in done]
                    if not keep:
                        continue
                    t = None if target is None else target[keep]
                    heat, d, ins = _scored(model, name, fn, x[keep], t, steps)
                    for k, j in enumerate(keep):
                        rec = {
                            "file": chunk[j],
                            "method": name,
                            "steps": steps,
                            "deletion": float(d[k]),
                            "insertion": float(ins[k]),
                        }
                        if target is not None:
                            rec["label"] = int(target[j])
                        if boxes is not None:
                            size = crops[j].shape[0]
                            rec["localised"] = _localised(heat[k], truth[chunk[j]], shapes[j], size)
                        sink.write(json.dumps(rec) + "\n")
                    sink.flush()
            bar.update(len(todo[i : i + batch_size]))
    return summarise(out)


def _image_files(folder: Path, limit, labels, boxes) -> tuple[list[Path], dict]:
    """The folder's images (sorted, at most ``limit``) and each one's checked boxes; every image
    must have its label and boxes when those tables are given."""
    if not folder.is_dir():
        raise ValueError(f"folder must be a directory of images, got {str(folder)!r}")
    limit = None if limit is None else check_int(limit, "limit")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    for name, table in (("labels", labels), ("boxes", boxes)):
        missing = [] if table is None else [p.name for p in files if p.name not in table]
        if missing:
            raise ValueError(
                f"{name} must have an entry for every image of the folder, got none for "
                f"{len(missing)}: {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}"
            )
    truth = {}  # each image's boxes, checked once: (n, 4) in the photo's pixels
    for p in files if boxes is not None else ():
        try:
            truth[p.name] = ground_truth_boxes(boxes[p.name])
        except ValueError as err:
            raise ValueError(f"boxes[{p.name!r}]: {err}") from None
    return files, truth


def _read_images(paths: Sequence[Path], preprocess, sink) -> tuple[list[str], list, list]:
    """(names, crops, original (H, W)) of the readable images; an unreadable one gets its error
    line in ``sink``."""
    names, crops, shapes = [], [], []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            sink.write(json.dumps({"file": p.name, "error": "unreadable image"}) + "\n")
            continue
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        names.append(p.name)
        shapes.append(rgb.shape[:2])
        crops.append(preprocess.crop(rgb))
    return names, crops, shapes


def _scored(model: nn.Module, name: str, fn, x: torch.Tensor, target, steps: int):
    """(heatmaps, deletion AUCs, insertion AUCs) of explainer ``name`` on the batch."""
    heat = fn(x, target)
    heat = getattr(heat, "heatmap", heat)  # an Explanation, a tensor or an array
    try:
        heat = torch.as_tensor(heat, device=x.device).detach()
        return heat, deletion(model, x, heat, steps=steps).auc, insertion(model, x, heat, steps=steps).auc
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"explainer {name!r} gave an unusable heatmap: {err}") from err


def _localised(heat: torch.Tensor, boxes, shape, size: int) -> dict:
    """Weak localisation per threshold family of one heatmap, against the photo's boxes moved
    into its centre crop."""
    cropped = (crop_box(b, shape, size) for b in boxes)
    gt = [ground_truth_boxes([b for b in cropped if b])]  # the boxes in the crop
    h = heat.float().cpu().numpy()
    return {
        fam: [bool(iou_frames(h, gt, fam, a, "largest") > 0.5) for a in FAMILIES[fam]] for fam in FAMILIES
    }


def summarise(out: str | os.PathLike) -> dict:
    """Aggregate a results file written by :func:`evaluate_folder` (see its Returns)."""
    per: dict[str, dict] = {}
    for line in Path(out).read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "method" not in rec:
            continue
        s = per.setdefault(rec["method"], {"n": 0, "deletion": [], "insertion": [], "localised": {}})
        s["n"] += 1
        s["deletion"].append(rec["deletion"])
        s["insertion"].append(rec["insertion"])
        for fam, ok in rec.get("localised", {}).items():
            s["localised"].setdefault(fam, []).append(ok)
    summary = {}
    for m, s in per.items():
        row = {
            "n": s["n"],
            "deletion": float(np.mean(s["deletion"])),
            "insertion": float(np.mean(s["insertion"])),
        }
        if s["localised"]:
            row["localisation_error"] = {
                fam: float(100 * (1 - np.asarray(v, float).mean(axis=0)).min())
                for fam, v in s["localised"].items()
            }
        summary[m] = row
    return summary
