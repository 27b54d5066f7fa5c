"""swagfast: fast explanations for CNNs (SWAG, SWAG-V, Jitter-CAM, surprise and expectation).

The native core lives in ``swagfast._C`` (C++, always built) and ``swagfast._C_cuda`` (CUDA,
built when nvcc is found); ``swagfast.kernels`` holds the Numba versions of the same kernels.
"""

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

__all__ = [
    *explainers.__all__,
    "MODES",
    "REDUCTIONS",
    "BackendStatus",
    "BackendUnavailableError",
    "SegmentPool",
    "__version__",
    "accumulate_patches",
    "backends",
    "get_num_threads",
    "segment_pool",
    "set_num_threads",
    "slic",
    "supervoxels",
]
