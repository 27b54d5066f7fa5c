"""Folder-scale evaluation: streaming, resume after an interruption, unreadable files, boxes."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from swagfast import GradCAM, baselines, data, metrics, models


def test_crop_box_follows_the_centre_crop():
    # a 100 x 200 photo: the centre square is columns 50..149, resized 100 -> 50
    assert metrics.crop_box((50, 0, 149, 99), (100, 200), 50) == (0, 0, 49, 49)
    assert metrics.crop_box((60, 10, 69, 19), (100, 200), 50) == (5, 5, 9, 9)
    assert metrics.crop_box((0, 0, 40, 40), (100, 200), 50) is None  # outside the crop


def test_evaluate_folder_resumes_and_reports(tmp_path):
    lite = models.load()
    comps = data.composites(4, seed=5)
    folder = tmp_path / "images"
    folder.mkdir()
    labels, boxes = {}, {}
    for i, (img, box, lab) in enumerate(zip(comps.images, comps.boxes, comps.labels, strict=True)):
        wide = np.zeros((224, 280, 3), np.uint8)  # padded: the crop must map the boxes back
        wide[:, 28:252] = img
        name = f"img{i}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(wide, cv2.COLOR_RGB2BGR))
        labels[name] = int(lab)
        x0, y0, x1, y1 = (int(v) for v in box)
        boxes[name] = [(x0 + 28, y0, x1 + 28, y1)]
    (folder / "z_broken.png").write_bytes(b"not an image")  # sorted last
    labels["z_broken.png"], boxes["z_broken.png"] = 0, []
    passed = []

    def centre(x, target):
        passed.extend(target.tolist())
        return baselines.centre((x.shape[0], *x.shape[2:]))

    explainers = {"Grad-CAM": GradCAM(lite.model, "_bn1"), "centre": centre}  # an explainer as it is
    kw = dict(labels=labels, boxes=boxes, batch_size=2, steps=7, progress=False)
    out = tmp_path / "results.jsonl"
    metrics.evaluate_folder(folder, lite.model, lite.preprocess, explainers, out, limit=2, **kw)
    assert len(out.read_text().splitlines()) == 4  # 2 images x 2 methods
    assert passed == [labels["img0.png"], labels["img1.png"]]  # the labelled classes are explained
    with out.open("a") as f:
        f.write('{"file": "img2.png", "meth')  # a torn line, as a crash mid-write leaves
    summary = metrics.evaluate_folder(folder, lite.model, lite.preprocess, explainers, out, **kw)
    recs = [json.loads(line) for line in out.read_text().splitlines() if line.endswith("}")]
    done = [(r["file"], r["method"]) for r in recs if "method" in r]
    assert len(done) == len(set(done)) == 8  # nothing recomputed, nothing missing
    assert recs.count({"file": "z_broken.png", "error": "unreadable image"}) == 1
    assert summary["Grad-CAM"]["n"] == summary["centre"]["n"] == 4
    assert set(summary["Grad-CAM"]["localisation_error"]) == {"value", "mean", "energy"}
    # the resumed results equal a fresh, uninterrupted run
    fresh = metrics.evaluate_folder(
        folder, lite.model, lite.preprocess, explainers, tmp_path / "fresh.jsonl", **kw
    )
    for m in explainers:
        assert abs(fresh[m]["deletion"] - summary[m]["deletion"]) < 1e-6
        assert fresh[m]["localisation_error"] == summary[m]["localisation_error"]


def test_evaluate_folder_explains_the_labelled_class(tmp_path):
    lite = models.load()
    comps = data.composites(2, seed=3)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, img in enumerate(comps.images):
        cv2.imwrite(str(folder / f"img{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    x = lite.preprocess(list(comps.images))
    labels = {"img0.png": 7, "img1.png": 404}  # classes the model does not predict here
    assert not set(lite.model(x).argmax(1).tolist()) & {7, 404}
    heat = {}

    def gradcam(x, target):
        exp = GradCAM(lite.model, "_bn1")(x, target)
        heat.update(zip(exp.target.tolist(), exp.heatmap, strict=True))
        return exp

    metrics.evaluate_folder(
        folder,
        lite.model,
        lite.preprocess,
        {"g": gradcam},
        tmp_path / "r.jsonl",
        labels=labels,
        progress=False,
    )
    ref = GradCAM(lite.model, "_bn1")(x, target=[7, 404]).heatmap
    torch.testing.assert_close(torch.stack([heat[7], heat[404]]), ref)
    with pytest.raises(
        ValueError, match=r"labels must have an entry for every image of the folder, got none for 1: img1.png"
    ):
        metrics.evaluate_folder(
            folder, lite.model, lite.preprocess, {"g": gradcam}, tmp_path / "s.jsonl", labels={"img0.png": 1}
        )
    assert not (tmp_path / "s.jsonl").exists()  # nothing written


def test_evaluate_folder_leaves_other_files_and_bad_arguments_alone(tmp_path):
    lite = models.load()
    folder = tmp_path / "images"
    folder.mkdir()
    img = data.composites(1, seed=2).images[0]
    cv2.imwrite(str(folder / "a.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    explainers = {"centre": lambda x, t: baselines.centre((x.shape[0], *x.shape[2:]))}
    for text in (b"line one\nimportant data", b"important data", b'{"file": "a.png"}\n{"x": 1}\n'):
        notes = tmp_path / "notes.txt"
        notes.write_bytes(text)
        with pytest.raises(ValueError, match="out must be a results file of evaluate_folder"):
            metrics.evaluate_folder(folder, lite.model, lite.preprocess, explainers, notes, progress=False)
        assert notes.read_bytes() == text  # untouched
    for kw, msg in (
        (dict(batch_size=0), "batch_size must be an int >= 1, got 0"),
        (dict(explainers={}), "explainers must name at least one explainer"),
    ):
        args = dict(explainers=explainers, progress=False) | kw
        with pytest.raises(ValueError, match=msg):
            metrics.evaluate_folder(folder, lite.model, lite.preprocess, out=tmp_path / "new.jsonl", **args)
        assert not (tmp_path / "new.jsonl").exists()


def test_evaluate_folder_refuses_to_mix_runs_and_names_bad_explainers(tmp_path):
    lite = models.load()
    folder = tmp_path / "images"
    folder.mkdir()
    comps = data.composites(2, seed=6)
    for i, img in enumerate(comps.images):
        cv2.imwrite(str(folder / f"i{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    boxes = {f"i{i}.png": [tuple(int(v) for v in comps.boxes[i])] for i in range(2)}

    def centre(x, t):  # a numpy heatmap is taken too
        return baselines.centre((x.shape[0], *x.shape[2:])).numpy()

    out = tmp_path / "r.jsonl"
    run = dict(progress=False, steps=4)
    metrics.evaluate_folder(folder, lite.model, lite.preprocess, {"c": centre}, out, limit=1, **run)
    assert json.loads(out.read_text().splitlines()[0])["steps"] == 4
    before = out.read_bytes()
    for kw, what in (
        (dict(boxes=boxes), "no boxes"),
        (dict(steps=8), r"steps=4 \(this run: 8\)"),
        (dict(labels={"i0.png": 3, "i1.png": 3}), r"label None for i0.png \(this run: 3\)"),
    ):
        args = run | kw
        with pytest.raises(ValueError, match=rf"holds the results of another run \(line 1: {what}\)"):
            metrics.evaluate_folder(folder, lite.model, lite.preprocess, {"c": centre}, out, **args)
    assert out.read_bytes() == before  # left as it was
    summary = metrics.evaluate_folder(folder, lite.model, lite.preprocess, {"c": centre}, out, **run)
    assert summary["c"]["n"] == 2  # the same settings resume
    cases = [
        (TypeError, "explainers must map names to callables", dict(explainers=[centre])),
        (ValueError, "limit must be an int >= 1, got -1", dict(limit=-1)),
        (
            ValueError,
            r"boxes\['i0.png'\]: boxes must be .* boxes of 4 numbers",
            dict(boxes={"i0.png": (0, 0, 9), "i1.png": []}),
        ),
        (
            ValueError,
            r"explainer 'c' gave an unusable heatmap: heatmap must have shape \(2, 224, 224\)",
            dict(explainers={"c": lambda x, t: torch.zeros(len(x), 7, 7)}),
        ),
    ]
    for exc, msg, kw in cases:
        args = dict(explainers={"c": centre}, out=tmp_path / "new.jsonl", progress=False) | kw
        with pytest.raises(exc, match=msg):
            metrics.evaluate_folder(folder, lite.model, lite.preprocess, **args)
