from __future__ import annotations

import json
import os
import stat

import cv2
import numpy as np

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


def _photo_folder(tmp_path):
    from swagfast import data

    photos = data.sample_images()
    src = tmp_path / "in" / "nested"
    src.mkdir(parents=True)
    for name in ("chelsea", "coffee"):
        cv2.imwrite(str(src / f"{name}.jpg"), photos[name][..., ::-1])
    (src / "broken.png").write_bytes(b"not an image")
    (src / "notes.txt").write_text("ignored: not an image suffix")
    return tmp_path / "in"


def test_explain_folder_writes_png_json_and_index_and_skips_unreadable(tmp_path, capsys):
    folder = _photo_folder(tmp_path)
    out = tmp_path / "out"
    code = cli.main(
        ["explain", str(folder), "--method", "swag-g", "--out", str(out), "--quiet", "--save-heatmaps"]
    )
    assert code == cli.EXIT_SKIPPED  # broken.png was reported and skipped; the others explained
    err = capsys.readouterr().err
    assert "broken.png" in err and "skipped" in err and "notes.txt" not in err
    rows = {r: json.loads((out / f"{r}.json").read_text()) for r in ("chelsea", "coffee")}
    assert rows["chelsea"]["top5"][0]["class"] == 285 and rows["coffee"]["top5"][0]["class"] == 967
    assert rows["chelsea"]["target"] == {"class": 285, "name": rows["chelsea"]["top5"][0]["name"]}
    assert rows["chelsea"]["method"] == "SWAG_G" and 150 <= rows["chelsea"]["segments"] <= 330
    for r in rows:
        img = cv2.imread(str(out / f"{r}.png"))
        assert img.shape[1] == 3 * 224
        heat = np.load(out / f"{r}.npy")
        assert heat.shape == (224, 224) and heat.max() > heat.min()
    page = (out / "index.html").read_text()
    assert 'src="chelsea.png"' in page and 'href="coffee.json"' in page and "broken" not in page
    assert not list(out.glob(".*.tmp"))
    # written through private temporary files, they end with the mode a plain write gives
    umask = os.umask(0o022)
    os.umask(umask)
    for f in ("chelsea.png", "chelsea.json", "chelsea.npy", "index.html"):
        assert stat.S_IMODE((out / f).stat().st_mode) == 0o666 & ~umask, f


def test_explain_cam_with_target_and_usage_errors(tmp_path, capsys):
    folder = _photo_folder(tmp_path)
    photo = folder / "nested" / "chelsea.jpg"
    out = tmp_path / "cam"
    assert (
        cli.main(
            ["explain", str(photo), "--method", "gradcam", "--target", "967", "--out", str(out), "--quiet"]
        )
        == 0
    )
    row = json.loads((out / "chelsea.json").read_text())
    assert row["target"]["class"] == 967 and row["layer"] == "_bn1" and row["method"] == "Grad-CAM"
    assert row["segments"] is None
    assert cli.main(["explain", str(photo), "--target", "1000", "--out", str(out)]) == cli.EXIT_USAGE
    assert "--target must be a class in [0, 1000)" in capsys.readouterr().err
    assert cli.main(["explain", str(photo), "--model", "resnet", "--out", str(out)]) == cli.EXIT_USAGE
    assert "--model resnet" in capsys.readouterr().err
    assert cli.main(["explain", str(tmp_path / "missing.jpg"), "--out", str(out)]) == cli.EXIT_USAGE
    assert "no such file or folder" in capsys.readouterr().err


def test_explain_duplicate_names_do_not_overwrite(tmp_path):
    folder = _photo_folder(tmp_path)
    other = tmp_path / "in" / "other"
    other.mkdir()
    (other / "chelsea.jpg").write_bytes((folder / "nested" / "coffee.jpg").read_bytes())
    out = tmp_path / "dup"
    assert (
        cli.main(
            [
                "explain",
                str(folder / "nested" / "chelsea.jpg"),
                str(other / "chelsea.jpg"),
                "--method",
                "gradcam",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    a, b = json.loads((out / "chelsea.json").read_text()), json.loads((out / "chelsea-2.json").read_text())
    assert a["top5"][0]["class"] == 285 and b["top5"][0]["class"] == 967


def test_bench_and_eval_run_scripts_and_report_failures(tmp_path, capfd):
    (tmp_path / "bench_ok.py").write_text("import sys\nprint('| method | ms |', sys.argv[1:])\n")
    (tmp_path / "bench_bad.py").write_text("raise SystemExit(3)\n")
    (tmp_path / "eval_table.py").write_text("print('| metric | value |')\n")
    assert cli.main(["bench", "--dir", str(tmp_path), "--list"]) == 0
    assert capfd.readouterr().out.split() == ["bad", "ok"]
    assert cli.main(["bench", "ok", "--dir", str(tmp_path), "--args", "--repeats 3"]) == 0
    assert "| method | ms | ['--repeats', '3']" in capfd.readouterr().out
    assert cli.main(["eval", "--dir", str(tmp_path)]) == 0
    assert cli.main(["bench", "--dir", str(tmp_path)]) == cli.EXIT_SKIPPED
    assert "bad (exit 3)" in capfd.readouterr().err
    assert cli.main(["bench", "nope", "--dir", str(tmp_path)]) == cli.EXIT_USAGE
    assert "unknown nope; choose from bad, ok" in capfd.readouterr().err
    assert cli.main(["eval", "--dir", str(tmp_path / "missing")]) == cli.EXIT_USAGE
    assert "no benchmarks folder" in capfd.readouterr().err


def test_bench_with_a_relative_dir_and_bad_args(tmp_path, capfd, monkeypatch):
    (tmp_path / "bench_ok.py").write_text("print('| ok |')\n")
    monkeypatch.chdir(tmp_path.parent)
    assert cli.main(["bench", "--dir", tmp_path.name]) == 0  # the folder was applied twice
    assert "| ok |" in capfd.readouterr().out
    assert cli.main(["bench", "--dir", tmp_path.name, "--args", "'unbalanced"]) == cli.EXIT_USAGE
    assert '--args "\'unbalanced": No closing quotation' in capfd.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["eval", "--dir", str(empty)]) == cli.EXIT_USAGE
    assert "no eval_*.py scripts in" in capfd.readouterr().err


def test_explain_never_overwrites_its_inputs_and_checks_device_and_out(tmp_path, capsys):
    folder = _photo_folder(tmp_path)
    photo = folder / "nested" / "chelsea.jpg"
    png = folder / "chelsea.png"
    png.write_bytes(cv2.imencode(".png", cv2.imread(str(photo)))[1].tobytes())
    before = png.read_bytes()
    code = cli.main(["explain", str(png), "--method", "gradcam", "--out", str(folder), "--quiet"])
    assert code == 0 and png.read_bytes() == before  # its panel went to chelsea-2.png
    assert json.loads((folder / "chelsea-2.json").read_text())["input"] == str(png)
    for argv, msg in (
        (["--device", "nonsense"], "--device must be a torch device such as cpu or cuda:0, got 'nonsense'"),
        (["--out", str(png)], "--out must be a folder, got the file"),
    ):
        for cmd in (["explain", str(photo)], ["demo"]):
            assert cli.main([*cmd, *argv]) == cli.EXIT_USAGE
            assert msg in capsys.readouterr().err
    for argv, msg in (
        (["--limit", "-1"], "--limit must be >= 0"),
        (["--segments", "0"], "--segments must be >= 1"),
    ):
        assert cli.main(["demo", "--out", str(tmp_path / "d"), *argv]) == cli.EXIT_USAGE
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    # nothing readable: no index is announced or written, and no empty folder is left
    assert (
        cli.main(["explain", str(folder / "nested" / "broken.png"), "--out", str(tmp_path / "e")])
        == cli.EXIT_USAGE
    )
    assert "none of the 1 inputs could be explained" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_index_links_are_url_quoted():
    row = {
        "png": "a#1.png",
        "json": "a#1.json",
        "input": "in/a#1.png",
        "target": {"name": "cat", "class": 1},
        "top5": [{"name": "cat", "prob": 0.5}],
    }
    page = cli._index_html([row], "t").decode()
    assert 'src="a%231.png"' in page and 'href="a%231.json"' in page and ">a#1.json<" in page
