"""swagfast.explain and the peers' spellings: inputs of every kind, class names, figures, files,
pytorch-grad-cam's and Captum's habits, metrics on an Explanation, the lazy submodules."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import swagfast
from swagfast import RISE, GradCAM, JitterCAM, ScoreCAM, api, cli, data, models
from swagfast.baselines import unit_range
from swagfast.explainers.cam import resize


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip


@pytest.fixture(scope="module")
def lite():
    return models.load()


@pytest.fixture(scope="module")
def chelsea():
    return data.sample_images()["chelsea"]


def test_every_kind_of_input_gives_the_same_explanation(lite, chelsea, tmp_path):
    from PIL import Image

    path = tmp_path / "cat.png"
    cv2.imwrite(str(path), chelsea[..., ::-1])
    pre = lite.preprocess.__class__(224, lite.mean, lite.std, "resize")
    x = pre([chelsea])
    ref = GradCAM(lite.model, lite.layer)(x)
    kinds = {
        "path": str(path),
        "PIL": Image.fromarray(chelsea),
        "uint8 HWC": chelsea,
        "float HWC": chelsea.astype(np.float32) / 255,
        "uint8 CHW tensor": torch.from_numpy(chelsea).permute(2, 0, 1),
        "model input tensor": x[0],
    }
    for kind, item in kinds.items():
        got = swagfast.explain(lite, item, "grad-cam")
        tol = 1e-6 if kind != "float HWC" else 1e-3  # a float picture is rounded to uint8 on the way
        torch.testing.assert_close(got.heatmap, ref.heatmap, rtol=tol, atol=tol, msg=kind)
        assert got.images.shape == (1, 224, 224, 3) and got.images.dtype == np.uint8
    assert swagfast.explain(lite, str(path), "grad-cam").names == ("cat",)
    # a batch: arrays stacked, a BCHW tensor, a list; names unique
    both = swagfast.explain(lite, [chelsea, chelsea], "grad-cam", batch_size=1)
    assert both.names == ("input-0", "input-1") and both.heatmap.shape == (2, 224, 224)
    torch.testing.assert_close(both.heatmap[1], ref.heatmap[0])
    assert swagfast.explain(lite, [str(path), str(path)], "grad-cam").names == ("cat", "cat-2")


def test_crop_fit_and_class_names(lite, chelsea):
    crop = swagfast.explain(lite, chelsea, "grad-cam", fit="crop", target="espresso")
    x = lite.preprocess([chelsea])  # the embedded model's own: the central square
    torch.testing.assert_close(crop.heatmap, GradCAM(lite.model, lite.layer)(x, 967).heatmap)
    assert int(crop.target[0]) == 967 and crop.top(0, 1)[0]["class"] == 285
    assert api.class_index("tabby", lite.class_names) == 281  # one of ImageNet's synonyms
    assert api.class_index(["Egyptian cat", 3, None], lite.class_names) == [285, 3, None]
    with pytest.raises(ValueError, match="'espreso' is not one of the model's 1000 class names; the closest"):
        swagfast.explain(lite, chelsea, "grad-cam", target="espreso")
    with pytest.raises(ValueError, match="method must be one of .*did you mean 'grad-cam\\+\\+'"):
        swagfast.explain(lite, chelsea, "gradcam+")
    with pytest.raises(TypeError, match="inputs must be file paths, PIL images"):
        swagfast.explain(lite, {"a": 1}, "grad-cam")
    with pytest.raises(ValueError, match="must be an \\(H, W, 3\\) RGB picture"):
        swagfast.explain(lite, np.zeros((4, 5, 7), np.uint8), "grad-cam")


def test_a_module_in_hand_is_explained_and_left_as_it_was(tmp_path):
    net = small_net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    pic = (np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)
    exp = swagfast.explain(net, pic, "grad-cam")
    assert net.training and all(m.training for m in net.modules())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    x = models.Preprocess(224, models.own.IMAGENET_MEAN, models.own.IMAGENET_STD, "resize")([pic])
    torch.testing.assert_close(exp.heatmap, GradCAM(net.eval(), "3")(x).heatmap)  # layer found: the last ReLU
    rows = exp.save(tmp_path)
    assert rows[0]["png"] == "input-0.grad-cam.png" and rows[0]["target"]["name"].startswith("class ")
    assert json.loads((tmp_path / "input-0.grad-cam.json").read_text())["top5"][0] == exp.top(0)[0]
    fig = cv2.imread(str(tmp_path / rows[0]["png"]))
    assert fig.shape[1] == 2 * 224 and fig.shape[0] > 224 + 20 + 30  # two titled panels, colour bar, caption


def test_pytorch_grad_cam_and_captum_spellings():
    net = small_net().eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    class ClassifierOutputTarget:  # pytorch-grad-cam's target object
        def __init__(self, category):
            self.category = category

    ref = GradCAM(net, "3")(x, [1, 2])
    with GradCAM(model=net, target_layers=[net[3]]) as cam:
        got = cam(input_tensor=x, targets=[ClassifierOutputTarget(1), ClassifierOutputTarget(2)])
    torch.testing.assert_close(got.heatmap, ref.heatmap, rtol=0, atol=0)
    torch.testing.assert_close(GradCAM(net, [net[3]]).attribute(x, target=[1, 2]), ref.heatmap)
    # several layers: each CAM at input size scaled to [0, 1] per item, then averaged
    two = GradCAM(net, target_layers=[net[1], net[3]])(x, 1)
    per = [unit_range(resize(GradCAM(net, n).raw(x, 1)[0], (32, 32))) for n in ("1", "3")]
    torch.testing.assert_close(two.heatmap, (per[0] + per[1]) / 2)
    assert "2 layers averaged" in two.method
    with pytest.raises(TypeError, match="give the layer once"):
        GradCAM(net, "3", target_layers=[net[3]])
    with pytest.raises(TypeError, match="give the input once"):
        GradCAM(net, "3")(x, input_tensor=x)
    with pytest.raises(ValueError, match="Jitter-CAM explains one layer"):
        JitterCAM(net, [net[1], net[3]])
    with JitterCAM(net, target_layers=[net[3]]) as jit:
        torch.testing.assert_close(jit.attribute(x, 1), JitterCAM(net, "3")(x, 1).heatmap)


def test_metrics_take_an_explanation():
    from swagfast.metrics import deletion, pointing_game

    net = small_net().eval()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    exp = GradCAM(net, "3")(x)
    a, b = deletion(net, x, exp, steps=4), deletion(net, x, exp.heatmap, steps=4)
    torch.testing.assert_close(a.auc, b.auc, rtol=0, atol=0)
    masks = np.zeros((2, 16, 16), bool)
    masks[:, 4:12, 4:12] = True
    assert pointing_game(exp, masks).accuracy == pointing_game(exp.heatmap, masks).accuracy


def test_slow_methods_report_progress():
    net = small_net().eval()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    seen = []
    cam = ScoreCAM(net, "3", batch_size=3)
    cam.progress = lambda done, total: seen.append((done, total))
    plain = ScoreCAM(net, "3", batch_size=3)(x).heatmap
    torch.testing.assert_close(cam(x).heatmap, plain, rtol=0, atol=0)  # progress changes nothing
    assert seen[-1] == (16, 16) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    rise, seen = RISE(net, 20, batch_size=8), []
    rise.progress = lambda done, total: seen.append((done, total))
    rise(x)
    assert seen[-1] == (40, 40)


def test_lazy_submodules_and_version(capsys):
    for name in ("models", "metrics", "data", "testing", "failure", "attribution"):
        assert getattr(swagfast, name).__name__ == f"swagfast.{name}"
    assert swagfast.explain is api.explain and "explain" in dir(swagfast)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        swagfast.nope  # noqa: B018
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"swagfast {swagfast.__version__}"


USER_FILE = textwrap.dedent(
    """
    import torch
    from torch import nn


    def make():
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
        )
        return {"model": net, "size": 64, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
    """
)


def test_the_command_line_explains_a_users_model_from_a_file(tmp_path, capsys, chelsea):
    (tmp_path / "mine.py").write_text(USER_FILE)
    (tmp_path / "classes.txt").write_text("cat\ndog\nespresso\n")
    photo = tmp_path / "cat.jpg"
    cv2.imwrite(str(photo), chelsea[..., ::-1])
    out = tmp_path / "out"
    argv = [
        "explain",
        str(photo),
        "--model",
        f"{tmp_path / 'mine.py'}:make",
        "--classes",
        str(tmp_path / "classes.txt"),
    ]
    assert (
        cli.main([*argv, "--method", "grad-cam", "--target", "espresso", "--out", str(out), "--quiet"]) == 0
    )
    said = capsys.readouterr()
    assert "explaining layer '3'" in said.out  # found: the last ReLU
    row = json.loads((out / "cat.grad-cam.json").read_text())
    assert row["target"] == {"class": 2, "name": "espresso"} and row["layer"] == "3"
    assert row["heatmap"]["shape"] == [64, 64]
    # the same numbers as the Python API on the same model
    exp = swagfast.explain(models.load(f"{tmp_path / 'mine.py'}:make"), str(photo), "grad-cam", target=2)
    assert abs(row["heatmap"]["max"] - float(exp.heatmap.max())) < 1e-6
    assert cli.main([*argv, "--layer", "nope", "--out", str(out), "--method", "grad-cam"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--layer 'nope' is not a layer of the model; layers with a feature map: 0, 1, 2, 3" in err
    assert cli.main([*argv, "--target", "espreso", "--out", str(out)]) == cli.EXIT_USAGE
    assert "--target 'espreso' is not one of the model's 3 class names; the closest are 'espresso'" in (
        capsys.readouterr().err
    )
    # a slow method: one input at a time, an estimate first
    code = cli.main([*argv, "--method", "score-cam", "--out", str(out), "--quiet"])
    assert code == 0 and "score-cam: 8 masked forward passes per input" in capsys.readouterr().err
    assert (out / "cat.score-cam.png").exists() and (out / "cat.grad-cam.png").exists()
    page = (out / "index.html").read_text()
    assert "cat.score-cam.png" in page and "cat.grad-cam.png" in page  # both methods in one index


def test_a_video_gets_an_h264_mp4_embedded_in_the_page(tmp_path):
    import av

    from swagfast.data import action_set, write_clip

    clip = action_set(1, seed=0).clips[0]
    src = write_clip(tmp_path / "walk.mp4", clip)
    out = tmp_path / "out"
    assert cli.main(["explain", str(src), "--out", str(out), "--quiet", "--method", "grad-cam"]) == 0
    with av.open(str(out / "walk.grad-cam.mp4")) as f:
        s = f.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p" and s.frames == 16
    page = (out / "index.html").read_text()
    assert '<video src="walk.grad-cam.mp4" controls' in page
    strip = cv2.imread(str(out / "walk.grad-cam.png"))
    assert strip.shape[1] > 8 * 112  # eight frames and the row labels


def test_the_page_renders_in_a_browser(tmp_path, lite, chelsea):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless Chromium here (apt-get install chromium) to render index.html")
    exp = swagfast.explain(lite, [chelsea, chelsea[:, ::-1]], "grad-cam")
    rows = exp.save(tmp_path)
    (tmp_path / "index.html").write_bytes(swagfast.viz.gallery_html(rows, "t", skipped=["x.jpg: broken"]))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1200,900", (tmp_path / "index.html").as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (900, 1200)
    # the two figures were drawn side by side: the page is not blank, and has the photo's colours
    assert img.std() > 30 and (img.reshape(-1, 3).max(1) - img.reshape(-1, 3).min(1) > 60).mean() > 0.05
