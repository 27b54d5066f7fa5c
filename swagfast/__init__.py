"""swagfast: fast explanations for CNNs (SWAG, SWAG-V, Jitter-CAM, surprise and expectation).

The native core lives in ``swagfast._C`` (C++, always built) and ``swagfast._C_cuda`` (CUDA,
built when nvcc is found); ``swagfast.kernels`` holds the Numba versions of the same kernels.
"""

import importlib

from swagfast import explainers
from swagfast._backend import (
    BackendStatus,
    BackendUnavailableError,
    backends,
    get_num_threads,
    set_num_threads,
)
from swagfast.explainers import *  # noqa: F403 (the explainers' public names are swagfast's)
from swagfast.patches import accumulate_patches
from swagfast.superpixels import MODES, REDUCTIONS, SegmentPool, segment_pool, slic, supervoxels

__version__ = "0.1.0"

# submodules imported on first use (``swagfast.models.load(...)`` after ``import swagfast``),
# so that importing swagfast stays quick; ``explain`` is the high-level entry point
_LAZY = ("api", "attribution", "baselines", "data", "failure", "metrics", "models", "testing", "viz")


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"swagfast.{name}")
    if name in ("explain", "METHODS"):
        return getattr(importlib.import_module("swagfast.api"), name)
    raise AttributeError(f"module 'swagfast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "explain", "METHODS"})


__all__ = [
    *explainers.__all__,
    "METHODS",  # noqa: F405 (lazy, see __getattr__)
    "MODES",
    "REDUCTIONS",
    "BackendStatus",
    "BackendUnavailableError",
    "SegmentPool",
    "__version__",
    "accumulate_patches",
    "backends",
    "explain",  # noqa: F405 (lazy, see __getattr__)
    "get_num_threads",
    "segment_pool",
    "set_num_threads",
    "slic",
    "supervoxels",
]
