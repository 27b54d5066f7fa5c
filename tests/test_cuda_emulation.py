"""The CUDA sources on the CPU: csrc/cuda's SLIC and connectivity kernels compiled as C++ over
tests/cuda_emulation/cuda_runtime.h (each CUDA thread a fiber; the block and warp collectives
real meeting points; a thread that skips one reported as a deadlock) and checked against the C++
CPU module. Most machines this project runs on have no GPU; this runs the device code's
indexing, warp sums, block scans and union-find on every one of them. Threads interleave only at
collectives, so the races are left to the tests marked ``cuda``, which run the real thing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import swagfast
from swagfast import _C
from swagfast.data import center_crop_resize, sample_images
from swagfast.testing import segment_pool_reference, unconnected_labels

ROOT = Path(__file__).resolve().parents[1]
EMU = Path(__file__).resolve().parent / "cuda_emulation"
SOURCES = ("slic_cuda.cu", "connectivity_cuda.cu", "segment_pool_cuda.cu")
LAUNCH = re.compile(r"(\w+(?:<\w+>)?)<<<(.*?)>>>\(")  # kernel or kernel<T>


def split_top_level(args: str) -> list[str]:
    """Split at the commas outside parentheses."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(args):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append(args[start:i].strip())
            start = i + 1
    return [*out, args[start:].strip()]


def as_cpp(source: str) -> str:
    """`k<<<grid, block, shared, stream>>>(args)` -> `swagfast_emu::launch(k, grid, block, args)`."""

    def launch(m: re.Match) -> str:
        grid, block = split_top_level(m.group(2))[:2]
        rest = source[m.end() :]
        comma = "" if rest.lstrip().startswith(")") else ", "
        return f"swagfast_emu::launch({m.group(1)}, {grid}, {block}{comma}"

    return LAUNCH.sub(launch, source)


def build(sources: list[Path], out: Path) -> Path:
    """Compile .cu sources (rewritten as C++) and .cpp files against the emulation."""
    if sys.platform != "linux":
        pytest.skip("the CUDA emulation's fibers use glibc's ucontext (Linux only)")
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or clang++) to build the CUDA emulation")
    files = []
    for src in sources:
        if src.suffix == ".cu":
            cpp = out.parent / f"{src.stem}.cpp"
            cpp.write_text(as_cpp(src.read_text()))
            src = cpp
        files.append(str(src))
    cmd = [cxx, "-std=c++17", "-O2", "-ffp-contract=off", "-D__CUDA_ARCH__=900"]
    cmd += ["-include", str(EMU / "cuda_runtime.h"), f"-I{EMU}", f"-I{ROOT / 'csrc' / 'include'}"]
    cmd += [f"-I{ROOT / 'csrc' / 'cuda'}", *files, "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"building the CUDA emulation failed:\n{res.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    sources = [ROOT / "csrc" / "cuda" / name for name in SOURCES]
    return build([*sources, EMU / "driver.cpp"], tmp_path_factory.mktemp("cuda_emulation") / "driver")


def test_a_thread_that_skips_a_barrier_is_reported_not_passed(tmp_path):
    """A kernel whose thread 0 leaves before __syncthreads (undefined behaviour on a GPU, often
    silently wrong) must stop the emulation."""
    src = tmp_path / "bad.cu"
    src.write_text(
        "__global__ void k(int* out) {\n"
        "  if (threadIdx.x == 0) return;\n"
        "  __syncthreads();\n"
        "  out[threadIdx.x] = 1;\n"
        "}\n"
        "int main() { static int out[64]; k<<<1, 64, 0, nullptr>>>(out); return 0; }\n"
    )
    exe = build([src], tmp_path / "bad")
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "deadlock in block (0, 0): 63 threads wait" in res.stderr


def run(driver: Path, tmp_path: Path, cmd: str, data: np.ndarray, *args) -> bytes:
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    np.ascontiguousarray(data).tofile(src)
    subprocess.run([str(driver), cmd, str(src), str(dst), *map(str, args)], check=True, timeout=120)
    return dst.read_bytes()


def test_launch_rewrite_keeps_every_kernel_argument():
    src = "k<<<static_cast<unsigned>((B + t - 1) / t), kThreads, 0, s>>>(a, B, n);\nz<<<g, 32, 0, s>>>();"
    src += "\nf<T><<<g, 32, 0, s>>>(x);"
    assert as_cpp(src) == (
        "swagfast_emu::launch(k, static_cast<unsigned>((B + t - 1) / t), kThreads, a, B, n);\n"
        "swagfast_emu::launch(z, g, 32);\nswagfast_emu::launch(f<T>, g, 32, x);"
    )


@pytest.mark.parametrize("kind", ["image", "clip", "noise", "noise3d"])
@pytest.mark.parametrize("factor", [0.25, 2.0])
def test_device_connectivity_equals_the_cpu_rule(driver, tmp_path, kind, factor, rng):
    raw, n_centres = unconnected_labels(kind, rng, small=True)
    expected, counts = raw.copy(), np.zeros(len(raw), np.int32)
    _C.relabel_parallel(expected, n_centres, factor, counts)
    out = np.frombuffer(run(driver, tmp_path, "relabel", raw, *raw.shape, n_centres, factor), np.int32)
    np.testing.assert_array_equal(out[: raw.size].reshape(raw.shape), expected)
    np.testing.assert_array_equal(out[raw.size :], counts)


@pytest.mark.parametrize("mode", swagfast.MODES)
def test_device_slic_rounds_agree_with_the_cpu(driver, tmp_path, mode, rng):
    """The rounds (assignment, warp sums, atomics, centre update) on an image pair and a clip.
    The sums are added in another order than the CPU's, so a label may differ by rounding (none
    did when written); a wrong warp sum moved 16% of them."""
    for shape, K in (((2, 1, 24, 28), 12), ((1, 4, 16, 20), 8)):
        F = {"I": 3, "G": 1, "I+G": 4}[mode]
        feat = np.empty((*shape, F), np.float32)
        if mode != "G":
            img = center_crop_resize(sample_images()["chelsea"], 48)[: shape[2], : shape[3]]
            rgb = np.broadcast_to(img, (*shape, 3)).reshape(-1, 3)
            _C.rgb_to_lab(np.ascontiguousarray(rgb), feat.reshape(-1, F))
        if mode != "I":
            feat[..., -1] = rng.random(shape, dtype=np.float32) * 100
        w = [1 / 20**2] * (3 if mode != "G" else 0) + [1 / 9**2] * (mode != "I")
        weights = np.array(w, np.float32)
        expected = np.empty(shape, np.int32)
        _C.slic_iterate(feat, weights, K, (1.0, 1.0, 1.0), 10, expected)
        out = run(driver, tmp_path, "slic", feat, *shape, F, K, 1.0, 1.0, 1.0, 10, *weights.tolist())
        labels = np.frombuffer(out, np.int32).reshape(shape)
        assert (labels == expected).mean() >= 0.995


def test_device_lab_equals_the_cpu(driver, tmp_path, rng):
    rgb = rng.random((1000, 3), dtype=np.float32)
    expected = np.full((1000, 3), np.nan, np.float32)
    _C.rgb_to_lab(rgb, expected)
    lab = np.frombuffer(run(driver, tmp_path, "lab", rgb, 1000), np.float32).reshape(1000, 3)
    np.testing.assert_allclose(lab, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("reduce", swagfast.REDUCTIONS)
def test_device_segment_pool_equals_the_reference(driver, tmp_path, reduce, rng):
    """Both passes, the atomic min / max / add and the argmax tie rule, against numpy. Ties and a
    NaN are planted so the order-free rules are exercised."""
    B, N, n_seg = 3, 200, 17
    values = rng.integers(0, 6, size=(B, N)).astype(np.float64)  # many ties
    values[1, 7] = np.nan
    labels = rng.integers(0, n_seg - 2, size=(B, N)).astype(np.int32)  # two empty segments
    src = tmp_path / "pool.bin"
    with open(src, "wb") as f:
        f.write(values.tobytes() + labels.tobytes())
    dst = tmp_path / "out.bin"
    code = swagfast.REDUCTIONS.index(reduce)
    args = [str(driver), "pool", str(src), str(dst), *map(str, (B, N, n_seg, code))]
    subprocess.run(args, check=True, timeout=120)
    out = np.frombuffer(dst.read_bytes(), np.float64)
    seg, pix = out[: B * n_seg].reshape(B, n_seg), out[B * n_seg :].reshape(B, N)
    expected = segment_pool_reference(values, labels, reduce, n_seg)
    np.testing.assert_allclose(seg, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(pix, np.take_along_axis(seg, labels, 1))
