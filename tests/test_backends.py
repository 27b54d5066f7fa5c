from __future__ import annotations

import numpy as np
import pytest
import torch

import swagfast


def test_backends_reports_all_three_with_reasons():
    status = swagfast.backends()
    assert set(status) == {"cuda", "cpu", "numba"}
    assert status["cpu"].available and status["numba"].available
    for s in status.values():
        assert isinstance(s.reason, str) and s.reason


def test_cuda_module_is_compiled():
    """The normal build compiles swagfast._C_cuda whenever nvcc is present (it is, here and in CI)."""
    import shutil

    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH on this machine, so _C_cuda is not expected")
    from swagfast import _C_cuda  # noqa: F401

    assert "not compiled" not in swagfast.backends()["cuda"].reason


def test_set_num_threads_roundtrip():
    before = swagfast.get_num_threads()
    try:
        swagfast.set_num_threads(1)
        assert swagfast.get_num_threads() == 1
    finally:
        swagfast.set_num_threads(before)
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        swagfast.set_num_threads(0)


def test_thread_counts_of_swagfast_and_torch_stay_apart_and_apply_in_every_thread():
    # one OpenMP runtime serves both; each library's setting must leave the other's alone
    import threading

    ours, theirs = swagfast.get_num_threads(), torch.get_num_threads()
    try:
        swagfast.set_num_threads(1)
        assert torch.get_num_threads() == theirs
        torch.set_num_threads(2)
        assert swagfast.get_num_threads() == 1 and torch.get_num_threads() == 2
        seen = []
        t = threading.Thread(target=lambda: seen.append(swagfast.get_num_threads()))
        t.start()
        t.join()
        assert seen == [1]  # the process-wide count, also in a new thread
    finally:
        swagfast.set_num_threads(ours)
        torch.set_num_threads(theirs)


def test_numpy_result_shares_no_memory_with_input():
    v = np.ones((1, 3, 3), np.float32)
    res = swagfast.segment_pool(v, np.zeros((1, 3, 3), np.int32))
    res.pixel_values[...] = 5.0
    assert np.all(v == 1.0)


# One dispatch convention: _C, the Numba kernels and _C_cuda have the same ops with the same
# arguments; _C_cuda's take device arrays and end with the workspace (where one is needed) and the
# stream.
OPS = (
    "segment_pool",
    "rgb_to_lab",
    "rescale_gradient",
    "slic_iterate",
    "relabel",
    "relabel_parallel",
    "accumulate_patches",
)
CUDA_WORKSPACE = {"segment_pool", "slic_iterate", "relabel_parallel"}
HOST_ONLY = {"rescale_gradient", "relabel"}  # on CUDA: torch's reductions; the raster rule on the host


def _pybind_parameters(fn) -> list[str]:
    first = fn.__doc__.splitlines()[0]
    inner = first[first.index("(") + 1 : first.rindex(")")]
    return [part.split(":")[0].strip() for part in inner.split(", ") if ":" in part]


def test_the_numba_kernels_have_the_native_ops_names_and_arguments():
    import inspect

    from swagfast import _C, kernels

    for op in OPS:
        assert list(inspect.signature(getattr(kernels, op)).parameters) == _pybind_parameters(getattr(_C, op))


def _cuda_module():
    try:
        from swagfast import _C_cuda
    except ImportError:
        pytest.skip("swagfast._C_cuda was not built here (no nvcc when it was installed)")
    return _C_cuda


def test_the_cuda_ops_take_the_native_arguments_then_workspace_and_stream():
    from swagfast import _C

    _C_cuda = _cuda_module()
    assert tuple(_C_cuda.REDUCTIONS) == tuple(_C.REDUCTIONS)
    for op in OPS:
        if op in HOST_ONLY:
            assert not hasattr(_C_cuda, op)
            continue
        tail = ["workspace", "stream"] if op in CUDA_WORKSPACE else ["stream"]
        assert _pybind_parameters(getattr(_C_cuda, op)) == _pybind_parameters(getattr(_C, op)) + tail


class FakeDeviceArray:
    """Only the description: the binding's checks run before anything reaches the device."""

    def __init__(self, shape, typestr="<f4", strides=None, readonly=False):
        self.__cuda_array_interface__ = dict(
            shape=tuple(shape), typestr=typestr, strides=strides, data=(0, readonly), version=2
        )


def test_the_cuda_binding_reads_and_checks_device_arrays_without_a_device():
    from swagfast._native import ACC_SLOTS

    _C_cuda = _cuda_module()
    width = len(ACC_SLOTS)
    ok = dict(
        values=FakeDeviceArray((2, 6)),
        labels=FakeDeviceArray((2, 6), "<i4"),
        n_seg=3,
        reduce="mean",
        seg_out=FakeDeviceArray((2, 3)),
        map_out=None,
        workspace=FakeDeviceArray((2, 3, width), "<f8"),
        stream=0,
    )
    with pytest.raises(TypeError, match="values must be a device array .*got ndarray"):
        _C_cuda.segment_pool(**{**ok, "values": np.zeros((2, 6), np.float32)})
    with pytest.raises(TypeError, match="labels must have typestr <i4, got <i8"):
        _C_cuda.segment_pool(**{**ok, "labels": FakeDeviceArray((2, 6), "<i8")})
    with pytest.raises(TypeError, match="values must be float32 or float64, got typestr <f2"):
        _C_cuda.segment_pool(
            **{**ok, "values": FakeDeviceArray((2, 6), "<f2"), "seg_out": FakeDeviceArray((2, 3), "<f2")}
        )
    with pytest.raises(ValueError, match="values must be C-contiguous"):
        _C_cuda.segment_pool(**{**ok, "values": FakeDeviceArray((2, 6), strides=(4, 8))})
    with pytest.raises(ValueError, match="seg_out must be writeable"):
        _C_cuda.segment_pool(**{**ok, "seg_out": FakeDeviceArray((2, 3), readonly=True)})
    with pytest.raises(ValueError, match="workspace must hold"):
        _C_cuda.segment_pool(**{**ok, "workspace": FakeDeviceArray((2, 3, width - 1), "<f8")})
    with pytest.raises(ValueError, match="reduce must be one of mean, sum"):
        _C_cuda.segment_pool(**{**ok, "reduce": "median"})
    with pytest.raises(ValueError, match=r"offsets must be \[P, 3\]"):
        _C_cuda.accumulate_patches(
            FakeDeviceArray((1, 2, 1, 3, 3)),
            FakeDeviceArray((3, 3), "<i8"),
            FakeDeviceArray((1, 1, 5, 5)),
            FakeDeviceArray((1, 1, 5, 5)),
            0,
        )
    # slic_iterate takes the host's float32 weights array as _C does
    with pytest.raises(ValueError, match="workspace must hold"):
        _C_cuda.slic_iterate(
            FakeDeviceArray((1, 1, 8, 8, 4)),
            np.ones(4, np.float32),
            4,
            (1.0, 1.0, 1.0),
            10,
            FakeDeviceArray((1, 1, 8, 8), "<i4"),
            FakeDeviceArray((1,), "<f8"),
            0,
        )
    # spelt-out C-contiguous strides are accepted: the checks pass and the kernel runs on nothing
    empty = dict(ok, values=FakeDeviceArray((0, 6), strides=(24, 4)), labels=FakeDeviceArray((0, 6), "<i4"))
    assert _C_cuda.segment_pool(**{**empty, "seg_out": FakeDeviceArray((0, 3))}) == -1
