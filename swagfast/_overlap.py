"""The overlap worker: one thread per process that runs a stage beside the caller's next work
(SWAG's colour superpixels while the attribution runs), on one CPU thread and, on CUDA, on a
side stream ordered after the caller's."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from swagfast._backend import backends

_overlap_pool: ThreadPoolExecutor | None = None
_overlap_lock = threading.Lock()


def _forget_overlap_pool() -> None:
    # a forked child has no worker thread: the parent's executor would queue work nobody runs
    global _overlap_pool, _overlap_lock
    _overlap_pool, _overlap_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_overlap_pool)


def _single_threaded_worker() -> None:
    """Set up the worker thread (once, as it starts): every OpenMP region it opens, torch's and
    swagfast's, and every Numba kernel it runs, on one thread. A second thread that opens OpenMP
    regions of its own gets its own OpenMP pool; with more pool threads than cores, libgomp
    shortens its spin-waits for the whole process, and every later torch op on the CPU pays for
    sleeping and waking threads (guided backprop on EfficientNet-Lite0 ran 2x slower for the
    rest of the process when we let it)."""
    torch.get_num_threads()  # torch sets this thread's OpenMP count on first use: do that first
    numba = sys.modules.get("numba")
    if numba is not None:  # before ours: Numba's OpenMP layer may reset this thread's OpenMP count
        numba.set_num_threads(1)
    if backends()["cpu"].available:
        from swagfast import _C

        _C.set_thread_num_threads(1)  # swagfast's kernels, and torch's ops, in this thread


class Overlapped:
    """A stage started by :func:`start_overlapped`; :meth:`result` waits for it.

    On CUDA the stage ran on a side stream; ``result()`` makes the caller's stream wait for it
    and marks the returned tensor as used there (so its memory is not reused too early).
    """

    def __init__(self, future: Future, side, caller) -> None:
        self._future, self._side, self._caller = future, side, caller

    def result(self):
        out = self._future.result()
        if self._side is not None:
            self._caller.wait_stream(self._side)
            if isinstance(out, torch.Tensor):
                out.record_stream(self._caller)
        return out

    def wait(self) -> None:
        """Wait for the stage without taking its result or its error (cleanup after a failure)."""
        try:
            self.result()
        except Exception:  # noqa: BLE001 - the caller's own error is the one that propagates
            pass


def start_overlapped(fn: Callable[..., Any], device: torch.device, *args: Any, **kwargs: Any) -> Overlapped:
    """Start ``fn(*args, **kwargs)`` beside the caller's next work (SWAG's colour superpixels
    while the attribution runs): in a worker thread, on one CPU thread (see
    :func:`_single_threaded_worker`), and on CUDA on a side stream ordered after the caller's
    stream (tensor arguments are marked as used there). One worker serves the process, so stages
    started from several threads queue rather than multiply the threads.
    """
    global _overlap_pool
    with _overlap_lock:
        if _overlap_pool is None:
            _overlap_pool = ThreadPoolExecutor(
                1, thread_name_prefix="swagfast-overlap", initializer=_single_threaded_worker
            )
    side = caller = None
    if device.type == "cuda":
        caller = torch.cuda.current_stream(device)
        side = torch.cuda.Stream(device)
        side.wait_stream(caller)
        for a in (*args, *kwargs.values()):
            if isinstance(a, torch.Tensor) and a.device.type == "cuda":
                a.record_stream(side)

    def work():
        if side is None:
            return fn(*args, **kwargs)
        with torch.cuda.device(device), torch.cuda.stream(side):
            return fn(*args, **kwargs)

    return Overlapped(_overlap_pool.submit(work), side, caller)
