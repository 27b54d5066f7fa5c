"""SWAG-V and video: the synthetic actions, the action-demo clip model, read_clip, video CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from swagfast import SWAG, SWAGV, GradCAM, SaliencyTubes, cli, data, metrics, models
from swagfast.data import ACTIONS, action_set, read_clip, write_clip


@pytest.fixture(scope="module")
def demo():
    return models.load("action-demo")


@pytest.fixture(scope="module")
def clips():
    return action_set(16, seed=7)


def test_action_set_is_deterministic_and_motion_defines_the_class(clips):
    again = action_set(16, seed=7)
    np.testing.assert_array_equal(clips.clips, again.clips)
    assert clips.clips.shape == (16, 16, 112, 112, 3) and clips.clips.dtype == np.uint8
    assert clips.labels.tolist() == [i % 8 for i in range(16)]
    for i in range(16):
        m, b = clips.masks[i].numpy(), clips.boxes[i].numpy()
        for t in range(16):
            ys, xs = np.nonzero(m[t])
            assert tuple(b[t]) == (xs.min(), ys.min(), xs.max(), ys.max())
        cx = (b[:, 0] + b[:, 2]) / 2
        cy = (b[:, 1] + b[:, 3]) / 2
        label = ACTIONS[int(clips.labels[i])]
        travel_x, travel_y = cx[-1] - cx[0], cy[-1] - cy[0]
        if label in ("slide right", "hop right"):
            assert travel_x > 30
        elif label in ("slide left", "hop left"):
            assert travel_x < -30
        elif label == "slide down":
            assert travel_y > 30 and abs(travel_x) < 2
        elif label == "slide up":
            assert travel_y < -30 and abs(travel_x) < 2
        else:  # rotations stay in place (the box changes, its centre barely moves)
            assert abs(travel_x) < 4 and abs(travel_y) < 4
            assert not np.array_equal(m[0], m[8])
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        action_set(0)
    with pytest.raises(TypeError, match="frames must be an int >= 4, got str"):
        action_set(1, frames="16")
    # long clips: the bars slow down instead of leaving the frame (frames >= 21 always failed)
    for seed in range(4):
        long = action_set(8, frames=40, size=64, seed=seed)
        assert long.masks.flatten(2).any(2).all()  # the bar is in every frame of every clip


def test_action_demo_model_recognises_motion(demo):
    held_out = action_set(64, seed=123)
    assert demo.class_names == ACTIONS and demo.layer == "features"
    x = held_out.inputs(demo.mean, demo.std)
    with torch.no_grad():
        pred = demo.model(x).argmax(1)
    assert float((pred == held_out.labels).float().mean()) >= 0.9
    # the crop/normalise path of the preprocess gives the same input for a 112x112 16-frame clip
    torch.testing.assert_close(demo.preprocess(list(held_out.clips[:2])), x[:2])


def test_clip_io_roundtrip(tmp_path, clips):
    path = write_clip(tmp_path / "a.avi", np.concatenate([clips.clips[0], clips.clips[0][::-1]]))
    back = read_clip(path, frames=16, size=112)
    assert back.shape == (16, 112, 112, 3) and back.dtype == np.uint8
    # 32 frames -> 16 evenly spaced: frames 0, 2, ..., and the video's second half is reversed
    ref = np.concatenate([clips.clips[0], clips.clips[0][::-1]])[np.round(np.linspace(0, 31, 16)).astype(int)]
    assert np.abs(back.astype(int) - ref.astype(int)).mean() < 12  # MJPG is lossy
    small = read_clip(path, frames=4, size=56)
    assert small.shape == (4, 56, 56, 3)
    with pytest.raises(ValueError, match="is not a file"):
        read_clip(tmp_path / "missing.mp4")
    before = sorted(tmp_path.iterdir())
    for fps in (-1, 0, float("nan")):
        with pytest.raises(ValueError, match="fps must be a positive finite number"):
            write_clip(tmp_path / "b.avi", clips.clips[0], fps=fps)
    with pytest.raises(TypeError, match="fps must be a number, got str"):
        write_clip(tmp_path / "b.avi", clips.clips[0], fps="8")
    with pytest.raises(ValueError, match=r"clip must be a non-empty \(T, H, W, 3\) uint8 array"):
        write_clip(tmp_path / "b.avi", clips.clips[0][:0])
    (tmp_path / "c.avi").mkdir()
    with pytest.raises(ValueError, match="path must be a file to write, got the folder"):
        write_clip(tmp_path / "c.avi", clips.clips[0])
    assert sorted(tmp_path.iterdir()) == sorted([*before, tmp_path / "c.avi"])  # nothing half-written
    (tmp_path / "junk.mp4").write_bytes(b"junk")
    with pytest.raises(ValueError, match="could not be opened|no decodable frames"):
        read_clip(tmp_path / "junk.mp4")
    with pytest.raises(ValueError, match="frames must be an int >= 1, got 0"):
        read_clip(path, frames=0)
    with pytest.raises(TypeError, match="frames must be an int >= 1, got str"):
        read_clip(path, frames="16")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got NoneType"):
        read_clip(None)
    assert not list(tmp_path.glob(".*"))


def test_swagv_is_swag_on_clips_with_video_defaults(demo, clips):
    x = clips.inputs(demo.mean, demo.std, index=slice(0, 2))
    exp = SWAGV(demo.model, "I+G", mean=demo.mean, std=demo.std)(x)
    kw = dict(w_c=20, w_g=9, mean=demo.mean, std=demo.std)
    ref = SWAG(demo.model, "I+G", 120, connectivity="parallel", **kw)(x)
    raster = SWAG(demo.model, "I+G", 120, **kw)(x)  # SWAG's default rule: other supervoxels here
    assert not torch.equal(exp.segments, raster.segments)
    assert exp.method == "SWAG-V_I+G" and exp.heatmap.shape == (2, 16, 112, 112)
    torch.testing.assert_close(exp.heatmap, ref.heatmap)
    assert torch.equal(exp.segments, ref.segments)
    n = [int(s.max()) + 1 for s in exp.segments]
    assert all(40 <= k <= 132 for k in n), n
    # each supervoxel's heatmap value is the mean of the pixel map over it
    seg, pm = exp.segments[0].flatten().long(), exp.pixel_map[0].flatten()
    means = torch.zeros(n[0]).index_add_(0, seg, pm) / torch.bincount(seg, minlength=n[0])
    torch.testing.assert_close(exp.heatmap[0].flatten(), means[seg])
    with pytest.raises(ValueError, match=r"x must be clips of shape \(B, C, T, H, W\)"):
        SWAGV(demo.model)(x[:, :, 0])


def top_on_tube(heat: np.ndarray, mask: np.ndarray, share: float = 0.05, margin: int = 4) -> np.ndarray:
    """Per frame: the fraction of the clip's top ``share`` voxels in that frame that lie on the
    object's tube (its mask dilated by ``margin`` px); NaN for frames with none."""
    import cv2

    thr = np.quantile(heat, 1 - share)
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    out = []
    for h, m in zip(heat, mask, strict=True):
        tube = cv2.dilate(m.astype(np.uint8), kernel) > 0
        top = h >= thr
        out.append((top & tube).sum() / top.sum() if top.any() else np.nan)
    return np.array(out)


def test_swagv_top_voxels_lie_on_the_moving_object(demo):
    """Ground truth: only the moving bar carries the class, so the top 5% of SWAG-V's heatmap
    (the default I+G variant) should lie on its tube in most frames. SWAG-V_G, whose
    gradient-only supervoxels also cover where the bar has been, is measured in eval_video.py."""
    held_out = action_set(8, seed=321)
    x = held_out.inputs(demo.mean, demo.std)
    exp = SWAGV(demo.model, mean=demo.mean, std=demo.std)(x, held_out.labels)
    assert exp.method == "SWAG-V_I+G"
    good = 0
    for i in range(8):
        on = top_on_tube(exp.heatmap[i].numpy(), held_out.masks[i].numpy())
        good += np.nanmean(on >= 0.5) >= 0.75
    assert good >= 6, good


def test_video_cams_and_metrics_run_on_clips(demo, clips):
    x = clips.inputs(demo.mean, demo.std, index=slice(0, 2))
    for cam in (GradCAM(demo.model, demo.layer), SaliencyTubes(demo.model, demo.layer)):
        e = cam(x)
        assert e.heatmap.shape == (2, 16, 112, 112) and e.raw.shape == (2, 4, 14, 14)
    d = metrics.deletion(demo.model, x, e.heatmap)
    assert d.curves.shape == (2, 29)  # 28 steps of 16*112*112/28 voxels, step 0 included
    loc = metrics.weak_localisation(e.heatmap, [[b[None] for b in bs] for bs in clips.boxes[:2].numpy()])
    assert set(loc.error) == {"value", "mean", "energy"}


def test_explain_cli_handles_videos_and_images(tmp_path, clips):
    folder = tmp_path / "in"
    folder.mkdir()
    write_clip(folder / "bar.avi", clips.clips[0])
    img = data.sample_images()["chelsea"]
    import cv2

    cv2.imwrite(str(folder / "cat.png"), img[..., ::-1])
    out = tmp_path / "out"
    assert cli.main(["explain", str(folder), "--method", "swag-g", "--out", str(out), "--quiet"]) == 0
    row = json.loads((out / "bar.swag-g.json").read_text())
    assert row["model"] == "action-demo" and row["method"] == "SWAG-V_G" and row["video"] == "bar.swag-g.mp4"
    assert row["top5"][0]["name"] == ACTIONS[int(clips.labels[0])]
    assert row["heatmap"]["shape"] == [16, 112, 112]
    back = read_clip(out / "bar.swag-g.mp4", frames=16, size=112)
    assert back.shape == (16, 112, 112, 3)
    assert json.loads((out / "cat.swag-g.json").read_text())["model"] == "efficientnet-lite0"
    page = (out / "index.html").read_text()
    assert '<video src="bar.swag-g.mp4"' in page and 'src="cat.swag-g.png"' in page
    assert (
        cli.main(["explain", str(folder / "bar.avi"), "--method", "rise", "--out", str(out)])
        == cli.EXIT_USAGE
    )


def test_torchvision_r2plus1d_structure_works_with_swagv_and_cams():
    """torchvision cannot be installed beside this CPU torch build; a replica with the same
    layers (in-place ReLUs inside residual blocks, batch norms, (2+1)D convolutions) stands in."""
    from swagfast.testing import r2plus1d_18_replica

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = r2plus1d_18_replica(classes=5)
    assert models.default_layer(net) == "layer4"
    x = torch.randn(2, 3, 8, 48, 48, generator=torch.Generator().manual_seed(0))
    exp = SWAGV(net, "G", n_segments=40)(x)
    assert exp.heatmap.shape == (2, 8, 48, 48) and torch.isfinite(exp.heatmap).all()
    assert exp.pixel_map.abs().sum() > 0
    cam = SaliencyTubes(net, "layer4")(x)
    assert cam.heatmap.shape == (2, 8, 48, 48) and cam.raw.shape == (2, 1, 3, 3)


def test_torchvision_video_names_get_the_clip_preprocess(monkeypatch):
    """``load("torchvision:r2plus1d_18")`` (where torchvision imports) gives a clip model: checked
    with a stand-in torchvision module exposing the two functions load uses."""
    import sys
    import types

    from swagfast.testing import r2plus1d_18_replica

    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(
        video=object(),
        list_models=lambda module=None: ["r2plus1d_18", "r3d_18", "mc3_18"],
        get_model=lambda name, weights=None: r2plus1d_18_replica(),
    )
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    loaded = models.load("torchvision:r2plus1d_18")
    assert isinstance(loaded.preprocess, models.ClipPreprocess) and loaded.layer == "layer4"
    assert len(loaded.class_names) == 400 and loaded.preprocess.frames == 16


@pytest.mark.cuda
@pytest.mark.parametrize("arch", ["r2plus1d_18", "r3d_18", "mc3_18"])
def test_torchvision_video_models_on_cuda(arch):
    """Where torchvision imports (the GPU machine): its video models load as clip models, SWAG-V
    and Grad-CAM run on them on the device and leave no hook behind, and the CPU tests' replica
    has exactly r2plus1d_18's parameters and outputs."""
    import copy

    pytest.importorskip("torchvision", reason="torchvision is not importable beside this torch build")
    loaded = models.load(f"torchvision:{arch}", device="cuda")
    net = loaded.model
    assert isinstance(loaded.preprocess, models.ClipPreprocess) and loaded.layer == "layer4"
    x = torch.randn(2, 3, 8, 56, 56, generator=torch.Generator().manual_seed(0))
    if arch == "r2plus1d_18":
        from swagfast.testing import r2plus1d_18_replica

        replica = r2plus1d_18_replica().eval()
        theirs = {k: v.shape for k, v in net.state_dict().items()}
        assert {k: v.shape for k, v in replica.state_dict().items()} == theirs
        cpu = copy.deepcopy(net).cpu()
        replica.load_state_dict(cpu.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(replica(x), cpu(x), rtol=1e-4, atol=1e-5)
    exp = SWAGV(net, "I+G", n_segments=40)(x.cuda())
    assert exp.heatmap.device.type == exp.segments.device.type == "cuda"
    assert exp.heatmap.shape == (2, 8, 56, 56) and torch.isfinite(exp.heatmap).all()
    assert exp.pixel_map.abs().sum() > 0
    cam = GradCAM(net, "layer4")(x.cuda())
    assert cam.heatmap.shape == (2, 8, 56, 56) and cam.heatmap.device.type == "cuda"
    hooks = [m for m in net.modules() if m._forward_hooks or m._backward_hooks or m._forward_pre_hooks]
    assert not hooks
