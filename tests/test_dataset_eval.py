"""Folder-scale evaluation: streaming, resume after an interruption, unreadable files, boxes."""

from __future__ import annotations

import json

import cv2
import numpy as np

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
    explainers = {
        "Grad-CAM": lambda x: GradCAM(lite.model, "_bn1")(x).heatmap,
        "centre": lambda x: baselines.centre((x.shape[0], *x.shape[2:])),
    }
    kw = dict(labels=labels, boxes=boxes, batch_size=2, steps=7, progress=False)
    out = tmp_path / "results.jsonl"
    metrics.evaluate_folder(folder, lite.model, lite.preprocess, explainers, out, limit=2, **kw)
    assert len(out.read_text().splitlines()) == 4  # 2 images x 2 methods
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
