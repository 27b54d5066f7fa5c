from __future__ import annotations

import json

import cv2

from swagfast import cli


def test_demo_writes_real_pngs_and_summary(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--limit", "2"]) == 0
    summary = json.loads((tmp_path / "demo.json").read_text())
    assert [s["image"] for s in summary] == ["chelsea", "coffee"]
    assert [s["top3"][0]["class"] for s in summary] == [285, 967]
    for s in summary:
        img = cv2.imread(str(tmp_path / s["file"]))
        assert img is not None and img.shape[1] == 448 and img.shape[0] > 224
        # the right half (overlay) differs from the photo on the left
        assert abs(img[:224, 224:].astype(int) - img[:224, :224].astype(int)).mean() > 5
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind
    assert "Egyptian cat" in capsys.readouterr().out


def test_info_lists_backends(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "cpu" in out and "numba" in out and "cuda" in out
