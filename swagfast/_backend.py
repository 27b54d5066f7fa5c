"""Backend selection and zero-copy hand-over of arrays to the native kernels.

Three backends compute every op: ``"cpu"`` (the C++ module ``swagfast._C``), ``"cuda"``
(``swagfast._C_cuda``, built when nvcc was found) and ``"numba"`` (``swagfast.kernels``).
``"auto"`` picks ``"cuda"`` for CUDA tensors and ``"cpu"`` (else ``"numba"``) for host data.
Results always stay on the input's device: an op never moves data between devices.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from swagfast._validate import check_batch_size

BACKENDS = ("cuda", "cpu", "numba")


class BackendUnavailableError(RuntimeError):
    """Raised when an op is asked to run on a backend this installation cannot use."""


@dataclass(frozen=True)
class BackendStatus:
    """Whether a backend can be used here, and why (not)."""

    available: bool
    reason: str


def _cpu_status() -> BackendStatus:
    try:
        from swagfast import _C
    except ImportError as err:  # pragma: no cover - only on a broken build
        return BackendStatus(False, f"swagfast._C failed to import ({err}); reinstall with `pip install .`")
    omp = "with OpenMP" if _C.has_openmp() else "without OpenMP (single-threaded)"
    isa = "AVX2" if _C.slic_isa() == "avx2" else "the baseline instruction set"
    return BackendStatus(True, f"native C++ kernels {omp}, {_C.num_threads()} threads, SLIC for {isa}")


def _cuda_status() -> BackendStatus:
    try:
        from swagfast import _C_cuda
    except ImportError:
        return BackendStatus(
            False,
            "swagfast._C_cuda was not compiled: nvcc was not found when swagfast was built; "
            "reinstall with nvcc on PATH (SWAGFAST_CUDA=ON pip install . makes its absence an error)",
        )
    count, error = _C_cuda.device_count()
    if count <= 0:
        why = error or "no device visible"
        return BackendStatus(False, f"swagfast._C_cuda is compiled but no CUDA device can be used: {why}")
    if not torch.cuda.is_available():
        return BackendStatus(
            False, f"swagfast._C_cuda sees {count} device(s) but this torch build has no CUDA support"
        )
    return BackendStatus(True, f"{count} CUDA device(s): {torch.cuda.get_device_name(0)}")


def _numba_status() -> BackendStatus:
    try:
        import numba
    except ImportError as err:
        return BackendStatus(False, f"numba is not installed ({err}); `pip install numba`")
    return BackendStatus(True, f"numba {numba.__version__} JIT kernels")


@functools.cache
def backends() -> dict[str, BackendStatus]:
    """Which backends are usable here, each with the reason.

    Returns
    -------
    dict
        ``{"cuda": BackendStatus, "cpu": BackendStatus, "numba": BackendStatus}``.

    Examples
    --------
    >>> import swagfast
    >>> swagfast.backends()["cpu"].available
    True
    """
    return {"cuda": _cuda_status(), "cpu": _cpu_status(), "numba": _numba_status()}


def resolve_backend(backend: str, device: torch.device, arg: str = "values") -> str:
    """Check ``backend`` and return the concrete backend for data on ``device``."""
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a str, got {type(backend).__name__}")
    if backend not in ("auto", *BACKENDS):
        raise ValueError(f"backend must be one of 'auto', 'cuda', 'cpu', 'numba'; got {backend!r}")
    status = backends()
    if backend == "auto":
        if device.type == "cuda":
            backend = "cuda"
        elif device.type == "cpu":
            backend = "cpu" if status["cpu"].available else "numba"
        else:
            raise ValueError(f"{arg} is on device {device}; swagfast runs on cpu and cuda devices only")
    if not status[backend].available:
        raise BackendUnavailableError(f"backend {backend!r} is not available: {status[backend].reason}")
    if backend == "cuda" and device.type != "cuda":
        raise ValueError(f"backend='cuda' needs {arg} on a CUDA device, got {arg} on {device}")
    if backend != "cuda" and device.type != "cpu":
        raise ValueError(
            f"backend={backend!r} runs on the host but {arg} is on {device}; "
            "use backend='cuda' or 'auto' (swagfast never moves data between devices)"
        )
    return backend


def host_kernels(backend: str):
    """The module whose functions compute a host backend's kernels: ``swagfast._C`` for "cpu",
    ``swagfast.kernels`` (Numba, the same names and signatures) for "numba"."""
    if backend == "cpu":
        from swagfast import _C

        return _C
    from swagfast import kernels

    return kernels


def as_tensor(a: Any, name: str) -> torch.Tensor:
    """A torch view of a numpy array or tensor (no copy, except of an array with negative strides);
    TypeError for anything else."""
    if isinstance(a, torch.Tensor):
        return a.detach()
    if isinstance(a, np.ndarray):
        if a.dtype.byteorder == ">":
            raise TypeError(f"{name} must be in native byte order, got dtype {a.dtype}")
        if any(st < 0 for st in a.strides):  # e.g. img[::-1]: torch cannot view it, so a copy
            a = a.copy()
        try:
            return torch.from_numpy(a)
        except TypeError:  # object, string, datetime dtypes: torch's message names no argument
            raise TypeError(f"{name} must hold numbers (a numeric dtype), got dtype {a.dtype}") from None
    raise TypeError(f"{name} must be a numpy.ndarray or torch.Tensor, got {type(a).__name__}")


def memory_size(device: torch.device) -> int:
    """Bytes of memory on ``device``: the host's physical memory, or the GPU's (asked once per
    device: ``check_fits`` runs on every pooling call)."""
    return _memory_size(device.type, device.index)


@functools.cache
def _memory_size(kind: str, index: int | None) -> int:
    if kind == "cuda":
        device = torch.device(kind) if index is None else torch.device(kind, index)
        return int(torch.cuda.get_device_properties(device).total_memory)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_fits(nbytes: int, device: torch.device, what: str) -> None:
    """MemoryError, before anything is allocated, when ``what`` (a phrase naming the argument that
    asks for it) needs more than all the memory ``device`` has."""
    total = memory_size(device)
    if nbytes > total:
        raise MemoryError(
            f"{what} needs {nbytes / 2**30:.3g} GiB, more than the {total / 2**30:.3g} GiB of memory "
            f"the {device.type} device has"
        )


def empty(shape: Sequence[int], dtype: torch.dtype, device: torch.device, what: str) -> torch.Tensor:
    """``torch.empty``, with a failed allocation raised as a MemoryError naming ``what``."""
    try:
        return torch.empty(tuple(shape), dtype=dtype, device=device)
    except RuntimeError as err:  # torch.OutOfMemoryError on CUDA, "can't allocate memory" on the CPU
        raise MemoryError(f"{what}: could not allocate {tuple(shape)} {dtype} on {device} ({err})") from None


def kernel(backend: str, name: str, what: str) -> Callable[..., Any]:
    """The op ``name`` of the concrete ``backend``, as one callable that takes torch tensors.

    The three modules have the same ops with the same arguments: ``swagfast._C`` and
    ``swagfast.kernels`` are given numpy views of the tensors (shared memory); ``swagfast._C_cuda``
    is given the tensors themselves (through ``__cuda_array_interface__``), then the keyword
    ``workspace`` where the op takes one, then torch's current stream on the tensors' device. A
    failed allocation inside a host kernel is a MemoryError naming ``what``.
    """
    if backend == "cuda":
        from swagfast import _C_cuda

        fn = getattr(_C_cuda, name)

        def call_cuda(*args: Any, **workspace: torch.Tensor) -> Any:
            device = next(a.device for a in args if isinstance(a, torch.Tensor))
            with torch.cuda.device(device):
                return fn(*args, **workspace, stream=cuda_stream(device))

        return call_cuda
    fn = getattr(host_kernels(backend), name)

    def call_host(*args: Any) -> Any:
        views = [a.numpy() if isinstance(a, torch.Tensor) else a for a in args]
        return run_kernel(fn, *views, what=what)

    return call_host


def run_kernel(kernel: Callable[..., Any], *args: Any, what: str) -> Any:
    """Call a native or Numba kernel. A failed allocation inside it is a MemoryError naming
    ``what`` (the C++ kernels raise std::bad_alloc as MemoryError; Numba wraps it in a
    SystemError)."""
    try:
        return kernel(*args)
    except MemoryError as err:
        raise MemoryError(f"{what}: the kernel could not allocate its working memory ({err})") from None
    except SystemError as err:
        if isinstance(err.__cause__ or err.__context__, MemoryError):
            raise MemoryError(f"{what}: the kernel could not allocate its working memory") from None
        raise


def cuda_stream(device: torch.device) -> int:
    """Torch's current stream on ``device``, as an integer handle for the native module."""
    return torch.cuda.current_stream(device).cuda_stream


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass when a method runs many (masks, patches, deletion steps): 64 on a
    GPU; 8 on the CPU, where larger batches of 224x224 images run slower per image."""
    return 64 if device.type == "cuda" else 8


def resolve_batch_size(batch_size: int | None, device: torch.device) -> int:
    """``batch_size`` checked, or the device's default when None."""
    check_batch_size(batch_size)
    return batch_size or default_batch_size(device)


def set_num_threads(n: int) -> None:
    """Set the threads of swagfast's native (OpenMP) kernels, for calls from any thread, and of
    its Numba kernels (for calls from this thread: Numba's count is per thread).

    torch's own thread count is not changed (nor does ``torch.set_num_threads`` change swagfast's
    once this was called): the two share one OpenMP runtime, so swagfast's kernels ask for their
    count explicitly. Until this is called they follow the runtime's count for the calling
    thread, which ``torch.set_num_threads`` and ``OMP_NUM_THREADS`` set.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    import numba

    # numba first: its OpenMP threading layer may reset the calling thread's OpenMP count.
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if backends()["cpu"].available:
        from swagfast import _C

        _C.set_num_threads(n)


def get_num_threads() -> int:
    """Threads swagfast's native kernels use when called from this thread."""
    from swagfast import _C

    return _C.num_threads()
