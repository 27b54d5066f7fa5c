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
    assert [s["file"] for s in images] == ["chelsea.swag-g.png", "coffee.swag-g.png"]
    for s in images:
        img = cv2.imread(str(tmp_path / s["file"]))
        assert img is not None and img.shape[1] == 3 * 224 and img.shape[0] > 224
        img = img[20:]  # under the panels' titles
        photo, heat, borders = img[:224, :224].astype(int), img[:224, 224:448].astype(int), img[:224, 448:]
        assert abs(heat - photo).mean() > 5  # the heatmap is drawn over the photo
        assert ((borders[..., 0] == 0) & (borders[..., 1] == 255) & (borders[..., 2] == 255)).sum() > 1000
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind
    assert "Egyptian cat" in capsys.readouterr().out
    page = (tmp_path / "index.html").read_text()
    assert 'src="chelsea.swag-g.png"' in page and "coffee" in page


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
    rows = {r: json.loads((out / f"{r}.swag-g.json").read_text()) for r in ("chelsea", "coffee")}
    assert rows["chelsea"]["top5"][0]["class"] == 285 and rows["coffee"]["top5"][0]["class"] == 967
    assert rows["chelsea"]["target"] == {"class": 285, "name": rows["chelsea"]["top5"][0]["name"]}
    assert rows["chelsea"]["method"] == "SWAG_G" and 150 <= rows["chelsea"]["segments"] <= 330
    for r in rows:
        img = cv2.imread(str(out / f"{r}.swag-g.png"))
        assert img.shape[1] == 3 * 224
        heat = np.load(out / f"{r}.swag-g.npy")
        assert heat.shape == (224, 224) and heat.max() > heat.min()
    page = (out / "index.html").read_text()
    assert 'src="chelsea.swag-g.png"' in page and 'href="coffee.swag-g.json"' in page
    assert "<video" not in page and "Skipped (1)" in page and "broken.png" in page  # listed as skipped
    assert not list(out.glob(".*.tmp"))
    # written through private temporary files, they end with the mode a plain write gives
    umask = os.umask(0o022)
    os.umask(umask)
    for f in ("chelsea.swag-g.png", "chelsea.swag-g.json", "chelsea.swag-g.npy", "index.html"):
        assert stat.S_IMODE((out / f).stat().st_mode) == 0o666 & ~umask, f


def test_explain_cam_with_target_and_usage_errors(tmp_path, capsys):
    folder = _photo_folder(tmp_path)
    photo = folder / "nested" / "chelsea.jpg"
    out = tmp_path / "cam"
    assert (
        cli.main(
            ["explain", str(photo), "--method", "grad-cam", "--target", "967", "--out", str(out), "--quiet"]
        )
        == 0
    )
    row = json.loads((out / "chelsea.grad-cam.json").read_text())
    assert row["target"]["class"] == 967 and row["layer"] == "_relu_head" and row["method"] == "Grad-CAM"
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
                "grad-cam",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    a = json.loads((out / "chelsea.grad-cam.json").read_text())
    b = json.loads((out / "chelsea-2.grad-cam.json").read_text())
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
    png = folder / "chelsea.grad-cam.png"
    png.write_bytes(cv2.imencode(".png", cv2.imread(str(photo)))[1].tobytes())
    before = png.read_bytes()
    argv = ["explain", str(photo), str(png), "--method", "grad-cam", "--out", str(folder), "--quiet"]
    assert cli.main(argv) == 0 and png.read_bytes() == before  # chelsea.jpg's figure went to chelsea-2
    assert json.loads((folder / "chelsea-2.grad-cam.json").read_text())["input"] == str(photo)
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
    from swagfast import viz

    row["method"] = "m"
    page = viz.gallery_html([row], "t").decode()
    assert 'src="a%231.png"' in page and 'href="a%231.json"' in page and ">a#1.json<" in page


def test_an_out_that_cannot_be_written_is_exit_2_with_one_line(tmp_path, capsys):
    folder = _photo_folder(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for argv in (
        ["explain", str(folder), "--out", str(blocker / "sub"), "--quiet"],
        ["demo", "--out", str(blocker / "sub"), "--limit", "1"],
    ):
        assert cli.main(argv) == cli.EXIT_USAGE
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--out" in err[0] and "cannot be written to" in err[0], err
    # a folder that refuses new files (read-only or immutable; root ignores the mode bits, so
    # the refusal is simulated where the probe creates its file)
    from unittest import mock

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    with mock.patch("tempfile.mkstemp", refuse):
        assert cli.main(["explain", str(folder), "--out", str(tmp_path / "ro"), "--quiet"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "Permission denied" in err and "Traceback" not in err
    assert not (tmp_path / "ro").exists()  # the folder it made for the probe is gone again


def test_one_failed_write_skips_that_input_and_explains_the_others(tmp_path, capsys):
    from unittest import mock

    from swagfast import viz

    folder = _photo_folder(tmp_path)
    out = tmp_path / "out"
    real = viz.write_bytes_atomic

    def flaky(path, data):
        if path.name == "chelsea.swag-g.json":
            raise OSError(28, "No space left on device")
        real(path, data)

    with mock.patch.object(viz, "write_bytes_atomic", flaky):
        code = cli.main(["explain", str(folder), "--out", str(out), "--quiet"])
    assert code == cli.EXIT_SKIPPED
    err = capsys.readouterr().err
    assert "chelsea.jpg: cannot write its outputs" in err and "No space left" in err
    assert not list(out.glob("chelsea*"))  # nothing half-written: its PNG went with the failed JSON
    assert (out / "coffee.swag-g.json").exists() and (out / "coffee.swag-g.png").exists()
    page = (out / "index.html").read_text()
    assert 'src="coffee.swag-g.png"' in page and "chelsea.swag-g" not in page
    assert "chelsea.jpg: cannot write its outputs" in page  # listed as skipped


def test_a_constant_heatmap_is_reported_by_the_cli(tmp_path, capsys):
    from unittest import mock

    import torch

    from swagfast import Explanation, api

    def blank(method, bundle, layer, segments=None, rise_masks=4000):  # an attribution that is all zero
        return api.Method(
            method,
            None,
            lambda x, crops, t: Explanation(
                heatmap=torch.zeros(x.shape[0], *x.shape[2:]),
                target=torch.zeros(x.shape[0], dtype=torch.long),
                method="blank",
            ),
        )

    folder = _photo_folder(tmp_path)
    with mock.patch.object(api, "make_method", blank):
        code = cli.main(
            ["explain", str(folder), "--method", "guided", "--out", str(tmp_path / "o"), "--quiet"]
        )
    assert code == cli.EXIT_SKIPPED  # broken.png
    err = capsys.readouterr().err
    assert "swagfast explain: warning: blank: the heatmap of item(s) 0, 1 is constant (0 everywhere)" in err


def test_the_old_cam_names_still_work_with_a_note(tmp_path, capsys):
    import warnings

    import pytest
    import torch
    from torch import nn

    from swagfast import JitterCAM

    photo = _photo_folder(tmp_path) / "nested" / "coffee.jpg"
    assert (
        cli.main(["explain", str(photo), "--method", "gradcam", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    )
    assert "--method gradcam is now called grad-cam" in capsys.readouterr().err
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    x = torch.rand(1, 3, 16, 16)
    with pytest.warns(DeprecationWarning, match="'scorecam' is deprecated.*use 'score-cam'"):
        old = JitterCAM(model, "1", "scorecam")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a random model's CAM may be constant
        torch.testing.assert_close(old(x).raw, JitterCAM(model, "1", "score-cam")(x).raw)
