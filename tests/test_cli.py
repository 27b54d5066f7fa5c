from __future__ import annotations

import json

import cv2

from swagfast import cli


def test_demo_writes_real_pngs_and_summary(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--limit", "2"]) == 0
    summary = json.loads((tmp_path / "demo.json").read_text())
    images = summary["images"]
    assert [s["image"] for s in images] == ["chelsea", "coffee"]
    assert [s["top3"][0]["class"] for s in images] == [285, 967]
    assert all(s["method"] == "SWAG_G" for s in images)
    assert set(summary["timings_s"]) == {"attribution", "superpixels", "pooling", "total"}
    for s in images:
        img = cv2.imread(str(tmp_path / s["file"]))
        assert img is not None and img.shape[1] == 3 * 224 and img.shape[0] > 224
        photo, heat, borders = img[:224, :224].astype(int), img[:224, 224:448].astype(int), img[:224, 448:]
        assert abs(heat - photo).mean() > 5  # the heatmap is drawn over the photo
        assert ((borders[..., 0] == 0) & (borders[..., 1] == 255) & (borders[..., 2] == 255)).sum() > 1000
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind
    assert "Egyptian cat" in capsys.readouterr().out


def test_info_lists_backends(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "cpu" in out and "numba" in out and "cuda" in out
