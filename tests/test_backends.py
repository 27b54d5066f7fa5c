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
